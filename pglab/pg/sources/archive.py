"""What Debian's archive says, read without apt's help: version ordering, the
machine's apt configuration (which mirror, which pockets, which keyring), the
Sources indexes and .dsc files.  Pure parsing; the Debian channel (debian.py)
does the fetching."""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ...errors import ChannelSkip
from ..versions import Release, VersionError


# Debian suites that carry PostgreSQL majors pglab can build, oldest first.
SUITES = ("bullseye", "bookworm", "trixie", "sid", "experimental")
# The releases among them that have -updates and -security pockets.
STABLE = ("bullseye", "bookworm", "trixie")
DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_PACKAGE_RE = re.compile(r"^Package: (postgresql-(\d+))$", re.M)
_ORIG_RE = re.compile(r"\.orig\.tar\.[a-z0-9]+$")     # the upstream tarball (not .asc, not orig-COMPONENT)


def upstream_release(debian_version):
    """'17.11-0+deb13u1' -> 17.11, '19~rc1-1' -> 19rc1, None if not a release."""
    text = upstream_version(debian_version).replace("~", "")
    try:
        return Release.parse(text)
    except VersionError:
        return None


def upstream_version(debian_version):
    """'1:0.8.0-1' -> '0.8.0': without the epoch and Debian's revision."""
    text = debian_version.split(":", 1)[-1]
    return text.rsplit("-", 1)[0] if "-" in text else text


# ---- Debian version ordering (dpkg's algorithm) ------------------------------------

def _order(c):
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256 if c else 0


def _verrevcmp(a, b):
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i] if i < len(a) else "")
            bc = _order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        first_diff = 0
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            first_diff = first_diff or ord(a[i]) - ord(b[j])
            i, j = i + 1, j + 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a, b):
    """<0, 0 or >0 as Debian version `a` sorts before, with or after `b` (as dpkg does)."""
    def split(v):
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, revision

    (ea, ua, ra), (eb, ub, rb) = split(a), split(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


# ---- the machine's apt configuration -------------------------------------------------

def _entries(etc):
    """(types, uris, suites, components, signed_by) from one-line and deb822 files."""
    files = [etc / "sources.list"] + sorted((etc / "sources.list.d").glob("*"))
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for para in re.split(r"\n\s*\n", text):
                fields = {}
                for line in para.splitlines():
                    if line.startswith("#") or ":" not in line or line[0].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
                if fields.get("enabled", ["yes"])[0].lower() == "no":
                    continue
                yield (fields.get("types", []), fields.get("uris", []), fields.get("suites", []),
                       fields.get("components", []), (fields.get("signed-by") or [None])[0])
        elif path.name == "sources.list" or path.suffix == ".list":
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                opts = re.search(r"\[([^\]]*)\]", line)
                signed_by = None
                if opts:
                    m = re.search(r"signed-by=(\S+)", opts.group(1))
                    signed_by = m.group(1) if m else None
                    line = line.replace(opts.group(0), " ")
                words = line.split()
                if len(words) >= 4 and words[0] in ("deb", "deb-src"):
                    yield [words[0]], [words[1]], [words[2]], words[3:], signed_by


def _keyring(signed_by):
    if signed_by and signed_by.startswith("/"):
        return Path(signed_by)
    return DEFAULT_KEYRING if DEFAULT_KEYRING.exists() else None


def mirror_from_apt(etc=Path("/etc/apt")):
    """(uri, keyring) of the Debian archive this machine's apt already uses.

    The first entry serving 'main' for a suite that is not a security or
    updates pocket wins; that is the machine's Debian mirror."""
    for types, uris, suites, components, signed_by in _entries(Path(etc)):
        if "main" not in components or not uris:
            continue
        if not any(not s.endswith(("-security", "-updates", "-backports")) and "/" not in s for s in suites):
            continue
        if not any(t in ("deb", "deb-src") for t in types):
            continue
        return uris[0].rstrip("/"), _keyring(signed_by)
    raise ChannelSkip("no Debian mirror in this machine's apt configuration (/etc/apt/sources.list*)")


@dataclass(frozen=True)
class Archive:
    """Where Debian's source archive is, as this machine's apt configuration says."""

    mirror: str
    keyring: Path = None
    updates: str = None            # where the <stable>-updates pockets are, if the machine uses them
    security: str = None           # where the <stable>-security pockets are, if the machine uses them
    security_keyring: Path = None

    def sources_list(self):
        """The private state's sources.list: every suite, then the stable pockets."""
        def line(uri, suite, keyring):
            signed = f" [signed-by={keyring}]" if keyring else ""
            return f"deb-src{signed} {uri} {suite} main"

        lines = [line(self.mirror, suite, self.keyring) for suite in SUITES]
        for suite in STABLE:
            if self.updates:
                lines.append(line(self.updates, f"{suite}-updates", self.keyring))
            if self.security:
                lines.append(line(self.security, f"{suite}-security", self.security_keyring))
        return "\n".join(lines) + "\n"


def archive_from_apt(etc=Path("/etc/apt")):
    """The Archive this machine's apt uses: its mirror (mirror_from_apt), and the
    places it gets a Debian stable release's -updates and -security pockets from."""
    etc = Path(etc)
    mirror, keyring = mirror_from_apt(etc)
    pockets = {}
    for _types, uris, suites, components, signed_by in _entries(etc):
        if "main" not in components or not uris:
            continue
        for suite in suites:
            codename, _, pocket = suite.partition("-")
            if codename in STABLE and pocket in ("updates", "security") and pocket not in pockets:
                pockets[pocket] = (uris[0].rstrip("/"), _keyring(signed_by))
    updates = pockets.get("updates", (None, None))[0]
    security, security_keyring = pockets.get("security", (None, None))
    return Archive(mirror, keyring, updates, security, security_keyring)


# ---- Sources indexes and .dsc files --------------------------------------------------

def _fields(para):
    """A deb822 paragraph as {field: value}; continuation lines joined by newlines."""
    fields, key = {}, None
    for line in para.splitlines():
        if line[:1] in (" ", "\t"):
            if key is not None:
                fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _record(fields, suite, uri):
    """One source package in one index: where its files are and their SHA-256."""
    files = {}
    for line in fields.get("Checksums-Sha256", "").splitlines():
        parts = line.split()
        if len(parts) == 3:
            files[parts[2]] = [int(parts[1]), parts[0]]
    return {"package": fields.get("Package", ""), "version": fields.get("Version", ""), "suite": suite,
            "uri": uri, "directory": fields.get("Directory", ""), "format": fields.get("Format", ""),
            "files": files}


def _paragraph_at(text, pos):
    start = text.rfind("\n\n", 0, pos)
    end = text.find("\n\n", pos)
    return text[start + 2 if start >= 0 else 0:end if end >= 0 else len(text)]


def parse_sources_index(text, suite, uri=""):
    """postgresql-NN entries of one Sources index: [{release, package, version, suite, ...}]."""
    found = []
    for m in _PACKAGE_RE.finditer(text):
        fields = _fields(_paragraph_at(text, m.start()))
        release = upstream_release(fields.get("Version", ""))
        if release is not None and release.major == int(m.group(2)):
            found.append({"release": str(release), **_record(fields, suite, uri)})
    return found


def find_source_records(text, package, suite, uri=""):
    """The records of source package `package` in one Sources index."""
    return [_record(_fields(_paragraph_at(text, m.start())), suite, uri)
            for m in re.finditer(rf"^Package: {re.escape(package)}$", text, re.M)]


def source_of_binary(text, binary):
    """The source package that builds binary package `binary`, or None."""
    for m in re.finditer(rf"(?<![\w.+-]){re.escape(binary)}(?![\w.+-])", text):
        fields = _fields(_paragraph_at(text, m.start()))
        if binary in [b.strip() for b in fields.get("Binary", "").replace("\n", " ").split(",")]:
            return fields.get("Package")
    return None


def parse_dsc(text):
    """A .dsc's fields (Source, Version, ...) as {field: value}."""
    return _fields(text.strip("\n").split("\n\n", 1)[0])


def is_upstream_tarball(name):
    """Whether a file of a source package is its upstream (orig) tarball."""
    return bool(_ORIG_RE.search(name))


def parse_dsc_checksums(text):
    """{filename: sha256} from a .dsc's Checksums-Sha256 field."""
    sums, inside = {}, False
    for line in text.splitlines():
        if line.startswith("Checksums-Sha256:"):
            inside = True
            continue
        if inside:
            if not line.startswith(" "):
                break
            digest, _size, name = line.split()
            sums[name] = digest
    return sums


def read_index(path, needle):
    """The paragraphs of an index that contain `needle` (bytes), as text; whichever
    compression this machine's apt stores the index with.  Only those paragraphs
    are decoded: a whole index is tens of megabytes."""
    helper = "/usr/lib/apt/apt-helper"
    if path.suffix in (".lz4", ".gz", ".xz", ".zst", ".bz2") and os.path.exists(helper):
        data = subprocess.run([helper, "cat-file", str(path)], capture_output=True, check=True).stdout
    else:
        data = path.read_bytes()
    data = b"\n\n" + data
    paragraphs, at = [], data.find(needle)
    while at >= 0:
        start = data.rfind(b"\n\n", 0, at + 1) + 2   # the blank line before it (or the one put in front)
        end = data.find(b"\n\n", at)
        end = end if end >= 0 else len(data)
        paragraphs.append(data[start:end].decode("utf-8", "replace"))
        at = data.find(needle, end)
    return "\n\n".join(paragraphs)


def upstream_tarball(record):
    """The name of a record's upstream tarball: the .orig tarball, or a native package's only one."""
    names = list(record["files"])
    orig = [n for n in names if is_upstream_tarball(n)]
    if orig:
        return orig[0]
    if "native" in record["format"]:
        return next((n for n in names if re.search(r"\.tar\.[a-z0-9]+$", n)), None)
    return None

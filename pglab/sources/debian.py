"""The Debian channel: PostgreSQL's upstream tarball as Debian's source archive carries it.

apt does the fetching, with a private state directory under pg_source/apt/ (the
machine's own apt state is never touched) and the mirror read from the machine's
apt configuration.  apt checks every file against the signed Sources index; pglab
checks the upstream tarball once more against the .dsc and unpacks it as it is,
without Debian's patches, so the tree is upstream's.
"""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .. import ui
from ..errors import SourceError
from ..versions import Release, VersionError
from . import Channel, ChannelSkip, Memo, download, sha256_of, unpack_into_cache

# Debian suites that carry PostgreSQL majors pglab can build, oldest first.
SUITES = ("bullseye", "bookworm", "trixie", "sid", "experimental")
DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_PACKAGE_RE = re.compile(r"^postgresql-(\d+)$")


def upstream_release(debian_version):
    """'17.11-0+deb13u1' -> 17.11, '19~rc1-1' -> 19rc1, None if not a release."""
    text = debian_version.split(":", 1)[-1].rsplit("-", 1)[0].replace("~", "")
    try:
        return Release.parse(text)
    except VersionError:
        return None


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
        keyring = Path(signed_by) if signed_by and signed_by.startswith("/") else None
        if keyring is None and DEFAULT_KEYRING.exists():
            keyring = DEFAULT_KEYRING
        return uris[0].rstrip("/"), keyring
    raise ChannelSkip("no Debian mirror in this machine's apt configuration (/etc/apt/sources.list*)")


def parse_sources_index(text, suite):
    """postgresql-NN entries of one Sources index: [{release, package, version, suite}]."""
    found = []
    for para in text.split("\n\n"):
        if not para.startswith("Package: postgresql-") and "\nPackage: postgresql-" not in para[:200]:
            continue
        fields = dict(line.split(": ", 1) for line in para.splitlines() if ": " in line and not line[0].isspace())
        m = _PACKAGE_RE.match(fields.get("Package", ""))
        release = upstream_release(fields.get("Version", ""))
        if m and release is not None and release.major == int(m.group(1)):
            found.append({"release": str(release), "package": fields["Package"],
                          "version": fields["Version"], "suite": suite})
    return found


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


def _read_index(path):
    """An index as text, whichever compression this machine's apt stores it with."""
    helper = "/usr/lib/apt/apt-helper"
    if path.suffix in (".lz4", ".gz", ".xz", ".zst", ".bz2") and os.path.exists(helper):
        done = subprocess.run([helper, "cat-file", str(path)], capture_output=True, check=True)
        return done.stdout.decode("utf-8", "replace")
    return path.read_text(errors="replace")


class DebianChannel(Channel):
    name = "debian"

    def __init__(self, settings):
        super().__init__(settings)
        self.state = settings.apt_state
        self.catalog_file = self.state / "catalog.json"

    def _apt(self, *args, cwd=None):
        st = self.state
        opts = {
            "Dir::Etc::SourceList": st / "sources.list", "Dir::Etc::SourceParts": st / "sources.list.d",
            "Dir::Etc::Preferences": st / "preferences", "Dir::Etc::PreferencesParts": st / "preferences.d",
            "Dir::State": st, "Dir::State::Lists": st / "lists", "Dir::State::status": st / "status",
            "Dir::Cache": st / "cache", "Acquire::Languages": "none",
        }
        if os.geteuid() == 0:
            opts["APT::Sandbox::User"] = "root"  # the private directories are root's
        cmd = [args[0]]
        for key, value in opts.items():
            cmd += ["-o", f"{key}={value}"]
        return subprocess.run(cmd + list(args[1:]), cwd=cwd, capture_output=True, text=True,
                              env={**os.environ, "LC_ALL": "C"})

    def _prepare(self, uri, keyring):
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        (self.state / "status").touch()
        signed = f" [signed-by={keyring}]" if keyring else ""
        lines = [f"deb-src{signed} {uri} {suite} main" for suite in SUITES]
        (self.state / "sources.list").write_text("\n".join(lines) + "\n")

    def _refresh(self, uri, keyring):
        fresh = self.catalog_file.exists() and time.time() - self.catalog_file.stat().st_mtime < self.settings.memo_hours * 3600
        sources_list = self.state / "sources.list"
        if fresh and sources_list.exists() and uri in sources_list.read_text():
            return
        self._prepare(uri, keyring)
        with ui.phase("apt-get update (Debian's source archive, private state)"):
            done = self._apt("apt-get", "update")
        indexes = sorted((self.state / "lists").glob("*_source_Sources*"))
        if done.returncode != 0 and not indexes:
            reason = next((l for l in done.stderr.splitlines() if l.startswith(("E:", "W:"))), "apt-get update failed")
            raise ChannelSkip(f"Debian's source archive unreachable: {reason}")
        entries = []
        for index in indexes:
            suite = next((s for s in SUITES if f"_dists_{s}_" in index.name), "?")
            entries += parse_sources_index(_read_index(index), suite)
        self.catalog_file.write_text(json.dumps(entries, indent=1) + "\n")

    def _entries(self):
        return json.loads(self.catalog_file.read_text())

    def catalog(self):
        if shutil.which("apt-get") is None:
            raise ChannelSkip("apt-get not found (not a Debian-like system)")
        uri, keyring = mirror_from_apt()
        memo = Memo(self.settings)
        recent = memo.recent_failure(self.name)
        if recent:
            raise ChannelSkip(recent)
        try:
            self._refresh(uri, keyring)
        except ChannelSkip as skip:
            memo.failed(self.name, str(skip))
            raise
        releases = [Release.parse(e["release"]) for e in self._entries()]
        if not releases:
            raise ChannelSkip("Debian's source archive lists no postgresql-NN source package")
        return releases

    def fetch(self, release):
        """The .dsc and the upstream tarball only (Debian's own packaging is not
        needed and is sometimes missing from a mirror's pool)."""
        entry = next(e for e in self._entries() if e["release"] == str(release))
        package, version = entry["package"], entry["version"]
        where = self.settings.downloads / "debian" / f"{package}_{version}"
        where.mkdir(parents=True, exist_ok=True)
        done = self._apt("apt-get", "source", "--print-uris", f"{package}={version}", cwd=where)
        files = parse_print_uris(done.stdout)
        if done.returncode != 0 or not files:
            tail = "; ".join(done.stderr.strip().splitlines()[-2:])
            raise SourceError(f"apt-get source {package}={version} failed: {tail}")
        wanted = {n: f for n, f in files.items() if n.endswith(".dsc") or ".orig.tar." in n}
        for name, (url, digest) in wanted.items():
            target = where / name
            if not (target.exists() and sha256_of(target) == digest):
                download(url, target)
            actual = sha256_of(target)
            if actual != digest:  # apt's digest comes from the signed Sources index
                target.unlink()
                raise SourceError(f"{name}: SHA-256 {actual} does not match Debian's signed index; removed, run build-pg again")
        dsc = next(where / n for n in wanted if n.endswith(".dsc"))
        sums = parse_dsc_checksums(dsc.read_text())
        orig = next((where / n for n in wanted if ".orig.tar." in n), None)
        if orig is None or sums.get(orig.name) != sha256_of(orig):
            raise SourceError(f"{dsc.name}: the upstream tarball is missing or does not match the .dsc")
        return unpack_into_cache(
            self.settings, orig, release, channel=self.name, identity=f"sha256:{sums[orig.name]}",
            origin=f"Debian {package} {version} ({entry['suite']}): upstream tarball, Debian's patches not applied")


def parse_print_uris(text):
    """{filename: (url, sha256)} from `apt-get source --print-uris`."""
    files = {}
    for line in text.splitlines():
        m = re.match(r"^'([^']+)' (\S+) \d+ SHA256:([0-9a-f]{64})$", line.strip())
        if m:
            files[m.group(2)] = (m.group(1), m.group(3))
    return files

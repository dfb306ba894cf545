"""The builds registry: which PostgreSQL builds exist, and "which build?".

Read-only: it never builds or deletes (pglab.pg.build does).  A build is an
installed prefix holding pglab-build.json; `find_build` is the one answer to
"which build?" for everything downstream.
"""

import hashlib
import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..errors import BuildMissing, PglabError
from .versions import Release, VersionSpec

META = "pglab-build.json"


@dataclass(frozen=True)
class Patch:
    """A patch a build was made with: the file as given, and its SHA-256 then."""

    file: Path
    sha256: str


@dataclass(frozen=True)
class Build:
    """One complete, installed build: what downstream code asks for.  `meta` is the record build-pg
    wrote (pglab-build.json); read it through the properties below, which say what each field means
    and what a build made before the field existed has."""

    id: str
    release: Release
    prefix: Path
    meta: dict

    @classmethod
    def load(cls, prefix):
        prefix = Path(prefix)
        meta = json.loads((prefix / META).read_text())
        return cls(meta["id"], Release.parse(meta["release"]), prefix, meta)

    @property
    def major(self):
        return self.release.major

    @property
    def bindir(self):
        return self.prefix / "bin"

    @property
    def pg_config(self):
        return self.bindir / "pg_config"

    @property
    def flavour(self):
        return self.meta["flavour"]

    @property
    def source_dir(self):
        return Path(self.meta["source_dir"])

    @property
    def build_dir(self):
        return Path(self.meta["build_dir"])

    @property
    def channel(self):
        """Where its source came from: local, cache, git, tarball, debian."""
        return self.meta.get("channel") or ""

    @property
    def built_at(self):
        """When it was built (ISO 8601, local time): changes with every rebuild, so keys of what was
        derived from the build (templates, extension builds, compiled layouts) include it."""
        return self.meta.get("built_at") or ""

    @property
    def fingerprint(self):
        """The source tree's fingerprint when it was built (a local tree is rebuilt when it changes)."""
        return self.meta.get("fingerprint") or ""

    @property
    def identity_hash(self):
        """The hash of what makes two builds the same build (release, flavour, flags, patches)."""
        return self.meta.get("identity_hash") or ""

    @property
    def configure_args(self):
        return list(self.meta.get("configure_args") or [])

    @property
    def cflags(self):
        return self.meta.get("cflags") or ""

    @property
    def patches(self):
        """[Patch] it was made with, in the order given."""
        return [Patch(Path(p.get("file") or ""), p.get("sha256") or "") for p in self.meta.get("patches") or []]

    @property
    def requested(self):
        """The version build-pg was asked for ("17", "17.11"), as given."""
        return self.meta.get("requested")

    @property
    def substituted_for(self):
        """The major it stands in for, when that one could not be had (the default's 16), or None."""
        return self.meta.get("substituted_for")

    @property
    def compile_count(self):
        """How many files make compiled for it (a build that was up to date compiled none)."""
        return self.meta.get("compile_count") or 0

    @property
    def plain(self):
        """A release as published: not patched, not a user's own tree."""
        return not self.patches and self.channel != "local"

    @property
    def features(self):
        """Optional features configured in: lz4, zstd, openssl, tap-tests, ..."""
        if "features" in self.meta:
            return list(self.meta["features"])
        # builds made before pglab recorded them: what their configure flags say
        return [a.removeprefix("--enable-").removeprefix("--with-").split("=")[0]
                for a in self.configure_args if a not in ("--enable-debug", "--enable-cassert")]

    def bin(self, name):
        return self.bindir / name

    def pg_config_value(self, flag):
        """One path the build's pg_config prints for FLAG (--includedir-server, --pkglibdir, ...); a clear
        error naming the command that rebuilds it when pg_config fails."""
        done = subprocess.run([str(self.pg_config), flag], capture_output=True, text=True)
        if done.returncode != 0:
            raise PglabError(f"{self.pg_config} {flag} failed: rebuild with `{self.rebuild_command()}`")
        return Path(done.stdout.strip())

    def pgxs_dir(self):
        """lib/pgxs/src of this build (pg_regress, the TAP modules, makefiles)."""
        return self.pg_config_value("--pgxs").parent.parent

    def pkglibdir(self):
        """Where extensions' shared libraries go (pg_config --pkglibdir: lib/postgresql here)."""
        return self.pg_config_value("--pkglibdir")

    @property
    def pgxs_pg_regress(self):
        """The pg_regress PGXS extensions use."""
        return self.pgxs_dir() / "test" / "regress" / "pg_regress"

    def rebuild_command(self):
        """The build-pg command line that makes this build again."""
        m = self.meta
        parts = ["invoke", "build-pg"]
        if m.get("channel") == "local":
            parts += ["--source", m["source_identity"].removeprefix("local:")]
        else:
            parts += ["--version", str(self.release)]
        parts += [a for p in m.get("patches", []) for a in ("--patch", p["file"])]
        if m.get("flavour") != "debug":
            parts += ["--flavour", m["flavour"]]
        return " ".join(shlex.quote(p) for p in parts)

    def __repr__(self):
        return f"<Build {self.id} at {self.prefix}>"


def load_build(settings, build_id):
    """The build of that id, or None."""
    try:
        return Build.load(settings.layout.prefix(build_id))
    except (OSError, ValueError, KeyError):
        return None


def list_builds(settings):
    """Every complete build, newest release first."""
    builds = []
    installs = settings.layout.installs
    if installs.is_dir():
        for prefix in installs.iterdir():
            if not prefix.name.startswith(".") and (prefix / META).is_file():
                try:
                    builds.append(Build.load(prefix))
                except (OSError, ValueError, KeyError):
                    continue
    return sorted(builds, key=lambda b: (b.release, b.built_at), reverse=True)


def default_build(settings, builds=None):
    """The build commands use when no version is given: the one `build-pg` with no
    arguments makes (the configured version, or what stood in for it), else the
    newest plain build of the configured flavour."""
    builds = list_builds(settings) if builds is None else builds
    wanted = str(settings.version)
    plain = [b for b in builds if b.flavour == settings.flavour and b.plain]
    candidates = [b for b in plain if b.requested == wanted or b.substituted_for == wanted]
    return (candidates or plain or [None])[0]


def find_build(settings, version=None, *, pg_config=None):
    """Which build?  An explicit pg_config, else the build for `version`, else the default.

    Raises BuildMissing naming the build-pg command that makes the missing build."""
    if pg_config:
        path = Path(os.path.expanduser(pg_config)).resolve()
        prefix = path.parent.parent
        if (prefix / META).is_file():
            return Build.load(prefix)
        raise BuildMissing(f"{path} is not a pglab build (no {META} beside its bin/): build one with `invoke build-pg`")
    builds = list_builds(settings)
    if version is None:
        found = default_build(settings, builds)
        if found is None:
            raise BuildMissing("no PostgreSQL build yet: run `invoke build-pg`")
        return found
    by_id = [b for b in builds if b.id == version]
    if by_id:
        return by_id[0]
    if _names_a_patch(version):
        return _made_with_patch(builds, version)
    spec = VersionSpec.parse(version)
    matching = [b for b in builds if spec.matches(b.release) and b.plain]
    matching.sort(key=lambda b: (b.flavour == settings.flavour, b.release), reverse=True)
    if not matching:
        have = ", ".join(sorted({b.id for b in builds})) or "none"
        raise BuildMissing(f"no build of PostgreSQL {version} (have: {have}): run `invoke build-pg --version {version}`")
    return matching[0]


PATCH_SUFFIXES = (".patch", ".diff")


def _names_a_patch(version):
    """Whether a --version names a patch file (`pg-check --version my-change.patch`) rather than a release."""
    return str(version).endswith(PATCH_SUFFIXES) or Path(os.path.expanduser(str(version))).is_file()


def _made_with_patch(builds, version):
    """The newest build made with the patch VERSION names: the file as it is now when it exists (a
    build of an older state of it is not that build), else any patch of that file name."""
    path = Path(os.path.expanduser(str(version)))
    if path.is_file():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        made = [b for b in builds if any(p.sha256 == digest for p in b.patches)]
        older = [b for b in builds if any(p.file == path.resolve() for p in b.patches)]
        if not made:
            how = f"the builds made with it ({', '.join(b.id for b in older)}) are of an older state of it" \
                if older else "none is"
            raise BuildMissing(f"no build made with {version} as it is now ({how}): run "
                               f"`invoke build-pg --patch {version}`")
    else:
        made = [b for b in builds if any(p.file.name == path.name for p in b.patches)]
        if not made:
            raise BuildMissing(f"no build made with a patch called {path.name} (and no file {version} here): "
                               f"run `invoke build-pg --patch {version}`")
    return max(made, key=lambda b: b.built_at)


def resolve_builds(settings, versions):
    """`--pg 17,15` or `--pg all` (newest build of each major) → [Build]; None → [default]."""
    if versions in (None, ""):
        return [find_build(settings)]
    if versions == "all":
        # one per major: the newest release; patched builds and your own trees are named explicitly
        builds = [b for b in list_builds(settings) if b.flavour == settings.flavour and b.plain]
        if not builds:
            raise BuildMissing("no PostgreSQL build yet: run `invoke build-pg`")
        newest = {}
        for b in builds:
            newest.setdefault(b.major, b)
        return [newest[m] for m in sorted(newest)]
    return [find_build(settings, v.strip()) for v in str(versions).split(",") if v.strip()]


def describe_builds(settings):
    """Rows for pg-list: default mark, id, version, channel, flags, patches, size, path."""
    builds = list_builds(settings)
    default = default_build(settings, builds)
    rows = []
    for b in builds:
        m = b.meta
        sub = f" (for {m['substituted_for']})" if m.get("substituted_for") else ""
        opt = " ".join(f for f in m["cflags"].split() if f.startswith(("-O", "-g")))
        flags = " ".join([opt, *_flags(b)])
        patches = ", ".join(Path(p["file"]).name for p in m["patches"]) or "-"
        rows.append(("★" if default and b.id == default.id else "", b.id, f"{b.release}{sub}", m["channel"], flags,
                     patches, ui.human_size(prefix_size(b.prefix)), str(b.prefix)))
    return rows


def _flags(build):
    """debug and cassert where configured, then every feature the build has, as configure named it
    (uuid=e2fs), including those a major turns on by default (ICU from 16 on)."""
    named = {a.removeprefix("--enable-").removeprefix("--with-").split("=")[0]:
             a.removeprefix("--enable-").removeprefix("--with-") for a in build.configure_args}
    return [f for f in ("debug", "cassert") if f in named] + [named.get(f, f) for f in build.features]


def prefix_size(prefix):
    total = 0
    for dirpath, _dirs, files in os.walk(prefix):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total

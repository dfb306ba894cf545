"""Building PostgreSQL: flavours, build identity, configure/make/install, atomic install.

A build's identity is its release, its source identity, its configure flags and
its patches.  Its id names it for people (17.11-debug, 17.11-debug-p3fa2c1) and
names its folders: builds/<id>/ (VPATH build tree and logs) and install/<id>/ (the
prefix).  A prefix is complete only when pglab-build.json is in it, and that file
is written into a staged copy which is then renamed into place, so an interrupted
or failed build never leaves a prefix that looks complete.

`find_build` is the one answer to "which build?" for everything downstream.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import doctor, ui
from .errors import BuildError, PglabError, SourceError
from .run import run_logged
from .sources import Memo, channels_for, obtain
from .sources.local import fingerprint, release_of
from .versions import Release, VersionSpec

META = "pglab-build.json"

FLAVOURS = {
    # -O0 keeps every variable visible in gdb; -g3 adds macros (e.g. `p BLCKSZ`).
    "debug": {"cflags": "-O0 -g3 -fno-omit-frame-pointer", "configure": ["--enable-debug", "--enable-cassert"]},
    # for timing work while keeping symbols and frame pointers for profilers
    "opt": {"cflags": "-O2 -g -fno-omit-frame-pointer", "configure": ["--enable-debug"]},
}

_COMPILE_RE = re.compile(r"\s-c\s(?:.*\s)?-o\s\S+\.o\b|\s-c\s+-o\s")


@dataclass(frozen=True)
class Build:
    """One complete, installed build: what downstream code asks for."""

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

    def bin(self, name):
        return self.bindir / name

    @property
    def pgxs_pg_regress(self):
        """The pg_regress PGXS extensions use (installed under pg_config --pgxs's tree)."""
        done = subprocess.run([str(self.pg_config), "--pgxs"], capture_output=True, text=True)
        if done.returncode != 0:
            raise PglabError(f"{self.pg_config} --pgxs failed: rebuild with `invoke build-pg --version {self.id}`")
        return Path(done.stdout.strip()).parent.parent / "test" / "regress" / "pg_regress"

    def __repr__(self):
        return f"<Build {self.id} at {self.prefix}>"


def configure_args(release, flavour, results):
    """configure flags for a flavour, given what the toolchain check found."""
    args = list(FLAVOURS[flavour]["configure"])
    if doctor.has("dtrace", results):
        args.append("--enable-dtrace")
    if doctor.has("IPC::Run", results):
        args.append("--enable-tap-tests")
    if release.major < 16 and doctor.has("ICU", results):
        args.append("--with-icu")  # the default from 16 on
    return args


def _patch_digest(patches):
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in patches]


def identity(tree, flavour, args, cflags, patches):
    """The dict that decides whether two builds are the same build."""
    return {"release": str(tree.release), "source": tree.identity, "flavour": flavour,
            "configure": args, "cflags": cflags, "patches": _patch_digest(patches)}


def identity_hash(ident):
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def build_id(ident, *, local_path=None):
    """17.11-debug; -pXXXXXX when patched; -local-NAME-XXXX for a user's own tree."""
    parts = [ident["release"], ident["flavour"]]
    if local_path is not None:
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(local_path).name)[:24]
        parts.append(f"local-{tag}-{hashlib.sha256(str(local_path).encode()).hexdigest()[:6]}")
    if ident["patches"]:
        parts.append("p" + hashlib.sha256("".join(ident["patches"]).encode()).hexdigest()[:6])
    return "-".join(parts)


# ---- the build itself ------------------------------------------------------------

def build_pg(settings, *, version=None, source="auto", patches=(), jobs=None, flavour=None, refresh=False):
    """Obtain source and build it; a no-op when the identical build exists.

    Returns the Build.  Raises PglabError subclasses with actionable messages."""
    flavour = flavour or settings.flavour
    if flavour not in FLAVOURS:
        raise PglabError(f"unknown flavour '{flavour}': use one of {', '.join(FLAVOURS)}")
    patches = [Path(p).expanduser().resolve() for p in patches]
    for patch in patches:
        if not patch.is_file():
            raise PglabError(f"--patch {patch}: no such file")
    spec = VersionSpec.parse(version if version is not None else settings.version, explicit=version is not None)
    channels = channels_for(source, settings)
    local = next((c for c in channels if c.name == "local" and c.path), None)
    if local is not None and version is None:
        spec = VersionSpec.parse(str(release_of(local.path)))  # the tree says what it is
    if refresh:
        Memo(settings).forget()

    results = doctor.ensure(quiet=True)
    got = obtain(spec, channels)
    tree = got.tree
    ui.say(f"source: PostgreSQL {tree.release} from {tree.channel} — {tree.origin}")

    cflags = FLAVOURS[flavour]["cflags"]
    args = configure_args(tree.release, flavour, results)
    ident = identity(tree, flavour, args, cflags, patches)
    ihash = identity_hash(ident)
    bid = build_id(ident, local_path=tree.path if tree.local else None)
    prefix = settings.installs / bid
    fp = fingerprint(tree.path) if tree.local else None

    existing = _complete_meta(prefix)
    if existing and existing["identity_hash"] == ihash and existing.get("fingerprint") == fp:
        ui.say(f"up to date: {bid} at {prefix}", style="green")
        return Build.load(prefix)

    if existing and existing["identity_hash"] != ihash:
        changed = [k for k in ident if existing.get("identity", {}).get(k) != ident[k]]
        ui.note(f"rebuilding {bid}: its {', '.join(changed) or 'identity'} changed since it was built")
    builddir = settings.builds / bid
    settings.builds.mkdir(parents=True, exist_ok=True)
    with _build_lock(builddir, bid):
        srcdir = _patched_tree(settings, tree, patches, ident, fp) if patches else tree.path
        builddir.mkdir(exist_ok=True)  # only once the patches applied: a refused patch leaves nothing
        started = time.monotonic()
        count = _compile(settings, builddir, srcdir, prefix, args, cflags, ihash, jobs or settings.parallel_jobs)
        meta = {
            "id": bid, "release": str(tree.release), "requested": str(spec), "substituted_for": got.substituted_for,
            "channel": tree.channel, "origin": tree.origin, "source_identity": tree.identity,
            "source_dir": str(srcdir), "build_dir": str(builddir), "flavour": flavour, "configure_args": args,
            "cflags": cflags, "patches": [{"file": str(p), "sha256": h} for p, h in zip(patches, ident["patches"])],
            "identity": ident, "identity_hash": ihash, "fingerprint": fp, "compile_count": count,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _install(builddir, prefix, meta)
        ui.say(f"built {bid} in {time.monotonic() - started:.0f} s → {prefix}", style="green")
    return Build.load(prefix)


def _complete_meta(prefix):
    try:
        return json.loads((prefix / META).read_text())
    except (OSError, ValueError):
        return None


class _build_lock:
    """One build-pg per build id at a time; a second one fails fast and says who holds it."""

    def __init__(self, builddir, bid):
        self.path = builddir.parent / f"{bid}.lock"
        self.builddir = builddir
        self.bid = bid

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode().strip() or "?"
            os.close(self.fd)
            raise BuildError(f"another build-pg is building {self.bid} (pid {holder}); wait for it to finish") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc):
        if not self.builddir.exists():  # nothing was built (a patch was refused): leave no trace
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def _patched_tree(settings, tree, patches, ident, fingerprint=None):
    """A copy of the source with the patches applied; the original is never touched.

    The copy is named after everything in it: the source (and, for your own tree,
    its current state), the patches and the flavour whose build uses it."""
    tag = hashlib.sha256((tree.identity + (fingerprint or "") + "".join(ident["patches"])
                          + ident["flavour"]).encode()).hexdigest()[:10]
    dest = settings.sources / ".patched" / f"{tree.release}-{tag}"
    done = dest.with_name(dest.name + ".applied")
    if dest.is_dir() and done.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with ui.phase(f"copy source and apply {len(patches)} patch(es)"):
        shutil.copytree(tree.path, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        for patch in patches:
            check = subprocess.run(["patch", "-p1", "--forward", "--batch", "--dry-run", "-i", str(patch)],
                                   cwd=dest, capture_output=True, text=True)
            if check.returncode != 0:
                shutil.rmtree(dest, ignore_errors=True)
                why = next((l for l in check.stdout.splitlines() if "FAILED" in l or "can't find" in l.lower()
                            or "Only garbage" in l or "malformed" in l.lower()), check.stdout.strip().splitlines()[-1:] or ["?"])
                why = why if isinstance(why, str) else why[0]
                raise SourceError(f"patch {patch.name} does not apply to PostgreSQL {tree.release}: {why.strip()}")
            subprocess.run(["patch", "-p1", "--forward", "--batch", "--quiet", "-i", str(patch)],
                           cwd=dest, capture_output=True, check=True)
    done.touch()
    return dest


def _state(builddir):
    try:
        return json.loads((builddir / ".pglab-state.json").read_text())
    except (OSError, ValueError):
        return {}


def _set_state(builddir, **values):
    state = {**_state(builddir), **values}
    (builddir / ".pglab-state.json").write_text(json.dumps(state))


def _discard_interrupted_outputs(builddir, since, count):
    """After a killed make, the newest files it wrote may be truncated: remove them.

    Only files written after that make started qualify (configure's own output is
    older), and at most a few per parallel job: make simply recreates them."""
    newest = []
    for dirpath, _dirs, files in os.walk(builddir):
        if "/logs" in dirpath:
            continue
        for name in files:
            path = os.path.join(dirpath, name)
            mtime = os.lstat(path).st_mtime
            if mtime >= since and not name.startswith(".pglab"):
                newest.append((mtime, path))
    for _mtime, path in sorted(newest, reverse=True)[:count]:
        os.unlink(path)


def _compile(settings, builddir, srcdir, prefix, args, cflags, ihash, jobs):
    """configure (when needed) and make world-bin in the VPATH build tree."""
    logs = builddir / "logs"
    state = _state(builddir)
    if state.get("identity_hash") != ihash or state.get("configured") is not True:
        # a different identity, or a configure that never finished: start clean
        for child in builddir.iterdir():
            if child.name != "logs":
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        _set_state(builddir, identity_hash=ihash, configured=False)
        cc = "ccache gcc" if shutil.which("ccache") else "gcc"
        cmd = [srcdir / "configure", f"--prefix={prefix}", *args, f"CFLAGS={cflags}", f"CC={cc}"]
        (logs / "configure.log").unlink(missing_ok=True)
        with ui.phase("configure", total=None) as p:
            run_logged(cmd, logs / "configure.log", cwd=builddir, step="configure",
                       env={**os.environ, "LC_ALL": "C"})
            p.detail = " ".join(args)
        _set_state(builddir, configured=True)
    elif state.get("making"):
        ui.note("the last build was interrupted; discarding its newest outputs and resuming")
        _discard_interrupted_outputs(builddir, state["making"], 2 * jobs + 4)

    estimate = _compile_estimate(settings, srcdir)
    count = 0

    def on_line(line):
        nonlocal count
        if _COMPILE_RE.search(line):
            count += 1
            p.update(completed=min(count, estimate))

    (logs / "make.log").unlink(missing_ok=True)
    _set_state(builddir, making=time.time() - 2)
    with ui.phase(f"make world-bin -j{jobs}", total=estimate) as p:
        run_logged(["make", f"-j{jobs}", "world-bin"], logs / "make.log", cwd=builddir, on_line=on_line,
                   step="make world-bin")
        p.detail = f"{count} files compiled"
    _set_state(builddir, making=None)
    return count


def _compile_estimate(settings, srcdir):
    counts = [b.meta.get("compile_count") or 0 for b in list_builds(settings)]
    counts = [c for c in counts if c > 500]
    if counts:
        return max(counts)
    return sum(1 for p in Path(srcdir).rglob("*.c") if "/test/" not in str(p)) or 1


def _install(builddir, prefix, meta):
    """make install-world-bin into a staging area, then rename it into place."""
    staging = prefix.parent / f".staging-{prefix.name}"
    shutil.rmtree(staging, ignore_errors=True)
    log = builddir / "logs" / "install.log"
    log.unlink(missing_ok=True)
    with ui.phase("make install-world-bin (staged)"):
        run_logged(["make", "install-world-bin", f"DESTDIR={staging}"], log, cwd=builddir,
                   step="make install-world-bin")
    staged = staging / prefix.relative_to(prefix.anchor)
    (staged / META).write_text(json.dumps(meta, indent=1) + "\n")
    old = prefix.parent / f".old-{prefix.name}-{os.getpid()}"
    if prefix.exists():
        prefix.rename(old)
    staged.rename(prefix)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


# ---- which builds exist ------------------------------------------------------------

def list_builds(settings):
    """Every complete build, newest release first."""
    builds = []
    if settings.installs.is_dir():
        for prefix in settings.installs.iterdir():
            if not prefix.name.startswith(".") and (prefix / META).is_file():
                try:
                    builds.append(Build.load(prefix))
                except (OSError, ValueError, KeyError):
                    continue
    return sorted(builds, key=lambda b: (b.release, b.meta.get("built_at", "")), reverse=True)


def default_build(settings, builds=None):
    """The build commands use when no version is given: the one `build-pg` with no
    arguments makes (the configured version, or what stood in for it), else the
    newest plain build of the configured flavour."""
    builds = list_builds(settings) if builds is None else builds
    wanted = str(settings.version)
    plain = [b for b in builds if b.flavour == settings.flavour and not b.meta.get("patches")
             and b.meta.get("channel") != "local"]
    candidates = [b for b in plain if b.meta.get("requested") == wanted or b.meta.get("substituted_for") == wanted]
    return (candidates or plain or [None])[0]


def find_build(settings, version=None, *, pg_config=None):
    """Which build?  An explicit pg_config, else the build for `version`, else the default.

    Raises PglabError naming the build-pg command that makes the missing build."""
    if pg_config:
        path = Path(pg_config).expanduser().resolve()
        prefix = path.parent.parent
        if (prefix / META).is_file():
            return Build.load(prefix)
        raise PglabError(f"{path} is not a pglab build (no {META} beside its bin/): build one with `invoke build-pg`")
    builds = list_builds(settings)
    if version is None:
        found = default_build(settings, builds)
        if found is None:
            raise PglabError("no PostgreSQL build yet: run `invoke build-pg`")
        return found
    by_id = [b for b in builds if b.id == version]
    if by_id:
        return by_id[0]
    spec = VersionSpec.parse(version)
    matching = [b for b in builds if spec.matches(b.release) and not b.meta.get("patches")]
    matching.sort(key=lambda b: (b.flavour == settings.flavour, b.release), reverse=True)
    if not matching:
        have = ", ".join(sorted({b.id for b in builds})) or "none"
        raise PglabError(f"no build of PostgreSQL {version} (have: {have}): run `invoke build-pg --version {version}`")
    return matching[0]


def resolve_builds(settings, versions):
    """`--pg 17,15` or `--pg all` (newest build of each major) → [Build]; None → [default]."""
    if versions in (None, ""):
        return [find_build(settings)]
    if versions == "all":
        # one per major: the newest release; patched builds and your own trees are named explicitly
        builds = [b for b in list_builds(settings) if b.flavour == settings.flavour and not b.meta.get("patches")
                  and b.meta.get("channel") != "local"]
        if not builds:
            raise PglabError("no PostgreSQL build yet: run `invoke build-pg`")
        newest = {}
        for b in builds:
            newest.setdefault(b.major, b)
        return [newest[m] for m in sorted(newest)]
    return [find_build(settings, v.strip()) for v in str(versions).split(",") if v.strip()]


def ensure_builds(settings, majors):
    """Build every major in `majors` that can be obtained; returns (builds, skipped notes)."""
    built, skipped = [], []
    for major in [m.strip() for m in str(majors).split(",") if m.strip()]:
        try:
            built.append(build_pg(settings, version=major))
        except SourceError as exc:
            skipped.append(f"{major}: {str(exc).split(';')[0]}")
    return built, skipped


def describe_builds(settings):
    """Rows for pg-list: default mark, id, version, channel, flags, patches, size, path."""
    builds = list_builds(settings)
    default = default_build(settings, builds)
    rows = []
    for b in builds:
        m = b.meta
        sub = f" (for {m['substituted_for']})" if m.get("substituted_for") else ""
        opt = " ".join(f for f in m["cflags"].split() if f.startswith(("-O", "-g")))
        flags = " ".join([opt, *(a.removeprefix("--enable-").removeprefix("--with-") for a in m["configure_args"])])
        patches = ", ".join(Path(p["file"]).name for p in m["patches"]) or "-"
        rows.append(("★" if default and b.id == default.id else "", b.id, f"{b.release}{sub}", m["channel"], flags,
                     patches, ui.human_size(prefix_size(b.prefix)), str(b.prefix)))
    return rows


def prefix_size(prefix):
    total = 0
    for dirpath, _dirs, files in os.walk(prefix):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def remove_build(settings, build_id):
    """Delete one build: its prefix, build tree and what pglab derived from it
    (cluster template, extension builds, regression output).  Refuses while a
    cluster of it runs; your clusters' data directories are kept."""
    from .cluster import Cluster, clusters

    prefix = settings.installs / build_id
    if not (prefix / META).is_file():
        raise PglabError(f"no build named {build_id}: `invoke pg-list` shows the builds")
    build = Build.load(prefix)
    running = [name for bid, name, base in clusters(settings)
               if bid == build_id and Cluster(build, base, preferred_account=settings.account).state() == "running"]
    if running:
        raise PglabError(f"cluster {', '.join(running)} of {build_id} is running: "
                         f"`invoke pg-stop --version {build_id} --name {running[0]}` first")
    shutil.rmtree(prefix)
    for derived in (settings.builds / build_id, settings.clusters / ".templates" / build_id,
                    settings.root / "ext-builds" / build_id, settings.root / "check" / build_id):
        shutil.rmtree(derived, ignore_errors=True)
    (settings.builds / f"{build_id}.lock").unlink(missing_ok=True)

"""Building PostgreSQL: flavours, build identity, configure/make/install, atomic install.

A build's identity is its release, its source identity, its configure flags and
its patches.  Its id names it for people (17.11-debug, 17.11-debug-p3fa2c1) and
names its folders: builds/<id>/ (VPATH build tree and logs) and install/<id>/ (the
prefix).  A prefix is complete only when pglab-build.json is in it, and that file
is written into a staged copy which is then renamed into place, so an interrupted
or failed build never leaves a prefix that looks complete.  An install a server
is running on is never replaced or removed.  One build-pg makes a build at a time:
another one (a second terminal, `invoke ci`) waits for it, saying for which
process, and then finds the build made.

Which builds exist is pglab.pg.builds' business (read-only); this module makes them.
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from .. import locks, ui
from ..errors import BuildError, PglabError, SourceError
from ..run import run_logged
from . import doctor
from .builds import META, Build, list_builds, load_build
from .sources import Memo, channels_for, obtain
from .sources.local import fingerprint, release_of
from .versions import VersionSpec

FLAVOURS = {
    # -O0 keeps every variable visible in gdb; -g3 adds macros (e.g. `p BLCKSZ`).
    "debug": {"cflags": "-O0 -g3 -fno-omit-frame-pointer", "configure": ["--enable-debug", "--enable-cassert"]},
    # for timing work while keeping symbols and frame pointers for profilers
    "opt": {"cflags": "-O2 -g -fno-omit-frame-pointer", "configure": ["--enable-debug"]},
}

# Optional features, as the major distributions' packages configure them, each
# configured in when the toolchain check finds its library:
# (feature, the toolchain need, configure flag, first major that has the flag)
FEATURES = (
    ("icu", "ICU", "--with-icu", 13),            # the default from 16 on (no flag needed there)
    ("lz4", "lz4", "--with-lz4", 14),
    ("zstd", "zstd", "--with-zstd", 15),
    ("openssl", "openssl", "--with-openssl", 13),
    ("libxml", "libxml", "--with-libxml", 13),
    ("libxslt", "libxslt", "--with-libxslt", 13),
    ("uuid", "uuid", "--with-uuid=e2fs", 13),
    ("dtrace", "dtrace", "--enable-dtrace", 13),
    ("tap-tests", "IPC::Run", "--enable-tap-tests", 13),
)

_COMPILE_RE = re.compile(r"\s-c\s(?:.*\s)?-o\s\S+\.o\b|\s-c\s+-o\s")


def features_for(release, results):
    """[(feature, configure flag)] this release can have with this toolchain."""
    chosen = []
    for feature, need, flag, since in FEATURES:
        if release.major >= since and doctor.has(need, results):
            if feature == "icu" and release.major >= 16:
                chosen.append((feature, None))
            else:
                chosen.append((feature, flag))
    return chosen


def configure_args(release, flavour, results):
    """configure flags for a flavour, given what the toolchain check found."""
    return list(FLAVOURS[flavour]["configure"]) + [f for _name, f in features_for(release, results) if f]


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

def build_pg(settings, *, in_use, version=None, source="auto", patches=(), jobs=None, flavour=None, refresh=False):
    """Obtain source and build it; a no-op when the identical build exists.

    IN_USE(settings, build, doing) raises BuildInUse when a server runs on an install that is
    about to be replaced (pglab.servers.refuse_if_running: servers are the layer above this one).
    Returns the Build.  Raises PglabError subclasses with actionable messages."""
    flavour = flavour or settings.flavour
    if flavour not in FLAVOURS:
        raise PglabError(f"unknown flavour '{flavour}': use one of {', '.join(FLAVOURS)}")
    patches = [Path(os.path.expanduser(p)).resolve() for p in patches]
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
        for channel in channels:
            channel.refresh = True

    results = doctor.ensure(quiet=True)
    got = obtain(spec, channels)
    tree = got.tree
    ui.say(f"source: PostgreSQL {tree.release} from {tree.channel} — {tree.origin}")

    cflags = FLAVOURS[flavour]["cflags"]
    args = configure_args(tree.release, flavour, results)
    ident = identity(tree, flavour, args, cflags, patches)
    ihash = identity_hash(ident)
    bid = build_id(ident, local_path=tree.path if tree.local else None)
    prefix = settings.layout.prefix(bid)
    fp = fingerprint(tree.path) if tree.local else None

    done = _up_to_date(prefix, ihash, fp, got, bid)
    if done is not None:
        return done
    builddir = settings.layout.build_dir(bid)
    with _build_lock(settings, bid):
        done = _up_to_date(prefix, ihash, fp, got, bid)     # built by the build-pg this one waited for
        if done is not None:
            return done
        existing = _complete_meta(prefix)
        if existing and existing["identity_hash"] != ihash:
            changed = [k for k in ident if existing.get("identity", {}).get(k) != ident[k]]
            ui.note(f"rebuilding {bid}: its {', '.join(changed) or 'identity'} changed since it was built")
        if existing:
            in_use(settings, Build.load(prefix), "replace")
        srcdir = _patched_tree(settings, tree, patches, ident, fp) if patches else tree.path
        builddir.mkdir(exist_ok=True)  # only once the patches applied: a refused patch leaves nothing
        started = time.monotonic()
        jobs = jobs or settings.parallel_jobs
        count = _compile(settings, builddir, srcdir, prefix, args, cflags, ihash, jobs)
        meta = {
            "id": bid, "release": str(tree.release), "requested": str(spec), "substituted_for": got.substituted_for,
            "channel": tree.channel, "origin": tree.origin, "source_identity": tree.identity,
            "source_dir": str(srcdir), "build_dir": str(builddir), "flavour": flavour, "configure_args": args,
            "cflags": cflags, "features": [name for name, _flag in features_for(tree.release, results)],
            "patches": [{"file": str(p), "sha256": h} for p, h in zip(patches, ident["patches"])],
            "identity": ident, "identity_hash": ihash, "fingerprint": fp, "compile_count": count,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if existing:  # a server may have been started while make ran
            in_use(settings, Build.load(prefix), "replace")
        _install(builddir, prefix, meta, jobs)
        ui.say(f"built {bid} in {time.monotonic() - started:.0f} s → {prefix}", style="green")
    return Build.load(prefix)


def _up_to_date(prefix, ihash, fp, got, bid):
    """The Build at `prefix` when it is this very build (identity, and a local tree's
    state), saying so; else None."""
    existing = _complete_meta(prefix)
    if not (existing and existing["identity_hash"] == ihash and existing.get("fingerprint") == fp):
        return None
    if got.substituted_for and not existing.get("substituted_for"):
        _record_stand_in(prefix, existing, got.substituted_for)
    ui.say(f"up to date: {bid} at {prefix}", style="green")
    return Build.load(prefix)


def _record_stand_in(prefix, meta, major):
    """A build made for one request (`--version 17`) now also stands in for the default
    major that cannot be had: recorded, so that commands without a version find it."""
    meta = {**meta, "substituted_for": major}
    part = prefix / f".{META}.part"
    part.write_text(json.dumps(meta, indent=1) + "\n")
    part.replace(prefix / META)


def _complete_meta(prefix):
    try:
        return json.loads((prefix / META).read_text())
    except (OSError, ValueError):
        return None


def _build_lock(settings, bid):
    """One build-pg per build id at a time: another one waits, saying for which process,
    then finds the build made.  A lock file that built nothing (a patch was refused)
    goes when it is let go."""
    builddir = settings.layout.build_dir(bid)
    return locks.exclusive(settings.layout.build_lock(bid), f"another build-pg is building {bid}: waiting for it",
                           remove=lambda: not builddir.exists())


def _patched_tree(settings, tree, patches, ident, fingerprint=None):
    """A copy of the source with the patches applied; the original is never touched.

    The copy is named after everything in it: the source (and, for your own tree,
    its current state), the patches and the flavour whose build uses it."""
    tag = hashlib.sha256((tree.identity + (fingerprint or "") + "".join(ident["patches"])
                          + ident["flavour"]).encode()).hexdigest()[:10]
    dest = settings.layout.patched_sources / f"{tree.release}-{tag}"
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
    logs = os.path.join(builddir, "logs")
    for dirpath, _dirs, files in os.walk(builddir):
        if dirpath == logs or dirpath.startswith(logs + os.sep):
            continue
        for name in files:
            path = os.path.join(dirpath, name)
            mtime = os.lstat(path).st_mtime
            if mtime >= since and not name.startswith(".pglab"):
                newest.append((mtime, path))
    for _mtime, path in sorted(newest, reverse=True)[:count]:
        os.unlink(path)


_PRECIOUS_RE = re.compile(r"^\s*ac_precious_vars='([^']*)'", re.M)


def installed_software():
    """A digest of what is installed (dpkg's database, else the shared-library cache):
    installing or removing a library changes what configure would find."""
    for path in ("/var/lib/dpkg/status", "/etc/ld.so.cache"):
        try:
            return hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            continue
    return ""


def configure_cache_key(configure, args, cflags, cc, environ=None):
    """The key under which configure's results are kept: the configure script itself,
    its flags, the environment variables it reads (its "precious" ones, and PATH) and
    the installed software.  The prefix is not in it: configure caches no paths of it."""
    environ = os.environ if environ is None else environ
    script = Path(configure).read_bytes()
    m = _PRECIOUS_RE.search(script.decode("utf-8", "replace"))
    names = sorted({*(m.group(1).split() if m else ()), "PATH", "CONFIG_SITE"} - {"CC", "CFLAGS"})
    fields = {"args": list(args), "CFLAGS": cflags, "CC": cc, "env": {k: environ.get(k) for k in names},
              "installed": installed_software()}
    digest = hashlib.sha256(script)
    digest.update(json.dumps(fields, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def _configure(settings, builddir, srcdir, prefix, args, cflags):
    """Run configure in the build tree, with the results an earlier run of the same
    script kept (autoconf's cache file): a second build of a release, a fork of its
    tree or a patched build, configures in seconds.  A run from a kept cache that
    fails is run again from scratch, and the kept results dropped."""
    logs = builddir / "logs"
    cc = "ccache gcc" if shutil.which("ccache") else "gcc"
    configure = srcdir / "configure"
    kept = settings.layout.configure_cache(configure_cache_key(configure, args, cflags, cc))
    local = builddir / "config.cache"
    # The cache file is named by a site script, not --cache-file: configure's arguments
    # end up in pg_config.h (and `pg_config --configure`), and one more would change
    # every object file, for ccache too.  A site script of the user's is read first.
    site = builddir / "config.site"
    user_site = os.environ.get("CONFIG_SITE")
    site.write_text((f". {shlex.quote(str(Path(user_site).resolve()))}\n" if user_site else "")
                    + f"cache_file={shlex.quote(str(local))}\n")
    cmd = [configure, f"--prefix={prefix}", *args, f"CFLAGS={cflags}", f"CC={cc}"]
    (logs / "configure.log").unlink(missing_ok=True)
    reuse = kept.is_file()
    while True:
        local.unlink(missing_ok=True)
        if reuse:
            shutil.copyfile(kept, local)
        title = "configure (results kept from an earlier build)" if reuse else "configure"
        try:
            with ui.phase(title, total=None) as p:
                run_logged(cmd, logs / "configure.log", cwd=builddir, step="configure",
                           env={**os.environ, "LC_ALL": "C", "CONFIG_SITE": str(site)})
                p.detail = " ".join(args)
            break
        except BuildError:
            if not reuse:
                raise
            ui.note(f"configure failed with the results kept in {kept}; dropping them and running it from scratch")
            kept.unlink(missing_ok=True)
            reuse = False
    if not reuse:
        kept.parent.mkdir(parents=True, exist_ok=True)
        staged = kept.with_name(f".{kept.name}.{os.getpid()}")
        shutil.copyfile(local, staged)
        staged.rename(kept)


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
        _configure(settings, builddir, srcdir, prefix, args, cflags)
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
    counts = [b.compile_count for b in list_builds(settings)]
    counts = [c for c in counts if c > 500]
    if counts:
        return max(counts)
    return sum(1 for p in Path(srcdir).rglob("*.c") if "/test/" not in str(p)) or 1


def _install(builddir, prefix, meta, jobs):
    """make install-world-bin into a staging area, then rename it into place.
    In parallel: the same files as one job (checked on 13), in 1.7 s instead of 2.9."""
    staging = prefix.parent / f".staging-{prefix.name}"
    shutil.rmtree(staging, ignore_errors=True)
    log = builddir / "logs" / "install.log"
    log.unlink(missing_ok=True)
    with ui.phase(f"make install-world-bin -j{jobs} (staged)"):
        run_logged(["make", f"-j{jobs}", "install-world-bin", f"DESTDIR={staging}"], log, cwd=builddir,
                   step="make install-world-bin")
    staged = staging / prefix.relative_to(prefix.anchor)
    (staged / META).write_text(json.dumps(meta, indent=1) + "\n")
    old = prefix.parent / f".old-{prefix.name}-{os.getpid()}"
    if prefix.exists():
        prefix.rename(old)
    staged.rename(prefix)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def cache_key(settings, major, flavour=None):
    """A key for a CI cache step that keeps the build cache between runs:
    the major, the flavour, the configure flags, features and CFLAGS pglab uses,
    and the operating system.  Whether a restored build is current is still
    decided by its full identity (release, source, flags, patches)."""
    flavour = flavour or settings.flavour
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    recipe = json.dumps([FLAVOURS.get(flavour), FEATURES, os_release], sort_keys=True)
    return f"pglab-{major}-{flavour}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_builds(settings, majors, *, in_use):
    """Build every major in `majors` that can be obtained: (builds, [(major, why not)]); IN_USE as build_pg's."""
    built, skipped = [], []
    for major in [m.strip() for m in str(majors).split(",") if m.strip()]:
        try:
            built.append(build_pg(settings, version=major, in_use=in_use))
        except SourceError as exc:
            skipped.append((major, str(exc).split(";")[0]))
    return built, skipped


def remove_build(settings, build_id, *, in_use):
    """Delete one build: its prefix, build tree and what pglab derived from it
    (cluster template, extension builds, regression output).  Refuses while a
    cluster of it runs (IN_USE, as build_pg's); your clusters' data directories are kept."""
    build = load_build(settings, build_id)
    if build is None:
        raise PglabError(f"no build named {build_id}: `invoke pg-list` shows the builds")
    in_use(settings, build, "remove")
    shutil.rmtree(build.prefix)
    for derived in settings.layout.derived_from(build_id):
        shutil.rmtree(derived, ignore_errors=True)
    settings.layout.build_lock(build_id).unlink(missing_ok=True)

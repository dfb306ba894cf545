"""PGXS for extensions: the build copy, make, the Makefile's variables and the
server settings the tests ask for.  Only this module runs make for extensions.

ext-test builds in a copy of the extension's folder (ext-builds/<build>/<ext>/src),
never in the folder itself: the user's tree stays clean, and objects left there
by a `make` for another major never reach the build.  The copy is the folder
PGXS's `make installcheck` would run in, so relative paths in tests, `sql/`,
`expected/`, `results/` and `regression.diffs` are where PGXS puts them.

As root, the copy is the server's account's and every make in it runs as the
account: the extension's Makefile is code pglab did not write.  `make install`
goes to a staging folder (DESTDIR) and root copies the files under the build's
prefix into place (pglab.boundary.install_staged), as packagers do.  The folder
around the copy (logs, cached variables, warnings) is root's.
"""

import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import boundary
from ..errors import BuildError, ExtensionError
from ..run import run_logged

# What a build or a test run leaves in a folder: never copied into the build copy, never
# deleted from it.  Objects and caches anywhere; test output only where PGXS writes it, beside a
# Makefile (a folder named log/ among the sources, an expected/regression.out, are sources).
OBJECTS = ("*.o", "*.so", "*.bc", "*.a", "__pycache__", ".pytest_cache", ".git",
           ".pglab")      # pglab's own working area, when it runs in the extension's repository
OUTPUTS = ("results", "regression.diffs", "regression.out", "log", "tmp_check", "output_iso")
BUILD_PRODUCTS = OBJECTS + OUTPUTS
MAKEFILES = ("Makefile", "GNUmakefile", "makefile")
VARS = ("REGRESS", "REGRESS_OPTS", "EXTRA_REGRESS_OPTS", "ISOLATION", "ISOLATION_OPTS", "TAP_TESTS",
        "PROVE_TESTS", "PROVE_FLAGS", "NO_INSTALLCHECK", "EXTENSION", "MODULES", "MODULE_big")


@dataclass
class BuildResult:
    ok: bool
    seconds: float
    warnings: list = field(default_factory=list)   # compiler lines, pointing at the user's files
    diagnostics: str = ""                          # what to show when it failed
    step: str = ""
    configured: str = ""                           # the configure command that ran first, if any


def is_product(folder, name):
    """NAME in FOLDER is what a build or a test run made there (see OBJECTS and OUTPUTS)."""
    if any(fnmatch.fnmatch(name, p) for p in OBJECTS):
        return True
    return name in OUTPUTS and any((Path(folder) / m).is_file() for m in MAKEFILES)


def sync_source(src, dest, made=()):
    """Mirror the extension's sources into `dest`, keeping mtimes, skipping build
    products; returns True when anything changed.  Unchanged files keep their
    mtime, so make recompiles only what changed.  MADE: paths (relative to dest) a
    configure step made there, kept as products are."""
    keep, changed = {dest / m for m in made}, False
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if not is_product(dirpath, d)]
        rel = Path(dirpath).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        keep.add(dest / rel)
        for name in filenames:
            if is_product(dirpath, name):
                continue
            s, d = Path(dirpath) / name, dest / rel / name
            keep.add(d)
            st = s.stat()
            try:
                dst = d.stat()
                same = dst.st_mtime_ns == st.st_mtime_ns and dst.st_size == st.st_size
            except OSError:
                same = False
            if not same:
                shutil.copy2(s, d)
                changed = True
    for dirpath, dirnames, filenames in os.walk(dest):
        dirnames[:] = [d for d in dirnames if not is_product(dirpath, d)]
        for name in filenames:
            path = Path(dirpath) / name
            if path not in keep and not is_product(dirpath, name):
                path.unlink()  # a source deleted in the extension
                changed = True
    return changed


def build_copy(settings, ext, build):
    """The folder ext-test builds and tests `ext` in, for `build`; keyed by the
    extension's folder too, so two extensions of one name never share objects."""
    tag = hashlib.sha256(str(ext.path).encode()).hexdigest()[:6]
    return settings.layout.ext_build(build.id, f"{ext.name}-{tag}"), f"{ext.name}-{tag}"


def make_cmd(build, *targets, extra=()):
    """make for a PGXS extension against `build` (never the system's pg_config).
    USE_PGXS=1 lets a contrib module copied out of a source tree build like any
    PGXS project."""
    return ["make", "--no-print-directory", "USE_PGXS=1", f"PG_CONFIG={build.pg_config}", *extra, *targets]


def makefile_vars(build, srcdir, env=None, account=None, state=None):
    """What the extension's Makefile says, with PGXS included: {VAR: value}.  make reads
    it as `account` (as root: the server's account; the Makefile may run anything).

    Cached in STATE (a folder of root's; default: beside the copy) and read again
    when the Makefile, the build or the environment (EXTRA_REGRESS_OPTS may come
    from there) changes."""
    env = env if env is not None else os.environ
    makefile = srcdir / "Makefile"
    st = makefile.stat()
    key = hashlib.sha256(json.dumps([st.st_mtime_ns, st.st_size, str(build.pg_config), build.built_at,
                                     env.get("EXTRA_REGRESS_OPTS", ""), VARS]).encode()).hexdigest()
    state = Path(state) if state is not None else srcdir.parent
    state.mkdir(parents=True, exist_ok=True)
    cache = state / "vars.json"
    try:
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return cached["vars"]
    except (OSError, ValueError):
        pass
    helper = state / "pglab-vars.mk"
    boundary.write_file(helper, "pglab-print-vars:\n" + "".join(f"\t$(info {v}=$({v}))\n" for v in VARS) + "\t@:\n")
    run_as, run_env = {}, dict(env)
    if account is not None:
        run_as = account.subprocess_kwargs()
        run_env = boundary.account_env(account, **{k: env[k] for k in ("EXTRA_REGRESS_OPTS",) if k in env})
    done = subprocess.run([str(c) for c in make_cmd(build, "pglab-print-vars", extra=("-f", "Makefile", "-f", helper))],
                          cwd=srcdir, capture_output=True, text=True, env=run_env, **run_as)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["make failed"])[-1]
        raise ExtensionError(f"make could not read {makefile}: {last}")
    values = {}
    for line in done.stdout.splitlines():
        key_, sep, value = line.partition("=")
        if sep and key_ in VARS:
            values[key_] = value.strip()
    boundary.write_file(cache, json.dumps({"key": key, "vars": values}))
    return values


def temp_config_files(values):
    """Every --temp-config pg_regress would see, in either spelling, in the order given."""
    files = []
    for var in ("REGRESS_OPTS", "ISOLATION_OPTS", "EXTRA_REGRESS_OPTS"):
        words = shlex.split(values.get(var, ""))
        for i, word in enumerate(words):
            if word.startswith("--temp-config="):
                files.append(word.split("=", 1)[1])
            elif word == "--temp-config" and i + 1 < len(words):
                files.append(words[i + 1])
    return list(dict.fromkeys(files))


def temp_config(ext_name, values, srcdir):
    """Server settings the tests need: ({setting: value}, [files read]).

    The files named by --temp-config (relative to the folder make runs in), else
    NAME.conf.  A contrib module copied out of a source tree names its file
    through $(top_srcdir)/contrib/NAME/ or $(top_srcdir)/$(subdir)/, which under
    PGXS point into the installed PGXS tree: then the file of that name in the
    extension's own folder is meant."""
    settings, used = {}, []
    named = temp_config_files(values)
    for name in named:
        path = Path(name) if Path(name).is_absolute() else srcdir / name
        for candidate in (path, srcdir / path.name):
            if candidate.is_file():     # read without following a link: the copy is the account's
                settings.update(parse_conf(boundary.read_file(candidate)))
                used.append(candidate)
                break
        else:
            raise ExtensionError(f"--temp-config {name}: no such file (looked in {srcdir}); "
                                 f"the Makefile names it, so the tests need it")
    if not named and (srcdir / f"{ext_name}.conf").is_file():
        settings.update(parse_conf(boundary.read_file(srcdir / f"{ext_name}.conf")))
        used.append(srcdir / f"{ext_name}.conf")
    return settings, used


def parse_conf(text):
    settings = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (p.strip() for p in line.split("=", 1))
            settings[key] = value if value.startswith("'") else value.strip('"')
    return settings


def user_path(line, srcdir, origin):
    """A compiler line pointing at the user's file, not pglab's copy of it."""
    line = line.rstrip().replace(str(srcdir), str(origin))
    m = re.match(r"^([\w.+-][\w./+-]*\.[ch]):(\d+)", line)
    if m and not m.group(1).startswith("/") and (origin / m.group(1)).exists():
        line = f"{origin / m.group(1)}{line[len(m.group(1)):]}"
    return line


_DIAG_RE = re.compile(r"(error|warning|note):|^\s+\||^\s*\d+ \|")


def sync_copy(ext, srcdir, account=None, keep=()):
    """The build copy brought up to date with the extension's folder; True when anything
    changed.  As root (ACCOUNT switching) the copy is the account's (pglab.boundary.copy_in).
    KEEP: paths in the copy a configure step made (pglab.ext.shape), never deleted."""
    if account is not None and account.switching:
        boundary.account_dir(account, srcdir, 0o755)
        boundary.reach(account, srcdir)
        kept = {os.path.join(srcdir, k) for k in keep}
        return boundary.copy_in(account, ext.path, srcdir,
                                lambda folder, name: is_product(folder, name) or os.path.join(folder, name) in kept)
    srcdir.mkdir(parents=True, exist_ok=True)
    return sync_source(ext.path, srcdir, made=keep)


def compile_ext(ext, build, srcdir, log, *, werror=False, account=None, synced=None, home=None):
    """make, then make install, in the copy; skipped when
    nothing changed since the prefix got this copy's build.  As root (ACCOUNT switching) the
    copy is the account's, make runs as it (HOME: boundary.account_home) and the install is
    staged.  SYNCED: what sync_copy said, when the caller synced already.  Returns a BuildResult."""
    start = time.monotonic()
    staged = account is not None and account.switching
    if synced is None:
        synced = sync_copy(ext, srcdir, account)
    # which folder's build of this extension, and with which flags, the prefix holds now
    stamp = srcdir.parent.parent / f".installed-{ext.name}"
    mark = f"{srcdir}|{build.built_at}|{'werror' if werror else ''}"
    previous = stamp.read_text() if stamp.exists() else ""
    warnings_file = srcdir.parent / "warnings.txt"
    if not synced and previous == mark:
        kept = warnings_file.read_text().splitlines() if warnings_file.exists() else []
        return BuildResult(True, time.monotonic() - start, warnings=kept)
    stamp.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    extra = ("COPT=-Werror",) if werror else ()
    if previous != mark and previous.rsplit("|", 1)[0] == mark.rsplit("|", 1)[0]:
        extra += ("-B",)    # only --werror changed: objects up to date would hide their warnings
    lines = []
    run_as = {"account": account, "env": boundary.account_env(account, home=home)} if staged else {}
    try:
        if staged:
            run_logged(make_cmd(build, extra=extra), log, cwd=srcdir, on_line=lines.append, step="make", **run_as)
            key = f"{build.prefix}|{build.built_at}"
            stage = boundary.ready_stage(account, srcdir.parent / "stage", build.prefix, key)
            run_logged(make_cmd(build, "install", extra=(f"DESTDIR={stage}",)), log, cwd=srcdir,
                       on_line=lines.append, step="make install", **run_as)
            boundary.install_staged(account, stage, build.prefix)
            boundary.stage_kept(stage, key)     # its folders serve the next install
        else:   # make, then make install, as projects say to build them (some install rules build nothing)
            run_logged(make_cmd(build, extra=extra), log, cwd=srcdir, on_line=lines.append, step="make")
            run_logged(make_cmd(build, "install"), log, cwd=srcdir, on_line=lines.append, step="make install")
    except BuildError as exc:
        diagnostics = [user_path(l, srcdir, ext.path) for l in lines if _DIAG_RE.search(l)]
        return BuildResult(False, time.monotonic() - start, diagnostics="\n".join(diagnostics) or exc.tail,
                           step="make")
    except boundary.BoundaryError as exc:
        return BuildResult(False, time.monotonic() - start, diagnostics=str(exc), step="make install")
    stamp.write_text(mark)
    warnings = [user_path(l, srcdir, ext.path) for l in lines if "warning:" in l]
    warnings_file.write_text("\n".join(warnings))
    return BuildResult(True, time.monotonic() - start, warnings=warnings)

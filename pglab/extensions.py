"""ext-test: build C extensions with PGXS against a build and run their tests.

For each extension and each selected build:

    build     make (VPATH, in pg_source/ext-builds/<build>/<ext>/) and make install
              into that build's prefix only; compiler warnings are shown
    regress   pg_regress exactly as the Makefile defines it (REGRESS, REGRESS_OPTS)
    pytest    the extension's tests/ with pglab's pytest plugin: pytest-postgresql
              pointed at the same server, a fresh database per test

on a throwaway cluster started from a template of the build (so it takes a
fraction of a second) and configured from the extension's --temp-config file.
Nothing is written into the extension's folder.  A backend that crashes is
reported with the test that triggered it, the server log and a gdb backtrace from
its core file; a test that hangs is stopped after a timeout, with a backtrace of
the stuck backend; the cluster is always cleaned up.
"""

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from . import ui
from .build import resolve_builds
from .cluster import Cluster
from .config import PROJECT_ROOT
from .errors import BuildError, ClusterError, PglabError

EXTENSIONS_DIR = PROJECT_ROOT / "extensions"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# NO_INSTALLCHECK is not honoured: it only says the tests need settings a plain
# installcheck cannot give them, and ext-test gives them (the --temp-config file).
_VARS = ("REGRESS", "REGRESS_OPTS")
_CRASH_RE = re.compile(r"\(PID (\d+)\) was terminated by (signal \d+[^\n]*|exception[^\n]*)")
_LOST_RE = re.compile(r"server closed the connection unexpectedly|terminating connection because of crash|"
                      r"consuming input failed|connection to server .* lost|SSL SYSCALL error: EOF")


@dataclass(frozen=True)
class Extension:
    name: str
    path: Path

    @property
    def tests_dir(self):
        return self.path / "tests"


@dataclass
class Crash:
    test: str
    signal: str
    log: str
    backtrace: str


@dataclass
class SuiteResult:
    extension: str
    build: str
    suite: str               # build, regress, pytest
    status: str              # pass, fail, crash, hang, skip
    seconds: float = 0.0
    detail: str = ""
    output: str = ""         # warnings, diffs, pytest's report
    crash: Crash = None

    @property
    def ok(self):
        return self.status in ("pass", "skip")


# ---- finding extensions ---------------------------------------------------------------

def discover(root=EXTENSIONS_DIR):
    """{name: Extension} for each PGXS project directly under `root`."""
    found = {}
    if Path(root).is_dir():
        for path in sorted(Path(root).iterdir()):
            if not path.name.startswith(".") and (path / "Makefile").is_file() and list(path.glob("*.control")):
                found[path.name] = Extension(path.name, path)
    return found


def resolve(names=(), path=None, root=EXTENSIONS_DIR):
    """The extensions to test: by name from extensions/, or one folder anywhere."""
    if path:
        folder = Path(path).expanduser().resolve()
        if not (folder / "Makefile").is_file():
            raise PglabError(f"--path {folder} has no Makefile: point it at a PGXS extension's folder")
        return [Extension(folder.name, folder)]
    known = discover(root)
    if not names:
        if not known:
            raise PglabError(f"no extensions under {root}: `invoke new-ext NAME --template udf` makes one")
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise PglabError(f"unknown extension {', '.join(unknown)}; known: {', '.join(known) or 'none'} "
                         f"(or use --path DIR for one outside extensions/)")
    return [known[n] for n in names]


# ---- make --------------------------------------------------------------------------

_NOT_SOURCE = ("*.o", "*.so", "*.bc", "*.a", "results", "regression.diffs", "regression.out", "log", "tmp_check",
               "__pycache__", ".pytest_cache", ".git")


def sync_source(ext, dest):
    """Mirror the extension's sources into `dest`, keeping mtimes, skipping build products.

    Building in a mirror keeps the user's folder clean and keeps stale objects
    there (from a `make` run by hand, perhaps for another major) out of the build;
    unchanged files keep their mtime, so make recompiles only what changed."""
    import fnmatch

    keep = set()
    for dirpath, dirnames, filenames in os.walk(ext.path):
        dirnames[:] = [d for d in dirnames if not any(fnmatch.fnmatch(d, p) for p in _NOT_SOURCE)]
        rel = Path(dirpath).relative_to(ext.path)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        keep.add(dest / rel)
        for name in filenames:
            if any(fnmatch.fnmatch(name, p) for p in _NOT_SOURCE):
                continue
            src, dst = Path(dirpath) / name, dest / rel / name
            keep.add(dst)
            st = src.stat()
            try:
                same = dst.stat().st_mtime_ns == st.st_mtime_ns and dst.stat().st_size == st.st_size
            except OSError:
                same = False
            if not same:
                shutil.copy2(src, dst)
    for dirpath, dirnames, filenames in os.walk(dest, topdown=False):
        for name in filenames:
            path = Path(dirpath) / name
            if path not in keep and not any(fnmatch.fnmatch(name, p) for p in _NOT_SOURCE):
                path.unlink()  # a source deleted in the extension


def _make(build, *targets, extra=()):
    # USE_PGXS=1 lets a contrib module copied out of a source tree build like any PGXS project
    return ["make", "--no-print-directory", "USE_PGXS=1", f"PG_CONFIG={build.pg_config}", *extra, *targets]


def makefile_vars(ext, build, srcdir):
    """What the extension's Makefile says, with PGXS included (REGRESS, REGRESS_OPTS, ...)."""
    helper = srcdir.parent / "pglab-vars.mk"
    helper.write_text("pglab-print-vars:\n" + "".join(f"\t$(info {v}=$({v}))\n" for v in _VARS) + "\t@:\n")
    done = subprocess.run([str(c) for c in _make(build, "pglab-print-vars", extra=("-f", "Makefile", "-f", helper))],
                          cwd=srcdir, capture_output=True, text=True)
    if done.returncode != 0:
        raise PglabError(f"{ext.name}: make could not read its Makefile: {done.stderr.strip().splitlines()[-1:]}")
    values = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in _VARS:
            values[key] = value.strip()
    return values


def split_regress_opts(values):
    """(pg_regress options without --temp-config, the --temp-config file or None)."""
    opts, temp, words = [], None, shlex.split(values.get("REGRESS_OPTS", ""))
    i = 0
    while i < len(words):
        if words[i].startswith("--temp-config="):
            temp = words[i].split("=", 1)[1]
        elif words[i] == "--temp-config" and i + 1 < len(words):
            temp = words[i + 1]
            i += 1
        else:
            opts.append(words[i])
        i += 1
    return opts, temp


def temp_config(ext, values, srcdir):
    """Server settings the tests need: the file named by --temp-config, else NAME.conf.

    A contrib module copied out of a source tree names its file through
    $(top_srcdir)/contrib/NAME/, which PGXS points elsewhere: then the file of
    that name in the extension's own folder is meant."""
    _opts, named = split_regress_opts(values)
    candidates = []
    if named:
        named = Path(named) if Path(named).is_absolute() else srcdir / named
        candidates += [named, srcdir / named.name]
    candidates.append(srcdir / f"{ext.name}.conf")
    for path in candidates:
        if path.is_file():
            return parse_conf(path.read_text())
    return {}


def parse_conf(text):
    settings = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (p.strip() for p in line.split("=", 1))
            settings[key] = value if value.startswith("'") else value.strip('"')
    return settings


def _user_path(line, srcdir, ext):
    """A compiler line pointing at the user's file, not pglab's mirror of it."""
    line = line.rstrip().replace(str(srcdir), str(ext.path))
    m = re.match(r"^([\w.+-][\w./+-]*\.[ch]):(\d+)", line)
    if m and not m.group(1).startswith("/") and (ext.path / m.group(1)).exists():
        line = f"{ext.path / m.group(1)}{line[len(m.group(1)):]}"
    return line


def compile_ext(ext, build, builddir, *, werror=False):
    """make + make install in a mirror of the sources; returns a SuiteResult whose
    output lists the warnings (or the compiler's diagnostics)."""
    srcdir = builddir / "src"
    sync_source(ext, srcdir)
    log = builddir / "build.log"
    log.unlink(missing_ok=True)
    extra = ("COPT=-Werror",) if werror else ()
    start = time.monotonic()
    lines = []
    try:
        from .run import run_logged

        run_logged(_make(build, extra=extra), log, cwd=srcdir, on_line=lines.append, step="make")
        run_logged(_make(build, "install", extra=extra), log, cwd=srcdir, step="make install")
    except BuildError as exc:
        diagnostics = [_user_path(l, srcdir, ext) for l in lines
                       if re.search(r"(error|warning|note):|^\s+\||^\s*\d+ \|", l)]
        return SuiteResult(ext.name, build.id, "build", "fail", time.monotonic() - start, exc.step,
                           "\n".join(diagnostics) or exc.tail)
    warnings = [_user_path(l, srcdir, ext) for l in lines if "warning:" in l]
    detail = f"{len(warnings)} warning(s)" if warnings else ""
    return SuiteResult(ext.name, build.id, "build", "pass", time.monotonic() - start, detail, "\n".join(warnings))


# ---- crashes and hangs -------------------------------------------------------------

def _log_since(cluster, offset):
    try:
        with open(cluster.log, errors="replace") as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return ""


def _log_size(cluster):
    try:
        return cluster.log.stat().st_size
    except OSError:
        return 0


def _frames(gdb_output):
    """The `bt` lines of a gdb batch run (gdb also prints frame #0 once on load)."""
    frames = [l for l in gdb_output.splitlines() if l.startswith("#")]
    if len(frames) > 1 and frames[0] == frames[1]:
        frames = frames[1:]
    return "\n".join(frames)


def _gdb_bt(args):
    """gdb's `bt` for a core or a live pid, or a line saying why there is none."""
    if shutil.which("gdb") is None:
        return "no backtrace: gdb is not installed (invoke doctor installs it)"
    try:
        done = subprocess.run(["gdb", "-nx", "-batch", *args, "-ex", "bt"], capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        return "no backtrace: gdb took longer than 120 s"
    return _frames(done.stdout) or done.stderr.strip()


def backtrace_from_core(build, core):
    return _gdb_bt([str(build.bin("postgres")), str(core)])


def backtrace_of(pid):
    return _gdb_bt(["-p", str(pid)])


def _find_crash(cluster, build, offset, test, lost):
    """A Crash if the server log since `offset` shows a backend dying, else None.

    The postmaster logs the death only after reaping the child, a moment after
    the client saw its connection drop: when the client lost its connection
    (`lost`), wait for that line and for the restart to finish."""
    deadline = time.monotonic() + (15 if lost else 0)
    while True:
        log_text = _log_since(cluster, offset)
        done = _CRASH_RE.search(log_text) and "ready to accept connections" in log_text.split("terminated by", 1)[1]
        if done or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    m = _CRASH_RE.search(log_text)
    if not m and "TRAP:" not in log_text:
        return None
    cores = sorted(cluster.datadir.glob("core*"), key=lambda p: p.stat().st_mtime)
    if cores:
        trace = backtrace_from_core(build, cores[-1])
        for core in cores:
            core.unlink()
    else:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        trace = (f"no core file was written (kernel.core_pattern is '{pattern}'); "
                 f"for backtraces run `sysctl -w kernel.core_pattern=core`")
    # the lines a learner needs: the failed assertion, the death, and what was running
    lines = log_text.splitlines()
    keep = [i for i, l in enumerate(lines) if "TRAP:" in l]
    death = next((i for i, l in enumerate(lines) if _CRASH_RE.search(l)), None)
    if death is not None:
        keep += [i for i in range(death, min(death + 4, len(lines)))]
    excerpt = "\n".join(lines[i] for i in sorted(set(keep)))
    return Crash(test, m.group(2) if m else "assertion failure (SIGABRT)", excerpt, trace)


def _hung_backends(cluster):
    try:
        rows = cluster.sql("select pid, query from pg_stat_activity where state = 'active' "
                           "and backend_type = 'client backend' and pid <> pg_backend_pid()")
    except PglabError:
        return []
    return [(int(r[0]), r[1]) for r in rows if r and r[0].isdigit()]


def _stop_hang(cluster):
    """Backtraces of the stuck backends, then cancel them."""
    report = []
    for pid, query in _hung_backends(cluster):
        report.append(f"backend {pid} running: {query}\n{backtrace_of(pid)}")
        try:
            cluster.sql(f"select pg_terminate_backend({pid})")
        except PglabError:
            pass
    return "\n".join(report)


# ---- the suites -----------------------------------------------------------------------

def run_regress(ext, build, cluster, values, builddir, *, timeout):
    regress = values.get("REGRESS", "").split()
    if not regress:
        return SuiteResult(ext.name, build.id, "regress", "skip", detail="no REGRESS in Makefile")
    pg_regress = build.pgxs_pg_regress
    opts, _temp = split_regress_opts(values)  # pglab applies the temp config to the cluster itself
    out = builddir / "regress"
    shutil.rmtree(out, ignore_errors=True)
    cluster.own_dir(out, 0o755)
    # as PGXS's installcheck does, from the source folder, so relative paths in REGRESS_OPTS mean the same
    srcdir = builddir / "src"
    cmd = [pg_regress, "--inputdir=.", f"--bindir={build.bindir}", f"--outputdir={out}",
           f"--host={cluster.socket_dir}", f"--port={cluster.port}", *opts, *regress]
    offset = _log_size(cluster)
    start = time.monotonic()
    proc = cluster.popen(cmd, cwd=srcdir)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        trace = _stop_hang(cluster)
        proc.kill()
        output, _ = proc.communicate()
        done = _regress_results(output)
        hung = next((t for t in regress if t not in done), regress[-1])
        return SuiteResult(ext.name, build.id, "regress", "hang", time.monotonic() - start,
                           f"{hung} did not finish in {timeout:.0f} s", trace)
    elapsed = time.monotonic() - start
    results = _regress_results(output)
    failed = [t for t, ok in results.items() if not ok]
    diffs_file = out / "regression.diffs"
    diffs = diffs_file.read_text(errors="replace") if diffs_file.exists() else ""
    trigger = next((t for t in failed if _LOST_RE.search(_read(out / "results" / f"{t}.out"))), failed[0] if failed else "?")
    lost = any(_LOST_RE.search(_read(out / "results" / f"{t}.out")) for t in failed)
    crash = _find_crash(cluster, build, offset, f"regress/{trigger}", lost)
    if crash:
        return SuiteResult(ext.name, build.id, "regress", "crash", elapsed, f"{trigger}: backend {crash.signal}", diffs, crash)
    if proc.returncode != 0 or failed:
        detail = f"failed: {', '.join(failed)}" if failed else output.strip().splitlines()[-1:]
        return SuiteResult(ext.name, build.id, "regress", "fail", elapsed, str(detail), diffs or output)
    return SuiteResult(ext.name, build.id, "regress", "pass", elapsed, f"{len(results)} test(s)")


def _read(path):
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _regress_results(output):
    from .check import parse_line

    results = {}
    for line in output.splitlines():
        parsed = parse_line(line.strip())
        if parsed:
            results[parsed[0]] = parsed[1]
    return results


def run_pytest(ext, build, cluster, builddir, *, k=None, timeout):
    if not ext.tests_dir.is_dir() or not list(ext.tests_dir.glob("test_*.py")):
        return SuiteResult(ext.name, build.id, "pytest", "skip", detail="no tests/test_*.py")
    junit = builddir / "pytest.xml"
    junit.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:pytest_postgresql", "-p", "pglab.pytest_plugin",
           "-p", "no:cacheprovider", f"--rootdir={ext.path}", "-c", os.devnull, f"--junitxml={junit}", str(ext.tests_dir)]
    if k:
        cmd += ["-k", k]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PGLAB_TEST_PGHOST": str(cluster.socket_dir),
           "PGLAB_TEST_PGPORT": str(cluster.port), "PGLAB_TEST_SERVER_LOG": str(cluster.log),
           "PGLAB_TEST_PG_CONFIG": str(build.pg_config), "PGLAB_TEST_DATADIR": str(cluster.datadir)}
    offset = _log_size(cluster)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=builddir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        trace = _stop_hang(cluster)
        os.killpg(proc.pid, 9)
        output, _ = proc.communicate()
        return SuiteResult(ext.name, build.id, "pytest", "hang", time.monotonic() - start,
                           f"did not finish in {timeout:.0f} s", trace + "\n" + output[-3000:])
    elapsed = time.monotonic() - start
    cases = _junit_cases(junit)
    failed = [name for name, message in cases if message is not None]
    trigger = next((name for name, message in cases if message and _LOST_RE.search(message)),
                   failed[0] if failed else "?")
    lost = any(message and _LOST_RE.search(message) for _name, message in cases)
    crash = _find_crash(cluster, build, offset, f"pytest/{trigger}", lost)
    if crash:
        return SuiteResult(ext.name, build.id, "pytest", "crash", elapsed, f"{trigger}: backend {crash.signal}",
                           output[-4000:], crash)
    if proc.returncode != 0:
        detail = f"failed: {', '.join(failed)}" if failed else f"pytest exit {proc.returncode}"
        return SuiteResult(ext.name, build.id, "pytest", "fail", elapsed, detail, output[-6000:])
    return SuiteResult(ext.name, build.id, "pytest", "pass", elapsed, f"{len(cases)} test(s)")


def _junit_cases(path):
    """[(test name, failure message or None)] from pytest's junit xml."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    cases = []
    for case in root.iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        message = None if bad is None else (bad.get("message") or "") + "\n" + (bad.text or "")
        cases.append((case.get("name"), message))
    return cases


# ---- the whole loop -----------------------------------------------------------------

def test_extension(settings, ext, build, *, werror=False, k=None, timeout=300.0, suites=("regress", "pytest")):
    """Build, install and test one extension on one build; returns [SuiteResult]."""
    # keyed by the folder too: two extensions of one name (say, a --path copy) never share objects
    tag = hashlib.sha256(str(ext.path).encode()).hexdigest()[:6]
    builddir = settings.root / "ext-builds" / build.id / f"{ext.name}-{tag}"
    compiled = compile_ext(ext, build, builddir, werror=werror)
    results = [compiled]
    if not compiled.ok:
        return results
    values = makefile_vars(ext, build, builddir / "src")
    conf = temp_config(ext, values, builddir / "src")
    try:
        with Cluster.throwaway(build, settings, conf=conf, template=True, core_dumps=True) as cl:
            if "regress" in suites:
                results.append(run_regress(ext, build, cl, values, builddir, timeout=timeout))
            if "pytest" in suites:
                results.append(run_pytest(ext, build, cl, builddir, k=k, timeout=timeout))
    except ClusterError as exc:  # e.g. a preloaded library whose _PG_init fails: a result, not the end of the run
        results.append(SuiteResult(ext.name, build.id, "server", "fail", 0.0, "the server did not start", str(exc)))
    return results


def ext_test(settings, *, names=(), path=None, pg=None, k=None, werror=False, timeout=300.0):
    """ext-test over extensions × builds; prints progress and returns [SuiteResult]."""
    extensions = resolve(names, path)
    builds = resolve_builds(settings, pg)
    results = []
    for b in builds:
        for ext in extensions:
            with ui.phase(f"{ext.name} on {b.id}") as p:
                got = test_extension(settings, ext, b, werror=werror, k=k, timeout=timeout)
                p.detail = ", ".join(f"{r.suite} {r.status}" for r in got)
            results.extend(got)
    return results


def report(results):
    """The table, then what a learner needs to see for each problem."""
    ui.table("ext-test", ["extension", "build", "suite", "result", "time", "detail"],
             [(r.extension, r.build, r.suite, _mark(r.status), f"{r.seconds:.1f} s", r.detail) for r in results])
    for r in results:
        if r.suite == "build" and r.output and r.status == "pass":
            ui.say(f"compiler warnings in {r.extension} on {r.build}:", style="yellow")
            ui.raw(r.output)
        if r.status in ("fail", "hang") and r.output:
            ui.say(f"{r.extension} {r.suite} on {r.build}:", style="bold")
            ui.raw(r.output[-6000:])
        if r.crash:
            ui.say(f"server crash in {r.extension} on {r.build}, triggered by {r.crash.test} ({r.crash.signal})",
                   style="red bold")
            ui.say("server log:", style="bold")
            ui.raw(r.crash.log)
            ui.say("backtrace:", style="bold")
            ui.raw(r.crash.backtrace)


def _mark(status):
    from rich.text import Text

    styles = {"pass": ("pass", "green"), "skip": ("skip", "dim"), "fail": ("FAIL", "red"),
              "crash": ("CRASH", "red"), "hang": ("HANG", "red")}
    label, style = styles[status]
    return Text(label, style=style)


# ---- new-ext ---------------------------------------------------------------------------

def templates():
    return sorted(p.name for p in TEMPLATES_DIR.iterdir() if p.is_dir())


def scaffold(name, template, root=EXTENSIONS_DIR):
    """Copy a template to extensions/NAME with the name filled in; never overwrites."""
    if not _NAME_RE.match(name or ""):
        raise PglabError(f"'{name}' is not a valid extension name: use lower-case letters, digits and _, "
                         f"starting with a letter (e.g. my_ext)")
    if template not in templates():
        raise PglabError(f"unknown template '{template}': use one of {', '.join(templates())}")
    dest = Path(root) / name
    if dest.exists():
        raise PglabError(f"{dest} already exists; pglab never overwrites an extension: choose another name")
    staging = Path(root) / f".new-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for src in sorted((TEMPLATES_DIR / template).rglob("*")):
            if "__pycache__" in src.parts:
                continue
            rel = Path(str(src.relative_to(TEMPLATES_DIR / template)).replace("__EXT__", name))
            target = staging / rel
            if src.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(src.read_text().replace("__EXT__", name))
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest

"""The test suites of an extension, each run the way its tool expects and under
pglab.postmortem.supervise:

    regress    `make installcheck` limited to REGRESS (pg_regress, as PGXS runs it)
    isolation  `make installcheck` limited to ISOLATION (pg_isolation_regress)
    tap        `make installcheck` limited to TAP_TESTS (prove, with the build's
               PostgreSQL::Test modules; each test starts its own nodes)
    pytest     tests/test_*.py with pglab's pytest plugin (pytest-postgresql's
               fixtures pointed at the same server, a fresh database per test)
    upgrade    every update path to the default version compared with a fresh
               install of it, catalog object by object (pglab.ext.upgrade); only
               when asked for (ext-test --upgrade or --suite upgrade)

The first three are PGXS's own installcheck with the other two kinds switched off
on make's command line, run as the server's account in the extension's build
copy: every option, path and expected file means what it means under PGXS.
pytest runs as the server's account too, on the build copy's tests/ (test ids and
paths in its output are the extension's own).
"""

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import boundary, postmortem
from ..errors import ExtensionError
from ..postmortem import RegressTally, Supervised, Tally, supervise
from ..procs import reap_all
from . import accept, prestart, upgrade
from .pgxs import make_cmd
from .report import SuiteResult

SUITES = ("regress", "isolation", "tap", "pytest", "upgrade")
DEFAULT_SUITES = SUITES[:4]     # upgrade runs when asked for: its scratch databases cost time on every run
# a function (a test or a fixture of the project's) asking for one of pglab.ext.pytest_plugin's fixtures
_FIXTURES = re.compile(r"\bdef \w+\s*\([^)]*\b(postgresql|postgresql_noproc|pglab_server)\b")
KINDS = {"regress": "REGRESS", "isolation": "ISOLATION", "tap": "TAP_TESTS"}


@dataclass
class Run:
    """What a suite needs: the extension, the build, the server, the build copy."""

    ext: object
    build: object
    cluster: object
    srcdir: Path
    values: dict
    idle_timeout: float
    k: str = None
    settings: object = None      # for the pre-started pytest; None: always a new interpreter
    pause: object = None         # ext-test --debug: pglab.debug.pause.TestPause holding a test backend
    account: object = None       # who runs the suites (pglab.accounts): the server's account
    home: Path = None            # its HOME for the suites (pglab.boundary.account_home), as root
    folder: str = ""             # the subfolder a recursive project's suite runs in ("regress/"), or ""

    def result(self, suite, status, seconds=0.0, **kw):
        return SuiteResult(self.ext.name, self.build.id, suite, status, seconds, folder=self.folder, **kw)


def skip_reason(suite, run):
    """Why `suite` does not apply to this extension and build, or None (upgrade: the server says, see
    pglab.ext.upgrade)."""
    if suite == "upgrade":
        return None
    if suite == "pytest":
        tests = run.ext.tests_dir
        files = sorted(tests.glob("test_*.py")) if tests.is_dir() else []
        if not files:
            return "no tests/test_*.py"
        if not any(_FIXTURES.search(boundary.read_file(f)) for f in [*files, tests / "conftest.py"]):
            # a project's own tests for another harness (docker, nose): not what pglab's plugin runs
            return "tests/test_*.py use none of pglab's pytest fixtures (postgresql, pglab_server)"
        return None
    var = KINDS[suite]
    if not run.values.get(var, "").strip():
        return f"no {var} in the Makefile"
    if suite == "tap" and "tap-tests" not in run.build.features:
        return f"{run.build.id} was built without --enable-tap-tests (install libipc-run-perl, then build-pg)"
    if suite == "isolation" and not (run.build.pgxs_dir() / "test" / "isolation" / "pg_isolation_regress").exists():
        return f"{run.build.id} installs no pg_isolation_regress for PGXS (later majors do)"
    return None


def run_suite(suite, run):
    reason = skip_reason(suite, run)
    if reason:
        return run.result(suite, "skip", detail=reason)
    return {"regress": run_regress, "isolation": run_isolation, "tap": run_tap, "pytest": run_pytest,
            "upgrade": upgrade.run_upgrade}[suite](run)


# ---- PGXS's installcheck, one kind at a time ------------------------------------------

def _installcheck(run, keep, extra=()):
    """make installcheck with every other kind of suite switched off."""
    off = [f"{var}=" for kind, var in KINDS.items() if kind != keep]
    # NO_INSTALLCHECK only says the tests need settings a plain installcheck cannot
    # give them; ext-test gives them (the --temp-config file), so it is switched off
    return make_cmd(run.build, "installcheck", extra=(*off, "NO_INSTALLCHECK=", *extra))


def _suite_env(run):
    """The environment make installcheck (and what it runs) sees: the user's, as a PGXS user's
    make would (make variables such as LUA_INCDIR come from there), less root's secrets
    (boundary.account_env); the C locale and time zone of the server's; a HOME the account may
    write in (a test may start a service that keeps its pid file there)."""
    env = {**boundary.account_env(run.account), **run.cluster.server_env()}
    if run.home is not None:
        env["HOME"] = str(run.home)
    return env


def _client_env(run):
    env = {**_suite_env(run), **run.cluster.env, "PATH": f"{run.build.bindir}:{os.environ['PATH']}"}
    if run.pause is not None:
        env.update(run.pause.env(env))
    return env


def _regress_like(run, suite, outdir_name):
    names = [n for n in run.values.get(KINDS[suite], "").split()]
    tally = RegressTally(names)
    tally.current = names[0] if names else ""
    outdir = run.srcdir if outdir_name == "." else run.srcdir / outdir_name

    def lost(t):
        return any(postmortem.LOST_RE.search(_read(outdir / "results" / f"{name}.out")) for name in t.failed)

    outcome = supervise(_installcheck(run, suite), tally=tally, cwd=run.srcdir, env=_client_env(run),
                        account=run.cluster.account, cluster=run.cluster, idle_timeout=run.idle_timeout, lost=lost)
    diffs = outdir / "regression.diffs"
    if outcome.crash:
        trigger = next((t for t in tally.failed if postmortem.LOST_RE.search(_read(outdir / "results" / f"{t}.out"))),
                       tally.failed[0] if tally.failed else tally.current or "?")
        outcome.crash.test = f"{suite}/{trigger}"
    return _verdict(run, suite, outcome, tally, diffs=diffs if diffs.is_file() and diffs.stat().st_size else None)


def run_regress(run):
    return _regress_like(run, "regress", ".")


def run_isolation(run):
    return _regress_like(run, "isolation", "output_iso")


class ProveTally(Tally):
    """prove --verbose: "t/001_x.pl .. " starts a file; top-level "ok N - ..." lines are tests."""

    _FILE = re.compile(r"^(\S+\.(?:pl|t)) \.+ ?(.*)$")
    _TEST = re.compile(r"^(not ok|ok)\s+\d+(?:\s+-)?(?:\s+(.*?))??(\s*#\s*(skip|todo)\b.*)?$", re.I)

    def __init__(self):
        super().__init__()
        self.files = []

    def line(self, line):
        m = self._FILE.match(line)
        if m:
            self.current = m.group(1)
            self.files.append(m.group(1))
            line = m.group(2)
        m = self._TEST.match(line)
        if m and self.current:
            name = f"{self.current}: {m.group(2) or '?'}"
            directive = (m.group(4) or "").lower()
            if directive == "skip":
                self.record(name, "skip")
            elif directive == "todo":     # an expected failure: prove does not count it against the file
                self.record(name, "pass")
            else:
                self.record(name, "pass" if m.group(1) == "ok" else "fail")


def run_tap(run):
    flags = (run.values.get("PROVE_FLAGS", "") + " --verbose").strip()
    tally = ProveTally()
    tmp_check = run.srcdir / "tmp_check"
    try:
        outcome = supervise(_installcheck(run, "tap", extra=(f"PROVE_FLAGS={flags}",)), tally=tally,
                            cwd=run.srcdir, env={**_suite_env(run), "PATH": os.environ["PATH"]},
                            account=run.cluster.account, idle_timeout=run.idle_timeout, core_dirs=[tmp_check],
                            build=run.build)
    finally:
        reap_all(tmp_check)   # nodes a killed test could not stop itself
    if outcome.crash:
        outcome.crash.test = f"tap/{tally.current or '?'}"
    logs = tmp_check / "log"
    result = _verdict(run, "tap", outcome, tally, logs=logs if logs.is_dir() else None)
    if result.status == "pass" and not tally.finished:
        result.status, result.detail = "fail", "prove ran no test"
    return result


class _Output(Tally):
    """No tests: a command's output, kept whole (its idle time is the suites')."""

    def line(self, line):
        pass


def run_before(run, command):
    """`ext-test --before CMD`: CMD through the shell, as the suites run (the account, the build
    copy, the test server in PGHOST/PGPORT): a "before" result, failed with its output when CMD fails."""
    tally = _Output()
    outcome = supervise(["sh", "-c", command], tally=tally, cwd=run.srcdir, env=_client_env(run),
                        account=run.account, idle_timeout=run.idle_timeout)
    if outcome.returncode != 0:
        said = [l.strip() for l in outcome.output.splitlines() if l.strip()]
        return run.result("before", "fail", outcome.seconds, output=outcome.output,
                          detail=f"`{command}` exited {outcome.returncode}" + (f": {said[-1]}" if said else ""))
    return run.result("before", "pass", outcome.seconds, output=outcome.output, detail=f"`{command}`")


# ---- pytest -------------------------------------------------------------------------------

class PytestTally(Tally):
    """pytest -v: the node id is printed when a test starts, its outcome when it ends."""

    _DONE = re.compile(r"^(\S+::\S+)\s+(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")

    def line(self, line):
        m = self._DONE.match(line)
        if m:
            outcome = m.group(2)
            self.record(m.group(1), "pass" if outcome in ("PASSED", "XFAIL", "XPASS") else
                        "skip" if outcome == "SKIPPED" else "fail")

    def partial(self, text):
        if "::" in text:
            self.current = text.split()[0]


def start_pytest(run, server_file):
    """Start pytest now, as the server's account, on the build copy's tests (synced before
    the build starts); its tests wait for `server_file` (see announce).  A pre-started
    interpreter (pglab.ext.prestart) runs it when there is one."""
    args = ["-v", "-p", "pglab.ext.pytest_plugin", "-p", "no:cacheprovider", f"--rootdir={run.srcdir}",
            f"--confcutdir={run.srcdir}",   # no conftest.py from the folders above the copy
            "-c", os.devnull, "--color=no", "-o", "console_output_style=classic", str(run.srcdir / "tests")]
    if run.k:
        args += ["-k", run.k]
    env = boundary.account_env(run.account, PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
                               PGLAB_TEST_SERVER=server_file)
    if run.pause is not None:
        env.update(run.pause.env(env))
    cwd = run.srcdir      # the rootdir: test ids read tests/test_x.py::test_y (nothing is written there)
    try:
        boundary.reach_python(run.account)
    except boundary.BoundaryError as exc:
        raise ExtensionError(f"pytest runs as the servers' account, which cannot run this Python: {exc}") from None
    child = prestart.run(run.settings, args, env=env, cwd=cwd) if run.settings is not None else None
    if child is not None:
        return Supervised(None, proc=child)
    return Supervised([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env, account=run.account)


def announce(server_file, cluster):
    """Tell a waiting pytest where the server is (written whole, then renamed)."""
    info = {"host": str(cluster.socket_dir), "port": cluster.port, "datadir": str(cluster.datadir),
            "log": str(cluster.log), "pg_config": str(cluster.build.pg_config)}
    boundary.write_file(server_file, json.dumps(info))     # readable by the account's pytest


def finish_pytest(run, started):
    """Watch a started pytest to its verdict."""
    tally = PytestTally()
    outcome = started.wait(tally=tally, cluster=run.cluster, idle_timeout=run.idle_timeout)
    if outcome.crash:
        lost = [line.split()[0] for line in outcome.output.splitlines()
                if postmortem.LOST_RE.search(line) and "::" in line]
        outcome.crash.test = f"pytest/{(lost or tally.failed or [tally.current or '?'])[0]}"
    outcome.output = outcome.output.replace(str(run.srcdir), str(run.ext.path))   # the user's own paths
    result = _verdict(run, "pytest", outcome, tally)
    if outcome.returncode == 5:   # pytest: no tests collected (all deselected by -k, say)
        result.status, result.detail = "skip", "no test selected"
    return result


def run_pytest(run):
    server_file = run.srcdir.parent / "server.json"
    server_file.unlink(missing_ok=True)
    started = start_pytest(run, server_file)
    announce(server_file, run.cluster)
    return finish_pytest(run, started)


# ---- the verdict -------------------------------------------------------------------------

def _verdict(run, suite, outcome, tally, diffs=None, logs=None):
    counts = {"passed": len(tally.passed), "failed": len(tally.failed), "skipped": len(tally.skipped)}
    kw = {"output": outcome.output, "diffs": str(diffs) if diffs else "", "logs": str(logs) if logs else "",
          "server_log": outcome.server_log, "tests": list(tally.order), **counts}
    if outcome.hung:
        return run.result(suite, "hang", outcome.seconds, detail=f"{outcome.stalled}: no test finished in "
                          f"{run.idle_timeout:.0f} s", hang=outcome.hang_report, **kw)
    if outcome.crash:
        return run.result(suite, "crash", outcome.seconds, detail=f"{outcome.crash.test}: backend "
                          f"{outcome.crash.signal}", crash=outcome.crash, **kw)
    if outcome.returncode == 0 and not tally.order and suite in KINDS:
        # a suite that ran no test has not passed (the tool's own words, when it said any)
        said = [l.strip() for l in outcome.output.splitlines() if l.strip() and not l.startswith(("make", "echo"))]
        return run.result(suite, "fail", outcome.seconds, detail=f"ran no test ({said[-1] if said else 'no output'})",
                          **kw)
    if outcome.returncode != 0 or tally.failed:
        if tally.failed:
            detail = f"failed: {', '.join(tally.failed[:5])}" + (" ..." if len(tally.failed) > 5 else "")
        elif accept.missing(outcome.output):
            # pg_regress stops at a test with no expected file ("diff command failed"): say which
            name = accept.missing(outcome.output)[0]
            where = os.path.normpath(os.path.join(accept.inputdir(outcome.output), "expected", f"{name}.out"))
            detail = f"{name}: no {where} yet, pg_regress stopped there (--accept writes it from what {name} printed)"
        else:
            # the tool's last word, not make's ("make: *** [...] Error 2")
            said = [l.strip() for l in outcome.output.splitlines() if l.strip() and not l.startswith(("make", "echo"))]
            detail = said[-1] if said else f"exit {outcome.returncode}"
        return run.result(suite, "fail", outcome.seconds, detail=detail, **kw)
    return run.result(suite, "pass", outcome.seconds, **kw)


def _read(path):
    return boundary.read_file(path)     # the account's folder: never through a link

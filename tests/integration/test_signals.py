"""SIGTERM and SIGHUP in the middle of a command (a CI job's timeout, a closed terminal) clean
up as Ctrl-C does: no server, test process, gdb or stopped backend left, and the build free
for build-pg and pg-clean straight after."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from pglab import accounts
from pglab.cluster import Cluster
from pglab.config import PROJECT_ROOT, Settings
from pglab.procs import process_state
from pglab.servers import running_on

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "extensions" / "sleepy"

def _started_folder():
    """Where the sleepy fixture's suites say they started: /tmp/pglab-test-sleepy-UID, UID that of
    the account they run as (pglab's under root, else yours)."""
    return Path(f"/tmp/pglab-test-sleepy-{accounts.ensure('').uid}")

SIGNALS = [signal.SIGTERM, signal.SIGHUP]


@pytest.fixture
def area():
    """A working area of the test's own, which the servers' account can reach."""
    path = Path(tempfile.mkdtemp(prefix="pglab-test-signals-"))
    path.chmod(0o755)
    yield path
    subprocess.run([sys.executable, "-m", "invoke", "pg-stop", "--all"], cwd=PROJECT_ROOT, capture_output=True,
                   env={**os.environ, "INVOKE_PGLAB_ROOT": str(path)})
    shutil.rmtree(path, ignore_errors=True)


def _start(area, *args):
    env = {k: v for k, v in os.environ.items() if k != "PGLAB_VIA"}
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**env, "INVOKE_PGLAB_ROOT": str(area)})


def _wait_for(predicate, what, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended before {what}: {out[-2000:]}{err[-2000:]}")
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.2)


def _interrupt(proc, signum):
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, out[-2000:] + err[-2000:]
    assert err.strip().splitlines()[-1] == f"terminated ({name})", err[-2000:]
    return out


def _processes_under(area):
    """Processes working anywhere in the area (servers, pg_regress, prove, pytest, psql)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry.name}/cwd")
            except OSError:
                continue
            if cwd == str(area) or cwd.startswith(f"{area}/"):
                found.append((int(entry.name), cwd))
    return found


def _left_nothing(area, build):
    deadline = time.monotonic() + 10        # the children get SIGKILL; give the kernel a moment
    while _processes_under(area) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_under(area) == []
    assert running_on(Settings.load(root=area), build) == []        # what build-pg and pg-clean ask


@pytest.mark.parametrize("suite", ["regress", "isolation", "tap", "pytest"])
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_ext_test_interrupted_in_any_suite_leaves_nothing(area, default_build, suite, signum):
    started = _started_folder()
    shutil.rmtree(started, ignore_errors=True)
    started.mkdir()
    started.chmod(0o1777)
    proc = _start(area, "ext-test", str(FIXTURE), "--suite", suite)
    _wait_for(lambda: (started / f"{suite}.started").exists(), f"the {suite} suite started", proc)
    _interrupt(proc, signum)
    _left_nothing(area, default_build)
    assert not list(Settings.load(root=area).layout.warm_servers.glob("*/*/data"))   # not kept warm


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_pg_check_interrupted_leaves_nothing(area, default_build, signum):
    proc = _start(area, "pg-check", "--version", default_build.id)
    results = Settings.load(root=area).layout.check(default_build.id) / "run" / "results"
    _wait_for(lambda: results.is_dir() and any(results.iterdir()), "pg_regress wrote a result", proc)
    _interrupt(proc, signum)
    _left_nothing(area, default_build)


def _tracers(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(line for line in f if line.startswith("TracerPid:")).split()[1])
    except (OSError, StopIteration):
        return 0


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_trace_interrupted_detaches_gdb_and_the_backend_goes_on(area, default_build, signum):
    cluster = Cluster.named(Settings.load(root=area), default_build, "main")
    cluster.start()
    sql = f"SELECT pg_sleep(30) AS signal_test_{signal.Signals(signum).name}"
    proc = _start(area, "trace", "heap_insert", "--sql", sql)
    backend = []

    def traced_and_running():
        with psycopg.connect(cluster.conninfo(), autocommit=True) as c:
            row = c.execute("SELECT pid FROM pg_stat_activity WHERE query = %s AND state = 'active'", [sql]).fetchone()
        if row and _tracers(row[0]):
            backend.append(row[0])
            return True
        return False

    _wait_for(traced_and_running, "the traced statement ran with gdb attached", proc, timeout=120)
    _interrupt(proc, signum)
    pid = backend[0]
    deadline = time.monotonic() + 10
    while process_state(pid) == "t" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _tracers(pid) == 0 and process_state(pid) not in ("t", "T")      # detached, not left stopped
    with psycopg.connect(cluster.conninfo(), autocommit=True) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)                     # the server goes on


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_debug_interrupted_detaches_gdb_from_a_stopped_backend(area, default_build, signum):
    """debug outside tmux: the gdb command it prints is run (as a person would, interactively),
    the backend stops in heap_insert; then pglab gets the signal: gdb detaches and quits, the
    backend does not stay stopped, the server goes on."""
    from pglab.debugger import find_gdb

    cluster = Cluster.named(Settings.load(root=area), default_build, "main")
    cluster.start()
    cluster.sql("CREATE TABLE IF NOT EXISTS t (a int)")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "PGLAB_VIA")}
    debug = subprocess.Popen([sys.executable, "-m", "invoke", "debug", "--break", "heap_insert"], cwd=PROJECT_ROOT,
                             env={**env, "INVOKE_PGLAB_ROOT": str(area)}, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    gdb = None
    try:
        lines = []
        while not any(line.startswith("    ") and "session.gdb" in line for line in lines):
            line = debug.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        command = shlex.split(lines[-1].strip())
        assert command[0] == find_gdb()
        backend = int(command[-1])
        gdb = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while "gdb is attached" not in debug.stdout.readline():
            pass
        debug.stdin.write("INSERT INTO t VALUES (1);\n")
        debug.stdin.flush()
        _wait_for(lambda: process_state(backend) == "t" and _tracers(backend) == gdb.pid,
                  "the backend stopped in heap_insert", debug, timeout=60)
        debug.send_signal(signum)
        debug.wait(timeout=60)
        assert debug.returncode == 128 + signum
        assert gdb.wait(timeout=30) is not None                 # gdb quit...
        deadline = time.monotonic() + 10
        while process_state(backend) in ("t", "T") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process_state(backend) not in ("t", "T") and _tracers(backend) == 0     # ...having detached
        assert cluster.sql("SELECT 1") == [["1"]]
    finally:
        for proc in (gdb, debug):
            if proc is not None and proc.poll() is None:
                proc.kill()

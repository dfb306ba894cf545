"""Shared fixtures for pglab's own tests.

Integration tests use real builds and real clusters.  Whatever they start, the
janitor at the end of the session kills: no postgres process outlives a run.
"""

import contextlib
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pglab.servers import reap_orphans, refuse_if_running, stop_warm
from pglab.config import PROJECT_ROOT, Settings
from pglab.errors import PglabError
from pglab.ext import prestart
from pglab.pg import build as build_mod

# `invoke test` runs the suite on pytest-xdist workers.  Each worker gets a working area
# of its own (named clusters, throwaway and warm servers, ext-test's build copies, the
# pre-started pytest), so one worker's `pg-stop --all` or janitor never reaches the
# other's servers; the build cache is shared (its builds are locked while they are made).
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    os.environ["INVOKE_PGLAB_ROOT"] = str(Settings.load().layout.root / "test-workers" / WORKER)


# The suite reads pglab's messages as a user who typed `invoke TASK` (what its subprocesses run):
# `./lab test` exports PGLAB_VIA=./lab, which would make this process word them otherwise.
os.environ.pop("PGLAB_VIA", None)


# the fixtures' own tests (extensions' tests/test_*.py) are run by ext-test in the tests that
# use them, never by pglab's suite itself
collect_ignore_glob = ["fixtures/*"]


# Seconds each long module took in one process (4 December, every build warm): what
# `invoke test`'s workers take first.  Only the order of the run depends on these.
MODULE_SECONDS = {
    "integration/test_build_pg.py": 115, "integration/test_trace.py": 102, "integration/test_published_parity.py": 78,
    "integration/test_channels.py": 59, "integration/test_lab.py": 56, "integration/test_ext_test.py": 54,
    "integration/test_lab_starters.py": 49, "integration/test_debug.py": 37, "integration/test_pgxn.py": 36,
    "integration/test_lab_walk.py": 27, "integration/test_printers.py": 24, "integration/test_inspect.py": 18,
    "integration/test_front_door.py": 50, "integration/test_pgxs_parity.py": 12,
    # measured alone on 5 December (the fresh machine's first run builds 13 as its learner: about 3 min more)
    "integration/test_fresh_machine.py": 90, "integration/test_boundary.py": 70, "integration/test_signals.py": 45,
    "integration/test_inputs_fuzz.py": 24, "integration/test_lab_plan.py": 60,
    # measured alone late on 5 December
    "integration/test_help.py": 25, "integration/test_inspect_wal.py": 15, "integration/test_lab_buffers.py": 12,
}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """The suite's temporary folders live outside pytest's own /tmp/pytest-of-USER, whose mode any
    other pytest session of the same user resets to 0700 as it starts: the servers' account would
    lose its way to the clusters the tests make there, mid-test.  One folder per run, in a folder
    of this user's that pytest does not manage; runs whose process is gone are removed, but the
    newest two (to read after a failure)."""
    if config.option.basetemp is not None or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    parent = Path(tempfile.gettempdir()) / f"pglab-tests-{os.getuid()}"
    parent.mkdir(mode=0o755, exist_ok=True)
    st = os.lstat(parent)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        return                      # not a folder of this user's alone: pytest's own default
    runs = sorted(parent.glob("run-*"), key=lambda p: p.stat().st_mtime)
    for old in runs[:-2]:
        if not Path(f"/proc/{old.name.removeprefix('run-')}").exists():
            shutil.rmtree(old, ignore_errors=True)
    config.option.basetemp = str(parent / f"run-{os.getpid()}")


def pytest_collection_modifyitems(items):
    """Modules in the order `invoke test`'s workers should take them (`--dist loadfile`:
    a module whole on one worker, its tests in the order they are written): the longest
    first (MODULE_SECONDS), then the rest, so that no long module is left to end the run alone."""
    order = {}
    for item in items:
        module = f"{item.path.parent.name}/{item.path.name}"
        order.setdefault(item.path, (-MODULE_SECONDS.get(module, 0), len(order)))
    items.sort(key=lambda item: order[item.path])    # stable: a module's own order is kept


def built_ids():
    """Every build there is, for parametrizing (collected before the session fixtures run);
    ["default"] when nothing is built yet: the default_build fixture builds it."""
    from pglab.pg.builds import resolve_builds

    try:
        return [b.id for b in resolve_builds(Settings.load(), "all")]
    except PglabError:
        return ["default"]


@pytest.fixture(scope="session")
def gdb_can_call():
    """Whether pglab's gdb can call functions in a process here.  gdb before 14
    cannot on a CPU whose extended register state (AMX) outgrew its buffer:
    "Couldn't write extended state status: Bad address".  The Query and Plan
    trees need such calls."""
    from pglab.debugger import find_gdb

    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        out = subprocess.run([find_gdb(), "-nx", "-batch", "-p", str(sleeper.pid), "-ex", "print (int) getpid()"],
                             capture_output=True, text=True, timeout=60).stdout
    finally:
        sleeper.kill()
        sleeper.wait()
    return f"= {sleeper.pid}" in out


@pytest.fixture
def needs_calls(gdb_can_call):
    if not gdb_can_call:
        pytest.skip("this gdb cannot call functions in a process on this CPU (gdb 14 or newer can)")


@pytest.fixture(scope="session")
def settings():
    return Settings.load()


@pytest.fixture(scope="session")
def default_build(settings):
    """The default debug build (16, or what stands in for it here); built if missing."""
    return build_mod.build_pg(settings, in_use=refuse_if_running)


@pytest.fixture(scope="session", autouse=True)
def janitor():
    yield
    s = Settings.load()
    stop_warm(s)   # ext-test's warm servers
    prestart.stop(s)   # and its pre-started pytest
    leftovers = reap_orphans(s)  # throwaway clusters this run left; a learner's named ones are left alone
    if leftovers:
        print(f"\njanitor: killed {len(leftovers)} leftover postgres processes: {leftovers}", file=sys.stderr)


def shared_tmp(name):
    """A path under the temporary folder kept from run to run: NAME as root, NAME-UID for anyone
    else (root's would refuse them: a user running the suite beside root's runs gets their own)."""
    return Path(tempfile.gettempdir()) / (name if os.geteuid() == 0 else f"{name}-{os.geteuid()}")


@contextlib.contextmanager
def extensions_folder(alone):
    """The clone's extensions/, which every test run in this project shares: a test that lists it
    (ALONE) holds it while extensions/ has pglab's examples only; a test that puts a learner's
    extension there (test_lab_starters) holds it beside others like it, never beside a lister."""
    with open(shared_tmp("pglab-test-extensions.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        yield


@pytest.fixture
def examples_only():
    """extensions/ holds pglab's examples, and only them, while the test runs (extensions_folder)."""
    with extensions_folder(alone=True):
        yield


@contextlib.contextmanager
def stable_path(name, fallback, keep=()):
    """A folder at the same path on every run (under the temp dir), held with a lock.

    Builds made there are served by ccache on the next run: configure writes the
    install prefix into pg_config.h, which every backend file includes, and gcc -g
    records the folder it compiled in, so objects built in another folder never
    match (CCACHE_BASEDIR does not reach inside a header).  A run that finds it in
    use (another test run on the machine) takes `fallback` instead and builds cold.
    Yields (path, stable): the folder is empty on entry and emptied on exit, but for
    the entries named in `keep` (caches that, like ccache, serve the next run)."""
    stable = shared_tmp(name)
    with open(f"{stable}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            root, is_stable = stable, True
        except BlockingIOError:
            root, is_stable = Path(fallback), False
        _empty(root, keep)
        try:
            yield root, is_stable
        finally:
            _empty(root, keep)


def _empty(root, keep):
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    for child in root.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink()


def invoke(*args, timeout=1800, env=None):
    """Run `invoke ARGS` in the project, as a user would; returns CompletedProcess."""
    base = {k: v for k, v in os.environ.items() if k != "PGLAB_VIA"}  # we run invoke, not ./lab: messages say so
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**base, **(env or {})})

"""The trace driver's pure parts: the gdb command line, where it finds the
gdb-side package, how it reads gdb's ending, and when --other starts.  (Its stop, timeout and
cancel paths run against a stand-in gdb in tests/integration/test_trace.py.)"""

import importlib.util
from pathlib import Path

import pytest

from pglab.errors import GdbNotFound, NoDebugInfo, PtraceNotPermitted, TraceError, TraceSetupError
from pglab.trace import TraceResult, driver, other


def argv():
    return driver.gdb_command("/usr/bin/gdb", "/pg/bin/postgres", 4242, "/tmp/t/config.json")


def test_gdb_runs_without_init_files_and_auto_loads_nothing():
    cmd = argv()
    assert "-nx" in cmd and "-batch" in cmd
    assert not any("auto-load" in part for part in cmd)
    assert cmd[-2:] == ["/pg/bin/postgres", "4242"]


def test_gdb_loads_the_package_from_where_it_is_installed():
    cmd = argv()
    folder = Path(importlib.util.find_spec("pglab_tracing").submodule_search_locations[0])
    assert cmd[cmd.index("-x") + 1] == str(folder / "loader.py")
    assert (folder / "loader.py").is_file() and (folder / "session.py").is_file()
    assert cmd[cmd.index("-ex") + 1] == "python import pglab_tracing.session as s; s.main('/tmp/t/config.json')"
    assert cmd.index("-x") < cmd.index("-ex")      # gdb runs them in order: the package exists first


def test_missing_gdb_is_one_line():
    with pytest.raises(GdbNotFound, match=r"^gdb not found \('/nonexistent/gdb'\): `invoke doctor` installs it$"):
        driver.find_gdb("/nonexistent/gdb")


def test_setup_failures_become_one_line_errors():
    fatal = [{"event": "error", "fatal": True, "code": "no-debug-info", "message": "no debug info for type X"}]
    assert isinstance(driver._setup_failure("", fatal), NoDebugInfo)
    other = [{"event": "error", "fatal": True, "code": "setup", "message": "XLogInsertRecord: source line not found"}]
    err = driver._setup_failure("", other)
    assert type(err) is TraceSetupError and str(err) == "gdb: XLogInsertRecord: source line not found"
    assert isinstance(driver._setup_failure("ptrace: Operation not permitted.\n", []), PtraceNotPermitted)
    err = driver._setup_failure("a\n\nb\nc\nd\n", [])
    assert str(err) == "gdb exited before tracing started: b | c | d"


def result(end_reason, events, returncode=0):
    return TraceResult(target="wal", sql="", pid=1, server_version=150018, events=events,
                       end_reason=end_reason, gdb_returncode=returncode)


@pytest.mark.parametrize("reason,events,expected,notes", [
    ("stopped", [{"event": "trace_end", "reason": "stopped"}], "stopped", []),
    ("stopped", [{"event": "trace_end", "reason": "error"}], "error", []),
    ("stopped", [], "error", ["gdb exited without ending the trace (exit code 1)"]),
    ("exited", [], "exited", []),
    ("gdb-killed", [], "gdb-killed", []),
])
def test_how_gdb_ended(reason, events, expected, notes):
    r = result(reason, events, returncode=1)
    got = []
    driver._check_gdb_ended(r, got)
    assert (r.end_reason, got) == (expected, notes)


# ------------------------------------------------------------------ --user-only

def lock_events():
    """A trace's events in database 5: catalogs, a shared catalog, the user's table and index, a tuple of
    it, the transaction, another database's table, and what is not a lock."""
    return [
        {"event": "trace_start"},
        {"event": "lock", "locktype": "relation", "database": 5, "relation": 1259, "mode": "AccessShareLock"},
        {"event": "lock", "locktype": "relation", "database": 0, "relation": 1262, "mode": "AccessShareLock"},
        {"event": "lock", "locktype": "relation", "database": 5, "relation": 16385, "mode": "RowExclusiveLock"},
        {"event": "lock", "locktype": "relation", "database": 5, "relation": 16388, "mode": "RowExclusiveLock"},
        {"event": "lock", "locktype": "tuple", "database": 5, "relation": 16385, "page": 0, "tuple": 1,
         "mode": "ExclusiveLock"},
        {"event": "lock", "locktype": "transactionid", "transactionid": 727, "mode": "ExclusiveLock"},
        {"event": "lock", "locktype": "virtualxid", "virtualxid_proc": 3, "virtualxid_lxid": 9,
         "mode": "ExclusiveLock"},
        {"event": "lock", "locktype": "relation", "database": 6, "relation": 16385, "mode": "AccessShareLock"},
        {"event": "lock", "locktype": "object", "database": 5, "classid": 2615, "objid": 2200, "objsubid": 0,
         "mode": "AccessShareLock"},
        {"event": "lock_wakeup", "locktype": "relation", "database": 5, "relation": 2619, "woken_pid": 9},
        {"event": "session_wait", "locktype": "relation", "database": 5, "relation": 1259, "pid": 9},
        {"event": "session_wait", "locktype": "transactionid", "transactionid": 727, "pid": 9},
        {"event": "warning", "message": "x", "relation": 1},
        {"event": "trace_end"},
    ]


def test_user_only_hides_catalogs_and_other_databases_and_keeps_the_rest():
    r = TraceResult(target="locks", sql="", pid=1, server_version=150018, events=lock_events(), database=5)
    assert r.hidden is None                     # no filter applied yet
    driver.keep_user_objects(r)
    assert [(e["event"], e.get("locktype"), e.get("relation")) for e in r.events] == [
        ("trace_start", None, None),
        ("lock", "relation", 16385), ("lock", "relation", 16388), ("lock", "tuple", 16385),
        ("lock", "transactionid", None), ("lock", "virtualxid", None), ("lock", "object", None),
        ("session_wait", "transactionid", None),
        ("warning", None, 1),                   # not a lock event: never hidden
        ("trace_end", None, None),
    ]
    assert r.hidden == 5


def test_user_only_without_the_database_still_hides_catalogs():
    r = TraceResult(target="locks", sql="", pid=1, server_version=150018, events=lock_events())
    driver.keep_user_objects(r)
    assert [e["database"] for e in r.events if e["event"] == "lock" and "database" in e] == [5, 5, 5, 6, 5]
    assert r.hidden == 4


def test_user_only_is_for_the_locks_target():
    driver.check_user_only("locks", True)
    driver.check_user_only("wal", False)
    with pytest.raises(TraceError) as info:
        driver.check_user_only("wal", True)
    assert str(info.value) == ("--user-only hides lock events on catalogs: it applies to the locks target, "
                               "not wal (invoke trace locks --user-only --sql ...)")


def test_wait_for_reports_whether_the_event_came_in_time():
    import threading
    import time
    from pglab.trace.sql import wait_for
    ev = threading.Event()
    start = time.monotonic()
    assert wait_for(ev, 0.05) is False
    assert time.monotonic() - start >= 0.05
    threading.Timer(0.02, ev.set).start()
    assert wait_for(ev, 5.0) is True


def test_ctrl_c_during_a_wait_is_always_a_keyboard_interrupt():
    """Ctrl-C while the trace waits for its SQL must come out as
    KeyboardInterrupt (which detaches gdb and resumes the backend), in
    whatever instruction of the wait it lands."""
    import signal
    import threading
    from pglab.trace.sql import wait_for

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    ev = threading.Event()
    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        for i in range(300):
            with pytest.raises(KeyboardInterrupt):
                signal.setitimer(signal.ITIMER_REAL, 0.0003 + (i % 7) * 0.0001)
                wait_for(ev, 5.0, step=0.0002)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("now, table_since, running_since, waiting, ready", [
    (9.0, None, 0.0, True, False),      # no table lock yet: never, even waiting
    (1.0, 1.0, None, True, True),       # a table lock and a wait of its own: at once
    (1.15, 1.0, 0.0, False, False),     # running all along: 0.2 s after the table lock
    (1.25, 1.0, 0.0, False, True),
    (1.3, 1.0, None, False, False),     # stopped by gdb at the last look: not settled
    (2.15, 1.0, 2.0, False, False),     # running again since 2.0: 0.2 s from then
    (2.25, 1.0, 2.0, False, True),
    (5.9, 1.0, None, False, False),     # stopped at every look: 5 s after the table lock
    (6.0, 1.0, None, False, True),
])
def test_the_other_session_starts_once_the_traced_one_settled(now, table_since, running_since, waiting, ready):
    assert other.ready_to_start(now, table_since, running_since, waiting) is ready

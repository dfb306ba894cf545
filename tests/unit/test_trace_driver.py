"""The trace driver's pure parts: the gdb command line, where it finds the
gdb-side package, and how it reads gdb's ending.  (Its stop, timeout and
cancel paths run against a stand-in gdb in tests/integration/test_trace.py.)"""

import importlib.util
from pathlib import Path

import pytest

from pglab.errors import GdbNotFound, NoDebugInfo, PtraceNotPermitted, TraceSetupError
from pglab.trace import TraceResult, driver


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

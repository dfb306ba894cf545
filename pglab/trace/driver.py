"""Trace one PostgreSQL backend with gdb while it runs some SQL.

    result = run_trace(conninfo="host=/tmp/x port=5498 user=postgres",
                       target="heap_insert", sql="INSERT INTO t VALUES (1)",
                       bindir="/opt/pgdev/17/bin")
    print(render.render(result, "text"))

The driver opens (or borrows) a session, attaches `gdb -nx -batch -p PID`
running the gdb-side package pglab_tracing (found where it is installed, and
registered in gdb by its loader.py), waits for its ready file, runs the SQL,
then asks gdb to stop by sending the backend SIGWINCH (a signal PostgreSQL
never uses, which gdb is told to stop on and swallow), and reads the
JSON-lines events (schema "pglab.trace/1", docs/tracing.md).  On every path
-- success, SQL error, timeout, the session dying, gdb dying or hanging,
KeyboardInterrupt -- gdb is gone afterwards and the backend is running (or
has exited): the clean-up resumes the backend before anything else that
could fail, and reports what went wrong as warnings.

With other_sql (`invoke trace --other SQL`) the driver also opens a second
session on the same cluster and runs other_sql there, in a thread, once the
traced session holds its locks; while both run it samples pg_locks (who waits
for whom) from a third, short observer connection and adds what it saw to the
events ("other_start", "session_wait", "other_end").  On every way out the
second session's statement is cancelled first (if it still runs), and its
connection closed after the traced one's clean-up.

With user_only (`--user-only`) the lock events on the system's own relations
and on other databases are dropped from the result (keep_user_objects()), so
every renderer sees the same shorter list.

run_trace itself is independent of the rest of pglab: it takes a conninfo and
a bindir.  trace_build() at the end is the glue `invoke trace` uses: it starts
(or reuses) the build's main cluster and traces a fresh session on it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..debugger import find_gdb
from ..errors import NoDebugInfo, PtraceNotPermitted, TraceError, TraceSetupError
from ..procs import proc_status, process_state
from .other import OtherSession
from .result import LOCK_EVENTS, TraceResult, keep_user_objects, read_events
from .sql import SqlRunner, cancel
from .targets import hints_for

STOP_SIGNAL = signal.SIGWINCH
GDB_PACKAGE = "pglab_tracing"

READY_TIMEOUT = 60.0    # attaching and reading a -g3 postgres's symbols
STOP_GRACE = 20.0       # for gdb to finish, detach and exit after the stop signal
KILL_GRACE = 5.0        # for gdb to exit after SIGTERM before it is killed


# ------------------------------------------------------------------ finding things

def package_dir():
    """The folder of the gdb-side package, wherever pglab is installed from:
    tracing/ in a checkout (editable install), pglab_tracing/ in site-packages."""
    spec = importlib.util.find_spec(GDB_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TraceSetupError(f"the gdb-side package {GDB_PACKAGE} is not installed: reinstall pglab "
                              "(pip install -e . in its checkout)")
    return Path(list(spec.submodule_search_locations)[0])


def loader_path():
    """The file gdb sources to import the package as pglab_tracing."""
    return package_dir() / "loader.py"


def check_ptrace(pid):
    """Raise PtraceNotPermitted if this process cannot attach to pid."""
    if os.geteuid() == 0:
        return
    status = proc_status(pid) or {}
    uid = int(status.get("Uid", "-1 0").split()[0])
    if uid != os.geteuid():
        raise PtraceNotPermitted(
            f"ptrace not permitted: backend {pid} runs as uid {uid}, you are uid {os.geteuid()}; "
            "run the trace as root (sudo) or as the server's OS user")
    try:
        scope = int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip())
    except (OSError, ValueError):
        return
    if scope >= 1:
        raise PtraceNotPermitted(
            f"ptrace not permitted: /proc/sys/kernel/yama/ptrace_scope is {scope}; "
            "run as root, or allow it: sudo sysctl kernel.yama.ptrace_scope=0")


def check_user_only(target, user_only):
    """--user-only filters lock events: refuse it, in one line, for another target."""
    if user_only and target != "locks":
        raise TraceError(f"--user-only hides lock events on catalogs: it applies to the locks target, "
                         f"not {target} (invoke trace locks --user-only --sql ...)")


# ------------------------------------------------------------------ the run

def gdb_command(gdb_path, exe, pid, config):
    """argv for gdb: batch mode, no init files and so nothing auto-loaded (-nx),
    the gdb-side package registered from its folder, the session on `config`."""
    return [
        gdb_path, "-nx", "-batch", "-q",
        "-iex", "set debuginfod enabled off",
        "-x", str(loader_path()),
        "-ex", f"python import {GDB_PACKAGE}.session as s; s.main({str(config)!r})",
        str(exe), str(pid),
    ]


def run_trace(*, conninfo: str, target: str, sql: str, bindir: str, gdb: str | None = None,
              bt: bool = False, timeout: float = 60.0, extra: dict | None = None,
              connection=None, other_sql: str | None = None, user_only: bool = False) -> TraceResult:
    """Attach gdb to a backend, run `sql` in it, detach; return the events.

    target: a registered target (pglab_tracing.targets), or any function name
        ("function:NAME" or NAME).
    gdb: the gdb to run (default: find_gdb()).
    connection: an open psycopg connection to use instead of opening one from
        conninfo (left open, e.g. to inspect pg_locks inside its transaction).
    extra: options for the gdb side, e.g. {"raw_nodes": True, "max_events": N}.
    other_sql: SQL for a second, concurrent session (its own connection, autocommit),
        started once the traced session holds its locks (see other.OtherSession).  `timeout`
        covers both sessions.
    user_only: drop the lock events on initdb's own relations and on other
        databases (keep_user_objects); the locks target only.
    """
    import psycopg

    check_user_only(target, user_only)
    gdb_path = find_gdb(gdb)
    exe = Path(bindir) / "postgres"
    if not exe.exists():
        raise TraceSetupError(f"no postgres executable in {bindir}: pass the bindir of the "
                              "running server (pg_config --bindir)")
    own = connection is None
    try:
        conn = connection or psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise TraceSetupError(f"cannot connect ({conninfo}): {str(exc).strip()}") from None
    started = time.monotonic()
    notes = []      # the driver's own warnings, after the gdb side's
    other = None
    try:
        pid = conn.info.backend_pid
        result = TraceResult(target=target, sql=sql, pid=pid, server_version=conn.info.server_version)
        check_ptrace(pid)
        if other_sql is not None:
            other = OtherSession(conninfo, other_sql)
            result.other_sql, result.other_pid = other_sql, other.pid
        with tempfile.TemporaryDirectory(prefix="pglab-trace-") as tmp:
            tmp = Path(tmp)
            events_path, ready_path, config = tmp / "events.jsonl", tmp / "ready", tmp / "config.json"
            config.write_text(json.dumps({
                "target": target, "events": str(events_path), "ready": str(ready_path),
                "pid": pid, "version_num": result.server_version, "bt": bt, "extra": extra or {},
            }))
            with open(tmp / "gdb.log", "w+b") as log:
                proc = subprocess.Popen(gdb_command(gdb_path, exe, pid, config),
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)   # no terminal SIGINT to gdb
                runner = None
                try:
                    _wait_ready(proc, ready_path, events_path, log)
                    runner = SqlRunner(conn, sql)
                    runner.start()
                    if other is None:
                        result.timed_out = not runner.wait(timeout)
                    else:
                        result.timed_out = not other.run_beside(runner, pid, time.monotonic() + timeout, notes)
                finally:
                    # Runs on KeyboardInterrupt too: the other session's statement
                    # cancelled first (so a timeout ends it, not the traced session's
                    # abort releasing what it waits for); then gdb gone so the backend
                    # is free, the backend resumed, the traced statement cancelled;
                    # then the other's connection closed.
                    try:
                        if other is not None:
                            other.cancel(notes)
                    finally:
                        try:
                            result.end_reason = _end(proc, pid, conn, runner, notes)
                        finally:
                            if other is not None:
                                other.close(notes)
                    log.seek(0)
                    result.gdb_log = log.read().decode("utf-8", "replace")[-20000:]
                    result.gdb_returncode = proc.returncode
            result.events = read_events(events_path)
        if runner is not None:
            result.rows, result.columns = runner.rows, runner.columns
            result.sql_error, result.sqlstate = runner.error, runner.sqlstate
            result.sql_duration_s, result.sql_start_ns = runner.elapsed, runner.started_ns
        if other is not None:
            other.fill(result)
        _check_gdb_ended(result, notes)
        if result.timed_out:
            result.end_reason = "timeout"
        result.backend_alive = process_state(pid) not in (None, "Z")
        result.warnings = [e["message"] for e in result.of("warning", "error")] + notes
        _enrich(result, conninfo, need_database=user_only)
        result.hints = hints_for(result)
        if user_only:
            keep_user_objects(result)
        result.duration_s = time.monotonic() - started
        return result
    finally:
        if other is not None:
            other.close(notes)
        if own:
            conn.close()


def _wait_ready(proc, ready_path, events_path, log):
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready_path.exists():
        if proc.poll() is not None:
            log.seek(0)
            raise _setup_failure(log.read().decode("utf-8", "replace"), read_events(events_path))
        if time.monotonic() > deadline:
            raise TraceSetupError(f"gdb did not set its breakpoints within {READY_TIMEOUT:.0f}s")
        time.sleep(0.02)


def _setup_failure(gdb_log, events):
    for ev in events:
        if ev.get("event") == "error" and ev.get("fatal"):
            if ev.get("code") == "no-debug-info":
                return NoDebugInfo(ev["message"])
            return TraceSetupError(f"gdb: {ev['message']}")
    if "ptrace: Operation not permitted" in gdb_log:
        return PtraceNotPermitted(
            "ptrace not permitted: gdb could not attach (run as root, or check "
            "/proc/sys/kernel/yama/ptrace_scope and container seccomp/CAP_SYS_PTRACE)")
    if "No symbol table is loaded" in gdb_log or "no debugging symbols" in gdb_log:
        return NoDebugInfo("this PostgreSQL build has no debug info: rebuild it with `invoke build-pg` "
                           "(debug is its default flavour)")
    last = [ln for ln in gdb_log.splitlines() if ln.strip()][-3:]
    return TraceSetupError("gdb exited before tracing started: " + " | ".join(last))


# ------------------------------------------------------------------ the way out

def _end(proc, pid, conn, runner, notes):
    """Stop gdb, resume the backend, cancel what the session still runs; in
    that order, each step whatever the one before did.  Returns the end reason;
    problems go to `notes`.  Never raises (but a KeyboardInterrupt that arrives
    here is passed on once everything is done)."""
    interrupted = None
    try:
        reason = _stop_gdb(proc, pid)
        if reason == "gdb-killed":
            notes.append(f"gdb did not stop within {STOP_GRACE:.0f} s of the stop request: killed")
    except KeyboardInterrupt as exc:        # a second Ctrl-C: finish cleaning up first
        interrupted, reason = exc, "gdb-killed"
        _kill(proc)
    _resume_if_stopped(pid, notes)
    if runner is not None and runner.is_alive():
        problem = cancel(conn, "the traced statement")
        if problem:
            notes.append(problem)
        runner.wait(10.0)
    if interrupted is not None:
        raise interrupted
    return reason


def _stop_gdb(proc, pid):
    """Ask gdb to stop (SIGWINCH to the backend), escalate if it does not exit.
    Returns the end reason.  The signal is repeated because a stop request
    that lands during one of the tracer's own inferior calls is consumed."""
    deadline = time.monotonic() + STOP_GRACE
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            os.kill(pid, STOP_SIGNAL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(0.5)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        _kill(proc)
        return "gdb-killed"
    return "stopped" if process_state(pid) not in (None, "Z") else "exited"


def _kill(proc):
    """SIGTERM (gdb detaches attached processes on it), then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(KILL_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _resume_if_stopped(pid, notes):
    state = process_state(pid)
    if state in ("t", "T"):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            return
        notes.append(f"backend {pid} was left stopped ({state}); sent SIGCONT")


def _check_gdb_ended(result, notes):
    """A gdb that exited by itself (not asked to, backend still there) or that
    ended on an error made no complete trace: say so, not "stopped"."""
    if result.end_reason != "stopped":
        return
    ends = result.of("trace_end")
    if not ends:
        result.end_reason = "error"
        notes.append(f"gdb exited without ending the trace (exit code {result.gdb_returncode})")
    elif ends[-1].get("reason") == "error":
        result.end_reason = "error"


def _enrich(result, conninfo, need_database=False):
    """The database's OID and relation names for lock events, looked up in a
    separate short session (so the traced session's transaction and pg_locks
    stay untouched)."""
    import psycopg

    oids = {e["relation"] for e in result.of(*LOCK_EVENTS) if "relation" in e}
    if not oids and not need_database:
        return
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as c2:
            db = c2.execute("SELECT oid::int8 FROM pg_database WHERE datname = current_database()").fetchone()[0]
            names = dict(c2.execute("SELECT oid::int8, relname FROM pg_class WHERE oid = ANY(%s)",
                                    [list(oids)]).fetchall())
    except psycopg.Error:
        return
    result.database = db
    for e in result.of(*LOCK_EVENTS):
        if e.get("relation") in names and e.get("database") in (db, 0):
            e["relname"] = names[e["relation"]]


# ------------------------------------------------------------------ pglab glue

def trace_build(settings, target, sql, *, pg=None, bt=False, timeout=60.0, other=None, user_only=False):
    """Trace `sql` on the main cluster of a build (started if needed); `other`:
    SQL for a concurrent second session; `user_only`: hide initdb's objects' locks."""
    from ..cluster import Cluster
    from ..pg.builds import find_build

    check_user_only(target, user_only)
    build = find_build(settings, pg)
    cluster = Cluster.open(settings, build, create=True)
    return run_trace(conninfo=cluster.conninfo(), target=target, sql=sql, bindir=str(build.bindir), bt=bt,
                     timeout=timeout, other_sql=other, user_only=user_only)

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
import threading
import time
from pathlib import Path

from ..debugger import find_gdb
from ..errors import NoDebugInfo, PtraceNotPermitted, TraceSetupError
from .result import TraceResult, read_events
from .targets import hints_for

STOP_SIGNAL = signal.SIGWINCH
GDB_PACKAGE = "pglab_tracing"

READY_TIMEOUT = 60.0    # attaching and reading a -g3 postgres's symbols
STOP_GRACE = 20.0       # for gdb to finish, detach and exit after the stop signal
KILL_GRACE = 5.0        # for gdb to exit after SIGTERM before it is killed
ROW_LIMIT = 1000


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


def _proc_status(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            return dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_state(pid):
    """One-letter /proc state ('S', 'R', 't' traced-stopped, 'T', 'Z') or None if gone."""
    status = _proc_status(pid)
    if status is None:
        return None
    return status.get("State", "?").strip()[:1]


def check_ptrace(pid):
    """Raise PtraceNotPermitted if this process cannot attach to pid."""
    if os.geteuid() == 0:
        return
    status = _proc_status(pid) or {}
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
              connection=None) -> TraceResult:
    """Attach gdb to a backend, run `sql` in it, detach; return the events.

    target: a registered target (pglab_tracing.targets), or any function name
        ("function:NAME" or NAME).
    gdb: the gdb to run (default: find_gdb()).
    connection: an open psycopg connection to use instead of opening one from
        conninfo (left open, e.g. to inspect pg_locks inside its transaction).
    extra: options for the gdb side, e.g. {"raw_nodes": True, "max_events": N}.
    """
    import psycopg

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
    try:
        pid = conn.info.backend_pid
        result = TraceResult(target=target, sql=sql, pid=pid, server_version=conn.info.server_version)
        check_ptrace(pid)
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
                    runner = _SqlRunner(conn, sql)
                    runner.start()
                    result.timed_out = not runner.wait(timeout)
                finally:
                    # Runs on KeyboardInterrupt too: gdb gone first so the backend
                    # is free, then the backend resumed, then the statement cancelled.
                    result.end_reason = _end(proc, pid, conn, runner, notes)
                    log.seek(0)
                    result.gdb_log = log.read().decode("utf-8", "replace")[-20000:]
                    result.gdb_returncode = proc.returncode
            result.events = read_events(events_path)
        if runner is not None:
            result.rows, result.columns = runner.rows, runner.columns
            result.sql_error, result.sqlstate = runner.error, runner.sqlstate
            result.sql_duration_s = runner.elapsed
        _check_gdb_ended(result, notes)
        if result.timed_out:
            result.end_reason = "timeout"
        result.backend_alive = process_state(pid) not in (None, "Z")
        result.warnings = [e["message"] for e in result.of("warning", "error")] + notes
        _enrich(result, conninfo)
        result.hints = hints_for(result)
        result.duration_s = time.monotonic() - started
        return result
    finally:
        if own:
            conn.close()


class _SqlRunner(threading.Thread):
    """Runs the SQL (simple query protocol, several statements allowed) in a
    thread, so the caller can time out and Ctrl-C stays responsive."""

    def __init__(self, conn, sql):
        super().__init__(daemon=True, name="pglab-trace-sql")
        self.conn, self.sql = conn, sql
        self.rows = self.columns = self.error = self.sqlstate = self.elapsed = None
        self.done = threading.Event()

    def run(self):
        import psycopg
        start = time.monotonic()
        try:
            with psycopg.ClientCursor(self.conn) as cur:
                cur.execute(self.sql)
                while True:
                    if cur.description is not None:
                        self.columns = [c.name for c in cur.description]
                        self.rows = cur.fetchmany(ROW_LIMIT)
                    if not cur.nextset():
                        break
        except psycopg.Error as exc:
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.sqlstate = getattr(exc, "sqlstate", None)
        finally:
            self.elapsed = time.monotonic() - start
            self.done.set()

    def wait(self, timeout):
        """True if finished within timeout; short waits keep Ctrl-C working."""
        deadline = time.monotonic() + timeout
        while not self.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.done.wait(min(left, 0.2))
        return True


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
        problem = _cancel(conn)
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


def _cancel(conn):
    """Cancel the session's statement; a warning when that failed, else None."""
    try:
        conn.cancel_safe(timeout=5.0) if hasattr(conn, "cancel_safe") else conn.cancel()
    except Exception as exc:    # noqa: BLE001 - best effort on the way out, reported as a warning
        if not conn.closed:
            return f"could not cancel the traced statement: {exc}"
    return None


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


def _enrich(result, conninfo):
    """Relation names for lock events, looked up in a separate short session
    (so the traced session's transaction and pg_locks stay untouched)."""
    oids = {e["relation"] for e in result.of("lock") if "relation" in e}
    if not oids:
        return
    import psycopg
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as c2:
            db = c2.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
            names = dict(c2.execute("SELECT oid::int8, relname FROM pg_class WHERE oid = ANY(%s)",
                                    [list(oids)]).fetchall())
    except psycopg.Error:
        return
    for e in result.of("lock"):
        if e.get("relation") in names and e.get("database") in (db, 0):
            e["relname"] = names[e["relation"]]


# ------------------------------------------------------------------ pglab glue

def trace_build(settings, target, sql, *, pg=None, bt=False, timeout=60.0):
    """Trace `sql` on the main cluster of a build (started if needed)."""
    from ..cluster import Cluster
    from ..pg.builds import find_build

    build = find_build(settings, pg)
    cluster = Cluster.named(settings, build)
    cluster.start()
    return run_trace(conninfo=cluster.conninfo(), target=target, sql=sql, bindir=str(build.bindir), bt=bt,
                     timeout=timeout)

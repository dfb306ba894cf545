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
import threading
import time
from pathlib import Path

from ..debugger import find_gdb
from ..errors import NoDebugInfo, PtraceNotPermitted, TraceError, TraceSetupError
from .result import SCHEMA, TraceResult, read_events
from .targets import hints_for

STOP_SIGNAL = signal.SIGWINCH
GDB_PACKAGE = "pglab_tracing"

READY_TIMEOUT = 60.0    # attaching and reading a -g3 postgres's symbols
STOP_GRACE = 20.0       # for gdb to finish, detach and exit after the stop signal
KILL_GRACE = 5.0        # for gdb to exit after SIGTERM before it is killed
ROW_LIMIT = 1000

FIRST_NORMAL_OID = 16384    # FirstNormalObjectId (access/transam.h): lower OIDs are initdb's own objects
POLL_EVERY = 0.01           # s between looks at the traced session's locks, before --other starts
SETTLE = 0.2                # s a table lock alone must be held before --other starts anyway
SAMPLE_EVERY = 0.2          # s between samples of who waits for whom while both sessions run
# the events the gdb side writes about one lock tag (relation names are added to these)
LOCK_EVENTS = ("lock", "lock_wait", "lock_wakeup", "deadlock")


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
        started once the traced session holds its locks (see _Other).  `timeout`
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
            other = _Other(conninfo, other_sql)
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
                    runner = _SqlRunner(conn, sql)
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


class _SqlRunner(threading.Thread):
    """Runs the SQL (simple query protocol, several statements allowed) in a
    thread, so the caller can time out and Ctrl-C stays responsive."""

    def __init__(self, conn, sql, name="pglab-trace-sql"):
        super().__init__(daemon=True, name=name)
        self.conn, self.sql = conn, sql
        self.rows = self.columns = self.error = self.sqlstate = self.elapsed = None
        self.started_ns = self.ended_ns = None     # on the gdb side's clock (CLOCK_MONOTONIC)
        self.done = threading.Event()

    def run(self):
        import psycopg
        self.started_ns = time.monotonic_ns()
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
            self.ended_ns = time.monotonic_ns()
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
        problem = _cancel(conn, "the traced statement")
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


def _cancel(conn, what):
    """Cancel the session's statement; a warning when that failed, else None."""
    try:
        conn.cancel_safe(timeout=5.0) if hasattr(conn, "cancel_safe") else conn.cancel()
    except Exception as exc:    # noqa: BLE001 - best effort on the way out, reported as a warning
        if not conn.closed:
            return f"could not cancel {what}: {exc}"
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


def keep_user_objects(result):
    """`--user-only`: drop the lock events on initdb's own relations (OID below
    FirstNormalObjectId: the catalogs, their indexes and TOAST tables) and on
    objects of another database or shared by all (database 0); keep the rest
    (transactionid, virtualxid, tuples and pages of your tables, advisory...).
    Sets result.hidden to the number dropped."""
    def hidden(e):
        if e.get("event") not in LOCK_EVENTS + ("session_wait",):
            return False
        if "relation" in e and e["relation"] < FIRST_NORMAL_OID:
            return True
        return "database" in e and result.database is not None and e["database"] != result.database

    kept = [e for e in result.events if not hidden(e)]
    result.hidden = len(result.events) - len(kept)
    result.events = kept
    return result


# ------------------------------------------------------------------ the other session

class _Other:
    """The second session of --other, and an observer watching both.

    It starts the other SQL once the traced session holds its locks: a
    granted lock on a table of this database (OID >= FirstNormalObjectId) and,
    so that the other does not overtake the traced statement (under gdb every
    lock the traced backend takes costs a stop: a fresh backend takes dozens
    on catalogs after its first table lock, and one on the index between
    taking its transaction id and marking the row it updates), also a wait of
    its own (pg_stat_activity: on a lock, or a timeout such as pg_sleep), or
    SETTLE seconds with the table lock.  If the traced SQL ends first, the
    other runs after it (a warning says so).  While both run, it samples
    pg_locks every SAMPLE_EVERY s: each lock a session waits for becomes one
    "session_wait" event, from the first sample that saw it to the first that
    did not.  Timestamps are time.monotonic_ns(): CLOCK_MONOTONIC, the clock
    of the gdb side's events (tracing/common.py Emitter.now(), which also
    subtracts the tracer's own inferior-call time: none for the locks target)."""

    HOLDS = """
        SELECT coalesce(bool_or(l.locktype = 'relation' AND l.relation::int8 >= %(first)s
                                AND l.database = d.oid), false),
               coalesce((SELECT wait_event_type IN ('Lock', 'Timeout') FROM pg_stat_activity
                          WHERE pid = %(pid)s), false)
          FROM pg_locks l, (SELECT oid FROM pg_database WHERE datname = current_database()) d
         WHERE l.pid = %(pid)s AND l.granted"""
    WAITS = """
        SELECT l.pid, l.locktype, l.mode, l.database::int8, l.relation::int8, c.relname, l.page, l.tuple,
               l.transactionid::text::int8, l.virtualxid, l.classid::int8, l.objid::int8,
               pg_blocking_pids(l.pid)
          FROM pg_locks l
          LEFT JOIN pg_class c ON c.oid = l.relation
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         WHERE NOT l.granted AND l.pid = ANY(%(pids)s)
         ORDER BY l.pid"""
    FIELDS = ("pid", "locktype", "mode", "database", "relation", "relname", "page", "tuple", "transactionid",
              "virtualxid", "classid", "objid", "blocked_by")

    def __init__(self, conninfo, sql):
        import psycopg

        self.sql = sql
        self.conn = self.observer = self.runner = None
        self.events = []
        self.waits = {}             # what a session waits for -> its session_wait event, still waiting
        self.watching = True
        self.after_traced = self.cancelled = False
        try:
            self.conn = psycopg.connect(conninfo, autocommit=True)
            self.observer = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
            self.observer.execute("SET statement_timeout = '5s'")
        except psycopg.Error as exc:
            self.close([])
            raise TraceSetupError(f"cannot open the --other session ({conninfo}): {str(exc).strip()}") from None
        self.pid = self.conn.info.backend_pid
        self.traced_pid = None

    def _event(self, kind, ts, **fields):
        return {"schema": SCHEMA, "event": kind, "ts": ts, "origin": "driver", **fields}

    def _holds(self, pid):
        """(table lock, waiting): the traced session's state, or None."""
        import psycopg
        try:
            return self.observer.execute(self.HOLDS, {"first": FIRST_NORMAL_OID, "pid": pid}).fetchone()
        except psycopg.Error:
            return None

    def run_beside(self, traced, pid, deadline, notes):
        """Start the other SQL beside the traced one, sample until both ended
        or the deadline; True if the traced SQL ended in time."""
        self.traced_pid = pid
        table_since = None
        while not traced.done.is_set() and time.monotonic() < deadline:
            state = self._holds(pid)
            if state is None:
                notes.append("could not read pg_locks to see when the traced session holds its locks: "
                             "the other session started at once")
                break
            table, waiting = state
            if table:
                table_since = table_since or time.monotonic()
                if waiting or time.monotonic() - table_since >= SETTLE:
                    break
            traced.done.wait(POLL_EVERY)
        if traced.done.is_set():
            self.after_traced = True
            notes.append("the traced SQL ended before it held its locks (a table lock, while waiting or for "
                         f"{SETTLE} s): the other session ran after it")
        if time.monotonic() >= deadline:
            notes.append("the traced session held no lock on a table before the timeout: the other session never ran")
            return traced.done.is_set()
        self.runner = _SqlRunner(self.conn, self.sql, name="pglab-trace-other")
        self.runner.start()
        next_sample = time.monotonic()
        while time.monotonic() < deadline and not (traced.done.is_set() and self.runner.done.is_set()):
            if time.monotonic() >= next_sample:
                self.sample(notes)
                next_sample += SAMPLE_EVERY
            self.runner.done.wait(min(0.02, max(0.0, next_sample - time.monotonic())))
        self.sample(notes)
        return traced.done.is_set()

    def sample(self, notes):
        """One look at pg_locks: open the waits first seen, end those gone."""
        import psycopg
        if not self.watching:
            return
        now = time.monotonic_ns()
        try:
            rows = self.observer.execute(self.WAITS, {"pids": [self.traced_pid, self.pid]}).fetchall()
        except psycopg.Error as exc:
            self.watching = False
            notes.append(f"stopped watching pg_locks: {str(exc).strip().splitlines()[0]}")
            return
        seen = set()
        for row in rows:
            fields = {k: v for k, v in zip(self.FIELDS, row) if v is not None}
            key = tuple(fields.get(k) for k in self.FIELDS[:-1])
            seen.add(key)
            ev = self.waits.get(key)
            if ev is None:
                ev = self.waits[key] = self._event(
                    "session_wait", now, session="other" if fields["pid"] == self.pid else "traced",
                    **{k: v for k, v in fields.items() if k != "blocked_by"}, blocked_by=[])
                self.events.append(ev)
            ev["blocked_by"] += [b for b in fields.get("blocked_by", []) if b not in ev["blocked_by"]]
            ev["dur"], ev["ended"] = now - ev["ts"], False
        for key in [k for k in self.waits if k not in seen]:
            ev = self.waits.pop(key)
            ev["dur"], ev["ended"] = now - ev["ts"], True

    def cancel(self, notes):
        """Send a cancel to the other statement if it still runs (once)."""
        if self.runner is not None and self.runner.is_alive() and not self.cancelled:
            self.cancelled = True
            notes.append(f"the other session ({self.pid}) had not finished: its statement was cancelled")
            problem = _cancel(self.conn, "the other session's statement")
            if problem:
                notes.append(problem)

    def close(self, notes):
        """Cancel the other statement if it still runs, wait for it, close both
        connections.  Idempotent; the connections are closed whatever happens."""
        try:
            self.cancel(notes)
            if self.runner is not None:
                self.runner.wait(10.0)
        finally:
            for c in (self.conn, self.observer):
                if c is not None:
                    try:
                        c.close()
                    except Exception:   # noqa: BLE001 - best effort on the way out
                        pass

    def fill(self, result):
        """Put what the other session did into the result: its fields and events."""
        r = self.runner
        if r is not None:
            self.events.insert(0, self._event("other_start", r.started_ns, pid=self.pid, session="other",
                                              sql=self.sql, after_traced=self.after_traced))
            if r.done.is_set():
                result.other_error, result.other_sqlstate, result.other_duration_s = r.error, r.sqlstate, r.elapsed
                self.events.append(self._event("other_end", r.ended_ns, pid=self.pid, session="other",
                                               duration_s=r.elapsed, error=r.error, sqlstate=r.sqlstate))
        result.events += self.events


# ------------------------------------------------------------------ pglab glue

def trace_build(settings, target, sql, *, pg=None, bt=False, timeout=60.0, other=None, user_only=False):
    """Trace `sql` on the main cluster of a build (started if needed); `other`:
    SQL for a concurrent second session; `user_only`: hide initdb's objects' locks."""
    from ..cluster import Cluster
    from ..pg.builds import find_build

    check_user_only(target, user_only)
    build = find_build(settings, pg)
    cluster = Cluster.named(settings, build)
    cluster.start()
    return run_trace(conninfo=cluster.conninfo(), target=target, sql=sql, bindir=str(build.bindir), bt=bt,
                     timeout=timeout, other_sql=other, user_only=user_only)

"""`invoke trace --other SQL`: a second session beside the traced one, and an
observer that samples pg_locks for who waits for whom."""

from __future__ import annotations

import time

from ..errors import TraceSetupError
from ..procs import process_state
from .result import FIRST_NORMAL_OID, SCHEMA
from .sql import SqlRunner, cancel, wait_for

POLL_EVERY = 0.01           # s between looks at the traced session's locks, before --other starts
SETTLE = 0.2                # s the traced backend must run unstopped with its table lock before --other starts
SETTLE_MAX = 5.0            # s of a table lock after which --other starts even if gdb keeps stopping it
SAMPLE_EVERY = 0.2          # s between samples of who waits for whom while both sessions run


def ready_to_start(now, table_since, running_since, waiting):
    """Whether --other starts at NOW (time.monotonic()): the traced backend has held a table lock
    since TABLE_SINCE (None: not yet) and waits (WAITING), or has run since RUNNING_SINCE (None:
    seen stopped by gdb at the last look) for SETTLE s of the time it held it, or has held it
    SETTLE_MAX s."""
    if table_since is None:
        return False
    return (waiting or now - table_since >= SETTLE_MAX
            or (running_since is not None and now - max(table_since, running_since) >= SETTLE))


class OtherSession:
    """The second session of --other, and an observer watching both.

    It starts the other SQL once the traced session holds its locks: a
    granted lock on a table of this database (OID >= FirstNormalObjectId) and,
    so that the other does not overtake the traced statement (under gdb every
    lock the traced backend takes costs a stop: a fresh backend takes dozens
    on catalogs after its first table lock, and one on the index between
    taking its transaction id and marking the row it updates), also a wait of
    its own (pg_stat_activity: on a lock, or a timeout such as pg_sleep), or
    SETTLE seconds with the table lock in which it was never seen stopped by
    gdb (a wall-clock SETTLE alone is spent in those stops on a loaded
    machine), or SETTLE_MAX seconds with it.  If the traced SQL ends first, the
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
        table_since = running_since = None
        while not traced.done.is_set() and time.monotonic() < deadline:
            state = self._holds(pid)
            if state is None:
                notes.append("could not read pg_locks to see when the traced session holds its locks: "
                             "the other session started at once")
                break
            table, waiting = state
            now = time.monotonic()
            if process_state(pid) == "t":          # stopped at a breakpoint: still taking its locks
                running_since = None
            else:
                running_since = running_since or now
            if table:
                table_since = table_since or now
            if ready_to_start(now, table_since, running_since, waiting):
                break
            wait_for(traced.done, POLL_EVERY)
        if traced.done.is_set():
            self.after_traced = True
            notes.append("the traced SQL ended before it held its locks (a table lock, while waiting or for "
                         f"{SETTLE} s unstopped): the other session ran after it")
        if time.monotonic() >= deadline:
            notes.append("the traced session held no lock on a table before the timeout: the other session never ran")
            return traced.done.is_set()
        self.runner = SqlRunner(self.conn, self.sql, name="pglab-trace-other")
        self.runner.start()
        next_sample = time.monotonic()
        while time.monotonic() < deadline and not (traced.done.is_set() and self.runner.done.is_set()):
            if time.monotonic() >= next_sample:
                self.sample(notes)
                next_sample += SAMPLE_EVERY
            wait_for(self.runner.done, min(0.02, max(0.0, next_sample - time.monotonic())))
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
            problem = cancel(self.conn, "the other session's statement")
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

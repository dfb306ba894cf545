"""What a trace produced: the events the gdb side wrote (JSON lines, schema
pglab.trace/1, docs/tracing.md) and what the driver saw around them.  The
renderers and the hints read only this."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pglab_tracing import SCHEMA  # noqa: F401  (the schema name, defined once on the gdb side)

FIRST_NORMAL_OID = 16384    # FirstNormalObjectId (access/transam.h): lower OIDs are initdb's own objects
# the events the gdb side writes about one lock tag (relation names are added to these)
LOCK_EVENTS = ("lock", "lock_wait", "lock_wakeup", "deadlock")


@dataclass
class TraceResult:
    """What one run_trace() produced.

    events: the decoded JSON-lines events, in file order.
    rows / columns: the last result set of the SQL (at most sql.ROW_LIMIT rows).
    sql_error / sqlstate: the SQL's error, if it raised one.
    sql_duration_s: wall time of the SQL alone, as the session saw it.
    end_reason: "stopped" (normal), "exited" (backend gone), "timeout",
        "gdb-killed" (gdb had to be killed), "error" (gdb failed or exited
        before it was asked to stop).
    backend_alive: the backend process exists after the trace.
    warnings: the gdb side's warnings and errors, then the driver's own.
    hints: why the target may not have been hit, when it was not.
    sql_start_ns: when the SQL was sent, on the events' clock (CLOCK_MONOTONIC ns).
    database: the OID of the traced session's database (None if it could not be read).
    other_*: the second session of `--other` (run_trace(other_sql=...)): its SQL,
        backend pid, error and SQLSTATE, wall time; its events are in `events`
        ("other_start", "session_wait", "other_end", written by the driver).
    hidden: how many events `--user-only` removed (None: no filter applied).
    """
    target: str
    sql: str
    pid: int
    server_version: int
    events: list = field(default_factory=list)
    rows: list | None = None
    columns: list | None = None
    sql_error: str | None = None
    sqlstate: str | None = None
    timed_out: bool = False
    end_reason: str = ""
    backend_alive: bool = True
    sql_duration_s: float | None = None
    gdb_returncode: int | None = None
    gdb_log: str = ""
    duration_s: float = 0.0
    warnings: list = field(default_factory=list)
    hints: list = field(default_factory=list)
    sql_start_ns: int | None = None
    database: int | None = None
    other_sql: str | None = None
    other_pid: int | None = None
    other_error: str | None = None
    other_sqlstate: str | None = None
    other_duration_s: float | None = None
    hidden: int | None = None

    def of(self, *kinds):
        """Events of the given "event" types."""
        return [e for e in self.events if e.get("event") in kinds]

    def __repr__(self):
        return (f"<TraceResult {self.target} pid={self.pid} events={len(self.events)} "
                f"end={self.end_reason} error={self.sql_error!r}>")


def read_events(path):
    """The events of a JSON-lines file (a torn last line is skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return out


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

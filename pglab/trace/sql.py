"""The traced statement's session: SQL run in a thread, and cancelled on the way out."""

from __future__ import annotations

import threading
import time

ROW_LIMIT = 1000


class SqlRunner(threading.Thread):
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
        """True if finished within timeout."""
        return wait_for(self.done, timeout)


def wait_for(event, timeout, step=0.01):
    """True if the event is set within timeout.  Polls with time.sleep rather
    than event.wait: a Ctrl-C landing inside Condition.wait's lock handling can
    come out as "RuntimeError: release unlocked lock" instead of
    KeyboardInterrupt, and the trace would then not detach cleanly."""
    deadline = time.monotonic() + timeout
    while not event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, step))
    return True


def cancel(conn, what):
    """Cancel the session's statement; a warning when that failed, else None."""
    try:
        conn.cancel_safe(timeout=5.0) if hasattr(conn, "cancel_safe") else conn.cancel()
    except Exception as exc:    # noqa: BLE001 - best effort on the way out, reported as a warning
        if not conn.closed:
            return f"could not cancel {what}: {exc}"
    return None

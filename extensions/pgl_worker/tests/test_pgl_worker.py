"""pgl_worker seen from a client: the preloaded worker, on-demand workers, SIGTERM.

Needs the server settings in ../pgl_worker.conf (the library preloaded).
Uses pytest-postgresql's ``postgresql`` fixture: a psycopg 3 connection to a
fresh database on a server where ``make install`` has already been run.
"""

import time

import psycopg
import pytest
from psycopg import errors

TIMEOUT = 30.0  # seconds; the configured interval is 200 ms


def wait_for(fetch, what, timeout=TIMEOUT):
    """Poll ``fetch()`` until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def one(conn, query, params=None):
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def beats(conn, pid):
    """The worker's heartbeat count, or None if its row (or table) is missing."""
    if one(conn, "SELECT to_regclass('pgl_worker.heartbeat')") is None:
        return None
    return one(conn, "SELECT beats FROM pgl_worker.heartbeat WHERE pid = %s", (pid,))


@pytest.fixture
def conn(postgresql):
    # Autocommit: each poll is its own transaction, so it sees the worker's
    # commits and a fresh pg_stat_activity.
    postgresql.autocommit = True
    postgresql.execute("CREATE EXTENSION pgl_worker")
    return postgresql


@pytest.fixture
def launch(conn):
    """Start workers in the test database; stop them when the test ends."""
    pids = []

    def launch_one():
        pid = one(conn, "SELECT pgl_worker_launch()")
        pids.append(pid)
        return pid

    yield launch_one
    for pid in pids:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def static_worker_pid(conn):
    return one(
        conn,
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgl_worker' "
        "AND datname = current_setting('pgl_worker.database')",
    )


def test_preloaded_worker_beats(conn):
    pid = wait_for(lambda: static_worker_pid(conn), "the preloaded worker in pg_stat_activity")
    dbname = one(conn, "SHOW pgl_worker.database")

    # Its heartbeat table lives in its own database: look there.
    info = conn.info
    with psycopg.connect(
        host=info.host, port=info.port, user=info.user, password=info.password,
        dbname=dbname, autocommit=True,
    ) as other:
        first = wait_for(lambda: beats(other, pid), "a first heartbeat")
        wait_for(lambda: (beats(other, pid) or 0) > first + 1, "two more heartbeats")


def test_wait_event_is_named(conn):
    pid = wait_for(lambda: static_worker_pid(conn), "the preloaded worker")
    expected = "PglWorkerMain" if conn.info.server_version >= 170000 else "Extension"
    # Most of the time the worker sleeps on its latch.
    wait_for(
        lambda: one(conn, "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)) == expected,
        f"wait_event {expected}",
    )


def test_launch_on_demand(conn, launch):
    pid = launch()
    assert isinstance(pid, int) and pid > 0
    wait_for(lambda: (beats(conn, pid) or 0) >= 3, "three heartbeats")
    row = conn.execute(
        "SELECT backend_type, datname FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    assert row == ("pgl_worker", conn.info.dbname)


def test_launch_needs_privilege(conn):
    conn.execute("CREATE ROLE regress_pgl_worker_user")
    try:
        conn.execute("SET ROLE regress_pgl_worker_user")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT pgl_worker_launch()")
    finally:
        conn.execute("RESET ROLE")
        conn.execute("DROP ROLE regress_pgl_worker_user")


def test_sigterm_is_a_clean_exit(conn, launch):
    static_before = wait_for(lambda: static_worker_pid(conn), "the preloaded worker")
    backend_before = conn.info.backend_pid
    pid = launch()
    wait_for(lambda: (beats(conn, pid) or 0) >= 2, "two heartbeats")

    assert one(conn, "SELECT pg_terminate_backend(%s)", (pid,)) is True
    wait_for(
        lambda: one(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)) == 0,
        "the worker to exit",
    )

    # The worker finished its loop and wrote its last row before exiting...
    stopped = conn.execute(
        "SELECT stopped_at IS NOT NULL, stopped_at >= last_beat FROM pgl_worker.heartbeat WHERE pid = %s",
        (pid,),
    ).fetchone()
    assert stopped == (True, True)
    # ...and nothing crashed: a crash would have made the postmaster kill
    # every backend, this connection and the preloaded worker included.
    assert conn.info.backend_pid == backend_before
    assert one(conn, "SELECT 1") == 1
    assert static_worker_pid(conn) == static_before

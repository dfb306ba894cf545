"""Tests for the __EXT__ worker, run with pytest-postgresql's ``postgresql`` fixture.

The server needs the settings in __EXT__.conf (the library preloaded).
"""

import time

import pytest


def wait_for(check, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def conn(postgresql):
    postgresql.autocommit = True  # every poll sees a fresh pg_stat_activity
    postgresql.execute("CREATE EXTENSION __EXT__")
    return postgresql


def backend_type(conn, pid):
    row = conn.execute("SELECT backend_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return row and row[0]


def test_preloaded_worker_runs(conn):
    wait_for(
        lambda: conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = '__EXT__' "
            "AND datname = current_setting('__EXT__.database')"
        ).fetchone()[0] == 1,
        "the preloaded worker",
    )


def test_launch_and_terminate(conn):
    pid = conn.execute("SELECT __EXT___launch()").fetchone()[0]
    wait_for(lambda: backend_type(conn, pid) == "__EXT__", "the launched worker")
    assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
    wait_for(lambda: backend_type(conn, pid) is None, "the worker to exit")
    assert conn.execute("SELECT 1").fetchone()[0] == 1  # no crash-restart

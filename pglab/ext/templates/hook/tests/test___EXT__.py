"""Tests for the __EXT__ hook, run with pytest-postgresql's ``postgresql`` fixture."""

import pytest


@pytest.fixture
def conn(postgresql):
    postgresql.autocommit = True
    postgresql.execute("CREATE EXTENSION __EXT__")
    postgresql.execute("LOAD '__EXT__'")
    return postgresql


def queries(conn):
    return conn.execute("SELECT __EXT___queries()").fetchone()[0]


def test_off_counts_nothing(conn):
    conn.execute("SELECT 1")
    assert queries(conn) == 0


def test_on_counts_queries(conn):
    conn.execute("SET __EXT__.enabled = on")
    conn.execute("SELECT __EXT___reset()")
    for _ in range(5):
        conn.execute("SELECT 1")
    # 5 queries, plus the reset (counted when it finished)
    assert queries(conn) == 6

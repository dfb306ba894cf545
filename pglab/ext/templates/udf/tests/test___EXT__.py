"""Tests for __EXT__, run with pytest-postgresql's ``postgresql`` fixture."""

import pytest
from psycopg import errors


@pytest.fixture
def cur(postgresql):
    with postgresql.cursor() as cur:
        cur.execute("CREATE EXTENSION __EXT__")
        yield cur


def test_add(cur):
    cur.execute("SELECT __EXT___add(%s, %s)", (2, 40))
    assert cur.fetchone()[0] == 42


def test_add_overflow(cur):
    with pytest.raises(errors.NumericValueOutOfRange):
        cur.execute("SELECT __EXT___add(2147483647, 1)")


def test_hello_handles_null(cur):
    cur.execute("SELECT __EXT___hello(%s), __EXT___hello(NULL)", ("you",))
    assert cur.fetchone() == ("Hello, you!", "Hello, world!")

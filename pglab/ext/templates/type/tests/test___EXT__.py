"""Tests for the __EXT__ type, run with pytest-postgresql's ``postgresql`` fixture."""

import struct

import pytest
from psycopg import errors


@pytest.fixture
def cur(postgresql):
    with postgresql.cursor() as cur:
        cur.execute("CREATE EXTENSION __EXT__")
        yield cur


def test_text_round_trip(cur):
    cur.execute("SELECT ' ( 7 , -8 ) '::__EXT__::text")
    assert cur.fetchone()[0] == "(7,-8)"


def test_bad_input(cur):
    with pytest.raises(errors.InvalidTextRepresentation):
        cur.execute("SELECT '(1)'::__EXT__")


def test_ordering(cur):
    cur.execute(
        "SELECT v::text AS v FROM unnest(ARRAY['(2,1)', '(1,5)', '(1,2)']::__EXT__[]) AS u(v) ORDER BY u.v"
    )
    assert [r[0] for r in cur.fetchall()] == ["(1,2)", "(1,5)", "(2,1)"]


def test_binary_output(cur):
    cur.execute("SELECT '(1,-1)'::__EXT__", binary=True)
    assert struct.unpack("!ii", bytes(cur.fetchone()[0])) == (1, -1)

"""Behaviour of pgl_funcs seen from a client: values, NULLs, sets and SQLSTATEs.

Uses pytest-postgresql's ``postgresql`` fixture: a psycopg 3 connection to a
fresh database on a server where ``make install`` has already been run.
"""

import pytest
from psycopg import errors


@pytest.fixture
def cur(postgresql):
    """A cursor in a database where the extension is installed."""
    with postgresql.cursor() as cur:
        cur.execute("CREATE EXTENSION pgl_funcs")
        yield cur


def scalar(cur, query, params=None):
    cur.execute(query, params)
    return cur.fetchone()[0]


def test_strict_add(cur):
    assert scalar(cur, "SELECT pgl_add(%s, %s)", (2, 40)) == 42
    # STRICT: PostgreSQL returns NULL without calling the C function.
    assert scalar(cur, "SELECT pgl_add(NULL, 1)") is None


def test_add_overflow_sqlstate(cur):
    with pytest.raises(errors.NumericValueOutOfRange) as exc:
        cur.execute("SELECT pgl_add(2147483647, 1)")
    assert exc.value.sqlstate == "22003"
    assert exc.value.diag.message_detail == "2147483647 + 1 does not fit in an integer."


def test_non_strict_greet_sees_null(cur):
    assert scalar(cur, "SELECT pgl_greet(%s)", ("Ada",)) == "Hello, Ada!"
    assert scalar(cur, "SELECT pgl_greet(NULL)") == "Hello, stranger!"


def test_reverse(cur):
    assert scalar(cur, "SELECT pgl_reverse(%s)", ("stressed",)) == "desserts"
    if scalar(cur, "SHOW server_encoding") == "UTF8":
        # Whole characters are moved, not bytes.
        assert scalar(cur, "SELECT pgl_reverse(%s)", ("añb€",)) == "€bña"


def test_array_sum(cur):
    assert scalar(cur, "SELECT pgl_array_sum(%s::int4[])", ([1, 2, 3],)) == 6
    assert scalar(cur, "SELECT pgl_array_sum(%s::int4[])", ([1, None, 3],)) == 4
    assert scalar(cur, "SELECT pgl_array_sum(ARRAY[2147483647, 2147483647])") == 4294967294
    assert scalar(cur, "SELECT pgl_array_sum(NULL)") is None


def test_series_matches_generate_series(cur):
    for args in [(1, 5, 1), (10, 0, -4), (5, 1, 1), (2147483640, 2147483647, 5)]:
        cur.execute("SELECT * FROM pgl_series(%s::int4, %s::int4, %s::int4)", args)
        mine = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT * FROM generate_series(%s::int4, %s::int4, %s::int4)", args)
        builtin = [r[0] for r in cur.fetchall()]
        assert mine == builtin, args


def test_series_zero_step_sqlstate(cur):
    with pytest.raises(errors.InvalidParameterValue) as exc:
        cur.execute("SELECT * FROM pgl_series(1, 5, 0)")
    assert exc.value.sqlstate == "22023"


def test_split_is_materialized_srf(cur):
    cur.execute("SELECT n, part FROM pgl_split('a,b,,c', ',')")
    assert cur.fetchall() == [(1, "a"), (2, "b"), (3, ""), (4, "c")]
    with pytest.raises(errors.InvalidParameterValue):
        cur.execute("SELECT * FROM pgl_split('a', '')")


def test_upgrade_from_1_0(postgresql):
    with postgresql.cursor() as cur:
        cur.execute("CREATE EXTENSION pgl_funcs VERSION '1.0'")
        with pytest.raises(errors.UndefinedFunction):
            cur.execute("SELECT * FROM pgl_split('a,b', ',')")
        postgresql.rollback()

        cur.execute("CREATE EXTENSION pgl_funcs VERSION '1.0'")
        cur.execute("ALTER EXTENSION pgl_funcs UPDATE TO '1.1'")
        assert scalar(cur, "SELECT extversion FROM pg_extension WHERE extname = 'pgl_funcs'") == "1.1"
        cur.execute("SELECT part FROM pgl_split('a,b', ',')")
        assert [r[0] for r in cur.fetchall()] == ["a", "b"]


def test_plain_create_installs_default_version(postgresql):
    with postgresql.cursor() as cur:
        cur.execute("CREATE EXTENSION pgl_funcs")
        # 1.1 has no install script of its own: 1.0 then 1.0--1.1 are run.
        assert scalar(cur, "SELECT extversion FROM pg_extension WHERE extname = 'pgl_funcs'") == "1.1"
        assert scalar(cur, "SELECT to_regprocedure('pgl_split(text,text)') IS NOT NULL")

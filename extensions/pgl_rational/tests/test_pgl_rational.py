"""The rational type seen from a client: text and binary I/O, ordering, indexes.

Uses pytest-postgresql's ``postgresql`` fixture: a psycopg 3 connection to a
fresh database on a server where ``make install`` has already been run.
"""

import struct
from fractions import Fraction

import pytest
from psycopg import errors


@pytest.fixture
def cur(postgresql):
    with postgresql.cursor() as cur:
        cur.execute("CREATE EXTENSION pgl_rational")
        yield cur


VALUES = ["1/2", "-3/4", "2/4", "7", "0/5", "2147483647/2147483646", "-2147483648/1", "1/3"]


def test_text_io_reduces_to_lowest_terms(cur):
    for text in VALUES:
        cur.execute("SELECT %s::rational::text", (text,))
        out = cur.fetchone()[0]
        num, den = (int(x) for x in out.split("/"))
        assert den > 0
        assert Fraction(num, den) == Fraction(text)
        assert Fraction(num, den).denominator == den  # lowest terms


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1/0", errors.DivisionByZero),
        ("abc", errors.InvalidTextRepresentation),
        ("1/2/3", errors.InvalidTextRepresentation),
        ("2147483648", errors.NumericValueOutOfRange),
    ],
)
def test_bad_input_sqlstates(cur, text, error):
    with pytest.raises(error):
        cur.execute("SELECT %s::rational", (text,))


def test_soft_input_errors(cur):
    cur.execute("SHOW server_version_num")
    if int(cur.fetchone()[0]) < 160000:
        pytest.skip("pg_input_is_valid() appeared in PostgreSQL 16")
    cur.execute("SELECT pg_input_is_valid('1/0', 'rational'), pg_input_is_valid('1/2', 'rational')")
    assert cur.fetchone() == (False, True)
    cur.execute("SELECT message, sql_error_code FROM pg_input_error_info('x', 'rational')")
    assert cur.fetchone() == ('invalid input syntax for type rational: "x"', "22P02")


def test_order_by_matches_python(cur):
    cur.execute("CREATE TABLE t (r rational)")
    cur.executemany("INSERT INTO t VALUES (%s::rational)", [(v,) for v in VALUES])
    # "ORDER BY t.r", not "ORDER BY r": the latter would name the text output column.
    cur.execute("SELECT r::text AS r FROM t ORDER BY t.r")
    got = [Fraction(r[0]) for r in cur.fetchall()]
    assert got == sorted(Fraction(v) for v in VALUES)


def test_binary_result_is_send_format(cur):
    # Asking for binary results makes the server call rational_send.
    cur.execute("SELECT '-3/6'::rational", binary=True)
    raw = cur.fetchone()[0]
    assert struct.unpack("!ii", bytes(raw)) == (-1, 2)


def test_copy_binary_round_trip(cur):
    cur.execute("CREATE TABLE src (id int, r rational)")
    cur.executemany(
        "INSERT INTO src VALUES (%s, %s::rational)", list(enumerate(VALUES))
    )
    cur.execute("CREATE TABLE dst (LIKE src)")

    # COPY binary out calls rational_send; COPY binary in calls rational_recv.
    with cur.copy("COPY src TO STDOUT (FORMAT binary)") as copy:
        data = b"".join(bytes(block) for block in copy)
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00")
    with cur.copy("COPY dst FROM STDIN (FORMAT binary)") as copy:
        copy.write(data)

    cur.execute("SELECT count(*) FROM src FULL JOIN dst USING (id) WHERE src.r IS DISTINCT FROM dst.r")
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT count(*) FROM dst")
    assert cur.fetchone()[0] == len(VALUES)


def test_recv_rejects_zero_denominator(cur):
    cur.execute("CREATE TABLE dst (r rational)")
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
    row = struct.pack("!hi", 1, 8) + struct.pack("!ii", 1, 0)
    trailer = struct.pack("!h", -1)
    with pytest.raises(errors.InvalidBinaryRepresentation):
        with cur.copy("COPY dst FROM STDIN (FORMAT binary)") as copy:
            copy.write(header + row + trailer)


def test_index_scans_use_the_operator_classes(cur):
    cur.execute("CREATE TABLE t (r rational, label text)")
    cur.execute(
        "INSERT INTO t SELECT (i % 97 || '/' || (i % 13 + 1))::rational, 'row ' || i "
        "FROM generate_series(1, 5000) i"
    )
    cur.execute("CREATE INDEX t_btree ON t (r)")
    cur.execute("CREATE INDEX t_hash ON t USING hash (r)")
    cur.execute("ANALYZE t")
    cur.execute("SET enable_seqscan = off")
    cur.execute("SET enable_bitmapscan = off")

    cur.execute("EXPLAIN (COSTS OFF) SELECT label FROM t WHERE r < '1/2' ORDER BY r")
    plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Index Scan using t_btree on t" in plan

    cur.execute("DROP INDEX t_btree")
    cur.execute("EXPLAIN (COSTS OFF) SELECT label FROM t WHERE r = '2/4'")
    plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Index Scan using t_hash on t" in plan

    # The hash index finds exactly the rows a sequential scan finds.
    cur.execute("SELECT count(*) FROM t WHERE r = '2/4'")
    via_index = cur.fetchone()[0]
    cur.execute("RESET enable_seqscan")
    cur.execute("SET enable_indexscan = off")
    cur.execute("SELECT count(*) FROM t WHERE r = '1/2'")
    assert cur.fetchone()[0] == via_index > 0

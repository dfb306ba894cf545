"""pgl_planlog seen from a client: off records nothing, on records plans, hooks chain.

Needs the server settings in ../pgl_planlog.conf (pg_stat_statements preloaded).
Uses pytest-postgresql's ``postgresql`` fixture: a psycopg 3 connection to a
fresh database on a server where ``make install`` has already been run.
"""

import pytest


@pytest.fixture
def conn(postgresql):
    postgresql.autocommit = True
    postgresql.execute("CREATE EXTENSION pgl_planlog")
    postgresql.execute("LOAD 'pgl_planlog'")
    postgresql.execute("CREATE TABLE items AS SELECT i AS id, i % 10 AS grp FROM generate_series(1, 1000) i")
    postgresql.execute("CREATE INDEX items_id ON items (id)")
    postgresql.execute("ANALYZE items")
    return postgresql


def entries(conn):
    """The recorded plans, read with recording off so the read is not recorded."""
    conn.execute("SET pgl_planlog.enabled = off")
    return conn.execute(
        "SELECT query, top_node, plan_rows, plan FROM pgl_planlog_entries() ORDER BY seq"
    ).fetchall()


def test_off_records_nothing(conn):
    assert conn.execute("SHOW pgl_planlog.enabled").fetchone()[0] == "off"
    conn.execute("SELECT count(*) FROM items WHERE grp = 1")
    assert entries(conn) == []


def test_on_records_the_plan_explain_would_show(conn):
    query = "SELECT id FROM items WHERE id = 7"
    explain = "\n".join(
        r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + query).fetchall()
    )
    conn.execute("SET pgl_planlog.enabled = on")
    assert conn.execute(query).fetchall() == [(7,)]
    [(logged_query, top_node, plan_rows, plan)] = entries(conn)
    assert logged_query == query
    assert plan == explain  # the same text EXPLAIN prints
    assert top_node == explain.splitlines()[0]
    assert "items_id" in plan
    assert plan_rows == 1.0


def test_parameters_and_extended_protocol(conn):
    # psycopg sends parameters with the extended protocol: still one plan.
    conn.execute("SET pgl_planlog.enabled = on")
    conn.execute("SELECT count(*) FROM items WHERE grp = %s", (4,))
    [(query, top_node, _, plan)] = entries(conn)
    assert query == "SELECT count(*) FROM items WHERE grp = $1"
    assert top_node == "Aggregate"
    assert "Seq Scan on items" in plan


def test_nested_queries_are_not_top_level(conn):
    conn.execute(
        "CREATE FUNCTION count_items() RETURNS bigint LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN (SELECT count(*) FROM items); END $$"
    )
    conn.execute("SET pgl_planlog.enabled = on")
    assert conn.execute("SELECT count_items()").fetchone()[0] == 1000
    assert [e[0] for e in entries(conn)] == ["SELECT count_items()"]


def test_notice_message_level(conn):
    notices = []
    conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
    conn.execute("SET pgl_planlog.message_level = notice")
    conn.execute("SET pgl_planlog.enabled = on")
    conn.execute("SELECT count(*) FROM items")
    conn.execute("SET pgl_planlog.enabled = off")
    assert any(
        n.startswith('pgl_planlog: plan of "SELECT count(*) FROM items":') and "Seq Scan on items" in n
        for n in notices
    ), notices


def test_chains_with_pg_stat_statements(conn):
    libs = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    assert "pg_stat_statements" in libs, "pgl_planlog.conf was not applied to the server"
    conn.execute("CREATE EXTENSION pg_stat_statements")
    conn.execute("SELECT pg_stat_statements_reset()")

    conn.execute("SET pgl_planlog.enabled = on")
    for grp in (1, 2, 3):
        conn.execute(f"SELECT count(*) FROM items WHERE grp = {grp}")
    recorded = [e[0] for e in entries(conn)]
    assert recorded == [f"SELECT count(*) FROM items WHERE grp = {g}" for g in (1, 2, 3)]

    # pg_stat_statements' hooks ran too: its executor hooks count calls, its
    # planner hook counts plans (track_planning), so both chains are intact.
    calls, plans = conn.execute(
        "SELECT calls, plans FROM pg_stat_statements "
        "WHERE query = 'SELECT count(*) FROM items WHERE grp = $1' "
        "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()
    assert (calls, plans) == (3, 3)

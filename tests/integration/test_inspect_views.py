"""inspect's whole-relation views on every built major, against the contrib modules that
report the same from inside the server: --fsm against pg_freespace (pg_freespacemap),
--vm against pg_visibility, --summary against pgstattuple (and heap_page_items,
pg_visibility_map_summary), --buffers against pg_buffercache; and the command's
one-line refusals."""

import os
import shutil
from collections import Counter

import psycopg
import pytest

from pglab import inspect as inspect_mod
from pglab.cluster import Cluster
from pglab.errors import InspectError
from pglab.inspect import buffers, maps, summary
from pglab.pg.builds import find_build
from tests.conftest import built_ids, invoke
from tests.integration.test_inspect import Server

EXTENSIONS = ("pageinspect", "pg_freespacemap", "pg_visibility", "pgstattuple", "pg_buffercache")


@pytest.fixture(scope="module", params=built_ids())
def server(request, settings):
    build = request.getfixturevalue("default_build") if request.param == "default" else \
        find_build(settings, request.param)
    # no timed checkpoint may clean the dirty buffers between two reads of them
    with Cluster.throwaway(settings, build, template=True, conf={"checkpoint_timeout": "1h"}) as cl:
        srv = Server(cl, settings)
        for ext in EXTENSIONS:
            srv.sql(f"CREATE EXTENSION {ext}")
        yield srv
        srv.conn.close()


def other_session(srv):
    conn = psycopg.connect(srv.cluster.conninfo(), autocommit=True)
    conn.execute("SET TimeZone = 'UTC'")
    return conn


# ---- --fsm and --vm -------------------------------------------------------------------------

def assert_maps_match(srv, name):
    rel = srv.rel(name)                 # takes the CHECKPOINT: disk and buffers agree
    heap = rel.kind == "heap"
    rows = list(maps.rows(srv.lay, rel, fsm=True, vm=heap))
    theirs = srv.rows("SELECT blkno, avail FROM pg_freespace(%s::regclass) ORDER BY blkno", (name,))
    assert [(r["block"], r["fsm_avail"]) for r in rows] == [(t["blkno"], t["avail"]) for t in theirs]
    if heap:
        vis = srv.rows("SELECT blkno, all_visible, all_frozen, pd_all_visible FROM pg_visibility(%s::regclass) "
                       "ORDER BY blkno", (name,))
        assert [(r["block"], r["all_visible"], r["all_frozen"], r["pd_all_visible"]) for r in rows] == \
               [(v["blkno"], v["all_visible"], v["all_frozen"], v["pd_all_visible"]) for v in vis]
    return rows


def test_fsm_and_vm_equal_pg_freespace_and_pg_visibility(server):
    server.sql("DROP TABLE IF EXISTS m")
    server.sql("CREATE TABLE m (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO m SELECT g, repeat('p', 200) FROM generate_series(1, 3000) g")
    server.sql("DELETE FROM m WHERE id % 4 = 0 OR id BETWEEN 1000 AND 1400")
    server.sql("VACUUM m")
    rows = assert_maps_match(server, "m")
    # VACUUM recorded each page's free space, rounded down to its category of BLCKSZ/256 bytes
    assert all(0 <= r["page_free"] - r["fsm_avail"] < server.lay.blcksz // 256 for r in rows)
    assert len({r["fsm_category"] for r in rows}) > 3
    assert all(r["all_visible"] for r in rows)
    server.sql("UPDATE m SET pad = 'x' WHERE id = 2")                   # clears its page's bits
    server.sql("INSERT INTO m SELECT g, repeat('q', 300) FROM generate_series(5000, 5100) g")
    rows = assert_maps_match(server, "m")
    assert [r["block"] for r in rows if not r["all_visible"]][0] == 0
    server.sql("VACUUM FREEZE m")
    rows = assert_maps_match(server, "m")
    assert all(r["all_frozen"] for r in rows)
    # the primary key's FSM holds the pages its VACUUMs emptied and deleted
    server.sql("DELETE FROM m WHERE id > 200")
    server.sql("VACUUM m")
    server.sql("VACUUM m")
    index_rows = assert_maps_match(server, "m_pkey")
    assert any(r["fsm_avail"] for r in index_rows)


def test_a_second_fsm_leaf_page(server):
    server.sql("DROP TABLE IF EXISTS wide_fsm")
    server.sql("CREATE TABLE wide_fsm (a int, b text) WITH (autovacuum_enabled = off, fillfactor = 10)")
    # a row a page: 5,000 blocks, more than the 4,069 slots of one FSM leaf page (8 kB pages)
    server.sql("INSERT INTO wide_fsm SELECT g, repeat('w', 700) FROM generate_series(1, 5000) g")
    server.sql("VACUUM wide_fsm")
    rel = server.rel("wide_fsm")
    assert (rel.nblocks(), rel.nblocks("_fsm")) == (5000, 4)     # the root, level 1, two leaves
    rows = assert_maps_match(server, "wide_fsm")
    assert all(r["fsm_avail"] > 0 for r in rows)                # the blocks of the second leaf too


def test_missing_forks_and_indexes_are_refused_in_one_line(server):
    server.sql("DROP TABLE IF EXISTS fresh")
    server.sql("CREATE TABLE fresh (a int PRIMARY KEY) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO fresh VALUES (1)")
    rel = server.rel("fresh")
    with pytest.raises(InspectError) as exc:
        maps.check_forks(rel, fsm=True, vm=False)
    assert str(exc.value) == "public.fresh has no free space map yet (no _fsm fork): VACUUM public.fresh writes one"
    with pytest.raises(InspectError) as exc:
        maps.check_forks(rel, fsm=False, vm=True)
    assert str(exc.value) == "public.fresh has no visibility map yet (no _vm fork): VACUUM public.fresh writes one"
    with pytest.raises(InspectError) as exc:
        maps.check_forks(server.rel("fresh_pkey"), fsm=False, vm=True)
    assert str(exc.value) == "public.fresh_pkey is a btree index: only tables have a visibility map (drop --vm)"
    with pytest.raises(InspectError) as exc:
        summary.summarize(server.conn, server.lay, server.rel("fresh_pkey"))
    assert str(exc.value) == "public.fresh_pkey is a btree index: --summary counts the tuples of a heap table"


# ---- --summary ------------------------------------------------------------------------------

PGSTATTUPLE = ("table_len", "tuple_count", "tuple_len", "tuple_percent", "dead_tuple_count", "dead_tuple_len",
               "dead_tuple_percent", "free_space", "free_percent")


def assert_summary_matches(srv, name):
    ours = summary.summarize(srv.conn, srv.lay, srv.rel(name))
    theirs = srv.rows("SELECT * FROM pgstattuple(%s)", (name,))[0]
    assert ours["summary"] == {k: float(theirs[k]) if k.endswith("percent") else theirs[k] for k in PGSTATTUPLE}
    flags = Counter()
    for blk in range(ours["nblocks"]):
        flags.update(r[0] for r in srv.sql("SELECT lp_flags FROM heap_page_items(get_raw_page(%s, %s))",
                                           (name, blk)).fetchall())
    assert ours["line_pointers"] == {"unused": flags[0], "normal": flags[1], "redirect": flags[2],
                                     "dead": flags[3]}
    vm = srv.rows("SELECT all_visible, all_frozen FROM pg_visibility_map_summary(%s)", (name,))[0]
    assert ours["visibility_map"] == vm
    return ours


def test_summary_equals_pgstattuple_through_every_fate_of_a_tuple(server):
    server.sql("DROP TABLE IF EXISTS s")
    server.sql("CREATE TABLE s (id int PRIMARY KEY, v int, pad text) WITH (autovacuum_enabled = off, fillfactor = 70)")
    server.sql("INSERT INTO s SELECT g, g, repeat('s', g % 100) FROM generate_series(1, 4000) g")
    # a snapshot held open keeps every dead tuple where it is: pgstattuple's scan prunes nothing
    holder = other_session(server)
    holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    holder.execute("SELECT count(*) FROM s")
    writer, locker = other_session(server), other_session(server)
    try:
        with server.conn.transaction(force_rollback=True):
            server.sql("INSERT INTO s SELECT g, 0, 'aborted' FROM generate_series(10001, 10100) g")
        server.sql("DELETE FROM s WHERE id % 10 = 0")
        with server.conn.transaction(force_rollback=True):
            server.sql("DELETE FROM s WHERE id % 10 = 1")                  # an aborted delete
        server.sql("UPDATE s SET v = v + 1 WHERE id % 10 = 2")             # HOT (v is not indexed)
        server.sql("UPDATE s SET id = id + 100000 WHERE id % 10 = 3")      # not HOT
        # a multixact: a key-share lock, then another transaction's no-key update of the row
        locker.execute("BEGIN")
        locker.execute("SELECT * FROM s WHERE id BETWEEN 4 AND 200 AND id % 10 = 4 FOR KEY SHARE")
        server.sql("UPDATE s SET v = -1 WHERE id BETWEEN 4 AND 200 AND id % 10 = 4")
        locker.execute("COMMIT")
        server.sql("SELECT * FROM s WHERE id % 10 = 5 FOR SHARE")          # locked only: stays live
        # still running: its inserts are live, and so are the rows it deletes
        writer.execute("BEGIN")
        writer.execute("INSERT INTO s SELECT g, 0, 'running' FROM generate_series(20001, 20050) g")
        writer.execute("DELETE FROM s WHERE id % 10 = 6")
        ours = assert_summary_matches(server, "s")
        assert ours["statuses_asked"] > 0                                  # unhinted tuples were asked about
        assert ours["in_progress"] == {"inserting": 50, "deleting": 400}
        assert ours["undecided"] == 0
        assert ours["summary"]["dead_tuple_count"] == 100 + 400 + 400 + 400 + 20   # aborted inserts, deletes,
        #                                             both updates' old versions, the multixact-updated rows
        again = assert_summary_matches(server, "s")                        # pgstattuple set hint bits since
        assert again["summary"] == ours["summary"]
    finally:
        for conn in (writer, locker, holder):
            conn.rollback()           # before VACUUM, which a backend still ending would hold back
            conn.close()
    server.sql("VACUUM s")
    after = assert_summary_matches(server, "s")
    assert after["summary"]["dead_tuple_count"] == 0
    assert after["line_pointers"]["redirect"] > 0 and after["line_pointers"]["unused"] > 0
    assert after["bloat"]["extra_pages"] == after["nblocks"] - after["bloat"]["min_pages"] > 0


# ---- --buffers ------------------------------------------------------------------------------

def test_buffers_equal_pg_buffercache(server):
    server.sql("DROP TABLE IF EXISTS bf")
    server.sql("CREATE TABLE bf (id int, pad text) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO bf SELECT g, repeat('b', 100) FROM generate_series(1, 2000) g")
    server.sql("VACUUM bf")
    server.sql("CHECKPOINT")                                    # every buffer clean
    server.sql("UPDATE bf SET pad = 'dirty' WHERE id IN (1, 1999)")   # the first and last page dirty again
    reader = other_session(server)
    try:
        reader.execute("BEGIN")
        reader.execute("DECLARE c CURSOR FOR SELECT * FROM bf")
        reader.execute("FETCH 1 FROM c")                        # the scan holds its page pinned
        rel = inspect_mod.find(server.conn, server.cluster, server.lay, "bf", checkpoint=False)
        result, rows = buffers.read(server.conn, server.lay, rel)
        theirs = server.rows(
            "SELECT relforknumber, relblocknumber, bufferid, isdirty, usagecount, pinning_backends "
            "FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('bf') "
            "AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY relforknumber, relblocknumber")
        assert [(r["fork"], r["block"], r["buffer"], r["dirty"], r["usage_count"], r["pinning_backends"])
                for r in rows] == [tuple(t.values()) for t in theirs]
        main = [r for r in rows if r["fork_name"] == "main"]
        last = rel.nblocks() - 1
        assert [r["block"] for r in main if r["dirty"]] == [0, last]
        pinned = [r["block"] for r in main if r["pinning_backends"]]    # 17 on: the read stream's next ones too
        assert pinned[0] == 0
        assert result["forks"]["main"] == {"blocks": rel.nblocks(), "buffered": len(main), "dirty": 2,
                                           "pinned": len(pinned)}
    finally:
        reader.close()


# ---- the command ----------------------------------------------------------------------------

@pytest.fixture
def named(settings, default_build):
    name = f"inspect-views-{os.getpid()}"
    cl = Cluster.named(settings, default_build, name)
    cl.init()
    cl.start()
    try:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            c.execute("CREATE TABLE t (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off)")
            c.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g")
        yield cl, name
    finally:
        cl.stop()
        shutil.rmtree(cl.base, ignore_errors=True)


def test_the_views_in_text_and_their_refusals(named, default_build):
    cl, name = named
    base = ("inspect", "t", "--name", name, "--pg", default_build.id)
    bad = invoke(*base, "--vm")
    assert (bad.returncode, bad.stderr.strip()) == (1, "error: public.t has no visibility map yet (no _vm fork): "
                                                       "VACUUM public.t writes one")
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        c.execute("DELETE FROM t WHERE id <= 300")
        c.execute("VACUUM t")
        nblocks = c.execute("SELECT pg_relation_size('t') / 8192").fetchone()[0]
    done = invoke(*base, "--fsm", "--vm")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"public.t  (heap, {default_build.id}): {nblocks} blocks"
    assert lines[4] == "  blocks        page free FSM category FSM says  visible frozen PD_ALL_VISIBLE"
    assert max(len(line) for line in lines) <= 80
    done = invoke(*base, "--summary")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:3] == ["live", "tuples", "700"]
    for flags, words in ((("--summary", "--buffers"), "--summary and --buffers are different views: give one"),
                         (("--fsm", "--block", "1"), "--fsm/--vm shows the whole relation: drop --block"),
                         (("--summary", "--format", "svg"), "--summary show in --format text or json")):
        bad = invoke(*base, *flags)
        assert (bad.returncode, bad.stderr.strip()) == (1, f"error: {words}"), flags

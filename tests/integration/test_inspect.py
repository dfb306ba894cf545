"""inspect against a real server on every built major: every decoded field equals
what pageinspect (page_header, heap_page_items, heap_tuple_infomask_flags,
tuple_data_split, bt_metap, bt_page_stats, bt_page_items) and pg_visibility say
about the same page, through INSERT, HOT and non-HOT UPDATE, DELETE, VACUUM,
VACUUM FREEZE, nullable and dropped columns, TOAST, and a deduplicated B-tree of
several levels.  Damaged files are refused without touching the cluster.  The
command itself (`invoke inspect t --watch ...`) runs on a named cluster."""

import json
import os
import random
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace

import psycopg
import pytest
from psycopg.rows import dict_row

from pglab import inspect as inspect_mod
from pglab.cluster import Cluster
from pglab.errors import InspectError
from pglab.inspect import layouts as layouts_mod
from pglab.pg.builds import find_build
from tests.conftest import built_ids, invoke





class Server:
    def __init__(self, cluster, settings):
        self.cluster = cluster
        self.settings = settings
        self.lay = layouts_mod.load(settings, cluster.build)
        self.conn = psycopg.connect(cluster.conninfo(), autocommit=True)
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute("SET DateStyle = 'ISO'")

    def sql(self, query, params=None):
        return self.conn.execute(query, params)

    def rows(self, query, params=None):
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def rel(self, name):
        return inspect_mod.find(self.conn, self.cluster, self.lay, name)

    def page(self, name, blkno):
        rel = self.rel(name)
        return inspect_mod.decode(self.lay, rel, [blkno])["pages"][0]


@pytest.fixture(scope="module", params=built_ids())
def server(request, settings):
    build = request.getfixturevalue("default_build") if request.param == "default" else \
        find_build(settings, request.param)
    with Cluster.throwaway(settings, build, template=True) as cl:
        srv = Server(cl, settings)
        srv.sql("CREATE EXTENSION pageinspect")
        srv.sql("CREATE EXTENSION pg_visibility")
        yield srv
        srv.conn.close()


# ---- the cross-checks -------------------------------------------------------------------

def assert_header_matches(srv, rel, blkno, ours):
    theirs = srv.rows("SELECT (lsn - '0/0')::int8 AS lsn, checksum, flags, lower, upper, special, pagesize, "
                      "version, prune_xid::text::int8 AS prune_xid FROM page_header(get_raw_page(%s, %s))",
                      (rel, blkno))[0]
    if ours["header"]["checksum_ok"] is not None:
        # a buffer's pd_checksum is only set on the copy written out: compare what the bytes give
        theirs["checksum"] = srv.sql("SELECT page_checksum(get_raw_page(%s, %s), %s)",
                                     (rel, blkno, blkno)).fetchone()[0] & 0xFFFF   # a smallint there
        assert ours["header"]["checksum_ok"] is True
    h = ours["header"]
    assert {"lsn": h["lsn_int"], **{k: h[k] for k in theirs if k != "lsn"}} == theirs


def assert_heap_page_matches(srv, rel, blkno):
    """Our decode of REL's block equals pageinspect's, field by field, and pg_visibility's VM bits."""
    ours = srv.page(rel, blkno)
    assert_header_matches(srv, rel, blkno, ours)
    theirs = srv.rows(
        "SELECT lp, lp_off, lp_flags, lp_len, t_xmin::text::int8 AS t_xmin, t_xmax::text::int8 AS t_xmax, "
        "t_field3, t_ctid::text AS t_ctid, t_infomask2, t_infomask, t_hoff, t_bits, t_data, f.raw_flags, "
        "f.combined_flags FROM heap_page_items(get_raw_page(%s, %s)) "
        "LEFT JOIN LATERAL heap_tuple_infomask_flags(t_infomask, t_infomask2) f ON true ORDER BY lp", (rel, blkno))
    assert [it["lp"] for it in ours["items"]] == [r["lp"] for r in theirs]
    raw_page = srv.sql("SELECT get_raw_page(%s, %s)", (rel, blkno)).fetchone()[0]
    for it, row in zip(ours["items"], theirs):
        assert {k: it[k] for k in ("lp_off", "lp_flags", "lp_len")} == \
               {k: row[k] for k in ("lp_off", "lp_flags", "lp_len")}
        if row["t_xmin"] is None:
            assert "t_xmin" not in it, f"lp {it['lp']}: a tuple header pageinspect does not read"
            continue
        fields = ("t_xmin", "t_xmax", "t_field3", "t_ctid", "t_infomask2", "t_infomask", "t_hoff", "t_bits")
        assert {k: it[k] for k in fields} == {k: row[k] for k in fields}, f"lp {it['lp']}"
        assert (it["raw_flags"], it["combined_flags"]) == (row["raw_flags"], row["combined_flags"]), f"lp {it['lp']}"
        assert bytes(raw_page[it["lp_off"] + it["t_hoff"]:it["lp_off"] + it["lp_len"]]) == bytes(row["t_data"])
    vm = srv.rows("SELECT all_visible, all_frozen FROM pg_visibility_map(%s, %s)", (rel, blkno))[0]
    assert ours["vm"] == vm
    return ours


def assert_values_match_split(srv, rel, blkno, ours):
    """Each attribute's bytes (where our walk of the tuple put it) equal tuple_data_split's."""
    raw_page = srv.sql("SELECT get_raw_page(%s, %s)", (rel, blkno)).fetchone()[0]
    splits = {r["lp"]: r["parts"] for r in srv.rows(
        "SELECT lp, tuple_data_split(%s::regclass, t_data, t_infomask, t_infomask2, t_bits) AS parts "
        "FROM heap_page_items(get_raw_page(%s, %s)) WHERE t_data IS NOT NULL", (rel, rel, blkno))}
    checked = 0
    for it in ours["items"]:
        if it["lp"] not in splits:
            continue
        parts = splits[it["lp"]]
        base = it["lp_off"] + it["t_hoff"]
        ours_bytes = [None if v.get("null") or v.get("missing") else
                      bytes(raw_page[base + v["offset"]:base + v["offset"] + v["size"]]) for v in it["values"]]
        assert ours_bytes[:len(parts)] == [None if p is None else bytes(p) for p in parts], f"lp {it['lp']}"
        checked += 1
    return checked


def live_values(srv, rel, columns):
    """{ctid: {column: text}} for the visible rows, as the server prints them."""
    cols = ", ".join(f"{c}::text AS {c}" for c in columns)
    return {r.pop("ctid"): r for r in srv.rows(f"SELECT ctid::text AS ctid, {cols} FROM {rel}")}


def as_text(v):
    value = v.get("value")
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def assert_live_values(srv, rel, blkno, ours, columns):
    live = live_values(srv, rel, columns)
    seen = 0
    for it in ours["items"]:
        ctid = f"({blkno},{it['lp']})"
        if ctid not in live:
            continue
        shown = [v for v in it["values"] if v["name"] in columns]
        inline = {v["name"]: as_text(v) for v in shown if "toast" not in v and "compressed" not in v}
        assert inline == {k: live[ctid][k] for k in inline}, ctid
        assert len(inline) + sum(1 for v in shown if "toast" in v or "compressed" in v) == len(columns)
        seen += 1
    assert seen == len([c for c in live if c.startswith(f"({blkno},")])


# ---- heap ---------------------------------------------------------------------------------

COLUMNS = ("id", "v", "small", "big", "flag", "price", "born", "at", "tag", "note", "c1", "c2", "c3", "c4", "c5",
           "c6", "c7", "c8", "c9")


@pytest.fixture(scope="module")
def heap(server):
    server.sql("DROP TABLE IF EXISTS h")
    server.sql("""CREATE TABLE h (id int PRIMARY KEY, v int, gone text, small int2, big int8, flag bool,
                  price numeric, born date, at timestamptz, tag uuid, note text,
                  c1 int, c2 text, c3 int, c4 text, c5 int, c6 text, c7 int, c8 text, c9 int)
                  WITH (autovacuum_enabled = off, fillfactor = 50)""")
    server.sql("ALTER TABLE h ALTER COLUMN note SET STORAGE EXTERNAL")   # a long note goes out of line as-is
    server.sql("""INSERT INTO h SELECT g, g * 10, 'dropped ' || g, g::int2, g * 100000000000, g % 2 = 0,
                  g * 1.25 - 3, date '2024-02-28' + g, timestamptz '2024-01-01 00:00:00+00' + g * interval '90 min',
                  ('00000000-0000-0000-0000-00000000000' || g)::uuid, 'note ' || g,
                  CASE WHEN g % 2 = 0 THEN g END, CASE WHEN g % 3 = 0 THEN 'x' END, NULL, 'four', NULL,
                  NULL, g, NULL, NULL
                  FROM generate_series(1, 9) g""")
    server.sql("INSERT INTO h (id, v, note) VALUES (10, 100, repeat('long text ', 500))")    # TOAST, uncompressed
    server.sql("INSERT INTO h (id, v, c2) VALUES (11, 110, repeat('z', 3000))")             # compressed inline
    server.sql("ALTER TABLE h DROP COLUMN gone")
    server.sql("ALTER TABLE h ADD COLUMN extra int DEFAULT 7")    # old tuples lack it: the missing value
    return "h"


def test_insert_every_field_and_value_equals_pageinspect(server, heap):
    ours = assert_heap_page_matches(server, heap, 0)
    assert assert_values_match_split(server, heap, 0, ours) == 11
    assert_live_values(server, heap, 0, ours, COLUMNS + ("extra",))
    first = ours["items"][0]
    assert [v["name"] for v in first["values"]][:3] == ["id", "v", "........pg.dropped.3........"]
    assert first["values"][2]["dropped"] is True
    assert first["values"][-1] == {"name": "extra", "type": "integer", "missing": True, "value": "7"}
    toast = ours["items"][9]["values"][10]
    assert (toast["name"], toast["varlena"], toast["toast"]["va_rawsize"] - 4) == ("note", "toast", 5000)
    compressed = ours["items"][10]["values"][12]
    assert (compressed["name"], compressed["varlena"], compressed["compressed"]["rawsize"]) == ("c2", "compressed",
                                                                                               3000)


def test_hot_update_chain_and_non_hot_update(server, heap):
    server.sql("UPDATE h SET v = v + 1 WHERE id = 1")          # HOT: v is not indexed
    server.sql("UPDATE h SET id = 100 WHERE id = 2")           # not HOT: the key changes
    ours = assert_heap_page_matches(server, heap, 0)
    one, two = ours["items"][0], ours["items"][1]
    hot_new, moved = ours["items"][11], ours["items"][12]
    assert (one["hot_updated"], one["next"], hot_new["heap_only"], hot_new["t_xmin"]) == \
           (True, 12, True, one["t_xmax"])
    assert (two["hot_updated"], two["t_ctid"], moved["heap_only"], "HEAP_KEYS_UPDATED" in two["raw_flags"]) == \
           (False, "(0,13)", False, True)
    assert_live_values(server, heap, 0, ours, COLUMNS)


def test_delete_then_vacuum_frees_and_sets_the_vm(server, heap):
    server.sql("DELETE FROM h WHERE id = 3")
    ours = assert_heap_page_matches(server, heap, 0)
    assert ours["items"][2]["t_xmax"] != 0
    server.sql("VACUUM h")
    ours = assert_heap_page_matches(server, heap, 0)
    assert [it["state"] for it in ours["items"][:3]] == ["redirect", "unused", "unused"]
    assert ours["items"][0]["redirect_to"] == 12
    assert ours["vm"]["all_visible"] is True
    assert "PD_ALL_VISIBLE" in ours["header"]["flag_names"]
    # plain VACUUM may freeze too (16+ does when it costs no extra page write): the VM says so exactly then
    normal = [it for it in ours["items"] if it["state"] == "normal"]
    assert ours["vm"]["all_frozen"] == all("HEAP_XMIN_FROZEN" in it["combined_flags"] for it in normal)


def test_vacuum_freeze_marks_tuples_frozen(server, heap):
    server.sql("VACUUM FREEZE h")
    ours = assert_heap_page_matches(server, heap, 0)
    assert ours["vm"] == {"all_visible": True, "all_frozen": True}
    normal = [it for it in ours["items"] if it["state"] == "normal"]
    assert [it["lp"] for it in normal if "HEAP_XMIN_FROZEN" not in it["combined_flags"]] == []


def test_every_block_of_a_many_page_table_matches(server):
    server.sql("DROP TABLE IF EXISTS wide")
    server.sql("CREATE TABLE wide (a int, b text, c int, d text) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO wide SELECT g, CASE WHEN g % 5 > 0 THEN md5(g::text) END, "
               "CASE WHEN g % 7 > 0 THEN g END, repeat('d', g % 40) FROM generate_series(1, 600) g")
    server.sql("UPDATE wide SET c = -c WHERE a % 9 = 0")
    rel = server.rel("wide")
    assert rel.nblocks() >= 3
    for blk in range(rel.nblocks()):
        ours = assert_heap_page_matches(server, "wide", blk)
        assert_live_values(server, "wide", blk, ours, ("a", "b", "c", "d"))


TYPED = {
    "numeric": ["0", "-0.00012", "123456789012345678901234567890.123", "'NaN'", "1e-20", "100000000", "-5",
                "0.5000"],
    "date": ["'2024-02-29'", "'infinity'", "'-infinity'", "'0044-03-15 BC'", "'1999-12-31'"],
    "timestamp": ["'2000-01-01 00:00:00'", "'1970-01-01 00:00:00.000001'", "'infinity'", "'2038-01-19 03:14:07.5'",
                  "'1999-12-31 23:59:59.999999'"],
    "int8": ["-9223372036854775808", "9223372036854775807", "0"],
    "int2": ["-32768", "32767"],
    "uuid": ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    "varchar(20)": ["'quote \" and \\ back'", "'ünïcødé ✓'", "E'tab\\tnewline\\n'"],
    "bpchar(6)": ["'abcdef'"],
    "oid": ["4294967295"],
    "bool": ["true", "false"],
}


@pytest.mark.parametrize("sqltype", list(TYPED))
def test_common_types_print_as_the_server_prints_them(server, sqltype):
    name = "ty_" + sqltype.split("(")[0]
    server.sql(f"DROP TABLE IF EXISTS {name}")
    server.sql(f"CREATE TABLE {name} (x {sqltype}) WITH (autovacuum_enabled = off)")
    for literal in TYPED[sqltype]:
        server.sql(f"INSERT INTO {name} VALUES ({literal})")
    ours = server.page(name, 0)
    assert_live_values(server, name, 0, ours, ("x",))
    assert len(ours["items"]) == len(TYPED[sqltype])


# ---- B-tree -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def btrees(server):
    server.sql("DROP TABLE IF EXISTS bt")
    server.sql("CREATE TABLE bt (k int, wide text, n int) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO bt SELECT g % 13, lpad(g::text, 400, 'w'), CASE WHEN g % 4 > 0 THEN g END "
               "FROM generate_series(1, 9000) g")
    server.sql("CREATE INDEX bt_dedup ON bt (k)")             # posting lists
    server.sql("CREATE INDEX bt_deep ON bt (wide)")           # wide keys: few per page, several levels
    server.sql("CREATE INDEX bt_nulls ON bt (n, k)")          # NULL keys, two columns
    server.sql("DELETE FROM bt WHERE k = 5")
    server.sql("SET enable_seqscan = off")
    server.sql("SET enable_bitmapscan = off")
    server.sql("SELECT count(*) FROM bt WHERE k = 5")         # an index scan sets LP_DEAD on what it finds dead
    server.sql("RESET enable_seqscan")
    server.sql("RESET enable_bitmapscan")
    return ("bt_dedup", "bt_deep", "bt_nulls")


def assert_btree_matches(srv, index):
    rel = srv.rel(index)
    result = inspect_mod.decode(srv.lay, rel, list(range(rel.nblocks())))
    meta = srv.rows("SELECT * FROM bt_metap(%s)", (index,))[0]
    if "oldest_xact" in meta:                  # 13: an xid, which psycopg reads as text
        meta["oldest_xact"] = int(meta["oldest_xact"])
    assert {k: result["meta"][k] for k in meta} == meta
    for page in result["pages"]:
        blk = page["block"]
        stats = srv.rows("SELECT * FROM bt_page_stats(%s, %s)", (index, blk))[0]
        if "btpo" in stats:                      # 13 calls the level btpo (a union with the xact)
            stats["btpo_level"] = stats.pop("btpo")
        assert {k: page["stats"][k] for k in stats} == stats, f"block {blk}"
        items = srv.rows("SELECT itemoffset, ctid::text AS ctid, itemlen, nulls, vars, data, dead, "
                         "htid::text AS htid, tids::text[] AS tids FROM bt_page_items(%s, %s)", (index, blk))
        assert len(page["items"]) == len(items)
        for it, row in zip(page["items"], items):
            assert {k: it[k] for k in row} == row, f"block {blk} item {row['itemoffset']}"
    return result


def test_btree_pages_equal_pageinspect(server, btrees):
    deep = assert_btree_matches(server, "bt_deep")
    assert deep["meta"]["level"] >= 2
    levels = {p["stats"]["btpo_level"] for p in deep["pages"]}
    assert levels == set(range(deep["meta"]["level"] + 1))
    dedup = assert_btree_matches(server, "bt_dedup")
    postings = [it for p in dedup["pages"] for it in p["items"] if it.get("tids")]
    assert postings and all(len(it["tids"]) > 1 for it in postings)
    assert sum(len(it["tids"]) for it in postings) > 9000 * 0.9
    nulls = assert_btree_matches(server, "bt_nulls")
    null_keys = [it for p in nulls["pages"] for it in p["items"] if it.get("nulls")]
    assert null_keys and all(it["keys"][0].get("null") for it in null_keys)


def test_btree_keys_decode_to_the_indexed_values(server, btrees):
    result = inspect_mod.decode(server.lay, server.rel("bt_deep"), [None])   # the root
    root = result["pages"][0]
    assert root["stats"]["type"] == "r"
    assert root["items"][0]["keys"][0]["truncated"] is True       # the root's first item: minus infinity
    expected = [row[0] for row in server.sql(
        "SELECT wide FROM bt ORDER BY wide LIMIT 3").fetchall()]
    first_leaf = next(p for p in inspect_mod.decode(server.lay, server.rel("bt_deep"),
                                                    list(range(server.rel("bt_deep").nblocks())))["pages"]
                      if p["stats"]["type"] == "l" and p["stats"]["btpo_prev"] == 0)
    keys = [it["keys"][0]["value"] for it in first_leaf["items"] if not it["high_key"]][:3]
    assert keys == expected


# ---- refusals -----------------------------------------------------------------------------

def test_refusals_name_the_problem(server):
    server.sql("CREATE TEMP TABLE tmp_t (a int)")
    server.sql("CREATE UNLOGGED TABLE IF NOT EXISTS unl (a int)")
    server.sql("CREATE OR REPLACE VIEW vw AS SELECT 1 AS one")
    server.sql("CREATE TABLE IF NOT EXISTS spots (p point)")
    server.sql("CREATE INDEX IF NOT EXISTS spots_gist ON spots USING gist (p)")
    server.sql("CREATE TABLE IF NOT EXISTS empty_t (a int)")
    expected = {
        "no_such": "no relation 'no_such' in database postgres: check the name",
        "tmp_t": "is a temporary relation",
        "unl": "public.unl is unlogged",
        "vw": "public.vw is a view; inspect reads heap tables and B-tree, GIN, BRIN and hash indexes",
        "spots_gist": "public.spots_gist is a gist index; inspect reads heap tables and B-tree, GIN, BRIN and "
                      "hash indexes",
    }
    for name, words in expected.items():
        with pytest.raises(InspectError) as exc:
            server.rel(name)
        assert words in str(exc.value)
    with pytest.raises(InspectError, match=r"^public.empty_t is empty \(0 blocks on disk\)"):
        inspect_mod.choose_blocks(server.rel("empty_t"))
    with pytest.raises(InspectError, match=r"^block 7 is past the end of public.h: it has 1 block \(0..0\)$"):
        inspect_mod.choose_blocks(server.rel("h"), 7)


def _copy_of(server, name, tmp_path):
    """A Relation over a private copy of NAME's file: damage it without touching the cluster."""
    rel = server.rel(name)
    copy = tmp_path / "copy"
    shutil.copyfile(rel.path, copy)
    return replace(rel, path=copy, datadir=tmp_path), copy


def test_a_truncated_file_is_refused(server, heap, tmp_path):
    rel, copy = _copy_of(server, heap, tmp_path)
    original = server.rel(heap).path.read_bytes()
    with open(copy, "r+b") as f:
        f.truncate(5000)
    with pytest.raises(InspectError, match=r"is 5000 bytes, not a whole number of 8192-byte pages"):
        inspect_mod.choose_blocks(rel)
    assert server.rel(heap).path.read_bytes() == original


def test_random_bytes_are_refused(server, heap, tmp_path):
    rel, copy = _copy_of(server, heap, tmp_path)
    copy.write_bytes(random.Random(7).randbytes(8192))
    with pytest.raises(InspectError, match=r"^block 0 of public.h is not a valid page: "):
        inspect_mod.decode(server.lay, rel, inspect_mod.choose_blocks(rel))


def test_a_bad_checksum_is_refused(server, heap, tmp_path):
    rel, copy = _copy_of(server, heap, tmp_path)
    data = bytearray(copy.read_bytes())
    data[-100] ^= 0xFF                        # a byte of the last tuple
    copy.write_bytes(bytes(data))
    rel = replace(rel, checksums=True)        # as on a cluster initialized with data checksums
    with pytest.raises(InspectError, match=r"^block 0 of public.h is not a valid page: checksum \d+ but the bytes "
                                           r"give \d+$"):
        inspect_mod.decode(server.lay, rel, [0])


def test_the_svg_draws_one_box_per_line_pointer(server, heap):
    from pglab.inspect.render import svg as svg_render

    result = inspect_mod.decode(server.lay, server.rel(heap), [0])
    root = ET.fromstring(svg_render.render_svg(result))
    groups = list(root.iter("{http://www.w3.org/2000/svg}g"))
    lps = [g for g in groups if "lp" in g.get("class", "").split()]
    tuples = [g for g in groups if "tuple" in g.get("class", "").split()]
    items = result["pages"][0]["items"]
    assert [int(g.get("data-lp")) for g in lps] == [it["lp"] for it in items]
    assert [int(g.get("data-lp")) for g in tuples] == [it["lp"] for it in items if it["lp_len"] > 0
                                                       and it["state"] in ("normal", "dead")]


# ---- the command --------------------------------------------------------------------------

@pytest.fixture
def named(settings, default_build, tmp_path):
    name = f"inspect-test-{os.getpid()}"
    cl = Cluster.named(settings, default_build, name)
    cl.init()
    cl.start()
    try:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            c.execute("CREATE EXTENSION pageinspect")
            c.execute("CREATE TABLE t (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off)")
            c.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 3) g")
        yield cl, name
    finally:
        cl.stop()
        shutil.rmtree(cl.base, ignore_errors=True)


def test_watch_shows_the_hot_chain_then_the_pruned_page(named, default_build, tmp_path):
    cl, name = named
    out = tmp_path / "steps.json"
    done = invoke("inspect", "t", "--name", name, "--pg", default_build.id, "--format", "json", "--out", str(out),
                  "--watch", "UPDATE t SET v = v + 1 WHERE id = 1; VACUUM t")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"wrote 2 steps to {out}"
    before, update, vacuum = json.loads(out.read_text())
    assert [s["sql"] for s in (before, update, vacuum)] == [None, "UPDATE t SET v = v + 1 WHERE id = 1", "VACUUM t"]
    old, new = update["result"]["pages"][0]["items"][0], update["result"]["pages"][0]["items"][3]
    assert (old["t_xmax"], old["hot_updated"], old["next"], old["t_ctid"]) == (new["t_xmin"], True, 4, "(0,4)")
    assert (new["heap_only"], [v["value"] for v in new["values"]]) == (True, [1, 2])
    assert f"lp 1: t_xmax 0 → {new['t_xmin']}" in update["changes"]
    assert f"lp 4: new normal tuple xmin {new['t_xmin']} (heap-only)" in update["changes"]
    pruned = vacuum["result"]["pages"][0]["items"]
    assert [(it["lp"], it["state"]) for it in pruned] == [(1, "redirect"), (2, "normal"), (3, "normal"),
                                                         (4, "normal")]
    assert "lp 1: normal tuple xmin %d, xmax %d → redirect → lp 4" % (old["t_xmin"], old["t_xmax"]) \
        in vacuum["changes"]
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        theirs = c.execute("SELECT lp, lp_flags, lp_off, t_xmin::text::int8, t_xmax::text::int8 "
                           "FROM heap_page_items(get_raw_page('t', 0)) ORDER BY lp").fetchall()
    assert [(it["lp"], it["lp_flags"], it["lp_off"], it.get("t_xmin"), it.get("t_xmax")) for it in pruned] == \
           [tuple(r) for r in theirs]


def test_watch_html_is_one_page_with_a_step_per_statement(named, default_build, tmp_path):
    cl, name = named
    out = tmp_path / "steps.html"
    done = invoke("inspect", "t", "--name", name, "--pg", default_build.id, "--format", "html", "--out", str(out),
                  "--watch", "UPDATE t SET v = 0; VACUUM FREEZE t")
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.count('type="range"') == 1 and 'max="2"' in page


def test_text_output_fits_80_columns_and_errors_are_one_line(named, default_build):
    cl, name = named
    done = invoke("inspect", "t", "--name", name, "--pg", default_build.id)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"public.t  block 0 of 1  (heap, {default_build.id})"
    assert max(len(line) for line in lines) <= 80
    bad = invoke("inspect", "t", "--name", name, "--pg", default_build.id, "--block", "3")
    assert (bad.returncode, bad.stderr.strip()) == (1, "error: block 3 is past the end of public.t: it has 1 block "
                                                       "(0..0)")
    assert bad.stdout == ""

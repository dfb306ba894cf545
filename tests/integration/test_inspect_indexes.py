"""GIN, BRIN and hash index pages against pageinspect on every built major: every page's
fields equal gin_metapage_info, gin_page_opaque_info, gin_leafpage_items, brin_metapage_info,
brin_revmap_data, brin_page_items, hash_page_type, hash_metapage_info, hash_page_stats,
hash_page_items and hash_bitmap_info; every line pointer equals heap_page_items' reading of
it; and what pageinspect has no function for (GIN's entry tree and pending list) equals the
table itself: each key leads to exactly the rows whose column holds it."""

from collections import defaultdict

import psycopg
import pytest

from pglab import inspect as inspect_mod
from pglab.cluster import Cluster
from pglab.errors import InspectError
from pglab.pg.builds import find_build
from tests.conftest import built_ids
from tests.integration.test_inspect import Server, as_text


@pytest.fixture(scope="module", params=built_ids())
def server(request, settings):
    build = request.getfixturevalue("default_build") if request.param == "default" else \
        find_build(settings, request.param)
    with Cluster.throwaway(settings, build, template=True) as cl:
        srv = Server(cl, settings)
        srv.sql("CREATE EXTENSION pageinspect")
        yield srv
        srv.conn.close()


def decode_all(srv, index):
    rel = srv.rel(index)
    return inspect_mod.decode(srv.lay, rel, list(range(rel.nblocks())))


def assert_line_pointers_match(srv, index, page):
    theirs = srv.rows("SELECT lp, lp_off, lp_flags, lp_len FROM heap_page_items(get_raw_page(%s, %s)) ORDER BY lp",
                      (index, page["block"]))
    assert [(it["itemoffset"], it["lp_off"], it["lp_flags"], it["lp_len"]) for it in page["items"]] == \
           [(r["lp"], r["lp_off"], r["lp_flags"], r["lp_len"]) for r in theirs], f"block {page['block']}"


# ---- GIN ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gin(server):
    server.sql("DROP TABLE IF EXISTS gt")
    server.sql("CREATE TABLE gt (id int, tags int[], words text[]) WITH (autovacuum_enabled = off)")
    # keys 0 and 1 are in 6,000 rows each: posting trees; 100..599 in 24 rows, 1000 + id in one
    # row each: posting lists in the entry tuple
    server.sql("INSERT INTO gt SELECT g, ARRAY[g % 2, 100 + g % 500, 1000 + g], ARRAY['w' || (g % 40), 'all'] "
               "FROM generate_series(1, 12000) g")
    server.sql("CREATE INDEX gt_tags ON gt USING gin (tags) WITH (fastupdate = on)")
    server.sql("CREATE INDEX gt_two ON gt USING gin (tags, words) WITH (fastupdate = on)")
    # after the build, with fastupdate: these wait in the pending list (a NULL element: a null
    # key; a NULL array: a null item; an empty one: an empty item)
    server.sql("INSERT INTO gt VALUES (20001, ARRAY[3, NULL], ARRAY['new']), (20002, NULL, NULL), "
               "(20003, '{}', '{}'), (20004, ARRAY[5, 77777], ARRAY['all'])")
    return ("gt_tags", "gt_two")


def expected_gin_keys(srv, columns):
    """{(attnum, category, key): sorted ctids}: what each column's rows say the index holds."""
    out = defaultdict(set)
    for attnum, col in enumerate(columns, 1):
        for r in srv.rows(f"SELECT ctid::text AS ctid, {col} AS arr FROM gt"):
            arr = r["arr"]
            if arr is None:
                out[(attnum, "null item", None)].add(r["ctid"])
            elif not arr:
                out[(attnum, "empty item", None)].add(r["ctid"])
            else:
                for key in arr:
                    out[(attnum, "null key", None) if key is None else (attnum, "norm key", str(key))].add(r["ctid"])
    return {k: sorted(v) for k, v in out.items()}


def gin_keys(result):
    """The same, read from our decode: entry-tree posting lists, posting trees, the pending list."""
    pages = {p["block"]: p for p in result["pages"]}

    def tree_tids(blk):
        page = pages[blk]
        if page["type"] == "posting leaf":
            return [t for seg in page["segments"] for t in seg["tids"]]
        return [t for it in page["items"] for t in tree_tids(it["child"])]

    out = defaultdict(set)
    for page in result["pages"]:
        if page.get("type") not in ("entry leaf", "pending"):
            continue
        for it in page["items"]:
            key = as_text(it["keys"][0]) if it["category"] == "norm key" else None
            where = (it["attnum"], it["category"], key)
            if page["type"] == "pending":
                out[where].add(it["ctid"])
            elif "posting_tree" in it:
                out[where].update(tree_tids(it["posting_tree"]))
            else:
                out[where].update(it["tids"])
    return {k: sorted(v) for k, v in out.items()}


def assert_gin_matches_pageinspect(srv, index):
    result = decode_all(srv, index)
    meta = srv.rows("SELECT * FROM gin_metapage_info(get_raw_page(%s, 0))", (index,))[0]
    assert result["pages"][0]["meta"] == meta
    for page in result["pages"]:
        blk = page["block"]
        opaque = srv.rows("SELECT * FROM gin_page_opaque_info(get_raw_page(%s, %s))", (index, blk))[0]
        assert {k: page["opaque"][k] for k in ("rightlink", "maxoff")} == \
               {k: opaque[k] for k in ("rightlink", "maxoff")}, f"block {blk}"
        assert page["opaque"]["flag_names"] == opaque["flags"], f"block {blk}"
        if page["type"] == "posting leaf":
            items = srv.rows("SELECT first_tid::text AS first_tid, nbytes, tids::text[] AS tids "
                             "FROM gin_leafpage_items(get_raw_page(%s, %s))", (index, blk))
            assert [{k: s[k] for k in ("first_tid", "nbytes", "tids")} for s in page["segments"]] == items
        if page["type"] in ("entry leaf", "entry internal", "pending"):
            assert_line_pointers_match(srv, index, page)
    return result


def test_gin_pages_equal_pageinspect_and_keys_lead_to_their_rows(server, gin):
    one = assert_gin_matches_pageinspect(server, "gt_tags")
    types = {p["type"] for p in one["pages"]}
    assert {"meta", "entry internal", "entry leaf", "posting leaf", "pending"} <= types
    assert one["pages"][0]["meta"]["n_pending_tuples"] == 4
    assert gin_keys(one) == expected_gin_keys(server, ["tags"])
    trees = [it for p in one["pages"] if p["type"] == "entry leaf" for it in p["items"] if "posting_tree" in it]
    assert sorted(as_text(it["keys"][0]) for it in trees) == ["0", "1"]
    two = assert_gin_matches_pageinspect(server, "gt_two")
    assert gin_keys(two) == expected_gin_keys(server, ["tags", "words"])


def test_gin_posting_tree_internal_pages_lead_to_its_leaves(server):
    server.sql("DROP TABLE IF EXISTS gbig")
    server.sql("CREATE TABLE gbig (tags int[]) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO gbig SELECT ARRAY[1] FROM generate_series(1, 300000)")   # one key, a deep tree
    server.sql("CREATE INDEX gbig_tags ON gbig USING gin (tags)")
    result = assert_gin_matches_pageinspect(server, "gbig_tags")
    internal = [p for p in result["pages"] if p["type"] == "posting internal"]
    assert internal
    leaves = {p["block"] for p in result["pages"] if p["type"] == "posting leaf"}
    assert {it["child"] for p in internal for it in p["items"]} <= leaves | {p["block"] for p in internal}
    assert sum(len(s["tids"]) for p in result["pages"] if p["type"] == "posting leaf" for s in p["segments"]) \
        == 300000


# ---- BRIN -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def brin(server):
    server.sql("DROP TABLE IF EXISTS br")
    server.sql("CREATE TABLE br (id int, at timestamptz, addr inet, note text) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO br SELECT g, timestamptz '2024-01-01 00:00+00' + g * interval '1 min', "
               "('10.0.' || (g / 250) || '.' || (g % 250))::inet, "
               "CASE WHEN g > 3000 THEN NULL WHEN g % 2 = 0 THEN 'n' || g END FROM generate_series(1, 5000) g")
    # an inclusion summary (3 values) first: the minmax values after it are found by walking past it
    server.sql("CREATE INDEX br_brin ON br USING brin (addr inet_inclusion_ops, id, at, note) "
               "WITH (pages_per_range = 4)")
    server.sql("UPDATE br SET id = -5 WHERE id = 10")          # the last range's summary widens
    server.sql("INSERT INTO br SELECT g, now(), '192.168.0.1', 'late' FROM generate_series(5001, 7000) g")
    server.sql("SELECT brin_summarize_new_values('br_brin')")
    indexes = ["br_brin"]
    if server.lay.version_num >= 140000:         # bloom and minmax-multi opclasses came in 14
        server.sql("CREATE INDEX br_more ON br USING brin (id int4_bloom_ops, at timestamptz_minmax_multi_ops, id) "
                   "WITH (pages_per_range = 4)")
        indexes.append("br_more")
    return indexes


def brin_rows(srv, index, blk):
    cols = "itemoffset, blknum, attnum, allnulls, hasnulls, placeholder, value" + \
        (", empty" if srv.lay.version_num >= 160000 else "")
    return srv.rows(f"SELECT {cols} FROM brin_page_items(get_raw_page(%s, %s), %s::regclass) "
                    "ORDER BY itemoffset, attnum", (index, blk, index))


def test_brin_pages_equal_pageinspect(server, brin):
    for index in brin:
        result = decode_all(server, index)
        meta = server.rows("SELECT * FROM brin_metapage_info(get_raw_page(%s, 0))", (index,))[0]
        assert result["pages"][0]["meta"] == meta
        types = [server.sql("SELECT brin_page_type(get_raw_page(%s, %s))", (index, p["block"])).fetchone()[0]
                 for p in result["pages"]]
        assert [p["type"] for p in result["pages"]] == types
        compared = 0
        for page in result["pages"]:
            blk = page["block"]
            if page["type"] == "revmap":
                tids = [r[0] for r in server.sql("SELECT pages::text FROM brin_revmap_data(get_raw_page(%s, %s))",
                                                 (index, blk)).fetchall()]
                assert page["revmap"] == tids
            if page["type"] != "regular":
                continue
            assert_line_pointers_match(server, index, page)
            ours = [(it, col) for it in page["items"] for col in it["columns"]]
            theirs = brin_rows(server, index, blk)
            assert len(ours) == len(theirs)
            for (it, col), row in zip(ours, theirs):
                mine = {"itemoffset": it["itemoffset"], "blknum": it["blknum"], "attnum": col["attnum"],
                        "allnulls": col["allnulls"], "hasnulls": col["hasnulls"], "placeholder": it["placeholder"]}
                if "empty" in row:
                    mine["empty"] = it["empty"]
                assert mine == {k: v for k, v in row.items() if k != "value"}, f"block {blk} {mine}"
                assert (row["value"] is None) == col["allnulls"]
                if col["allnulls"]:
                    continue
                parts = row["value"][1:-1].split(" .. ")
                if col["values"] is None or any(v["type"].startswith("pg_brin") for v in col["values"]):
                    continue    # a bloom or minmax-multi summary: its bytes, not decoded
                assert len(col["values"]) == len(parts)
                for v, text in zip(col["values"], parts):
                    if v["type"] == "inet":           # not decoded: its varlena's bytes as hex
                        assert v["value"].startswith("\\x")
                        continue
                    if v["type"] == "boolean":            # boolout's t and f
                        text = {"t": "true", "f": "false"}[text]
                    assert as_text(v) == text, f"block {blk} item {it['itemoffset']} {v['name']}"
                    compared += 1
        assert compared > 10


# ---- hash -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hashed(server):
    server.sql("DROP TABLE IF EXISTS hs")
    server.sql("CREATE TABLE hs (k int, v text) WITH (autovacuum_enabled = off)")
    server.sql("INSERT INTO hs SELECT g % 40, 'v' FROM generate_series(1, 30000) g")   # 750 a key: overflow pages
    server.sql("CREATE INDEX hs_hash ON hs USING hash (k)")
    return "hs_hash"


def assert_hash_matches(srv, index):
    result = decode_all(srv, index)
    pages = result["pages"]
    types = [srv.sql("SELECT hash_page_type(get_raw_page(%s, %s))", (index, p["block"])).fetchone()[0]
             for p in pages]
    assert [p["type"] for p in pages] == types
    meta = srv.rows("SELECT * FROM hash_metapage_info(get_raw_page(%s, 0))", (index,))[0]
    assert pages[0]["meta"] == meta
    for page in pages[1:]:
        blk = page["block"]
        if page["type"] in ("bucket", "overflow"):
            stats = srv.rows("SELECT * FROM hash_page_stats(get_raw_page(%s, %s))", (index, blk))[0]
            assert page["stats"] == stats, f"block {blk}"
            items = srv.rows("SELECT itemoffset, ctid::text AS ctid, data FROM hash_page_items(get_raw_page(%s, %s))",
                             (index, blk))
            assert [{"itemoffset": it["itemoffset"], "ctid": it["ctid"], "data": it["data"]} for it in page["items"]] \
                == items, f"block {blk}"
            assert_line_pointers_match(srv, index, page)
        if page["type"] in ("overflow", "unused"):
            try:
                with srv.conn.transaction():
                    bit = srv.rows("SELECT * FROM hash_bitmap_info(%s, %s)", (index, blk))[0]
            except psycopg.errors.InvalidParameterValue:
                bit = None                   # a bucket page not used yet
            assert page["bitmap"] == bit, f"block {blk}"
    return result


def test_hash_pages_equal_pageinspect(server, hashed):
    result = assert_hash_matches(server, hashed)
    overflow = [p for p in result["pages"] if p["type"] == "overflow"]
    assert overflow and all(p["bitmap"]["bitstatus"] for p in overflow)
    # dead items: an index scan marks the index tuples of deleted rows LP_DEAD
    server.sql("DELETE FROM hs WHERE k = 7")
    server.sql("SET enable_seqscan = off")
    server.sql("SET enable_bitmapscan = off")
    server.sql("SELECT count(*) FROM hs WHERE k = 7")
    server.sql("RESET enable_seqscan")
    server.sql("RESET enable_bitmapscan")
    result = assert_hash_matches(server, hashed)
    assert sum(p["stats"]["dead_items"] for p in result["pages"] if "stats" in p) > 0
    # VACUUM squeezes the bucket: overflow pages it empties are freed (their bit cleared)
    server.sql("DELETE FROM hs WHERE k IN (3, 11)")
    server.sql("VACUUM hs")
    result = assert_hash_matches(server, hashed)
    bitmap = next(p for p in result["pages"] if p["type"] == "bitmap")
    freed = [p for p in result["pages"] if (p.get("bitmap") or {}).get("bitstatus") is False]
    assert freed and sorted(p["bitmap"]["bitmapbit"] for p in freed) == bitmap["bitmap"]["free"]


# ---- refusals --------------------------------------------------------------------------------

def test_other_index_types_are_refused_in_one_line(server):
    server.sql("CREATE TABLE IF NOT EXISTS shapes (p point)")
    server.sql("CREATE INDEX IF NOT EXISTS shapes_gist ON shapes USING gist (p)")
    server.sql("CREATE INDEX IF NOT EXISTS shapes_spgist ON shapes USING spgist (p)")
    for name, am in (("shapes_gist", "gist"), ("shapes_spgist", "spgist")):
        with pytest.raises(InspectError) as exc:
            server.rel(name)
        assert str(exc.value) == f"public.{name} is a {am} index; inspect reads heap tables and B-tree, GIN, " \
                                 f"BRIN and hash indexes"

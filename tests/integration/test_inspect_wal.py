"""--watch's WAL on every built major: each step's records, decoded by the build's
pg_waldump from the cluster's pg_wal, equal what pg_walinspect says of the same LSN
range (15 on: pg_get_wal_records_info, and from 16 pg_get_wal_block_info for the block
references) and, on 13, what pg_waldump prints in its one-line form; an INSERT is a Heap
INSERT on block 0 of the table's file, the first UPDATE after a CHECKPOINT carries the
page's full image and the next one none (the watch reads the pages from shared buffers,
taking no CHECKPOINT of its own); the pages it shows are those the server holds."""

import json
import os
import re
import shutil

import psycopg
import pytest

from pglab.cluster import Cluster
from pglab.inspect import buffers
from pglab.inspect import wal as wal_mod
from pglab.inspect.watch import watch
from pglab.pg.builds import find_build
from tests.conftest import built_ids, invoke
from tests.integration.test_inspect import Server

STEPS = ("INSERT INTO w VALUES (1, 1); CHECKPOINT; UPDATE w SET v = 2 WHERE id = 1; "
         "UPDATE w SET v = 3 WHERE id = 1")


@pytest.fixture(scope="module", params=built_ids())
def server(request, settings):
    build = request.getfixturevalue("default_build") if request.param == "default" else \
        find_build(settings, request.param)
    # no timed checkpoint may come between two steps
    with Cluster.throwaway(settings, build, template=True, conf={"checkpoint_timeout": "1h"}) as cl:
        srv = Server(cl, settings)
        srv.sql("CREATE EXTENSION pageinspect")
        if srv.lay.version_num >= 150000:
            srv.sql("CREATE EXTENSION pg_walinspect")
        yield srv
        srv.conn.close()


def fresh_table(srv, name="w"):
    srv.sql(f"DROP TABLE IF EXISTS {name}")
    srv.sql(f"CREATE TABLE {name} (id int, v int) WITH (autovacuum_enabled = off)")
    srv.sql(f"INSERT INTO {name} VALUES (0, 0)")
    return srv.sql(f"SELECT pg_relation_filenode('{name}')::int8").fetchone()[0]


def mine(step):
    """(rmgr, type, [(relfilenode, fork, block, fpw)]) of the step's records of the table."""
    return [(r["rmgr"], r["type"], [(b["relfilenode"], b["fork"], b["block"], b["fpw"]) for b in r["blocks"]])
            for r in step["wal"]["records"] if r["relation"]]


def hints_logged(srv):
    """Whether setting a hint bit on a page clean since the checkpoint logs its image (XLogHintBitIsNeeded)."""
    return "on" in (srv.sql("SHOW data_checksums").fetchone()[0], srv.sql("SHOW wal_log_hints").fetchone()[0])


def test_insert_then_updates_after_a_checkpoint(server, settings):
    node = fresh_table(server)
    before, insert, checkpoint, first, second = watch(settings, "w", STEPS, cluster=server.cluster)
    assert before["wal"] is None
    assert mine(insert) == [("Heap", "INSERT", [(node, "main", 0, False)])]
    assert [r["type"] for r in insert["wal"]["records"] if not r["relation"]][-1] == "COMMIT"
    assert mine(checkpoint) == []
    assert "CHECKPOINT_ONLINE" in [r["type"] for r in checkpoint["wal"]["records"]]
    if hints_logged(server):
        # the UPDATE's scan sets xmin-committed on row 0 first: the page's image goes with that hint
        assert mine(first) == [("XLOG", "FPI_FOR_HINT", [(node, "main", 0, True)]),
                               ("Heap", "HOT_UPDATE", [(node, "main", 0, False)])]
    else:
        assert mine(first) == [("Heap", "HOT_UPDATE", [(node, "main", 0, True)])]
    assert mine(second) == [("Heap", "HOT_UPDATE", [(node, "main", 0, False)])]
    assert [s["wal"]["checkpoint_before"] for s in (insert, checkpoint, first, second)] == [False] * 4
    # the page each step shows carries the LSN of its last record: the change and its record side by side
    for step in (insert, first, second):
        last = [r for r in step["wal"]["records"] if r["relation"]][-1]
        page_lsn = step["result"]["pages"][0]["header"]["lsn_int"]
        assert wal_mod.lsn_int(last["lsn"]) < page_lsn <= wal_mod.lsn_int(step["wal"]["end"])
    # the contiguous ranges: each step starts where the last one's WAL (and inspect's own flush, if any) ended
    for a, b in zip((insert, checkpoint, first), (checkpoint, first, second)):
        assert wal_mod.lsn_int(a["wal"]["end"]) <= wal_mod.lsn_int(b["wal"]["start"])


def test_without_the_servers_memory_a_checkpoint_before_each_step_gives_every_update_an_image(
        server, settings, monkeypatch):
    node = fresh_table(server)
    monkeypatch.setattr(buffers, "memory_readable", lambda pid: False)
    steps = watch(settings, "w", "UPDATE w SET v = 2 WHERE id = 0; UPDATE w SET v = 3 WHERE id = 0",
                  cluster=server.cluster)
    first, second = steps[1:]
    assert [s["wal"]["checkpoint_before"] for s in (first, second)] == [True, True]
    fpw = [[b[3] for _rmgr, _type, blocks in mine(s) for b in blocks] for s in (first, second)]
    assert [any(f) for f in fpw] == [True, True]
    assert all(b[:3] == (node, "main", 0) for s in (first, second) for _r, _t, blocks in mine(s) for b in blocks)


def walinspect_records(srv, start, end):
    rows = srv.rows("SELECT start_lsn::text AS lsn, resource_manager AS rmgr, record_type AS type, "
                    "record_length AS length, xid::text::int8 AS xid, block_ref "
                    "FROM pg_get_wal_records_info(%s, %s) ORDER BY start_lsn", (start, end))
    if srv.lay.version_num >= 160000:
        forks = {0: "main", 1: "fsm", 2: "vm", 3: "init"}
        blocks = {}
        for b in srv.rows("SELECT start_lsn::text AS lsn, block_id, reltablespace::int8 AS spc, "
                          "reldatabase::int8 AS db, relfilenode::int8 AS node, relforknumber AS fork, "
                          "relblocknumber::int8 AS blk, coalesce(block_fpi_length, 0) > 0 AS fpi FROM pg_get_wal_block_info(%s, %s) "
                          "ORDER BY start_lsn, block_id", (start, end)):
            blocks.setdefault(b["lsn"], []).append((b["block_id"], b["spc"], b["db"], b["node"], forks[b["fork"]],
                                                    b["blk"], b["fpi"]))
        return [(r["lsn"], r["rmgr"], r["type"], r["length"], r["xid"], blocks.get(r["lsn"], [])) for r in rows]
    return [(r["lsn"], r["rmgr"], r["type"], r["length"], r["xid"], block_tuples(wal_mod.parse_blocks(r["block_ref"])))
            for r in rows]


def block_tuples(blocks):
    return [(b["id"], b["spcoid"], b["dboid"], b["relfilenode"], b["fork"], b["block"], b["fpw"]) for b in blocks]


# pg_waldump's one-line form: the block references after the description, the fork named when not main
ONE_LINE = re.compile(r"^rmgr: (\S+)\s+len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+), lsn: ([0-9A-F/]+), prev \S+, "
                      r"desc: (\S+)")
ONE_LINE_BLOCK = re.compile(r"blkref #(\d+): rel (\d+)/(\d+)/(\d+)(?: fork (\w+))? blk (\d+)( FPW)?")


def waldump_one_line(srv, start, end):
    cl = srv.cluster
    done = cl.run([cl.build.bindir / "pg_waldump", "--path", cl.datadir / "pg_wal", "--start", start, "--end", end],
                  capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = []
    for line in done.stdout.splitlines():
        m = ONE_LINE.match(line)
        assert m, line
        hi, lo = m.group(4).split("/")
        blocks = [(int(b[0]), int(b[1]), int(b[2]), int(b[3]), b[4] or "main", int(b[5]), bool(b[6]))
                  for b in ONE_LINE_BLOCK.findall(line)]
        out.append((f"{int(hi, 16):X}/{int(lo, 16):X}", m.group(1), m.group(5), int(m.group(2)), int(m.group(3)),
                    blocks))
    return out


def test_the_records_equal_pg_walinspect_or_pg_waldump(server, settings):
    fresh_table(server)
    server.sql("INSERT INTO w SELECT g, g FROM generate_series(2, 400) g")
    steps = watch(settings, "w", STEPS + "; DELETE FROM w WHERE id % 3 = 0; CREATE INDEX w_id ON w (id); "
                  "VACUUM w; BEGIN; UPDATE w SET v = -v WHERE id < 5; ROLLBACK; VACUUM FULL w",
                  cluster=server.cluster)
    assert [(s["sql"], s["wal"]["records"]) for s in steps[1:] if s["wal"]["bytes"] == 0] == [("BEGIN", [])]
    kinds = set()
    for step in steps[1:]:
        w = step["wal"]
        if step["sql"] == "BEGIN":
            continue
        ours = [(r["lsn"], r["rmgr"], r["type"], r["length"], r["xid"], block_tuples(r["blocks"]))
                for r in w["records"]]
        theirs = walinspect_records(server, w["start"], w["end"]) if server.lay.version_num >= 150000 else \
            waldump_one_line(server, w["start"], w["end"])
        assert ours == theirs, step["sql"]
        kinds |= {(r["rmgr"], r["type"].split("+")[0]) for r in w["records"] if r["relation"]}
    # what the steps did to the table, its VM fork among them (VACUUM's VISIBLE)
    assert {("Heap", "INSERT"), ("Heap", "HOT_UPDATE"), ("Heap", "DELETE")} <= kinds
    assert any(b["fork"] == "vm" for s in steps[1:] for r in s["wal"]["records"] if r["relation"]
               for b in r["blocks"])
    # VACUUM FULL writes the table into a new file, page by page as full images: the new file is the table's
    full = steps[-1]["wal"]
    node = server.sql("SELECT pg_relation_filenode('w')::int8").fetchone()[0]
    assert len(full["files"]) == 2 and node in [f[2] for f in full["files"]]
    written = [(r["rmgr"], r["type"], [(b["relfilenode"], b["fork"], b["fpw"]) for b in r["blocks"]])
               for r in full["records"] if r["relation"]]
    assert written and {w[:2] for w in written} == {("XLOG", "FPI")}
    assert {b for w in written for b in w[2]} == {(node, "main", True)}


def test_the_pages_shown_are_the_servers_own(server, settings):
    """Read from shared buffers without a CHECKPOINT, the last step's page equals pageinspect's
    get_raw_page (which reads through the buffer manager), tuple by tuple."""
    fresh_table(server)
    steps = watch(settings, "w", "UPDATE w SET v = 5; INSERT INTO w VALUES (7, 7)", cluster=server.cluster)
    page = steps[-1]["result"]["pages"][0]
    theirs = server.rows("SELECT lp, lp_off, lp_len, t_xmin::text::int8 AS t_xmin, t_xmax::text::int8 AS t_xmax, "
                         "t_infomask FROM heap_page_items(get_raw_page('w', 0)) ORDER BY lp")
    assert [{k: it[k] for k in ("lp", "lp_off", "lp_len", "t_xmin", "t_xmax", "t_infomask")} for it in page["items"]] \
        == theirs
    lsn = server.sql("SELECT (lsn - '0/0')::int8 FROM page_header(get_raw_page('w', 0))").fetchone()[0]
    assert page["header"]["lsn_int"] == lsn
    assert steps[-1]["result"]["read_from"] == "shared buffers, else disk"


# ---- the command ------------------------------------------------------------------------------

@pytest.fixture
def named(settings, default_build):
    name = f"inspect-wal-{os.getpid()}"
    cl = Cluster.named(settings, default_build, name)
    cl.init()
    cl.start()
    try:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            c.execute("CREATE TABLE w (id int, v int) WITH (autovacuum_enabled = off)")
            c.execute("INSERT INTO w VALUES (0, 0)")
        yield cl, name
    finally:
        cl.stop()
        shutil.rmtree(cl.base, ignore_errors=True)


def test_the_command_shows_each_steps_records_in_text_and_json(named, default_build, tmp_path):
    cl, name = named
    done = invoke("inspect", "w", "--name", name, "--pg", default_build.id, "--watch", STEPS)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    step1 = text.split("── step 1:")[1].split("── step 2:")[0]
    assert re.search(r"^  ▶ \S+ +Heap +INSERT +\d+  blk 0$", step1, re.M), step1
    assert "+ 1 record not of public.w: COMMIT" in step1
    step3 = text.split("── step 3:")[1].split("── step 4:")[0]
    assert re.search(r"^  ▶ \S+ +\S+ +\S+ +\d+  blk 0 FPW$", step3, re.M), step3
    step4 = text.split("── step 4:")[1]
    assert re.search(r"^  ▶ \S+ +Heap +HOT_UPDATE +\d+  blk 0$", step4, re.M), step4
    assert "FPW" not in step4
    out = tmp_path / "steps.json"
    done = invoke("inspect", "w", "--name", name, "--pg", default_build.id, "--format", "json", "--out", str(out),
                  "--watch", "UPDATE w SET v = 9")
    assert done.returncode == 0, done.stderr
    before, update = json.loads(out.read_text())
    assert before["wal"] is None
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        node = c.execute("SELECT pg_relation_filenode('w')::int8").fetchone()[0]
    assert [(r["rmgr"], r["type"], [(b["relfilenode"], b["block"]) for b in r["blocks"]])
            for r in update["wal"]["records"] if r["relation"]] == [("Heap", "HOT_UPDATE", [(node, 0)])] * 2  # rows 0, 1
    page = tmp_path / "steps.html"
    done = invoke("inspect", "w", "--name", name, "--pg", default_build.id, "--format", "html", "--out", str(page),
                  "--watch", "UPDATE w SET v = 10; VACUUM w")
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert html.count('<pre class="wal">') == 2 and "▶" in html and "HOT_UPDATE" in html

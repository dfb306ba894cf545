"""--watch's WAL, its pure parts: pg_waldump's --bkp-details output and pg_walinspect's
block_ref parsed into records (13's and 17's descriptions, full-page images, a fork other
than main), the other relations' records counted in one line, and the text within 80
columns with the table's records marked."""

from pglab.inspect import wal
from pglab.inspect.render.wal import wal_lines

DUMP_17 = """\
rmgr: Heap        len (rec/tot):     65/   161, tx:        741, lsn: 0/01505EF0, prev 0/01505E78, desc: HOT_UPDATE old_xmax: 741, old_off: 1, old_infobits: [], flags: 0x60, new_xmax: 0, new_off: 2
\tblkref #0: rel 1663/5/16384 fork main blk 0 (FPW); hole: offset: 32, length: 8096
rmgr: Transaction len (rec/tot):     34/    34, tx:        741, lsn: 0/01505F98, prev 0/01505EF0, desc: COMMIT 2026-12-05 22:57:56.870215 UTC
rmgr: Heap2       len (rec/tot):     59/    59, tx:          0, lsn: 0/01505FC0, prev 0/01505F98, desc: VISIBLE snapshotConflictHorizon: 0, flags: 0x03
\tblkref #0: rel 1663/5/16384 fork vm blk 0
\tblkref #1: rel 1663/5/16384 fork main blk 0
rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/01506000, prev 0/01505FC0, desc: RUNNING_XACTS nextXid 742 latestCompletedXid 741 oldestRunningXid 742
rmgr: XLOG        len (rec/tot):     49/   109, tx:          0, lsn: 0/01506038, prev 0/01506000, desc: FPI_FOR_HINT 
\tblkref #0: rel 1663/5/16999 fork main blk 3 (FPW); hole: offset: 28, length: 8132, compression saved: 0, method: lz4
"""

DUMP_13 = """\
rmgr: Heap        len (rec/tot):     63/    63, tx:        487, lsn: 0/015E47F8, prev 0/015E4640, desc: INSERT+INIT off 1 flags 0x00
\tblkref #0: rel 1663/13466/16384 fork main blk 0
"""


def test_pg_waldump_records_and_their_block_references():
    recs = wal.parse(DUMP_17)
    assert [(r["lsn"], r["prev"], r["rmgr"], r["type"], r["xid"], r["length"], r["main_length"]) for r in recs] == [
        ("0/1505EF0", "0/1505E78", "Heap", "HOT_UPDATE", 741, 161, 65),
        ("0/1505F98", "0/1505EF0", "Transaction", "COMMIT", 741, 34, 34),
        ("0/1505FC0", "0/1505F98", "Heap2", "VISIBLE", 0, 59, 59),
        ("0/1506000", "0/1505FC0", "Standby", "RUNNING_XACTS", 0, 50, 50),
        ("0/1506038", "0/1506000", "XLOG", "FPI_FOR_HINT", 0, 109, 49)]
    assert recs[0]["desc"] == "old_xmax: 741, old_off: 1, old_infobits: [], flags: 0x60, new_xmax: 0, new_off: 2"
    assert recs[0]["blocks"] == [{"id": 0, "spcoid": 1663, "dboid": 5, "relfilenode": 16384, "fork": "main",
                                  "block": 0, "fpw": True, "hole": 8096, "fpw_applied": True}]
    assert recs[1]["blocks"] == [] and recs[4]["desc"] == ""
    assert [(b["id"], b["fork"], b["block"], b["fpw"]) for b in recs[2]["blocks"]] == [(0, "vm", 0, False),
                                                                                        (1, "main", 0, False)]
    assert (recs[4]["blocks"][0]["relfilenode"], recs[4]["blocks"][0]["hole"]) == (16999, 8132)
    one = wal.parse(DUMP_13)
    assert [(r["type"], r["desc"], r["blocks"][0]["dboid"]) for r in one] == [("INSERT+INIT", "off 1 flags 0x00",
                                                                              13466)]


def test_pg_walinspect_block_ref_and_a_verification_image():
    refs = wal.parse_blocks("blkref #0: rel 1663/5/16384 fork main blk 7 (FPW for WAL verification); hole: "
                            "offset: 40, length: 100 blkref #1: rel 1663/5/16385 fork fsm blk 2")
    assert [(r["id"], r["relfilenode"], r["fork"], r["block"], r["fpw"], r.get("fpw_applied")) for r in refs] == \
           [(0, 16384, "main", 7, True, False), (1, 16385, "fsm", 2, False, None)]
    assert wal.parse_blocks(None) == [] and wal.parse_blocks("") == []


def _step_wal():
    recs = wal.parse(DUMP_17)
    for r in recs:
        r["relation"] = any(b["relfilenode"] == 16384 for b in r["blocks"])
    return {"start": "0/1505EF0", "end": "0/15060A8", "bytes": 0x15060A8 - 0x1505EF0, "tool": "pg_waldump",
            "files": [[1663, 5, 16384]], "records": recs, "checkpoint_before": False}


def test_the_others_are_one_line_counted_by_type():
    step = _step_wal()
    assert wal.others_line(step["records"], "public.t") == \
        "+ 3 records not of public.t: COMMIT, RUNNING_XACTS, FPI_FOR_HINT"
    step["records"][3]["type"] = "COMMIT"
    assert wal.others_line(step["records"], "public.t") == "+ 3 records not of public.t: COMMIT ×2, FPI_FOR_HINT"
    assert wal.others_line(step["records"][:1], "public.t") is None


def test_the_text_marks_the_tables_records_within_80_columns():
    lines = wal_lines(_step_wal(), "public.t")
    assert lines[0] == "  WAL 0/1505EF0 → 0/15060A8: 440 bytes, 5 records, 2 of public.t (pg_waldump)"
    marked = [line for line in lines if line.startswith("  ▶ ")]
    assert marked == ["  ▶ 0/1505EF0  Heap        HOT_UPDATE          161  blk 0 FPW",
                      "  ▶ 0/1505FC0  Heap2       VISIBLE              59  vm blk 0, blk 0"]
    assert lines[-1] == "  + 3 records not of public.t: COMMIT, RUNNING_XACTS, FPI_FOR_HINT"
    assert max(len(line) for line in lines) <= 80
    assert wal_lines({"start": "0/1", "end": "0/1", "bytes": 0, "records": []}, "public.t") == \
        ["  WAL: none written (0/1)"]
    assert wal_lines(None, "public.t") == []

"""The WAL a --watch step wrote: its LSN range, and its records as the build's own
pg_waldump decodes them from the cluster's pg_wal.

pg_waldump runs as the server's account (Cluster.run), as everything that reads the
account's files does: root only parses its output.  Its records come back as dicts:

    {"lsn": "0/1505EF0", "rmgr": "Heap", "type": "HOT_UPDATE", "desc": "old_xmax: 741, ...",
     "xid": 741, "length": 161, "blocks": [{"id": 0, "spcoid": 1663, "dboid": 5, "relfilenode": 16384,
     "fork": "main", "block": 0, "fpw": True, "hole": ...}], "relation": True}

"relation" says whether a block reference names the inspected relation (any of its forks).
"""

import re

from ..errors import InspectError

INSERT_LSN = "SELECT pg_current_wal_insert_lsn()::text"
FLUSH_LSN = "SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn"
TIMELINE = "SELECT timeline_id FROM pg_control_checkpoint()"
TAG = """
SELECT (CASE WHEN c.reltablespace = 0 THEN d.dattablespace ELSE c.reltablespace END)::int8,
       CASE WHEN c.relisshared THEN 0 ELSE d.oid END::int8, pg_relation_filenode(c.oid)::int8
  FROM pg_class c, pg_database d
 WHERE c.oid = to_regclass(%s) AND d.datname = current_database()
"""

RECORD = re.compile(r"^rmgr: (?P<rmgr>\S+)\s+len \(rec/tot\):\s*(?P<rec>\d+)/\s*(?P<tot>\d+), tx:\s*(?P<xid>\d+), "
                    r"lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+), prev (?P<prev>[0-9A-F]+/[0-9A-F]+), desc: (?P<desc>.*)$")
# pg_waldump --bkp-details and pg_walinspect's block_ref (XLogRecGetBlockRefInfo's detailed format)
BLKREF = re.compile(r"blkref #(?P<id>\d+): rel (?P<spc>\d+)/(?P<db>\d+)/(?P<rel>\d+) fork (?P<fork>\w+) "
                    r"blk (?P<blk>\d+)(?P<rest>(?:(?!blkref #).)*)")
HOLE = re.compile(r"hole: offset: (\d+), length: (\d+)")


def lsn_int(lsn):
    hi, lo = lsn.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def insert_lsn(conn):
    return conn.execute(INSERT_LSN).fetchone()[0]


def tag(conn, spec):
    """(spcoid, dboid, relfilenode) of SPEC now: what its block references say; None when gone."""
    return conn.execute(TAG, (spec,)).fetchone()


def flush(conn, lsn, version_num):
    """Make sure the WAL up to LSN is on disk for pg_waldump: a step that left its transaction
    open (BEGIN) has its records in the WAL buffers only.  From 17 on, a logical message
    flushed (no transaction id taken); before, a transactional one, whose transaction (of
    inspect's own: it takes an xid) commits with a flush.  Either lies after the step's range."""
    if conn.execute(FLUSH_LSN, (lsn,)).fetchone()[0]:
        return
    if version_num >= 170000:
        conn.execute("SELECT pg_logical_emit_message(false, 'pglab inspect', '', true)")
    else:
        with conn.transaction():   # a transaction that wrote WAL commits with a flush; a bare xid's does not
            conn.execute("SET LOCAL synchronous_commit = on")
            conn.execute("SELECT pg_logical_emit_message(true, 'pglab inspect', '')")
    if not conn.execute(FLUSH_LSN, (lsn,)).fetchone()[0]:
        raise InspectError(f"the server did not flush its WAL up to {lsn}: pg_waldump cannot read it yet")


def parse_blocks(text):
    """Block references of one record, from pg_waldump -b lines or pg_walinspect's block_ref."""
    out = []
    for m in BLKREF.finditer(text or ""):
        rest = m.group("rest")
        ref = {"id": int(m.group("id")), "spcoid": int(m.group("spc")), "dboid": int(m.group("db")),
               "relfilenode": int(m.group("rel")), "fork": m.group("fork"), "block": int(m.group("blk")),
               "fpw": "(FPW" in rest}
        if ref["fpw"]:
            hole = HOLE.search(rest)
            ref["hole"] = int(hole.group(2)) if hole else 0
            ref["fpw_applied"] = "for WAL verification" not in rest
        out.append(ref)
    return out


def parse(text):
    """pg_waldump --bkp-details output → records (each block reference on its own line)."""
    records = []
    for line in text.splitlines():
        m = RECORD.match(line)
        if m:
            kind, _, desc = m.group("desc").partition(" ")
            records.append({"lsn": _norm(m.group("lsn")), "prev": _norm(m.group("prev")), "rmgr": m.group("rmgr"),
                            "type": kind, "desc": desc.strip(), "xid": int(m.group("xid")),
                            "length": int(m.group("tot")), "main_length": int(m.group("rec")), "blocks": []})
        elif line.startswith("\tblkref #"):
            if not records:
                raise InspectError(f"pg_waldump printed a block reference before any record: {line.strip()}")
            records[-1]["blocks"] += parse_blocks(line)
    return records


def _norm(lsn):
    """0/01505EF0 (pg_waldump's) → 0/1505EF0 (the server's pg_lsn text)."""
    hi, lo = lsn.split("/")
    return f"{int(hi, 16):X}/{int(lo, 16):X}"


def waldump(cluster, start, end=None, timeline=1, limit=None):
    """The records from START up to END (or LIMIT of them) in CLUSTER's pg_wal, by the build's
    pg_waldump run as the server's account."""
    cmd = [cluster.build.bindir / "pg_waldump", "--bkp-details", "--timeline", str(timeline),
           "--path", cluster.datadir / "pg_wal", "--start", start,
           *(["--end", end] if end is not None else []), *(["--limit", str(limit)] if limit is not None else [])]
    done = cluster.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        err = (done.stderr.strip().splitlines() or ["no message"])[-1]
        upto = f"to {end}" if end is not None else f"on ({limit} record(s))"
        raise InspectError(f"pg_waldump could not read the WAL from {start} {upto}: {err}")
    return parse(done.stdout)


def step_wal(conn, cluster, lay, start, end, tags):
    """What one step wrote: {"start", "end", "bytes", "tool", "files", "records"}; TAGS: the
    inspected relation's (spcoid, dboid, relfilenode) before and after the step (a TRUNCATE or
    VACUUM FULL gives it a new file), kept as "files"."""
    mine = {tuple(t) for t in tags if t is not None}
    result = {"start": start, "end": end, "bytes": lsn_int(end) - lsn_int(start), "tool": "pg_waldump",
              "files": [list(t) for t in sorted(mine)], "records": []}
    if lsn_int(end) <= lsn_int(start):
        return result
    flush(conn, end, lay.version_num)
    timeline = conn.execute(TIMELINE).fetchone()[0]
    records = waldump(cluster, start, end, timeline)
    for r in records:
        r["relation"] = any((b["spcoid"], b["dboid"], b["relfilenode"]) in mine for b in r["blocks"])
    result["records"] = records
    return result


def others_line(records, relation):
    """"+ 3 records not of public.t: COMMIT, RUNNING_XACTS ×2", or None."""
    others = [r for r in records if not r["relation"]]
    if not others:
        return None
    counts = {}
    for r in others:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    kinds = ", ".join(k if n == 1 else f"{k} ×{n}" for k, n in counts.items())
    return f"+ {len(others)} record{'s' * (len(others) != 1)} not of {relation}: {kinds}"

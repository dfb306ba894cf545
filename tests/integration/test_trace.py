"""The gdb tracer against a real gdb and a real backend on every built major,
each result cross-checked against a tool nobody here wrote (ctid/xmin,
pageinspect, pg_waldump, EXPLAIN, pg_locks, pg_backend_memory_contexts);
the driver's way out against a stand-in gdb that misbehaves; the interactive
commands in a gdb session of their own; and a non-editable install.
The per-event overhead is measured by bench/trace_heap_insert.py, not here."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import pytest

from pglab.cluster import Cluster
from pglab.config import PROJECT_ROOT, Settings
from pglab.errors import GdbNotFound, NoDebugInfo, PglabError
from pglab.pg.builds import find_build
from pglab.trace import SCHEMA, driver, render
from pglab.trace.result import FIRST_NORMAL_OID
from pglab.trace.render import plan as plan_render
from pglab_tracing import targets
from tests.conftest import built_ids, invoke
from tests.fixtures.traces import picture
from tests.fixtures.traces.explain import explain_lines


def _gdb():
    try:
        return driver.find_gdb()
    except GdbNotFound:
        return None


GDB = _gdb()
pytestmark = pytest.mark.skipif(GDB is None, reason="gdb not installed (invoke doctor installs it)")




def _default_build_id():
    try:
        return find_build(Settings.load()).id
    except PglabError:
        return "default"


class Server:
    """A throwaway cluster on one build, as the tracer tests need it."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.bindir = str(cluster.build.bindir)
        self.data = cluster.datadir
        self.conninfo = cluster.conninfo()

    def connect(self, **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(self.conninfo, **kw)

    def trace(self, **kw):
        kw.setdefault("timeout", 60)
        return driver.run_trace(conninfo=self.conninfo, bindir=self.bindir, **kw)


def _cluster(request, settings, build_id):
    b = request.getfixturevalue("default_build") if build_id == "default" else find_build(settings, build_id)
    return Cluster.throwaway(settings, b, template=True)


@pytest.fixture(scope="module", params=built_ids())
def server(request, settings):
    with _cluster(request, settings, request.param) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        yield Server(cl)


@pytest.fixture(scope="module")
def one_server(request, settings):
    """The default build only: for what does not depend on the major."""
    with _cluster(request, settings, _default_build_id()) as cl:
        yield Server(cl)


@pytest.fixture
def table(server, request):
    name = re.sub(r"\W", "_", request.node.name)[:40].lower()
    with server.connect() as c:
        c.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
        c.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    return name


def gdb_processes_for(pid):
    """gdb processes whose command line names pid (run directly, or through
    the dynamic loader as the PyPI gdb's launcher does)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(os.path.basename(a).startswith(b"gdb") for a in argv[:2]) and str(pid).encode() in argv:
            found.append(int(proc.name))
    return found


@contextlib.contextmanager
def ctrl_c_once(server, query):
    """Ctrl-C, as the terminal delivers it to the main thread, once a backend runs
    `query` (the trace is then attached and its SQL under way); at most 30 s on."""
    armed = [True]

    def interrupt(signum, frame):
        if armed[0]:            # never once the block is left: pytest would take it for the user's Ctrl-C
            raise KeyboardInterrupt
    stop = threading.Event()

    def watch():
        with server.connect() as c:
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                if c.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s AND state = 'active'",
                             [query]).fetchone()[0]:
                    break
                time.sleep(0.05)
        if not stop.is_set():
            signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)

    old = signal.signal(signal.SIGALRM, interrupt)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        armed[0] = False
        stop.set()
        watcher.join(35)
        signal.signal(signal.SIGALRM, old)


def assert_running(pid):
    """No gdb left for pid and the backend running, not stopped."""
    assert gdb_processes_for(pid) == [], "a gdb process was left behind"
    state = driver.process_state(pid)
    assert state is not None and state not in ("t", "T", "Z"), f"backend {pid} state {state}"


def assert_gone(pid, within=10.0):
    """No gdb left for pid and the backend exited (a session the driver
    opened and closed, or one that was terminated)."""
    assert gdb_processes_for(pid) == [], "a gdb process was left behind"
    deadline = time.monotonic() + within
    while driver.process_state(pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.process_state(pid) in (None, "Z"), f"backend {pid} still there"


# ------------------------------------------------------------------ heap

def test_heap_insert_matches_ctid_xmin_and_pageinspect(server, table):
    r = server.trace(target="heap_insert",
                     sql=f"INSERT INTO {table} VALUES (1, 'a'), (2, repeat('b', 50)), (3, NULL) "
                         "RETURNING ctid::text, xmin::text")
    assert r.sql_error is None, (r.sql_error, r.end_reason, r.warnings)
    events = [e for e in r.of("heap_insert") if e["rel"] == table]
    assert [(f"({e['block']},{e['offset']})", str(e["xmin"])) for e in events] == r.rows
    assert all(e["schema"] == SCHEMA and e["func"] == "heap_insert" for e in events)
    assert [e["flags"] for e in events] == [["HEAP_HASVARWIDTH", "HEAP_XMAX_INVALID"]] * 2 + [
        ["HEAP_HASNULL", "HEAP_XMAX_INVALID"]]
    with server.connect() as c:
        items = dict(c.execute(f"SELECT lp, lp_len FROM heap_page_items(get_raw_page('{table}', 0))"))
    assert [items[e["offset"]] for e in events] == [e["t_len"] for e in events]
    assert_gone(r.pid)     # the driver closed the session it opened


def test_copy_uses_heap_multi_insert(server, table):
    r = server.trace(target="heap_insert", sql=f"COPY {table}(id) FROM PROGRAM 'seq 1 5'")
    assert r.sql_error is None, (r.sql_error, r.end_reason, r.warnings)
    events = [e for e in r.of("heap_insert") if e["rel"] == table]
    assert [e["func"] for e in events] == ["heap_multi_insert"] * 5, (r.of("ready"), events)
    with server.connect() as c:
        ctids = [row[0] for row in c.execute(f"SELECT ctid::text FROM {table} ORDER BY id")]
    assert [f"({e['block']},{e['offset']})" for e in events] == ctids


def test_target_not_hit_explains_why(server, table):
    r = server.trace(target="heap_insert", sql=f"INSERT INTO {table} SELECT 1 WHERE false")
    assert r.sql_error is None and r.of("heap_insert") == []
    assert r.hints == list(targets.BY_NAME["heap_insert"].hints)


# ------------------------------------------------------------------ wal

WALDUMP_LINE = re.compile(r"rmgr: (\S+)\s+len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+), "
                          r"lsn: ([0-9A-F]+/[0-9A-F]+), prev \S+, desc: (\S+)")


def test_wal_matches_pg_waldump(server, table):
    r = server.trace(target="wal", sql=f"INSERT INTO {table} VALUES (1, 'x'), (2, 'y')")
    assert r.sql_error is None, (r.sql_error, r.end_reason, r.warnings)
    recs = r.of("wal_record")
    # the table's first page is new: its first tuple's record initialises it
    assert [x["record_type"] for x in recs if x["rmgr"] == "Heap"] == ["INSERT+INIT", "INSERT"], (r.warnings, r.of("trace_end"))
    out = subprocess.run([f"{server.bindir}/pg_waldump", "-p", str(server.data / "pg_wal"),
                          "-s", recs[0]["start_lsn"], "-e", recs[-1]["end_lsn"]],
                         capture_output=True, text=True).stdout
    dumped = {m[3]: m for m in WALDUMP_LINE.findall(out)}
    for rec in recs:
        rmgr, tot, _xid, lsn, desc = dumped[rec["start_lsn"]]
        assert (rmgr, int(tot), desc) == (rec["rmgr"], rec["len"], rec["record_type"])
    # the trace has exactly what our transaction wrote
    xid = str(recs[0]["xid"])
    assert {m[3] for m in dumped.values() if m[2] == xid} == {x["start_lsn"] for x in recs if str(x["xid"]) == xid}


# ------------------------------------------------------------------ query

JOIN = "SELECT qb.name, count(*) FROM qa JOIN qb USING (k) WHERE qa.id > 100 GROUP BY qb.name"


def join_tables(server):
    """The join's tables; returns EXPLAIN's plan of it (FORMAT JSON)."""
    with server.connect() as c:
        c.execute("DROP TABLE IF EXISTS qa, qb")
        c.execute("CREATE TABLE qa AS SELECT g AS id, g % 10 AS k FROM generate_series(1, 2000) g")
        c.execute("CREATE TABLE qb AS SELECT g AS k, 'n' || g AS name FROM generate_series(0, 9) g")
        c.execute("ANALYZE qa, qb")
        return c.execute("EXPLAIN (FORMAT JSON) " + JOIN).fetchone()[0][0]["Plan"]


def test_query_plan_matches_explain(server, needs_calls):
    explain = join_tables(server)
    r = server.trace(target="query", sql=JOIN)
    assert r.sql_error is None, (r.sql_error, r.end_reason, r.warnings)
    plans = r.of("plan_tree")
    assert len(plans) == 1, r.warnings
    assert plan_render.plan_lines(plans[0]) == explain_lines(explain)
    assert [q["func"] for q in r.of("query_tree")] == [f"pg_analyze_and_rewrite{s}" for s in (
        ("_fixedparams",) if server.cluster.build.major >= 15 else ("",))]
    names = [s["name"] for s in sorted(r.of("span"), key=lambda s: s["ts"])]
    order = [names.index(f) for f in ("exec_simple_query", "pg_parse_query", "planner", "ExecutorRun")]
    assert order == sorted(order)
    assert all(s["status"] == "ok" for s in r.of("span"))
    text = render.render(r, "text")
    assert "\n".join("  " + line for line in explain_lines(explain)) in text
    perfetto = json.loads(render.render(r, "perfetto"))
    assert [e["name"] for e in perfetto["traceEvents"] if e["ph"] == "X"] == [s["name"] for s in r.of("span")]
    svg = ET.fromstring(render.render(r, "svg"))
    assert [row["label"] for row in picture.plan_rows(svg)] == \
        [line.strip().removeprefix("-> ") for line in explain_lines(explain)]


NESTED = "SELECT s.k, qn.name FROM (VALUES (7), (3), (42), (9)) s(k) JOIN qn USING (k) ORDER BY qn.name"


def test_query_picture_counts_what_explain_analyze_counts(server, needs_calls, tmp_path):
    """The SVG of a Sort over a Nested Loop with an Index Scan inside: every
    box named, axes in ms, the phases' legend, one row per plan node with its
    loops, rows and calls as EXPLAIN ANALYZE counts them, drawn on a PNG."""
    with server.connect() as c:
        c.execute("DROP TABLE IF EXISTS qn")
        c.execute("CREATE TABLE qn AS SELECT g AS k, 'name ' || g AS name FROM generate_series(0, 4999) g")
        c.execute("CREATE INDEX ON qn (k)")
        c.execute("ANALYZE qn")
        analyzed = c.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + NESTED).fetchone()[0][0]["Plan"]
    r = server.trace(target="query", sql=NESTED)
    assert r.sql_error is None and r.warnings == [], (r.sql_error, r.warnings)
    text = render.render(r, "svg")
    svg = ET.fromstring(text)
    drawn = picture.spans(svg)
    assert sorted(name for name, *_ in drawn) == sorted(s["name"] for s in r.of("span"))
    assert all(shown and (shown == name or name.startswith(shown.rstrip("…"))) for name, shown, *_ in drawn)
    for ticks in picture.axes(svg):
        assert [v for v, _ in ticks] == sorted({v for v, _ in ticks}) and len(ticks) >= 4
    stages = {s["stage"] for s in r.of("span")}
    assert {label.split(" ")[0] for label, _ in picture.legend(svg) if "call" not in label} == stages

    def walk(p):
        yield p
        for child in p.get("Plans", []):
            yield from walk(child)

    explain = list(walk(analyzed))
    rows = picture.plan_rows(svg)
    assert [row["label"].split("  (")[0].split(" on ")[0] for row in rows] == [p["Node Type"] for p in explain] == \
        ["Sort", "Nested Loop", "Values Scan", "Index Scan"]
    assert [(row["loops"], row["rows"], row["calls"]) for row in rows] == \
        [(p["Actual Loops"], p["Actual Rows"] * p["Actual Loops"], (p["Actual Rows"] + 1) * p["Actual Loops"])
         for p in explain]
    assert rows[-1]["loops"] == 4
    png = picture.to_png(text, tmp_path / "query.png")
    assert picture.assert_drawn(png, svg) > 40


def test_executor_calls_cost_as_much_late_as_early(one_server, needs_calls):
    """A node called 2000 times (the cap): its last calls take gdb no longer
    than its first (return breakpoints that fired are deleted, not left for
    gdb to look at on every stop)."""
    r = one_server.trace(target="query", sql="SELECT count(*) FROM generate_series(1, 3000)")
    assert r.sql_error is None and r.rows == [(3000,)], r.sql_error
    assert [e["cap"] for e in r.of("exec_capped")] == [2000]
    scans = sorted((e for e in r.of("exec_call") if e["node"] == "FunctionScan"), key=lambda e: e["ts"])
    assert len(scans) > 1900
    gaps = [b["ts"] - a["ts"] for a, b in zip(scans, scans[1:])]

    def median(values):
        return sorted(values)[len(values) // 2]

    early, late = median(gaps[:200]), median(gaps[-200:])
    assert late < 3 * early, (early, late)


# ------------------------------------------------------------------ locks

def pg_locks(server, pid):
    with server.connect() as c:
        return c.execute("SELECT locktype, relation::regclass::text, mode, granted FROM pg_locks "
                         "WHERE pid = %s", [pid]).fetchall()


@pytest.mark.parametrize("stmt,expect", [
    ("SELECT * FROM {t} WHERE id = 1 FOR UPDATE", "RowShareLock"),
    ("ALTER TABLE {t} ADD COLUMN extra int", "AccessExclusiveLock"),
])
def test_locks_match_pg_locks(server, table, stmt, expect):
    with server.connect() as c:
        c.execute(f"INSERT INTO {table} VALUES (1, 'x')")
    with server.connect() as conn:
        conn.execute("BEGIN")
        r = server.trace(target="locks", sql=stmt.format(t=table), connection=conn)
        assert r.sql_error is None, (r.sql_error, r.end_reason, r.warnings)
        held = pg_locks(server, conn.info.backend_pid)      # while the transaction is open
        conn.execute("ROLLBACK")
    traced = {(e["locktype"], e.get("relname"), e["mode"]) for e in r.of("lock")
              if e["granted"] and e["locktype"] == "relation" and e.get("relname", "").startswith(table)}
    listed = {(lt, rel, mode) for lt, rel, mode, granted in held
              if lt == "relation" and rel and rel.startswith(table)}
    assert traced == listed
    assert ("relation", table, expect) in traced
    # both statements write (a row lock, a catalog change): the xid's ExclusiveLock is in both
    assert ("transactionid", "ExclusiveLock") in {(lt, mode) for lt, _rel, mode, _g in held}
    assert [e["mode"] for e in r.of("lock") if e["locktype"] == "transactionid"] == ["ExclusiveLock"]


def test_lock_wait_is_reported(server, table):
    with server.connect() as c:
        c.execute(f"INSERT INTO {table} VALUES (1, 'x')")
    with server.connect() as holder:
        holder.execute("BEGIN")
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        r = server.trace(target="locks", sql=f"SET lock_timeout = '1s'; SET deadlock_timeout = '5s'; "
                                             f"SELECT * FROM {table}")
        holder.execute("ROLLBACK")
    assert r.sql_error == "canceling statement due to lock timeout" and r.sqlstate == "55P03"
    waited = [e for e in r.of("lock") if e["waited"]]
    assert [(e["mode"], e["result"], e["relname"]) for e in waited] == [("AccessShareLock", "ERROR", table)]
    # its sleep: lock_timeout's ERROR ended it, a second at least after it began, before any deadlock check
    [sleep] = r.of("lock_wait")
    assert (sleep["mode"], sleep["relname"], sleep["result"]) == ("AccessShareLock", table, "error")
    assert sleep["dur"] >= 1e9 and r.of("deadlock_check") == r.of("deadlock") == []
    assert_gone(r.pid)


# ------------------------------------------------------------------ a second session (--other)

@pytest.fixture
def counters(server, table):
    """The test's table with two rows to update: (1, 0) and (2, 0) in (id, v)."""
    with server.connect() as c:
        c.execute(f"ALTER TABLE {table} ADD COLUMN v int")
        c.execute(f"INSERT INTO {table} (id, v) VALUES (1, 0), (2, 0)")
        assert c.execute("SHOW deadlock_timeout").fetchone()[0] == "1s"    # what the deadlock tests time by
    return table


# SQL for a traced session that goes on once the other session waits for its transaction (a
# row it updated): polled every 50 ms, for 30 s at most.  A sleep of the traced session's own
# would guess how soon the other starts, and on a loaded machine it starts late.
UNTIL_THE_OTHER_WAITS = ("DO $$BEGIN FOR i IN 1..600 LOOP "
                         "EXIT WHEN EXISTS (SELECT FROM pg_locks WHERE NOT granted AND locktype = 'transactionid' "
                         "AND transactionid = pg_current_xact_id()::text::xid); "
                         "PERFORM pg_sleep(0.05); END LOOP; END$$")


def test_other_session_waits_for_the_traced_transaction(server, counters):
    t = counters
    r = server.trace(target="locks",
                     sql=f"UPDATE {t} SET v=v+1 WHERE id=1; {UNTIL_THE_OTHER_WAITS}; SELECT pg_sleep(1)",
                     other_sql=f"UPDATE {t} SET v=v+1 WHERE id=1")
    assert (r.sql_error, r.other_error, r.end_reason, r.warnings) == (None, None, "stopped", [])
    [xid] = [e["transactionid"] for e in r.of("lock") if e["locktype"] == "transactionid"]
    # the other session waited on the traced transaction's id (its row lock is the tuple's xmax), nothing else
    [wait] = r.of("session_wait")
    assert (wait["pid"], wait["session"], wait["locktype"], wait["mode"], wait["transactionid"],
            wait["blocked_by"], wait["ended"]) == (r.other_pid, "other", "transactionid", "ShareLock", xid,
                                                   [r.pid], True)
    # the traced backend woke it when its commit released that lock
    [wakeup] = r.of("lock_wakeup")
    assert (wakeup["woken_pid"], wakeup["locktype"], wakeup["mode"], wakeup["transactionid"]) == \
        (r.other_pid, "transactionid", "ShareLock", xid)
    [start], [end] = r.of("other_start"), r.of("other_end")
    # one clock: the driver's events and the gdb side's interleave as they happened
    [table_lock] = [e for e in r.of("lock") if e.get("relname") == t and e["result"] == "LOCKACQUIRE_OK"]
    assert table_lock["ts"] < start["ts"] <= wait["ts"] < wakeup["ts"] < end["ts"]
    # the other waited out the traced session's sleep, which began once it waited
    assert end["duration_s"] == r.other_duration_s >= 1.0
    assert r.sql_duration_s >= 1.0
    assert_gone(r.pid)
    assert_gone(r.other_pid)


def test_deadlock_the_other_session_detects(server, counters):
    """Each backend arms its own deadlock_timeout when it starts to sleep on a lock, and the first
    whose timer fires with the cycle closed runs DeadLockCheck, finds it and aborts itself (a check
    that finds no cycle is not repeated).  Here the other updates row 2 and waits for row 1, with a
    3 s timeout; the traced one, once the other waits, waits for row 2, with 5 s: the other's timer
    fires first, and the traced one is granted row 2 when the other aborts.  (The locks lab runs
    the same cycle with 1 s on both sides, where the order of the waits decides; the seconds here
    keep the verdict when the machine is loaded.)"""
    t = counters
    r = server.trace(target="locks",
                     sql=f"SET deadlock_timeout = '5s'; UPDATE {t} SET v=v+1 WHERE id=1; {UNTIL_THE_OTHER_WAITS}; "
                         f"UPDATE {t} SET v=v+1 WHERE id=2",
                     other_sql=f"SET deadlock_timeout = '3s'; UPDATE {t} SET v=v+1 WHERE id=2; "
                               f"UPDATE {t} SET v=v+1 WHERE id=1")
    assert (r.other_sqlstate, r.other_error) == ("40P01", "deadlock detected")
    assert (r.sqlstate, r.sql_error, r.end_reason) == (None, None, "stopped")
    [sleep] = r.of("lock_wait")
    assert (sleep["locktype"], sleep["mode"], sleep["result"]) == ("transactionid", "ShareLock", "granted")
    assert sleep["dur"] < 5e9                       # woken before its own deadlock_timeout
    assert r.of("deadlock_check") == r.of("deadlock") == [] and r.of("lock_wakeup") == []
    # each waited for the other; the other first (the observer's samples are 0.2 s apart: both can
    # first show in one, where the rows come in pid order)
    waits = {w["session"]: w for w in r.of("session_wait")}
    assert (len(r.of("session_wait")), waits["other"]["blocked_by"], waits["traced"]["blocked_by"]) == \
        (2, [r.pid], [r.other_pid])
    assert waits["other"]["ts"] <= waits["traced"]["ts"]
    text = render.render(r, "text")
    assert "\nother session's SQL error: deadlock detected (40P01)\n" in text
    assert re.search(rf"other \({r.other_pid}\) +ends after \d+\.\d ms: ERROR deadlock detected \(40P01\)$",
                     text, re.M)
    assert_gone(r.other_pid)


def test_deadlock_the_traced_backend_detects(server, counters):
    """The same cycle with the traced backend's timer first (3 s, the other's 5 s; the other still
    waits first): its DeadLockCheck finds the cycle, and it raises the ERROR; its abort releases
    its transaction's lock, which wakes the other session."""
    t = counters
    r = server.trace(target="locks",
                     sql=f"SET deadlock_timeout = '3s'; UPDATE {t} SET v=v+1 WHERE id=1; {UNTIL_THE_OTHER_WAITS}; "
                         f"UPDATE {t} SET v=v+1 WHERE id=2",
                     other_sql=f"SET deadlock_timeout = '5s'; UPDATE {t} SET v=v+1 WHERE id=2; "
                               f"UPDATE {t} SET v=v+1 WHERE id=1")
    assert (r.sqlstate, r.sql_error) == ("40P01", "deadlock detected")
    assert (r.other_sqlstate, r.other_error) == (None, None)
    assert [e["result"] for e in r.of("deadlock_check")] == ["DS_HARD_DEADLOCK"]
    [sleep], [report] = r.of("lock_wait"), r.of("deadlock")
    assert (sleep["result"], report["locktype"], report["mode"], report["transactionid"]) == \
        ("deadlock", "transactionid", "ShareLock", sleep["transactionid"])
    assert 3e9 <= sleep["dur"] < 5e9                # its deadlock_timeout, then the check
    [failed] = [e for e in r.of("lock") if e["result"] == "ERROR"]
    assert (failed["deadlock"], failed["transactionid"]) == (True, sleep["transactionid"])
    [xid] = [e["transactionid"] for e in r.of("lock") if e["locktype"] == "transactionid"
             and e["mode"] == "ExclusiveLock"]
    assert [(w["woken_pid"], w["transactionid"]) for w in r.of("lock_wakeup")] == [(r.other_pid, xid)]
    text = render.render(r, "text")
    assert re.search(rf"^transactionid +transactionid={sleep['transactionid']} +ShareLock +"
                     r"ERROR \(deadlock detected\) +waited$", text, re.M)
    assert re.search(rf"traced \({r.pid}\) +deadlock detected: raises ERROR waiting for ShareLock on "
                     rf"transaction {sleep['transactionid']}$", text, re.M)
    assert_gone(r.other_pid)


def test_user_only_keeps_your_tables_and_transactions(server, counters):
    t = counters
    r = server.trace(target="locks", sql=f"UPDATE {t} SET v=v+1 WHERE id=1", user_only=True)
    assert r.sql_error is None
    kept = r.of("lock")
    assert not [e for e in kept if e.get("relation", FIRST_NORMAL_OID) < FIRST_NORMAL_OID]
    assert {(e["locktype"], e.get("relname"), e["mode"]) for e in kept} >= {
        ("relation", t, "RowExclusiveLock"), ("relation", f"{t}_pkey", "RowExclusiveLock"),
        ("transactionid", None, "ExclusiveLock")}
    # what was hidden is every other lock event the gdb side wrote, all of them on initdb's objects
    assert r.hidden == r.of("trace_end")[0]["counts"]["lock"] - len(kept) > 0
    assert render.render(r, "text").splitlines()[1] == f"{r.hidden} catalog lock events hidden (--user-only)"


def test_other_session_beside_another_target_and_failing_at_once(one_server):
    with one_server.connect() as c:
        c.execute("DROP TABLE IF EXISTS other_fails")
        c.execute("CREATE TABLE other_fails (id int)")
    r = one_server.trace(target="heap_insert", sql="INSERT INTO other_fails VALUES (1); SELECT pg_sleep(0.3)",
                         other_sql="SELECT 1/0")
    assert (r.sql_error, r.end_reason, len(r.of("heap_insert"))) == (None, "stopped", 1)
    assert (r.other_error, r.other_sqlstate) == ("division by zero", "22012")
    assert [e["after_traced"] for e in r.of("other_start")] == [False]
    text = render.render(r, "text").splitlines()
    assert text[2] == "other session's SQL error: division by zero (22012)"
    # a traced statement that takes no table lock: the other session runs after it, and the result says so
    r2 = one_server.trace(target="locks", sql="SELECT 1", other_sql="SELECT 2")
    assert r2.warnings == ["the traced SQL ended before it held its locks (a table lock, while waiting or for "
                           "0.2 s unstopped): the other session ran after it"]
    [start], [end] = r2.of("other_start"), r2.of("other_end")
    assert start["after_traced"] is True and end["error"] is None
    assert start["ts"] >= r2.sql_start_ns + r2.sql_duration_s * 1e9
    assert_gone(r2.other_pid)


def test_timeout_cancels_the_other_session_too(one_server):
    with one_server.connect() as c:
        c.execute("DROP TABLE IF EXISTS other_timeout")
        c.execute("CREATE TABLE other_timeout (id int PRIMARY KEY, v int)")
        c.execute("INSERT INTO other_timeout VALUES (1, 0)")
    start = time.monotonic()
    r = one_server.trace(target="locks", sql="UPDATE other_timeout SET v=v+1 WHERE id=1; SELECT pg_sleep(30)",
                         other_sql="UPDATE other_timeout SET v=v+1 WHERE id=1", timeout=2)
    assert time.monotonic() - start < 20
    assert (r.end_reason, r.sqlstate, r.other_sqlstate) == ("timeout", "57014", "57014")
    assert r.warnings == [f"the other session ({r.other_pid}) had not finished: its statement was cancelled"]
    assert_gone(r.pid)
    assert_gone(r.other_pid)


def test_keyboard_interrupt_ends_the_other_session(one_server):
    other = "SELECT pg_sleep(30) AS other_session_of_the_interrupt_test"
    with ctrl_c_once(one_server, other), pytest.raises(KeyboardInterrupt):
        one_server.trace(target="locks", sql="SELECT 1", other_sql=other)
    with one_server.connect() as c:
        deadline = time.monotonic() + 10
        while c.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s", [other]).fetchone()[0] and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s", [other]).fetchone()[0] == 0


def test_invoke_trace_other_and_user_only(tmp_path, default_build):
    """The command a learner types, on a main cluster of the test's own working area."""
    root = tmp_path / "area"
    cl = Cluster.named(Settings.load(root=root), default_build, "main")
    env = {"INVOKE_PGLAB_ROOT": str(root)}
    try:
        cl.start()
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            c.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
            c.execute("INSERT INTO t VALUES (1, 0)")
        done = invoke("trace", "locks", "--sql", "UPDATE t SET v=v+1 WHERE id=1; SELECT pg_sleep(1)",
                      "--other", "UPDATE t SET v=v+1 WHERE id=1", "--user-only", env=env)
    finally:
        cl.stop()
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    head = re.fullmatch(r"trace locks on backend (\d+) \(server \d+\): (\d+) events, end=stopped", lines[0])
    traced = head.group(1)
    assert re.fullmatch(r"\d+ catalog lock events hidden \(--user-only\)", lines[1])
    other = re.fullmatch(r"other session on backend (\d+): UPDATE t SET v=v\+1 WHERE id=1", lines[2]).group(1)
    timeline = lines[lines.index(f"timeline (ms after the traced SQL started; traced = backend {traced}, "
                                 f"other = backend {other}):") + 1:]
    steps = [re.sub(r"^ +\d+\.\d  ", "", re.sub(r"\d+\.\d ms", "N ms", line)) for line in timeline]
    width = max(len(f"traced ({traced})"), len(f"other ({other})"))
    tr, ot = f"traced ({traced})".ljust(width) + "  ", f"other ({other})".ljust(width) + "  "
    xid = re.search(r"locks transaction (\d+) in ExclusiveLock", "\n".join(steps)).group(1)
    assert [s.removeprefix(tr) for s in steps if s.startswith(tr)] == [
        "locks relation t in RowExclusiveLock",
        "locks relation t_pkey in RowExclusiveLock",
        f"locks transaction {xid} in ExclusiveLock",
        "locks relation t_pkey in AccessShareLock",
        f"releases transaction {xid}: wakes other ({other}), granted ShareLock",
        "SQL ends after N ms: ok",
    ]
    mine = [s.removeprefix(ot) for s in steps if s.startswith(ot)]
    assert (len(mine), mine[0], mine[2]) == (3, "starts: UPDATE t SET v=v+1 WHERE id=1", "ends after N ms: ok")
    assert re.fullmatch(rf"waits for ShareLock on transaction {xid}, blocked by traced \({traced}\) "
                        r"\(seen for ~\d+ ms\)", mine[1])
    # the other starts once the traced session sleeps, holding its locks; the release comes after the wait began
    assert steps.index(f"{tr}locks relation t_pkey in AccessShareLock") < steps.index(ot + mine[0])
    assert steps.index(ot + mine[1]) < steps.index(f"{tr}releases transaction {xid}: wakes other ({other}), "
                                                   "granted ShareLock")
    refused = invoke("trace", "wal", "--user-only", env=env)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1, "", "error: --user-only hides lock events on catalogs: it applies to the locks target, not wal "
               "(invoke trace locks --user-only --sql ...)\n")


# ------------------------------------------------------------------ memory, hooks, any function

def test_memctx_snapshot_matches_pg_backend_memory_contexts(server):
    if server.cluster.build.major < 14:
        pytest.skip("pg_backend_memory_contexts, the cross-check, exists from PostgreSQL 14")
    with server.connect() as conn:
        r = server.trace(target="memctx", sql="SELECT count(*) FROM pg_class", connection=conn)
        listed = {row[0] for row in conn.execute("SELECT name FROM pg_backend_memory_contexts")}
    created = {e["name"] for e in r.of("memctx_create")}
    assert "ExecutorState" in created
    snap = r.of("memctx_snapshot")[0]["tree"]
    names = set()

    def walk(n):
        names.add(n["name"])
        for ch in n["children"]:
            walk(ch)
    walk(snap)
    assert {"TopMemoryContext", "CacheMemoryContext", "MessageContext"} <= names & listed


def test_hooks_after_load(server):
    pkglib = subprocess.check_output([str(Path(server.bindir) / "pg_config"), "--pkglibdir"], text=True).strip()
    r = server.trace(target="hooks", sql="LOAD 'auto_explain'")
    hooks = {e["hook"]: e for e in r.of("hook")}
    assert hooks["ExecutorStart_hook"]["library"] == f"{pkglib}/auto_explain.so"
    assert hooks["ExecutorStart_hook"]["function"] == "explain_ExecutorStart"
    assert hooks["planner_hook"]["installed"] is False


def test_any_function_with_backtrace(server, table):
    r = server.trace(target="ExecInsert", sql=f"INSERT INTO {table} VALUES (7, 'z')", bt=True)
    calls = r.of("call")
    assert len(calls) == 1 and calls[0]["status"] == "ok"
    # the argument names are those the build's own source declares (they changed in 14)
    source = (server.cluster.build.source_dir / "src/backend/executor/nodeModifyTable.c").read_text()
    signature = re.search(r"^ExecInsert\(([^)]*)\)", source, re.M).group(1)
    declared = re.findall(r"(\w+)\s*(?:,|$)", signature)
    assert list(calls[0]["args"]) == declared
    assert calls[0]["bt"][0].startswith("ExecInsert")
    assert any(f.startswith("exec_simple_query") for f in calls[0]["bt"])


# ------------------------------------------------------------------ safety

def test_statement_error_leaves_backend_running(server, table):
    with server.connect() as conn:
        conn.execute(f"INSERT INTO {table} VALUES (5, 'x')")
        r = server.trace(target="query", sql=f"SELECT id / 0 FROM {table}; SELECT 1", connection=conn)
        assert (r.sql_error, r.sqlstate) == ("division by zero", "22012")
        # the ERROR unwound the three frames it was raised under; the second statement never ran
        assert sorted(s["name"] for s in r.of("span") if s["status"] == "error") == \
            ["ExecutorRun", "PortalRun", "exec_simple_query"]
        assert [s["name"] for s in r.of("span")].count("pg_plan_query") == 1
        assert_running(r.pid)
        assert conn.execute("SELECT 42").fetchone()[0] == 42
        # no dangling breakpoints: a second trace of the same backend works
        r2 = server.trace(target="query", sql="SELECT 1", connection=conn)
        assert all(s["status"] == "ok" for s in r2.of("span"))
    r3 = server.trace(target="heap_insert", sql=f"INSERT INTO {table} VALUES (5, 'dup')")
    assert r3.sqlstate == "23505"
    # the tuple reached the heap before the index refused it
    assert [(e["rel"], e["func"]) for e in r3.of("heap_insert")] == [(table, "heap_insert")]


def test_timeout_leaves_backend_running(one_server):
    with one_server.connect() as conn:
        start = time.monotonic()
        r = one_server.trace(target="query", sql="SELECT pg_sleep(30)", timeout=2, connection=conn)
        assert time.monotonic() - start < 20
        assert r.timed_out and r.end_reason == "timeout"
        assert r.sqlstate == "57014"        # cancelled
        assert_running(r.pid)
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_disconnect_ends_cleanly(one_server):
    r = one_server.trace(target="locks", sql="SELECT pg_terminate_backend(pg_backend_pid())")
    assert r.end_reason == "exited"
    assert r.of("trace_end")[0]["reason"] == "exited"
    assert_gone(r.pid)


def test_keyboard_interrupt_detaches(one_server):
    with one_server.connect() as conn:
        pid = conn.info.backend_pid
        with ctrl_c_once(one_server, "SELECT pg_sleep(30)"), pytest.raises(KeyboardInterrupt):
            one_server.trace(target="query", sql="SELECT pg_sleep(30)", connection=conn)
        assert_running(pid)
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_gdb_missing_is_one_line(one_server):
    with pytest.raises(GdbNotFound, match=r"^gdb not found \(./nonexistent/gdb.\): `invoke doctor` installs it$"):
        one_server.trace(target="wal", sql="SELECT 1", gdb="/nonexistent/gdb")


def test_build_without_debug_info(one_server, tmp_path):
    stripped = tmp_path / "bin"
    stripped.mkdir()
    shutil.copy(Path(one_server.bindir) / "postgres", stripped / "postgres")
    subprocess.run(["strip", "--strip-debug", str(stripped / "postgres")], check=True)
    with one_server.connect() as conn:
        with pytest.raises(NoDebugInfo) as info:
            driver.run_trace(conninfo=one_server.conninfo, bindir=str(stripped), target="heap_insert",
                             sql="SELECT 1", connection=conn)
        assert_running(conn.info.backend_pid)
    # one line naming the command that makes a build with debug info
    assert str(info.value).startswith("no debug info for type 'HeapTupleData'")
    assert str(info.value).endswith("rebuild PostgreSQL with debug info: `invoke build-pg` "
                                    "(debug is its default flavour)")


# ------------------------------------------------------------------ the way out, with a stand-in gdb

FAKE_GDB = '''#!{python}
"""A stand-in for gdb as the driver runs it: finds the config in its argv,
writes the ready file like the real session, then misbehaves as the config's
extra["fake"] says."""
import json, os, signal, sys, time

config = next(a.split("main(", 1)[1][1:-2] for a in sys.argv if "main(" in a)   # s.main('/.../config.json')
cfg = json.load(open(config))
mode, backend = cfg["extra"]["fake"], int(sys.argv[-1])
with open(cfg["extra"]["pidfile"], "w") as f:
    f.write(str(os.getpid()))
if mode == "ignore-stop":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)     # only SIGKILL ends it
if mode == "sigstop-backend":
    os.kill(backend, signal.SIGSTOP)                  # as a tracer dying mid-trace can leave it
with open(cfg["ready"], "w") as f:
    f.write("ready\\n")
if mode == "exit-early":
    sys.exit(0)
while True:
    time.sleep(0.1)
'''


@pytest.fixture
def fake_gdb(tmp_path, monkeypatch):
    """run_trace's keyword arguments for the stand-in; its pid file; the backend
    of any test resumed afterwards whatever the test saw."""
    path = tmp_path / "gdb"
    path.write_text(FAKE_GDB.format(python=sys.executable))
    path.chmod(0o755)
    monkeypatch.setattr(driver, "STOP_GRACE", 1.0)
    monkeypatch.setattr(driver, "KILL_GRACE", 1.0)
    pidfile = tmp_path / "gdb.pid"
    stopped = []
    yield (lambda mode: {"gdb": str(path), "extra": {"fake": mode, "pidfile": str(pidfile)}}), pidfile, stopped
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def assert_fake_gone(pidfile):
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists(), f"the stand-in gdb {pid} is still there"


def test_gdb_that_ignores_the_stop_request_is_killed(one_server, fake_gdb):
    options, pidfile, _ = fake_gdb
    with one_server.connect() as conn:
        r = one_server.trace(target="heap_insert", sql="SELECT 1", connection=conn, **options("ignore-stop"))
        assert (r.end_reason, r.rows) == ("gdb-killed", [(1,)])
        assert r.warnings == ["gdb did not stop within 1 s of the stop request: killed"]
        assert_fake_gone(pidfile)
        assert_running(r.pid)
        assert conn.execute("SELECT 2").fetchone()[0] == 2


def test_gdb_that_exits_early_is_an_error(one_server, fake_gdb):
    options, pidfile, _ = fake_gdb
    with one_server.connect() as conn:
        r = one_server.trace(target="heap_insert", sql="SELECT 1", connection=conn, **options("exit-early"))
        assert (r.end_reason, r.rows, r.gdb_returncode) == ("error", [(1,)], 0)
        assert r.warnings == ["gdb exited without ending the trace (exit code 0)"]
        assert_fake_gone(pidfile)
        assert_running(r.pid)


def test_backend_resumed_even_when_cancel_fails(one_server, fake_gdb, monkeypatch):
    """The clean-up resumes a stopped backend before it tries anything that can
    fail: here the cancel of the statement, which raises."""
    options, pidfile, stopped = fake_gdb
    with one_server.connect() as conn:
        stopped.append(conn.info.backend_pid)

        def refuse(*args, **kw):
            raise psycopg.OperationalError("cancel refused (test)")
        monkeypatch.setattr(conn, "cancel_safe", refuse)
        r = one_server.trace(target="heap_insert", sql="SELECT pg_sleep(3)", timeout=1, connection=conn,
                             **options("sigstop-backend"))
        assert r.end_reason == "timeout" and r.timed_out
        assert_running(r.pid)
        assert_fake_gone(pidfile)
        assert r.warnings == ["gdb did not stop within 1 s of the stop request: killed",
                              f"backend {r.pid} was left stopped (T); sent SIGCONT",
                              "could not cancel the traced statement: cancel refused (test)"]
        monkeypatch.undo()
        assert conn.execute("SELECT 3").fetchone()[0] == 3


# ------------------------------------------------------------------ interactive commands

GDB_SCRIPT = """set pagination off
set confirm off
handle SIGUSR1 SIGUSR2 SIGALRM SIGPIPE SIGURG SIGCHLD SIGHUP SIGTERM SIGQUIT SIGINT SIGIO nostop noprint pass
handle SIGWINCH stop print nopass
source {loader}
python import pglab_tracing.commands
pglab-trace query {events}
python open({ready!r}, "w").close()
python
stops = []
gdb.events.stop.connect(stops.append)
while gdb.selected_inferior().pid:
    gdb.execute("continue")
    if isinstance(stops[-1], gdb.SignalEvent) and stops[-1].stop_signal == "SIGWINCH":
        break
end
pglab-trace-stop
detach
"""


def test_interactive_query_trace_dumps_trees_at_their_stop(one_server, tmp_path, needs_calls):
    """`pglab-trace query FILE` in a plain gdb session, `continue` by hand:
    the Query and Plan trees are read at the stop where they are returned,
    not when the trace stops (by then their memory is freed)."""
    explain = join_tables(one_server)
    events, ready = tmp_path / "events.jsonl", tmp_path / "ready"
    script = tmp_path / "session.gdb"
    script.write_text(GDB_SCRIPT.format(loader=driver.loader_path(), events=events, ready=str(ready)))
    with one_server.connect() as conn:
        pid = conn.info.backend_pid
        gdb = subprocess.Popen([GDB, "-nx", "-batch", "-q", "-iex", "set debuginfod enabled off", "-x", str(script),
                                "-p", str(pid)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                assert gdb.poll() is None and time.monotonic() < deadline, gdb.stdout.read()
                time.sleep(0.05)
            sql_done = threading.Event()
            rows = []
            worker = threading.Thread(target=lambda: (rows.extend(conn.execute(JOIN).fetchall()), sql_done.set()),
                                      daemon=True)
            worker.start()
            assert sql_done.wait(60), "the query did not finish under the interactive trace"
            while gdb.poll() is None and time.monotonic() < deadline:
                os.kill(pid, signal.SIGWINCH)
                try:
                    gdb.wait(0.5)
                except subprocess.TimeoutExpired:
                    pass
            output = gdb.stdout.read()
            assert gdb.returncode == 0, output
        finally:
            if gdb.poll() is None:
                gdb.kill()
                gdb.wait()
                os.kill(pid, signal.SIGCONT)
        assert len(rows) == 10
        assert_running(pid)
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    got = [json.loads(line) for line in events.read_text().splitlines()]
    trees = {e["event"]: e for e in got if e["event"] in ("query_tree", "plan_tree")}
    assert set(trees) == {"query_tree", "plan_tree"}, [e for e in got if e["event"] == "warning"]
    query = trees["query_tree"]["tree"]
    assert [q["commandType"] for q in query] == [1]
    assert [rte["eref"]["aliasname"] for rte in query[0]["rtable"]] == ["qa", "qb", "unnamed_join"]
    assert plan_render.plan_lines(trees["plan_tree"]) == explain_lines(explain)
    assert [e["event"] for e in got if e["event"] == "warning"] == []
    assert got[-1]["event"] == "trace_end" and got[-1]["reason"] == "command"


# ------------------------------------------------------------------ installed, not editable

def test_non_editable_install_traces(one_server, tmp_path):
    """pglab installed into a plain folder (no checkout on the path) traces:
    the driver finds the gdb package through importlib and gdb loads it from
    there.  The build runs in pip's isolated environment, which fetches
    setuptools>=77 from the package index: --no-build-isolation fails here,
    the venv's own setuptools (65) predates the SPDX `license` string."""
    source = tmp_path / "src"
    for part in ("pyproject.toml", "setup.py", "README.md"):
        (source / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / part, source / part)
    for part in ("pglab", "tracing", "labs"):
        shutil.copytree(PROJECT_ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                          str(source)], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    with one_server.connect() as c:
        c.execute("DROP TABLE IF EXISTS installed")
        c.execute("CREATE TABLE installed (id int, note text)")
    program = tmp_path / "elsewhere" / "trace_it.py"
    program.parent.mkdir()
    program.write_text(
        "import json, sys\n"
        "import pglab, pglab_tracing\n"
        "from pglab.trace import driver\n"
        f"r = driver.run_trace(conninfo={one_server.conninfo!r}, bindir={one_server.bindir!r}, target='heap_insert',\n"
        "                      sql=\"INSERT INTO installed VALUES (42, 'x') RETURNING ctid::text\")\n"
        "print(json.dumps({'pglab': pglab.__file__, 'pglab_tracing': pglab_tracing.__file__,\n"
        "                  'loader': str(driver.loader_path()), 'rows': r.rows, 'events': r.events,\n"
        "                  'warnings': r.warnings}))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -S: not the venv's site, whose editable install of this clone would answer `import pglab`
    # first; its site-packages after the installed copy, for psycopg and the rest
    site = sysconfig.get_paths()["purelib"]
    done = subprocess.run([sys.executable, "-S", str(program)], cwd=program.parent,
                          env={**env, "PYTHONPATH": f"{target}:{site}"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["pglab"] == str(target / "pglab" / "__init__.py")
    assert out["pglab_tracing"] == str(target / "pglab_tracing" / "__init__.py")
    assert out["loader"] == str(target / "pglab_tracing" / "loader.py")
    start = [e for e in out["events"] if e["event"] == "trace_start"]
    assert [e["tracer"] for e in start] == [str(target / "pglab_tracing")]   # what gdb loaded
    inserted = [e for e in out["events"] if e["event"] == "heap_insert" and e["rel"] == "installed"]
    assert [f"({e['block']},{e['offset']})" for e in inserted] == [row[0] for row in out["rows"]] == ["(0,1)"]

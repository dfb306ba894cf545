"""The gdb tracer against a real gdb and a real backend on every built major,
each result cross-checked against a tool nobody here wrote (ctid/xmin,
pageinspect, pg_waldump, EXPLAIN, pg_locks, pg_backend_memory_contexts).
The per-event overhead is measured by bench/trace_heap_insert.py, not here."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from pglab import build as build_mod
from pglab import tracing
from pglab.cluster import Cluster
from pglab.config import Settings
from pglab.errors import PglabError

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed (invoke doctor installs it)")


def _debug_builds():
    """Every built major (collected before the session fixtures run)."""
    try:
        return [b.id for b in build_mod.resolve_builds(Settings.load(), "all")]
    except PglabError:
        return ["default"]  # nothing built yet: the default_build fixture builds it


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
        return tracing.run_trace(conninfo=self.conninfo, bindir=self.bindir, **kw)


@pytest.fixture(scope="module", params=_debug_builds())
def server(request, settings, default_build):
    b = default_build if request.param == "default" else build_mod.find_build(settings, request.param)
    with Cluster.throwaway(b, settings, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        yield Server(cl)


@pytest.fixture
def table(server, request):
    name = re.sub(r"\W", "_", request.node.name)[:40].lower()
    with server.connect() as c:
        c.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
        c.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    return name


def gdb_processes_for(pid):
    """gdb processes whose command line names pid."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]).startswith(b"gdb") and str(pid).encode() in argv:
            found.append(int(proc.name))
    return found


def assert_clean(pid, alive=True):
    """No gdb left for pid; the backend running (alive=True), gone
    (alive=False), or at least not stopped (alive=None)."""
    assert gdb_processes_for(pid) == [], "a gdb process was left behind"
    state = tracing.process_state(pid)
    assert state not in ("t", "T"), f"backend {pid} left stopped ({state})"
    if alive:
        assert state is not None and state != "Z", f"backend {pid} state {state}"
    elif alive is False:
        assert state in (None, "Z"), f"backend {pid} should be gone, state {state}"


# ------------------------------------------------------------------ heap

def test_heap_insert_matches_ctid_xmin_and_pageinspect(server, table):
    r = server.trace(target="heap_insert",
                     sql=f"INSERT INTO {table} VALUES (1, 'a'), (2, repeat('b', 50)), (3, NULL) "
                         "RETURNING ctid::text, xmin::text")
    assert r.sql_error is None
    events = [e for e in r.of("heap_insert") if e["rel"] == table]
    assert len(events) == 3
    for ev, (ctid, xmin) in zip(events, r.rows):
        assert f"({ev['block']},{ev['offset']})" == ctid
        assert str(ev["xmin"]) == xmin
        assert ev["schema"] == tracing.SCHEMA
    assert "HEAP_HASNULL" in events[2]["flags"]
    with server.connect() as c:
        items = {lp: lp_len for lp, lp_len in
                 c.execute(f"SELECT lp, lp_len FROM heap_page_items(get_raw_page('{table}', 0))")}
    for ev in events:
        assert items[ev["offset"]] == ev["t_len"]
    assert_clean(r.pid, alive=None)     # the driver closed the session it opened


def test_copy_uses_heap_multi_insert(server, table):
    r = server.trace(target="heap_insert", sql=f"COPY {table}(id) FROM PROGRAM 'seq 1 5'")
    assert r.sql_error is None
    events = [e for e in r.of("heap_insert") if e["rel"] == table]
    assert [e["func"] for e in events] == ["heap_multi_insert"] * 5, (r.of("ready"), events)
    with server.connect() as c:
        ctids = [row[0] for row in c.execute(f"SELECT ctid::text FROM {table} ORDER BY id")]
    assert [f"({e['block']},{e['offset']})" for e in events] == ctids


def test_target_not_hit_explains_why(server, table):
    r = server.trace(target="heap_insert", sql=f"INSERT INTO {table} SELECT 1 WHERE false")
    assert r.of("heap_insert") == []
    assert any("no row was inserted" in h for h in r.hints)


# ------------------------------------------------------------------ wal

WALDUMP_LINE = re.compile(r"rmgr: (\S+)\s+len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+), "
                          r"lsn: ([0-9A-F]+/[0-9A-F]+), prev \S+, desc: (\S+)")


def test_wal_matches_pg_waldump(server, table):
    r = server.trace(target="wal", sql=f"INSERT INTO {table} VALUES (1, 'x'), (2, 'y')")
    assert r.sql_error is None
    recs = r.of("wal_record")
    assert [x["rmgr"] for x in recs].count("Heap") >= 2
    out = subprocess.run([f"{server.bindir}/pg_waldump", "-p", str(server.data / "pg_wal"),
                          "-s", recs[0]["start_lsn"], "-e", recs[-1]["end_lsn"]],
                         capture_output=True, text=True).stdout
    dumped = {m[3]: m for m in WALDUMP_LINE.findall(out)}
    for rec in recs:
        rmgr, tot, _xid, lsn, desc = dumped[rec["start_lsn"]]
        assert (rmgr, int(tot), desc) == (rec["rmgr"], rec["len"], rec["record_type"])
    # and nothing our transaction wrote is missing from the trace
    xid = str(recs[0]["xid"])
    assert {m[3] for m in dumped.values() if m[2] == xid} <= {x["start_lsn"] for x in recs}


# ------------------------------------------------------------------ query

def explain_node_types(plan):
    out = [plan["Node Type"]]
    for child in plan.get("Plans", []):
        out += explain_node_types(child)
    return out


def test_query_plan_matches_explain(server):
    with server.connect() as c:
        c.execute("DROP TABLE IF EXISTS qa, qb")
        c.execute("CREATE TABLE qa AS SELECT g AS id, g % 10 AS k FROM generate_series(1, 2000) g")
        c.execute("CREATE TABLE qb AS SELECT g AS k, 'n' || g AS name FROM generate_series(0, 9) g")
        c.execute("ANALYZE qa, qb")
    sql = "SELECT qb.name, count(*) FROM qa JOIN qb USING (k) WHERE qa.id > 100 GROUP BY qb.name"
    with server.connect() as c:
        explain = c.execute("EXPLAIN (FORMAT JSON) " + sql).fetchone()[0][0]["Plan"]
    r = server.trace(target="query", sql=sql)
    assert r.sql_error is None
    plans = r.of("plan_tree")
    assert plans, r.warnings
    traced = [tracing.EXPLAIN_NAMES.get(n["node"], n["node"]) for _, n in tracing.plan_nodes(plans[0])]
    assert traced == explain_node_types(explain)
    names = [s["name"] for s in sorted(r.of("span"), key=lambda s: s["ts"])]
    order = [names.index(f) for f in ("exec_simple_query", "pg_parse_query", "planner", "ExecutorRun")]
    assert order == sorted(order)
    assert all(s["status"] == "ok" for s in r.of("span"))
    perfetto = tracing.render_perfetto(r)
    assert any(e["name"] == "planner" and e["ph"] == "X" for e in perfetto["traceEvents"])
    assert tracing.render_svg(r).startswith("<svg")
    assert "Hash Join" in tracing.render_text(r) or "Nested Loop" in tracing.render_text(r)


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
        assert r.sql_error is None
        held = pg_locks(server, conn.info.backend_pid)      # while the transaction is open
        conn.execute("ROLLBACK")
    traced = {(e["locktype"], e.get("relname"), e["mode"]) for e in r.of("lock")
              if e["granted"] and e["locktype"] == "relation" and e.get("relname", "").startswith(table)}
    listed = {(lt, rel, mode) for lt, rel, mode, granted in held
              if lt == "relation" and rel and rel.startswith(table)}
    assert traced == listed
    assert ("relation", table, expect) in traced
    # our xid's ExclusiveLock, once assigned, is in both
    if any(lt == "transactionid" for lt, *_ in held):
        assert any(e["locktype"] == "transactionid" and e["mode"] == "ExclusiveLock" for e in r.of("lock"))


def test_lock_wait_is_reported(server, table):
    with server.connect() as c:
        c.execute(f"INSERT INTO {table} VALUES (1, 'x')")
    with server.connect() as holder:
        holder.execute("BEGIN")
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        r = server.trace(target="locks", sql=f"SET lock_timeout = '1s'; SELECT * FROM {table}")
        holder.execute("ROLLBACK")
    assert "lock timeout" in (r.sql_error or "")
    waited = [e for e in r.of("lock") if e["waited"]]
    assert waited and waited[0]["mode"] == "AccessShareLock" and waited[0]["result"] == "ERROR"
    assert_clean(r.pid, alive=None)


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
        r = server.trace(target="query", sql=f"SELECT id / 0 FROM {table}; SELECT 1",
                         connection=conn)
        assert "division by zero" in r.sql_error
        assert any(s["status"] == "error" for s in r.of("span"))
        assert_clean(r.pid)
        assert conn.execute("SELECT 42").fetchone()[0] == 42
        # no dangling breakpoints: a second trace of the same backend works
        r2 = server.trace(target="query", sql="SELECT 1", connection=conn)
        assert all(s["status"] == "ok" for s in r2.of("span"))
    r3 = server.trace(target="heap_insert", sql=f"INSERT INTO {table} VALUES (5, 'dup')")
    assert "duplicate key" in r3.sql_error and r3.of("heap_insert")


def test_timeout_leaves_backend_running(server):
    with server.connect() as conn:
        start = time.monotonic()
        r = server.trace(target="query", sql="SELECT pg_sleep(30)", timeout=2, connection=conn)
        assert time.monotonic() - start < 20
        assert r.timed_out and r.end_reason == "timeout"
        assert_clean(r.pid)
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_disconnect_ends_cleanly(server):
    r = server.trace(target="locks", sql="SELECT pg_terminate_backend(pg_backend_pid())")
    assert r.end_reason == "exited"
    assert r.of("trace_end")[0]["reason"] == "exited"
    time.sleep(0.2)
    assert_clean(r.pid, alive=False)


def test_keyboard_interrupt_detaches(server):
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGALRM, interrupt)
    with server.connect() as conn:
        pid = conn.info.backend_pid
        signal.setitimer(signal.ITIMER_REAL, 3.0)
        try:
            with pytest.raises(KeyboardInterrupt):
                server.trace(target="query", sql="SELECT pg_sleep(30)", connection=conn)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert_clean(pid)
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_gdb_missing_is_one_line(server):
    with pytest.raises(tracing.GdbNotFound, match="apt-get install gdb"):
        server.trace(target="wal", sql="SELECT 1", gdb="/nonexistent/gdb")


def test_build_without_debug_info(server, tmp_path):
    stripped = tmp_path / "bin"
    stripped.mkdir()
    shutil.copy(Path(server.bindir) / "postgres", stripped / "postgres")
    subprocess.run(["strip", "--strip-debug", str(stripped / "postgres")], check=True)
    with server.connect() as conn:
        with pytest.raises(tracing.NoDebugInfo, match="debug info"):
            tracing.run_trace(conninfo=server.conninfo, bindir=str(stripped), target="heap_insert",
                              sql="SELECT 1", connection=conn)
        assert_clean(conn.info.backend_pid)


# ------------------------------------------------------------------ overhead

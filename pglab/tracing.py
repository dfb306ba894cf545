"""Trace one PostgreSQL backend with gdb while it runs some SQL.

    result = run_trace(conninfo="host=/tmp/x port=5498 user=postgres",
                       target="heap_insert", sql="INSERT INTO t VALUES (1)",
                       bindir="/opt/pgdev/17/bin")
    print(render_text(result))

The driver opens (or borrows) a session, attaches `gdb -nx -batch -p PID`
running the gdb-side package in ../tracing/, waits for its ready file, runs
the SQL, then asks gdb to stop by sending the backend SIGWINCH (a signal
PostgreSQL never uses, which gdb is told to stop on and swallow), and reads
the JSON-lines events (schema "pglab.trace/1", docs/tracing.md).  On every
path -- success, SQL error, timeout, the session dying, KeyboardInterrupt --
gdb is gone afterwards and the backend is running (or has exited).

run_trace itself is independent of the rest of pglab: it takes a conninfo and
a bindir.  trace_build() at the end is the glue `invoke trace` uses: it starts
(or reuses) the build's main cluster and traces a fresh session on it.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PglabError

SCHEMA = "pglab.trace/1"
TARGETS = ("heap_insert", "wal", "query", "locks", "memctx", "hooks")
STOP_SIGNAL = signal.SIGWINCH
PACKAGE_PARENT = Path(__file__).resolve().parent.parent     # holds tracing/

READY_TIMEOUT = 60.0    # attaching and reading a -g3 postgres's symbols
STOP_GRACE = 20.0       # for gdb to finish, detach and exit after the stop signal
ROW_LIMIT = 1000


# ------------------------------------------------------------------ errors

class TraceError(PglabError):
    """A trace could not be made; str() is one line a learner can act on."""


class GdbNotFound(TraceError):
    pass


class PtraceNotPermitted(TraceError):
    pass


class NoDebugInfo(TraceError):
    pass


class TraceSetupError(TraceError):
    pass


# ------------------------------------------------------------------ result

@dataclass
class TraceResult:
    """What one run_trace() produced.

    events: the decoded JSON-lines events, in file order.
    rows / columns: the last result set of the SQL (at most ROW_LIMIT rows).
    sql_error / sqlstate: the SQL's error, if it raised one.
    sql_duration_s: wall time of the SQL alone, as the session saw it.
    end_reason: "stopped" (normal), "exited" (backend gone), "timeout",
        "gdb-killed" (gdb had to be killed), "error" (gdb-side failure).
    backend_alive: the backend process exists after the trace.
    hints: why the target may not have been hit, when it was not.
    """
    target: str
    sql: str
    pid: int
    server_version: int
    events: list = field(default_factory=list)
    rows: list | None = None
    columns: list | None = None
    sql_error: str | None = None
    sqlstate: str | None = None
    timed_out: bool = False
    end_reason: str = ""
    backend_alive: bool = True
    sql_duration_s: float | None = None
    gdb_returncode: int | None = None
    gdb_log: str = ""
    duration_s: float = 0.0
    warnings: list = field(default_factory=list)
    hints: list = field(default_factory=list)

    def of(self, *kinds):
        """Events of the given "event" types."""
        return [e for e in self.events if e.get("event") in kinds]

    def __repr__(self):
        return (f"<TraceResult {self.target} pid={self.pid} events={len(self.events)} "
                f"end={self.end_reason} error={self.sql_error!r}>")


# ------------------------------------------------------------------ checks

def find_gdb(gdb="gdb"):
    path = shutil.which(gdb)
    if path is None:
        raise GdbNotFound(f"gdb not found ({gdb!r}): install gdb: apt-get install gdb")
    return path


def _proc_status(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            return dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_state(pid):
    """One-letter /proc state ('S', 'R', 't' traced-stopped, 'T', 'Z') or None if gone."""
    status = _proc_status(pid)
    if status is None:
        return None
    return status.get("State", "?").strip()[:1]


def check_ptrace(pid):
    """Raise PtraceNotPermitted if this process cannot attach to pid."""
    if os.geteuid() == 0:
        return
    status = _proc_status(pid) or {}
    uid = int(status.get("Uid", "-1 0").split()[0])
    if uid != os.geteuid():
        raise PtraceNotPermitted(
            f"ptrace not permitted: backend {pid} runs as uid {uid}, you are uid {os.geteuid()}; "
            "run the trace as root (sudo) or as the server's OS user")
    try:
        scope = int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip())
    except (OSError, ValueError):
        return
    if scope >= 1:
        raise PtraceNotPermitted(
            f"ptrace not permitted: /proc/sys/kernel/yama/ptrace_scope is {scope}; "
            "run as root, or allow it: sudo sysctl kernel.yama.ptrace_scope=0")


# ------------------------------------------------------------------ the run

def gdb_command(gdb_path, exe, pid, config):
    """argv for gdb: batch mode, no ~/.gdbinit, our package on sys.path."""
    return [
        gdb_path, "-nx", "-batch", "-q",
        "-iex", "set debuginfod enabled off",
        "-iex", "set auto-load safe-path /",
        "-ex", f"python import sys; sys.path.insert(0, {str(PACKAGE_PARENT)!r})",
        "-ex", f"python import tracing.session; tracing.session.main({str(config)!r})",
        str(exe), str(pid),
    ]


def run_trace(*, conninfo: str, target: str, sql: str, bindir: str, gdb: str = "gdb",
              bt: bool = False, timeout: float = 60.0, extra: dict | None = None,
              connection=None) -> TraceResult:
    """Attach gdb to a backend, run `sql` in it, detach; return the events.

    target: one of TARGETS, or any function name ("function:NAME" or NAME).
    connection: an open psycopg connection to use instead of opening one from
        conninfo (left open, e.g. to inspect pg_locks inside its transaction).
    extra: options for the gdb side, e.g. {"raw_nodes": True, "max_events": N}.
    """
    import psycopg

    gdb_path = find_gdb(gdb)
    exe = Path(bindir) / "postgres"
    if not exe.exists():
        raise TraceSetupError(f"no postgres executable in {bindir}: pass the bindir of the "
                              "running server (pg_config --bindir)")
    own = connection is None
    try:
        conn = connection or psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise TraceSetupError(f"cannot connect ({conninfo}): {str(exc).strip()}") from None
    started = time.monotonic()
    try:
        pid = conn.info.backend_pid
        result = TraceResult(target=target, sql=sql, pid=pid, server_version=conn.info.server_version)
        check_ptrace(pid)
        with tempfile.TemporaryDirectory(prefix="pglab-trace-") as tmp:
            tmp = Path(tmp)
            events_path, ready_path, config = tmp / "events.jsonl", tmp / "ready", tmp / "config.json"
            config.write_text(json.dumps({
                "target": target, "events": str(events_path), "ready": str(ready_path),
                "pid": pid, "version_num": result.server_version, "bt": bt, "extra": extra or {},
            }))
            with open(tmp / "gdb.log", "w+b") as log:
                proc = subprocess.Popen(gdb_command(gdb_path, exe, pid, config),
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)   # no terminal SIGINT to gdb
                runner = None
                try:
                    _wait_ready(proc, ready_path, events_path, log)
                    runner = _SqlRunner(conn, sql)
                    runner.start()
                    result.timed_out = not runner.wait(timeout)
                finally:
                    # Runs on KeyboardInterrupt too: stop gdb first so the backend
                    # is free, then cancel whatever the session still runs.
                    result.end_reason = _stop_gdb(proc, pid)
                    if runner is not None and runner.is_alive():
                        _cancel(conn)
                        runner.wait(10.0)
                    _resume_if_stopped(pid, result)
                    log.seek(0)
                    result.gdb_log = log.read().decode("utf-8", "replace")[-20000:]
                    result.gdb_returncode = proc.returncode
            result.events = read_events(events_path)
        if runner is not None:
            result.rows, result.columns = runner.rows, runner.columns
            result.sql_error, result.sqlstate = runner.error, runner.sqlstate
            result.sql_duration_s = runner.elapsed
        if result.timed_out:
            result.end_reason = "timeout"
        result.backend_alive = process_state(pid) not in (None, "Z")
        result.warnings = [e["message"] for e in result.of("warning")]
        for err in result.of("error"):
            result.warnings.append(err["message"])
        _enrich(result, conninfo, conn)
        result.hints = hints_for(result)
        result.duration_s = time.monotonic() - started
        return result
    finally:
        if own:
            conn.close()


class _SqlRunner(threading.Thread):
    """Runs the SQL (simple query protocol, several statements allowed) in a
    thread, so the caller can time out and Ctrl-C stays responsive."""

    def __init__(self, conn, sql):
        super().__init__(daemon=True, name="pglab-trace-sql")
        self.conn, self.sql = conn, sql
        self.rows = self.columns = self.error = self.sqlstate = self.elapsed = None
        self.done = threading.Event()

    def run(self):
        import psycopg
        start = time.monotonic()
        try:
            with psycopg.ClientCursor(self.conn) as cur:
                cur.execute(self.sql)
                while True:
                    if cur.description is not None:
                        self.columns = [c.name for c in cur.description]
                        self.rows = cur.fetchmany(ROW_LIMIT)
                    if not cur.nextset():
                        break
        except psycopg.Error as exc:
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.sqlstate = getattr(exc, "sqlstate", None)
        finally:
            self.elapsed = time.monotonic() - start
            self.done.set()

    def wait(self, timeout):
        """True if finished within timeout; short waits keep Ctrl-C working."""
        deadline = time.monotonic() + timeout
        while not self.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.done.wait(min(left, 0.2))
        return True


def _wait_ready(proc, ready_path, events_path, log):
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready_path.exists():
        if proc.poll() is not None:
            log.seek(0)
            raise _setup_failure(log.read().decode("utf-8", "replace"), read_events(events_path))
        if time.monotonic() > deadline:
            raise TraceSetupError(f"gdb did not set its breakpoints within {READY_TIMEOUT:.0f}s")
        time.sleep(0.02)


def _setup_failure(gdb_log, events):
    for ev in events:
        if ev.get("event") == "error" and ev.get("fatal"):
            if ev.get("code") == "no-debug-info":
                return NoDebugInfo(ev["message"])
            return TraceSetupError(f"gdb: {ev['message']}")
    if "ptrace: Operation not permitted" in gdb_log:
        return PtraceNotPermitted(
            "ptrace not permitted: gdb could not attach (run as root, or check "
            "/proc/sys/kernel/yama/ptrace_scope and container seccomp/CAP_SYS_PTRACE)")
    if "No symbol table is loaded" in gdb_log or "no debugging symbols" in gdb_log:
        return NoDebugInfo("this PostgreSQL build has no debug info: rebuild it with -g")
    last = [ln for ln in gdb_log.splitlines() if ln.strip()][-3:]
    return TraceSetupError("gdb exited before tracing started: " + " | ".join(last))


def _stop_gdb(proc, pid):
    """Ask gdb to stop (SIGWINCH to the backend), escalate if it does not exit.
    Returns the end reason.  The signal is repeated because a stop request
    that lands during one of the tracer's own inferior calls is consumed."""
    deadline = time.monotonic() + STOP_GRACE
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            os.kill(pid, STOP_SIGNAL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(0.5)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.terminate()            # gdb detaches attached processes on SIGTERM
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return "gdb-killed"
    return "stopped" if process_state(pid) not in (None, "Z") else "exited"


def _resume_if_stopped(pid, result):
    state = process_state(pid)
    if state in ("t", "T"):
        os.kill(pid, signal.SIGCONT)
        result.warnings.append(f"backend {pid} was left stopped ({state}); sent SIGCONT")


def _cancel(conn):
    try:
        conn.cancel_safe(timeout=5.0) if hasattr(conn, "cancel_safe") else conn.cancel()
    except Exception as exc:    # noqa: BLE001 - best effort on the way out
        if not conn.closed:
            raise TraceError(f"could not cancel the traced statement: {exc}") from None


def read_events(path):
    """The events of a JSON-lines file (a torn last line is skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return out


def _enrich(result, conninfo, conn):
    """Relation names for lock events, looked up in a separate short session
    (so the traced session's transaction and pg_locks stay untouched)."""
    oids = {e["relation"] for e in result.of("lock") if "relation" in e}
    if not oids:
        return
    import psycopg
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as c2:
            db = c2.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
            names = dict(c2.execute("SELECT oid::int8, relname FROM pg_class WHERE oid = ANY(%s)",
                                    [list(oids)]).fetchall())
    except psycopg.Error:
        return
    for e in result.of("lock"):
        if e.get("relation") in names and e.get("database") in (db, 0):
            e["relname"] = names[e["relation"]]


_HINTS = {
    "heap_insert": [
        "the statement raised an ERROR before any row reached the heap",
        "no row was inserted (WHERE false, ON CONFLICT DO NOTHING, a BEFORE trigger returning NULL)",
        "the table is not a heap: check SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam",
        "the insert happened in another process (a parallel worker, dblink, a background worker)",
        "COPY and multi-row paths use heap_multi_insert (also traced): look for func=heap_multi_insert",
    ],
    "wal": [
        "temporary and unlogged tables write no WAL",
        "the statement was read-only or raised an ERROR first",
        "with wal_level=minimal, a table created in the same transaction skips WAL",
    ],
    "query": [
        "utility statements (DDL) are not planned: look for ProcessUtility",
        "the extended protocol runs exec_parse/bind/execute_message, traced as stage 'query'",
    ],
    "locks": ["locks already held in this transaction are reported as LOCKACQUIRE_ALREADY_HELD",
              "the statement took no heavyweight locks (e.g. SELECT 1)"],
}


def hints_for(result):
    """Reasons a target may not have been hit, if it was not."""
    wanted = {"heap_insert": ("heap_insert",), "wal": ("wal_record",), "query": ("span",),
              "locks": ("lock",), "memctx": ("memctx_create", "memctx_reset", "memctx_delete")}
    kinds = wanted.get(result.target, ("call",) if result.target not in TARGETS else ())
    if not kinds or result.of(*kinds):
        return []
    hints = []
    if result.sql_error:
        hints.append(f"the SQL failed: {result.sql_error}")
    if result.end_reason == "exited":
        hints.append("the backend exited during the trace")
    hints += _HINTS.get(result.target, ["the function was not called by this statement "
                                        "(or it was inlined: try its caller)"])
    return hints


# ------------------------------------------------------------------ renderers

def render_json(result):
    """The events as JSON lines (the on-disk format)."""
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in result.events)


def _columns(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return lines


def _ms(ns):
    return f"{ns / 1e6:.3f} ms"


def plan_nodes(plan_tree_event):
    """(depth, node dict) of a plan_tree event's PlannedStmt, pre-order."""
    stmt = plan_tree_event["tree"]
    out = []

    def visit(node, depth):
        if not isinstance(node, dict):
            return
        out.append((depth, node))
        for key in ("lefttree", "righttree"):
            visit(_field(node, key), depth + 1)
        for key in ("appendplans", "mergeplans", "bitmapplans", "custom_plans"):
            children = _field(node, key)
            for child in children if isinstance(children, list) else []:
                visit(child, depth + 1)
        if isinstance(_field(node, "subplan"), dict):
            visit(_field(node, "subplan"), depth + 1)

    visit(stmt.get("planTree"), 0)
    return out


# outfuncs.c node names -> EXPLAIN's "Node Type"
EXPLAIN_NAMES = {
    "SEQSCAN": "Seq Scan", "SAMPLESCAN": "Sample Scan", "INDEXSCAN": "Index Scan",
    "INDEXONLYSCAN": "Index Only Scan", "BITMAPINDEXSCAN": "Bitmap Index Scan",
    "BITMAPHEAPSCAN": "Bitmap Heap Scan", "BITMAPAND": "BitmapAnd", "BITMAPOR": "BitmapOr",
    "TIDSCAN": "Tid Scan", "TIDRANGESCAN": "Tid Range Scan", "SUBQUERYSCAN": "Subquery Scan",
    "FUNCTIONSCAN": "Function Scan", "TABLEFUNCSCAN": "Table Function Scan",
    "VALUESSCAN": "Values Scan", "CTESCAN": "CTE Scan", "NAMEDTUPLESTORESCAN": "Named Tuplestore Scan",
    "WORKTABLESCAN": "WorkTable Scan", "FOREIGNSCAN": "Foreign Scan", "CUSTOMSCAN": "Custom Scan",
    "NESTLOOP": "Nested Loop", "MERGEJOIN": "Merge Join", "HASHJOIN": "Hash Join", "HASH": "Hash",
    "MATERIAL": "Materialize", "MEMOIZE": "Memoize", "SORT": "Sort", "INCREMENTALSORT": "Incremental Sort",
    "GROUP": "Group", "AGG": "Aggregate", "WINDOWAGG": "WindowAgg", "UNIQUE": "Unique",
    "GATHER": "Gather", "GATHERMERGE": "Gather Merge", "SETOP": "SetOp", "LOCKROWS": "LockRows",
    "LIMIT": "Limit", "RESULT": "Result", "PROJECTSET": "ProjectSet", "MODIFYTABLE": "ModifyTable",
    "APPEND": "Append", "MERGEAPPEND": "Merge Append", "RECURSIVEUNION": "Recursive Union",
}


def _field(node, name):
    """A Plan field, written flat (:lefttree, up to 15) or qualified by the
    embedded struct (:join.plan.lefttree, 16+)."""
    if name in node:
        return node[name]
    for key, value in node.items():
        if key.endswith("." + name):
            return value
    return None


def _rtable_names(stmt):
    names = []
    for rte in stmt.get("rtable") or []:
        alias = (rte.get("eref") or {}).get("aliasname") if isinstance(rte, dict) else None
        names.append(alias or (rte.get("relid") if isinstance(rte, dict) else None))
    return names


def _num(value, digits):
    """A cost or row estimate as EXPLAIN prints it (2 decimals; whole rows)."""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def plan_lines(plan_tree_event):
    stmt = plan_tree_event["tree"]
    rtable = _rtable_names(stmt) if isinstance(stmt, dict) else []
    lines = []
    for depth, node in plan_nodes(plan_tree_event):
        name = EXPLAIN_NAMES.get(node["node"], node["node"])
        scanrelid = _field(node, "scanrelid")
        on = f" on {rtable[scanrelid - 1]}" if isinstance(scanrelid, int) and 0 < scanrelid <= len(rtable) else ""
        cost = (f"(cost={_num(_field(node, 'startup_cost'), 2)}..{_num(_field(node, 'total_cost'), 2)} "
                f"rows={_num(_field(node, 'plan_rows'), 0)})")
        lines.append("  " * depth + ("-> " if depth else "") + f"{name}{on}  {cost}")
    return lines


def query_summary(tree):
    """One line per Query in a query_tree event."""
    out = []
    for q in tree if isinstance(tree, list) else [tree]:
        if not isinstance(q, dict):
            continue
        rels = [((r.get("eref") or {}).get("aliasname"), r.get("relid")) for r in q.get("rtable") or []
                if isinstance(r, dict)]
        out.append(f"Query commandType={q.get('commandType')} rtable={rels} "
                   f"jointree={'yes' if q.get('jointree') else 'no'} "
                   f"targetList={len(q.get('targetList') or [])} entries")
    return out


def render_text(result):
    """A human-readable report: aligned columns or trees, per target."""
    ev = result.events
    lines = [f"trace {result.target} on backend {result.pid} (server {result.server_version}): "
             f"{len(ev)} events, end={result.end_reason}"]
    if result.sql_error:
        lines.append(f"SQL error: {result.sql_error}")
    heap = result.of("heap_insert")
    if heap:
        rows = [(e["rel"], e["func"], f"({e['block']},{e['offset']})", e["xmin"], e["t_len"],
                 " ".join(f.removeprefix("HEAP_") for f in e["flags"])) for e in heap]
        lines += _columns(rows, ["relation", "function", "tid", "xmin", "t_len", "infomask"])
    wal = result.of("wal_record")
    if wal:
        rows = [(e["start_lsn"], e["end_lsn"], e["rmgr"], e["record_type"], e["len"],
                 "yes" if e.get("has_fpi") else "") for e in wal]
        lines += _columns(rows, ["start_lsn", "end_lsn", "rmgr", "type", "len", "fpi"])
    spans = result.of("span")
    if spans:
        for s in sorted(spans, key=lambda e: (e["ts"], e["depth"])):
            status = "" if s["status"] == "ok" else f"  [{s['status']}]"
            args = ""
            if s.get("args"):
                args = " " + ", ".join(f"{k}={str(v)[:60]!s}" for k, v in s["args"].items())
            lines.append(f"{'  ' * s['depth']}{s['name']} {_ms(s['dur'])}{args}{status}")
            for frame in s.get("bt") or []:
                lines.append(f"{'  ' * s['depth']}    at {frame}")
    for q in result.of("query_tree"):
        lines.append(f"query tree after {q['func']}:")
        lines += ["  " + x for x in query_summary(q["tree"])]
    for p in result.of("plan_tree"):
        lines.append(f"plan tree from {p['func']}:")
        lines += ["  " + x for x in plan_lines(p)]
    locks = result.of("lock")
    if locks:
        rows = []
        for e in locks:
            what = e.get("relname") or ", ".join(
                f"{k}={e[k]}" for k in ("database", "relation", "page", "tuple", "transactionid",
                                        "virtualxid_proc", "virtualxid_lxid", "classid", "objid",
                                        "key1", "key2") if k in e)
            rows.append((e["locktype"], what, e["mode"], e["result"], "waited" if e["waited"] else ""))
        lines += _columns(rows, ["locktype", "object", "mode", "result", ""])
    mem = result.of("memctx_create", "memctx_reset", "memctx_delete")
    if mem:
        depth = {}
        for e in mem:
            kind = e["event"].removeprefix("memctx_")
            d = depth.get(e.get("parent"), -1) + 1 if kind == "create" else depth.get(e["addr"], 0)
            if kind == "create":
                depth[e["addr"]] = d
            extra = f" {e['mem_allocated']} bytes" if "mem_allocated" in e else ""
            lines.append(f"{'  ' * d}{kind:6} {e['name']} ({e.get('type', '')}) {e['addr']}"
                         f"{' under ' + str(e.get('parent_name')) if kind == 'create' else ''}{extra}")
    for snap in result.of("memctx_snapshot"):
        lines.append("memory contexts at trace end (allocated bytes, subtree total):")

        def walk(node, d):
            ident = f" {node['ident']}" if node.get("ident") else ""
            lines.append(f"{'  ' * d}{node['name']}{ident}: {node['mem_allocated']} "
                         f"(total {node['total_allocated']})")
            for child in node["children"]:
                walk(child, d + 1)
        walk(snap["tree"], 1)
    hooks = result.of("hook")
    if hooks:
        rows = [(e["hook"], e.get("function") or "-", e.get("library") or
                 ("postgres" if e["installed"] else "")) for e in hooks]
        lines += _columns(rows, ["hook", "function", "library"])
    calls = result.of("call")
    for e in calls:
        args = ", ".join(f"{k}={v}" for k, v in e["args"].items())
        lines.append(f"{e['function']}({args}) = {e.get('retval')}  {_ms(e['dur'])} [{e['status']}]")
        for frame in e.get("bt") or []:
            lines.append(f"    at {frame}")
    for w in result.warnings:
        lines.append(f"warning: {w}")
    for h in result.hints:
        lines.append(f"hint: {h}")
    return "\n".join(lines) + "\n"


def render_perfetto(result):
    """Chrome trace-event JSON (open in ui.perfetto.dev or chrome://tracing)."""
    if not result.events:
        return {"traceEvents": []}
    t0 = min(e["ts"] for e in result.events)
    pid = result.pid
    out = [{"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
            "args": {"name": f"postgres backend {pid}"}}]
    for e in result.events:
        ts = (e["ts"] - t0) / 1000.0
        kind = e["event"]
        if kind in ("span", "lock", "call"):
            name = e.get("name") or e.get("function") or f"{e.get('mode')} {e.get('locktype')}"
            args = {k: v for k, v in e.items() if k not in ("schema", "ts", "dur", "bt")}
            out.append({"name": name, "cat": e.get("stage", kind), "ph": "X", "ts": ts,
                        "dur": e["dur"] / 1000.0, "pid": pid, "tid": pid, "args": args})
        elif kind in ("heap_insert", "wal_record", "memctx_create", "memctx_reset", "memctx_delete"):
            name = {"heap_insert": lambda: f"heap_insert ({e['block']},{e['offset']})",
                    "wal_record": lambda: f"{e['rmgr']}/{e['record_type']}"}.get(kind, lambda: f"{kind} {e.get('name')}")()
            out.append({"name": name, "cat": kind, "ph": "i", "s": "t", "ts": ts, "pid": pid, "tid": pid,
                        "args": {k: v for k, v in e.items() if k not in ("schema", "ts", "bt")}})
    return {"traceEvents": out, "displayTimeUnit": "ns"}


def render_svg(result, width=1000):
    """An SVG picture: the query call tree as an icicle chart (x = time,
    y = depth) and, below it, the plan tree as indented boxes."""
    spans = result.of("span")
    plans = result.of("plan_tree")
    row_h, pad = 22, 10
    parts = []
    y = pad
    if spans:
        t0 = min(s["ts"] for s in spans)
        t1 = max(s["ts"] + s["dur"] for s in spans)
        scale = (width - 2 * pad) / max(t1 - t0, 1)
        palette = {"query": "#9ecae1", "parse": "#fdd0a2", "analyze": "#fdae6b", "rewrite": "#fd8d3c",
                   "plan": "#a1d99b", "execute": "#bcbddc", "utility": "#d9d9d9", "commit": "#c7e9c0"}
        maxd = max(s["depth"] for s in spans)
        parts.append(f'<text x="{pad}" y="{y + 12}" font-weight="bold">call tree (time →)</text>')
        y += 20
        for s in spans:
            x = pad + (s["ts"] - t0) * scale
            w = max(s["dur"] * scale, 1)
            yy = y + s["depth"] * row_h
            color = "#fb6a4a" if s["status"] != "ok" else palette.get(s["stage"], "#eeeeee")
            label = html.escape(f"{s['name']} {_ms(s['dur'])}")
            parts.append(f'<g><title>{label}</title><rect x="{x:.1f}" y="{yy}" width="{w:.1f}" '
                         f'height="{row_h - 2}" fill="{color}" stroke="#555" stroke-width="0.5"/>')
            if w > 40:
                parts.append(f'<text x="{x + 3:.1f}" y="{yy + 15}" font-size="11" '
                             f'clip-path="inset(0)">{html.escape(s["name"])[:int(w / 6.5)]}</text>')
            parts.append("</g>")
        y += (maxd + 1) * row_h + pad
    for p in plans:
        parts.append(f'<text x="{pad}" y="{y + 12}" font-weight="bold">plan tree ({html.escape(p["func"])})</text>')
        y += 20
        for line in plan_lines(p):
            depth = (len(line) - len(line.lstrip(" "))) // 2
            text = line.strip().removeprefix("-> ")
            x = pad + depth * 24
            parts.append(f'<rect x="{x}" y="{y}" width="{min(len(text) * 7 + 10, width - x - pad)}" '
                         f'height="{row_h - 4}" fill="#f0f0ff" stroke="#669"/>'
                         f'<text x="{x + 5}" y="{y + 13}" font-size="11">{html.escape(text)}</text>')
            y += row_h
        y += pad
    if not parts:
        parts.append(f'<text x="{pad}" y="{y + 12}">no query spans or plan in this trace</text>')
        y += 20
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + pad}" '
            f'font-family="monospace">' + "".join(parts) + "</svg>\n")


RENDERERS = {"text": render_text, "json": render_json,
             "perfetto": lambda r: json.dumps(render_perfetto(r)), "svg": render_svg}


# ------------------------------------------------------------------ pglab glue

def trace_build(settings, target, sql, *, pg=None, bt=False, timeout=60.0):
    """Trace `sql` on the main cluster of a build (started if needed)."""
    from .build import find_build
    from .cluster import Cluster

    build = find_build(settings, pg)
    cluster = Cluster.named(settings, build)
    cluster.start()
    return run_trace(conninfo=cluster.conninfo(), target=target, sql=sql, bindir=str(build.bindir), bt=bt,
                     timeout=timeout)


def check_format(fmt):
    if fmt not in RENDERERS:
        raise TraceError(f"unknown format '{fmt}': use one of {', '.join(RENDERERS)}")


def render(result, fmt):
    check_format(fmt)
    return RENDERERS[fmt](result)

"""The gdb printers (pglab_tracing.printers) and learner commands
(pglab_tracing.pgcommands) in a real gdb on a real backend of every built
major, each printed value checked against the backend's own account of it:
nodeToString() for the Query and Plan printers, pageinspect for the tuple
header and pg-page, pg_locks for pg-locks, pg_backend_memory_contexts for
pg-memctx.  Every gdb session ends detached, the backend running."""

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter

import psycopg
import pytest

from pglab.cluster import Cluster
from pglab.debugger import find_gdb
from pglab.errors import GdbNotFound
from pglab.pg.builds import find_build
from tests.conftest import built_ids
from tests.integration.test_trace import assert_running
from pglab.trace import driver
from pglab_tracing import infomask, nodes


def _gdb():
    try:
        return find_gdb()
    except GdbNotFound:
        return None


GDB = _gdb()
pytestmark = pytest.mark.skipif(GDB is None, reason="gdb not installed (invoke doctor installs it)")


class Server:
    """A throwaway cluster on one build."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.major = cluster.build.major
        self.conninfo = cluster.conninfo()

    def connect(self, **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(self.conninfo, **kw)


@pytest.fixture(scope="module", params=built_ids())
def server(request, settings):
    b = request.getfixturevalue("default_build") if request.param == "default" else find_build(settings, request.param)
    with Cluster.throwaway(settings, b, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
            c.execute("CREATE TABLE qa AS SELECT g AS id, g % 10 AS k FROM generate_series(1, 2000) g")
            c.execute("CREATE TABLE qb AS SELECT g AS k, 'n' || g AS name FROM generate_series(0, 9) g")
            c.execute("CREATE TABLE qc (id int, k int)")
            c.execute("ANALYZE qa, qb")
        yield Server(cl)


# ------------------------------------------------------------------ a gdb session

PREAMBLE = """set pagination off
set confirm off
set width 0
set print pretty on
set print elements unlimited
set print max-depth unlimited
handle SIGUSR1 SIGUSR2 SIGALRM SIGPIPE SIGURG SIGCHLD SIGHUP SIGTERM SIGQUIT SIGINT SIGIO nostop noprint pass
source {loader}
python import pglab_tracing.printers as printers; printers.register(None)
python import pglab_tracing.pgcommands
set pg-print-depth 100
python
import json
from pglab_tracing import common
results = {{"stops": []}}
def run(command):
    return gdb.execute(command, to_string=True)
def ready():
    open({ready!r}, "w").close()
try:
{body}
except Exception as exc:
    results["error"] = f"{{type(exc).__name__}}: {{exc}}"
finally:
    with open({out!r}, "w") as fh:
        json.dump(results, fh)
    for bp in gdb.breakpoints():
        bp.delete()
    gdb.execute("detach")
end
"""


def run_gdb(conn, body, statements, tmp_path, before=None):
    """Attach gdb to conn's backend running `body` (Python, inside a try),
    which calls ready() once its breakpoints are set; then run the
    statements on conn, one by one, from a thread.  Returns gdb's results
    dict and the statements' rows (or exceptions)."""
    pid = conn.info.backend_pid
    out, ready = tmp_path / "results.json", tmp_path / "ready"
    for f in (out, ready):
        f.unlink(missing_ok=True)
    script = tmp_path / "session.gdb"
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    script.write_text(PREAMBLE.format(loader=driver.loader_path(), ready=str(ready), out=str(out), body=indented))
    gdb = subprocess.Popen([GDB, "-nx", "-batch", "-q", "-iex", "set debuginfod enabled off", "-x", str(script),
                            "-p", str(pid)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    rows = []
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert gdb.poll() is None and time.monotonic() < deadline, gdb.stdout.read()
            time.sleep(0.05)
        if before is not None:
            before()

        def work():
            for stmt in statements:
                try:
                    cur = conn.execute(stmt)
                    rows.append(cur.fetchall() if cur.description else None)
                except psycopg.Error as exc:
                    rows.append(exc)
        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        output, _ = gdb.communicate(timeout=180)
        worker.join(60)
        assert not worker.is_alive(), "the statements did not finish after gdb detached"
    finally:
        if gdb.poll() is None:
            gdb.kill()
            gdb.wait()
            os.kill(pid, signal.SIGCONT)
    assert gdb.returncode == 0, output
    results = json.loads(out.read_text())
    assert "error" not in results, (results["error"], output)
    assert_running(pid)
    return results, rows


# ------------------------------------------------------------------ reading what gdb printed

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{}(),=]|[^\s{}(),="\']+')
LIST_LABELS = ("List", "IntList", "OidList", "XidList")


class Printed:
    """gdb's printing of a value (`$1 = Query = {field = value, ...}`) as
    data: a node is {"node": label, field: value...}, a List {"list": label,
    "items": [...]}, anything else the text gdb printed for it."""

    def __init__(self, text):
        self.text = re.sub(r"^\$\d+ = ", "", text.strip())
        self.toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(self.text)]
        self.pos = 0

    def parse(self):
        value = self.value()
        assert self.pos == len(self.toks), f"trailing text: {self.text[self.toks[self.pos][1]:][:200]}"
        return value

    def tok(self, k=0):
        i = self.pos + k
        return self.toks[i][0] if i < len(self.toks) else None

    def value(self):
        start, depth, head = self.pos, 0, []
        while self.pos < len(self.toks):
            t = self.tok()
            if depth == 0 and t in (",", "}", "{"):
                break
            depth += {"(": 1, ")": -1}.get(t, 0)
            head.append(t)
            self.pos += 1
        if self.tok() == "{":
            self.pos += 1
            label = " ".join(head[:-1] if head and head[-1] == "=" else head) or None
            group = self.group(label)
            if self.tok() == "(":           # `Foo {...} (printed above)`
                start = self.pos
                while self.tok() != ")":
                    self.pos += 1
                self.pos += 1
                group["note"] = self.text[self.toks[start][1]:self.toks[self.pos - 1][2]]
            return group
        assert head, f"no value at {self.text[self.toks[start][1]:][:200]}"
        return self.text[self.toks[start][1]:self.toks[self.pos - 1][2]]

    def group(self, label):
        items, fields = [], {}
        while self.tok() != "}":
            if label not in LIST_LABELS and self.tok(1) == "=" and re.fullmatch(r"\w+", self.tok() or ""):
                name = self.tok()
                self.pos += 2
                fields[name] = self.value()
            else:
                items.append(self.value())
            if self.tok() == ",":
                self.pos += 1
        self.pos += 1
        if label in LIST_LABELS:
            return {"list": label, "items": items}
        return {"node": label, **fields} if fields or not items else {"node": label, "items": items}


def printed(text):
    return Printed(text).parse()


ENUM, POINTER = "<enum>", "<pointer>"


def scalar(text):
    """What a printed scalar is: None, bool, int, float, str, a Bitmapset's
    members as ("bms", [...]), or ENUM / POINTER (not compared)."""
    if text == "NULL":
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*(e[-+]\d+)?", text):
        return float(text)
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    m = re.fullmatch(r"-?\d+ '(.*)'", text)
    if m:
        return None if m.group(1) == "\\000" else re.sub(r"\\(.)", r"\1", m.group(1))
    m = re.fullmatch(r"(String|Integer|Float|Boolean|BitString) (.*)", text)
    if m:
        return scalar(m.group(2))
    m = re.fullmatch(r"\(b((?: \d+)*)\)", text)
    if m:
        return ("bms", [int(x) for x in m.group(1).split()])
    if text.startswith("0x"):
        return POINTER
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        return ENUM
    raise AssertionError(f"unexpected printed value {text!r}")


def same_tag(label, nts_name):
    """A printed node's label (the struct's name) against nodeToString's
    node name (its upper-case spelling; RangeTblEntry is RTE before 16)."""
    return label.upper() == nts_name or (label, nts_name) == ("RangeTblEntry", "RTE")


def leaf_keys(tree):
    """nodeToString's tree with each field named by its last part: from 16
    it writes a base struct's fields as `:scan.plan.startup_cost`, where the
    printers flatten the base (`startup_cost`) as earlier majors write it."""
    if isinstance(tree, dict):
        return {k.rsplit(".", 1)[-1]: leaf_keys(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [leaf_keys(v) for v in tree]
    return tree


def nts(text):
    """nodeToString's text as data, fields named as the printers name them."""
    return leaf_keys(nodes.parse(text))


# ParseLoc fields: nodeToString writes them as -1 from 17 (write_location_fields off)
LOCATION_FIELDS = ("location", "stmt_location", "stmt_len")


def compare(p, n, path, problems, counts, locations=True):
    """Walk nodeToString's tree n and the printed tree p together; append
    to problems every path where they differ.  `locations`: whether
    nodeToString wrote the parse locations (17+ writes -1 unless asked)."""
    if isinstance(n, dict) and n.get("node") in ("IntList", "OidList", "XidList"):
        if not (isinstance(p, dict) and p.get("list") == n["node"] and [scalar(x) for x in p["items"]] == n["items"]):
            problems.append((path, p, n))
        counts["values"] += 1
        return
    if isinstance(n, dict) and n.get("node") == "Bitmapset":
        if not isinstance(p, str) or scalar(p) != ("bms", n["items"]):
            problems.append((path, p, n))
        counts["values"] += 1
        return
    if isinstance(n, dict) and "node" in n:
        if not (isinstance(p, dict) and p.get("node") and same_tag(p["node"], n["node"])):
            problems.append((path, p if not isinstance(p, dict) else p.get("node"), n["node"]))
            return
        counts["nodes"] += 1
        for key, value in n.items():
            if key in ("node", nodes.TRUNCATED):
                continue
            if key not in p:
                problems.append((f"{path}.{key}", "missing", value))
                continue
            if key in LOCATION_FIELDS and not locations and value == -1:
                counts["skipped"] += 1
                continue
            compare(p[key], value, f"{path}.{key}", problems, counts, locations)
        return
    if isinstance(n, list) and isinstance(p, str) and scalar(p) == POINTER:
        counts["skipped"] += 1          # a C array, as below
        return
    if isinstance(n, list):
        if not (isinstance(p, dict) and p.get("list") == "List" and len(p["items"]) == len(n)):
            problems.append((path, p, n))
            return
        for i, (pi, ni) in enumerate(zip(p["items"], n)):
            compare(pi, ni, f"{path}[{i}]", problems, counts, locations)
        return
    if isinstance(n, dict) and "datum_len" in n:
        counts["skipped"] += 1          # a Datum's bytes; the printer shows the Datum as a number
        return
    if isinstance(p, dict):
        problems.append((path, p.get("node") or p.get("list"), n))
        return
    got = scalar(p)
    if got in (ENUM, POINTER):
        counts["skipped"] += 1          # enums print by name, nodeToString writes their number;
        return                          # C arrays print as their address, nodeToString writes them out
    counts["values"] += 1
    if isinstance(n, float) or isinstance(got, float):
        ok = got is not None and n is not None and abs(float(got) - float(n)) <= 0.005 + 1e-9
    elif isinstance(n, bool) or isinstance(got, bool):
        ok = got is n
    elif n is None or got is None:
        ok = got is None and n is None
    else:
        ok = str(got) == str(n)
    if not ok:
        problems.append((path, got, n))


def plan_shape(plan, label_of, children_of, tlist_len):
    """(tag, targetlist length, [children]) down a plan tree."""
    if plan is None:
        return None
    return (label_of(plan), tlist_len(plan), [plan_shape(c, label_of, children_of, tlist_len)
                                              for c in children_of(plan)])


def printed_plan_shape(plan):
    return plan_shape(plan if isinstance(plan, dict) else None,
                      lambda p: p["node"].upper(),
                      lambda p: [c for c in (p.get("lefttree"), p.get("righttree")) if isinstance(c, dict)],
                      lambda p: len(p["targetlist"]["items"]) if isinstance(p["targetlist"], dict) else 0)


def nts_plan_shape(plan):
    return plan_shape(plan, lambda p: p["node"],
                      lambda p: [c for c in (p.get("lefttree"), p.get("righttree")) if c is not None],
                      lambda p: len(p["targetlist"] or []))


# ------------------------------------------------------------------ Query and Plan printers

QUERIES = {
    "join": ("SELECT qb.name, qa.id FROM qa JOIN qb USING (k) WHERE qa.id > 100",
             "CMD_SELECT", 1, ["qa", "qb"], "OpExpr", ["name", "id"]),
    "aggregate": ("SELECT k, count(*) AS n, sum(id) AS total FROM qa GROUP BY k",
                  "CMD_SELECT", 1, ["qa"], None, ["k", "n", "total"]),
    # the SELECT is a subquery in the INSERT's range table: qa is in there
    "insert_select": ("INSERT INTO qc SELECT id, k FROM qa WHERE k = 3 AND id < 500",
                      "CMD_INSERT", 3, ["qc"], None, ["id", "k"]),
    # the IN becomes a semi-join, the correlated scalar subquery a SubPlan
    "subquery": ("SELECT name, (SELECT max(id) FROM qa WHERE qa.k = qb.k) AS top FROM qb "
                 "WHERE k IN (SELECT k FROM qa WHERE id < 50)",
                 "CMD_SELECT", 1, ["qb"], "SubLink", ["name", "top"]),
}

PLANNER_BODY = """
bp = gdb.Breakpoint("planner", internal=True)
ready()
for i in range({n}):
    gdb.execute("continue")
    stop = {{"query": run("p parse"),
             "query_nts": common.node_to_string(gdb.parse_and_eval("parse"))}}
    gdb.execute("set pg-print-depth 1")
    stop["shallow"] = run("p parse")
    gdb.execute("set pg-print-depth 100")
    bp.enabled = False
    run("finish")
    bp.enabled = True
    stop["plan"] = run("p $")
    stop["plan_nts"] = common.node_to_string(gdb.history(0))
    results["stops"].append(stop)
"""


@pytest.fixture(scope="module")
def planned(server, tmp_path_factory, gdb_can_call):
    """What gdb printed at planner() for each of QUERIES: the Query printed
    and as nodeToString() wrote it, and the same for the PlannedStmt."""
    if not gdb_can_call:
        return None
    with server.connect() as conn:
        conn.execute("TRUNCATE qc")
        results, rows = run_gdb(conn, PLANNER_BODY.format(n=len(QUERIES)),
                                [q[0] for q in QUERIES.values()], tmp_path_factory.mktemp("planner"))
        assert not any(isinstance(r, Exception) for r in rows), rows
        oids = dict(conn.execute("SELECT relname::text, oid::int FROM pg_class WHERE relname IN ('qa', 'qb', 'qc')"))
    return {name: stop for name, stop in zip(QUERIES, results["stops"])}, oids


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_printer_matches_node_to_string(server, needs_calls, planned, name):
    stops, oids = planned
    sql, command, command_num, rels, quals_tag, resnames = QUERIES[name]
    stop = stops[name]
    query, tree = printed(stop["query"]), nts(stop["query_nts"])
    assert query["node"] == "Query" and tree["node"] == "QUERY"
    problems, counts = [], Counter()
    compare(query, tree, "Query", problems, counts, locations=server.major < 17)
    assert problems == []
    assert counts["nodes"] > 10 and counts["values"] > 100, counts
    # the key fields, spelled out
    assert (query["commandType"], tree["commandType"]) == (command, command_num)
    relids = [scalar(rte["relid"]) for rte in query["rtable"]["items"] if rte["rtekind"] == "RTE_RELATION"]
    assert relids == [rte["relid"] for rte in tree["rtable"] if rte["rtekind"] == 0] == [oids[r] for r in rels]
    quals = query["jointree"]["quals"]
    assert (quals if quals == "NULL" else quals["node"]) == (quals_tag or "NULL")
    assert [scalar(te["resname"]) for te in query["targetList"]["items"]] == \
        [te["resname"] for te in tree["targetList"]] == resnames
    # pg-print-depth 1: nested nodes below the first level are not expanded
    shallow = printed(stop["shallow"])
    assert shallow["rtable"]["items"] == [{"node": "RangeTblEntry", "items": ["..."]}] * len(tree["rtable"])


@pytest.mark.parametrize("name", list(QUERIES))
def test_plan_printer_matches_node_to_string(server, needs_calls, planned, name):
    stops, _ = planned
    stop = stops[name]
    plan, tree = printed(stop["plan"]), nts(stop["plan_nts"])
    assert plan["node"] == "PlannedStmt" and tree["node"] == "PLANNEDSTMT"
    problems, counts = [], Counter()
    compare(plan, tree, "PlannedStmt", problems, counts, locations=server.major < 17)
    assert problems == []
    assert counts["nodes"] > 15 and counts["values"] > 150, counts
    # the plan nodes' tags, their targetlist lengths and their tree, spelled out
    assert printed_plan_shape(plan["planTree"]) == nts_plan_shape(tree["planTree"])
    if name == "subquery":
        assert len(tree["subplans"]) == 1
        assert [printed_plan_shape(s) for s in plan["subplans"]["items"]] == \
            [nts_plan_shape(s) for s in tree["subplans"]]
    else:
        assert (plan["subplans"], tree["subplans"]) == ("NULL", None)


# ------------------------------------------------------------------ at heap_insert: tuple, page, stack, datums

HEAP_INSERT = "INSERT INTO ht VALUES (3, 'three', 12.50)"

HEAP_BODY = """
addr = common.anchor_address("heap_insert", "pgstat_count_heap_insert(")
gdb.Breakpoint(f"*{addr:#x}", internal=True)
ready()
gdb.execute("continue")
results["tuple"] = run("p *heaptup->t_data")
results["tuple_pointer"] = run("p heaptup->t_data")
results["tid"] = run("p heaptup->t_self")
results["relation"] = run("p relation")
results["page"] = run("pg-page buffer")
results["stack"] = run("pg-stack")
frames, f = [], gdb.newest_frame()
while f is not None:
    frames.append(f.name())
    f = f.older()
results["frames"] = frames
results["bad"] = [run(e) for e in ("p (Query *) 8", "p (List *) 16", "p (Node *) 0", "p (HeapTupleHeader) 24",
                                     "p (Relation) 32", "p (MemoryContext) 40", "p (Bitmapset *) 48")]
# a FromExpr (built in gdb, not in the backend) whose two node pointers point nowhere
t = gdb.lookup_type("FromExpr").strip_typedefs()
raw = bytearray(t.sizeof)
for field, value in (("type", int(gdb.parse_and_eval("T_FromExpr"))), ("fromlist", 0x10), ("quals", 0x18)):
    f = next(f for f in t.fields() if f.name == field)
    raw[f.bitpos // 8:f.bitpos // 8 + f.type.sizeof] = value.to_bytes(f.type.sizeof, "little")
results["bad"].append(gdb.Value(bytes(raw), t).format_string(pretty_structs=False))
"""


@pytest.fixture(scope="module")
def heap_stop(server, tmp_path_factory):
    """gdb at heap_insert() of HEAP_INSERT, once the tuple is on its page;
    then pageinspect's view of that page, read after the insert committed
    and before anything read the table (which would set hint bits)."""
    with server.connect() as conn:
        conn.execute("CREATE TABLE ht (id int, note text, amount numeric)")
        conn.execute("INSERT INTO ht VALUES (1, 'one', NULL), (2, repeat('x', 300), 2.5)")
        results, rows = run_gdb(conn, HEAP_BODY, [HEAP_INSERT],
                                tmp_path_factory.mktemp("heap"))
        assert rows == [None], rows
        header = conn.execute("SELECT lsn::text, checksum, flags, lower, upper, special, pagesize, version, "
                              "prune_xid::text::int FROM page_header(get_raw_page('ht', 0))").fetchone()
        items = conn.execute(
            "SELECT lp, lp_off, lp_flags, lp_len, t_xmin::text::int, t_xmax::text::int, t_field3, t_ctid::text, "
            "t_hoff, t_infomask2, t_infomask, raw_flags "
            "FROM heap_page_items(get_raw_page('ht', 0)) LEFT JOIN LATERAL "
            "heap_tuple_infomask_flags(t_infomask, t_infomask2) ON true ORDER BY lp").fetchall()
        where = conn.execute("SELECT ctid::text, xmin::text::int FROM ht WHERE id = 3").fetchone()
        locator = conn.execute("SELECT (CASE reltablespace WHEN 0 THEN (SELECT oid FROM pg_tablespace "
                               "WHERE spcname = 'pg_default') ELSE reltablespace END)::int, "
                               "(SELECT oid::int FROM pg_database WHERE datname = current_database()), "
                               "pg_relation_filenode('ht')::int, 'ht'::regclass::oid::int FROM pg_class "
                               "WHERE oid = 'ht'::regclass").fetchone()
    return results, header, items, where, locator


def test_tuple_header_printer_matches_pageinspect(server, heap_stop):
    results, _, items, (ctid, xmin), _ = heap_stop
    tup = printed(results["tuple"])
    assert printed(results["tuple_pointer"]) == tup
    lp = int(ctid.strip("()").split(",")[1])
    item = items[lp - 1]
    assert results["tid"].split(" = ", 1)[1].strip() == ctid == item[7]
    assert scalar(tup["xmin"]) == xmin == item[4]
    assert (scalar(tup["xmax"]), scalar(tup["cid"]), scalar(tup["hoff"])) == (item[5], item[6], item[8])
    assert tup["infomask"] == f"{item[10]:#06x} ({' | '.join(item[11])})"
    assert tup["infomask"].endswith("(HEAP_HASVARWIDTH | HEAP_XMAX_INVALID)")
    assert tup["infomask2"] == f"{item[9]:#06x}" and scalar(tup["natts"]) == 3
    # the copy heap_insert made is not the one on the page: its ctid was never set
    assert tup["ctid"] == "(4294967295,0)"


def parse_page(text):
    """pg-page's output: (tag line, header dict, [item dicts])."""
    lines = text.splitlines()
    header = {}
    for chunk in lines[1].split("  "):
        key, value = chunk.split(" ")[:2]
        header[key] = value
    columns = lines[2].replace("cid/xvac", "cid").split()
    items = []
    for line in lines[3:]:
        values = line.split()
        item = dict(zip(columns, values))
        item["names"] = values[len(columns)] if len(values) > len(columns) else ""
        items.append(item)
    return lines[0], header, items


def test_pg_page_matches_pageinspect(server, heap_stop):
    results, header, items, _, (spc, db, filenode, _) = heap_stop
    tag, got, lps = parse_page(results["page"])
    assert re.fullmatch(rf"buffer \d+: rel {spc}/{db}/{filenode} fork MAIN_FORKNUM block 0, page at 0x[0-9a-f]+", tag)
    lsn = [int(x, 16) for x in got["lsn"].split("/")]
    assert lsn == [int(x, 16) for x in header[0].split("/")]
    assert [int(got[k], 0) for k in ("checksum", "flags", "lower", "upper", "special", "pagesize", "version",
                                     "prune_xid")] == list(header[1:])
    assert len(lps) == len(items) == 3
    for lp, item in zip(lps, items):
        assert (int(lp["lp"]), int(lp["off"]), lp["flags"], int(lp["len"])) == \
            (item[0], item[1], "LP_NORMAL", item[3]) and item[2] == 1
        assert (int(lp["xmin"]), int(lp["xmax"]), int(lp["cid"]), lp["ctid"], int(lp["hoff"])) == \
            (item[4], item[5], item[6], item[7], item[8])
        assert (int(lp["infomask2"], 16), int(lp["infomask"], 16)) == (item[9], item[10])
        assert lp["names"].split("|") == item[11] == infomask.decode_infomask(item[10], item[9])
        assert int(lp["natts"]) == 3
    assert [lp["names"] for lp in lps] == ["HEAP_HASNULL|HEAP_HASVARWIDTH|HEAP_XMAX_INVALID",
                                           "HEAP_HASVARWIDTH|HEAP_XMAX_INVALID", "HEAP_HASVARWIDTH|HEAP_XMAX_INVALID"]


STACK_LINE = re.compile(r"#(\d+)\s+(\S+)\s+(.+?)\s+(\w+\.c:\d+)")


def test_pg_stack_in_heap_insert(server, heap_stop):
    results = heap_stop[0]
    lines = results["stack"].splitlines()
    assert lines[0] == f"statement: {HEAP_INSERT}"
    rows = [STACK_LINE.fullmatch(line).groups() for line in lines[1:]]
    assert [(func, what) for _, func, what, _ in rows] == [
        ("heap_insert", "(here)"), ("ExecModifyTable", "ModifyTable"), ("ExecutePlan", "execute plan"),
        ("standard_ExecutorRun", "executor run"), ("ExecutorRun", "executor run"), ("ProcessQuery", "execute"),
        ("PortalRunMulti", "portal run"), ("PortalRun", "portal run"), ("exec_simple_query", "simple query")]
    # the frame numbers are gdb's, for `frame N`
    assert all(results["frames"][int(n)] == func for n, func, _, _ in rows)
    assert rows[0][3].startswith("heapam.c:") and rows[1][3].startswith("nodeModifyTable.c:")


def test_relation_printer(server, heap_stop):
    results, *_, (spc, db, filenode, oid) = heap_stop
    assert results["relation"].split(" = ", 1)[1].strip() == \
        f'Relation "ht" oid {oid} relkind \'r\' refcnt 1 locator {spc}/{db}/{filenode}'


def test_bad_pointers_print_as_unreadable(server, heap_stop):
    bad = [text.split(" = ", 1)[1].strip() for text in heap_stop[0]["bad"][:-1]] + heap_stop[0]["bad"][-1:]
    assert bad == ["<unreadable 0x8>", "<unreadable 0x10>", "NULL",
                   "HeapTupleHeader = {\n  header = <unreadable 0x18>\n}", "<unreadable 0x20>", "<unreadable 0x28>",
                   "<unreadable 0x30>", "FromExpr = {fromlist = <unreadable 0x10>, quals = <unreadable 0x18>}"]



# ------------------------------------------------------------------ pg-datum

# (SQL constant, pg-datum's TYPE argument, what pg-datum prints); numeric
# goes through the backend's numeric_out (an inferior call)
DATUMS = [("3", "int4", "3"), ("'-2'::int2", "smallint", "-2"), ("'7'::int8", "20", "7"),
          ("'true'::bool", "bool", "true"), ("'2.5'::float8", "float8", "2.5"), ("'26'::oid", "oid", "26"),
          ("'three'::text", "text", '"three"'), ("'vc'::varchar", "varchar", '"vc"'), ("'nm'::name", "name", '"nm"'),
          ("12.50", "numeric", "12.50")]

DATUM_BODY = """
gdb.Breakpoint("planner", internal=True)
ready()
gdb.execute("continue")
results["datums"] = []
for i, type_name in enumerate({types!r}):
    if type_name == "numeric" and not {calls}:
        continue
    const = f"((Const *) ((TargetEntry *) parse->targetList->elements[{{i}}].ptr_value)->expr)"
    results["datums"].append((run(f"p {{const}}->consttype").split(" = ")[1].strip(),
                              run(f"pg-datum {{const}}->constvalue {{type_name}}")))
"""


def test_pg_datum(server, tmp_path, gdb_can_call):
    with server.connect() as conn:
        sql = "SELECT " + ", ".join(d[0] for d in DATUMS)
        results, rows = run_gdb(conn, DATUM_BODY.format(types=[d[1] for d in DATUMS], calls=gdb_can_call),
                                [sql], tmp_path)
        assert len(rows[0][0]) == len(DATUMS)
        oids = [conn.execute(f"SELECT pg_typeof({d[0]})::oid::int").fetchone()[0] for d in DATUMS]
    expect = [[str(oid), shown + "\n"] for oid, (_, _, shown) in zip(oids, DATUMS)]
    assert results["datums"] == (expect if gdb_can_call else expect[:-1])


# ------------------------------------------------------------------ pg-locks

def parse_locks(text):
    """pg-locks' lines as pg_locks rows: (locktype, database, relation,
    transactionid, virtualxid, mode, granted, fastpath)."""
    lines = text.splitlines()
    assert re.fullmatch(r"backend \d+ \(virtualxid \d+/\d+, transactionid \d+\): \d+ lock\(s\)", lines[0])
    rows = []
    for line in lines[1:]:
        if not line.startswith("  "):
            continue                    # the line on what it waits behind
        words = line.split()
        fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        rest = [w for w in words[2:] if "=" not in w]
        rows.append((words[1], int(fields["database"]) if "database" in fields else None,
                     int(fields["relation"]) if "relation" in fields else None,
                     fields.get("transactionid"), fields.get("virtualxid"), rest[0],
                     words[0] == "held", rest[1:] == ["fast-path"]))
    assert int(lines[0].rsplit(": ", 1)[1].split()[0]) == len(rows)
    return rows


def pg_locks_of(conn, pid):
    return conn.execute("SELECT locktype, database::int, relation::int, transactionid::text, virtualxid, mode, "
                        "granted, fastpath FROM pg_locks WHERE pid = %s", [pid]).fetchall()


LOCKS_BODY = """
ready()
results["locks"] = run("pg-locks")
"""


def test_pg_locks_held_match_pg_locks(server, tmp_path):
    with server.connect() as setup:
        setup.execute("DROP TABLE IF EXISTS lk1, lk2, lk3")
        setup.execute("CREATE TABLE lk1 (id int); CREATE TABLE lk2 (id int); CREATE TABLE lk3 (id int)")
        oids = dict(setup.execute("SELECT relname::text, oid::int FROM pg_class WHERE relname IN ('lk1', 'lk2', 'lk3')"))
    with server.connect() as conn, server.connect() as other:
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE lk1 IN ACCESS EXCLUSIVE MODE")     # the shared lock table
        conn.execute("SELECT * FROM lk2")                            # a fast-path AccessShareLock
        conn.execute("INSERT INTO lk3 VALUES (1)")                   # RowExclusiveLock, and an xid
        results, _ = run_gdb(conn, LOCKS_BODY, [], tmp_path)
        listed = pg_locks_of(other, conn.info.backend_pid)
        xid = conn.execute("SELECT txid_current()::text").fetchone()[0]
        conn.execute("ROLLBACK")
    got = parse_locks(results["locks"])
    assert sorted(got, key=repr) == sorted(listed, key=repr)
    assert not results["locks"].splitlines()[-1].startswith("waits for")
    relations = {(rel, mode, fast) for kind, _, rel, _, _, mode, _, fast in got if kind == "relation"}
    assert {(oids["lk1"], "AccessExclusiveLock", False), (oids["lk2"], "AccessShareLock", True),
            (oids["lk3"], "RowExclusiveLock", True)} <= relations
    assert [(kind, x, mode) for kind, _, _, x, _, mode, _, _ in got if kind == "transactionid"] == \
        [("transactionid", xid, "ExclusiveLock")]


def test_pg_locks_waiting_matches_pg_locks(server, tmp_path):
    with server.connect() as setup:
        setup.execute("DROP TABLE IF EXISTS lw")
        setup.execute("CREATE TABLE lw (id int)")
        oid = setup.execute("SELECT 'lw'::regclass::oid::int").fetchone()[0]
    with server.connect() as holder, server.connect() as waiter, server.connect() as other:
        waiter.execute("SET lock_timeout = '100s'")      # never waits forever, whatever fails here
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE lw IN ACCESS EXCLUSIVE MODE")
        pid = waiter.info.backend_pid
        blocked = threading.Thread(target=lambda: waiter.execute("SELECT * FROM lw"), daemon=True)
        blocked.start()
        try:
            deadline = time.monotonic() + 30
            while not other.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted",
                                    [pid]).fetchone()[0]:
                assert time.monotonic() < deadline, "the waiter never waited"
                time.sleep(0.05)
            results, _ = run_gdb(waiter, LOCKS_BODY, [], tmp_path)
            listed = pg_locks_of(other, pid)
        finally:
            holder.execute("ROLLBACK")      # lets the waiter go before its connection is closed
            blocked.join(30)
        assert not blocked.is_alive()
    got = parse_locks(results["locks"])
    assert sorted(got, key=repr) == sorted(listed, key=repr)
    assert [(kind, rel, mode) for kind, _, rel, _, _, mode, granted, _ in got if not granted] == \
        [("relation", oid, "AccessShareLock")]
    db = [row[1] for row in got if row[0] == "relation"][0]
    assert results["locks"].splitlines()[-1] == \
        f"waits for AccessShareLock on relation database={db} relation={oid}, granted there: AccessExclusiveLock"


# ------------------------------------------------------------------ pg-memctx

MEMCTX_LINE = re.compile(r"( *)(.*?)(?: \((.*)\))? \[(\w+)\]: (\d+) bytes, subtree (\d+)")

# PutMemoryContextsStatsTupleStore() writes one row per context; stopped at
# its first call, gdb sees the tree the function is about to walk
MEMCTX_BODY = """
gdb.Breakpoint("PutMemoryContextsStatsTupleStore", internal=True)
ready()
gdb.execute("continue")
results["memctx"] = run("pg-memctx")
results["memctx_shallow"] = run("pg-memctx 1")
"""

VIEW = "SELECT name, ident, level, total_bytes FROM pg_backend_memory_contexts"


def parse_memctx(text):
    """pg-memctx's lines: [(level, name, ident, type, bytes, subtree)], total."""
    lines = text.splitlines()
    rows = []
    for line in lines[:-1]:
        indent, name, ident, kind, own, subtree = MEMCTX_LINE.fullmatch(line).groups()
        rows.append((len(indent) // 2, name, ident, kind, int(own), int(subtree)))
    total, count = re.fullmatch(r"total: (\d+) bytes in (\d+) contexts", lines[-1]).groups()
    return rows, int(total), int(count)


def test_pg_memctx_matches_pg_backend_memory_contexts(server, tmp_path):
    if server.major < 14:
        pytest.skip("pg_backend_memory_contexts, the cross-check, exists from PostgreSQL 14")
    with server.connect() as conn:
        conn.execute(VIEW)      # its caches warm: the traced run allocates nothing new outside the query
        results, rows = run_gdb(conn, MEMCTX_BODY, [VIEW], tmp_path)
    view = rows[0]
    got, total, count = parse_memctx(results["memctx"])
    assert got[0][:2] == (0, "TopMemoryContext")
    assert count == len(got) == len(view)
    assert total == got[0][5] == sum(own for *_, own, _ in got)
    # the view names a dynahash context by its table (the ident), and counts levels from 1 in 18
    base = min(level for _, _, level, _ in view)
    listed = Counter((level - base, name) for name, _, level, _ in view)
    assert Counter((lv, ident if name == "dynahash" else name) for lv, name, ident, *_ in got) == listed
    # bytes agree for every context but those the view's own function allocates in while it
    # runs: its result rows (ExecutorState; in 18 their own "tuplestore tuples"), the list of
    # contexts to visit (ExprContext) and, in 18, the hash of their ids
    growing = {"ExecutorState", "ExprContext", "tuplestore tuples", "pg_get_backend_memory_contexts"}
    seen = Counter((lv, ident if name == "dynahash" else name, own) for lv, name, ident, _, own, _ in got
                   if (ident if name == "dynahash" else name) not in growing)
    assert seen == Counter((level - base, name, size) for name, _, level, size in view if name not in growing)
    shallow, shallow_total, _ = parse_memctx(results["memctx_shallow"])
    assert shallow == [row for row in got if row[0] <= 1] and shallow_total == total


# ------------------------------------------------------------------ nested executor state

PLANSTATE_BODY = """
gdb.Breakpoint("ExecModifyTable", internal=True)
ready()
gdb.execute("continue")
results["planstate"] = run("p *pstate")
"""


def test_planstate_prints_bounded(server, tmp_path):
    """`p *pstate` (a PlanState *) prints the ModifyTableState it is; the
    EState every PlanState points to prints as EState {...}, and a pointer
    back to a node being printed (RETURNING's projection's parent) as
    printed above, not again."""
    with server.connect() as conn:
        results, rows = run_gdb(conn, PLANSTATE_BODY, ["INSERT INTO qc VALUES (1, 2) RETURNING id"], tmp_path)
    assert rows == [[(1,)]]
    state = printed(results["planstate"])
    assert (state["node"], state["plan"]["node"]) == ("ModifyTableState", "ModifyTable")
    assert state["state"] == {"node": "EState", "items": ["..."]}
    returning = state["resultRelInfo"]["ri_projectReturning"]
    assert returning["node"] == "ProjectionInfo"
    assert returning["pi_state"]["parent"] == {"node": "ModifyTableState", "items": ["..."], "note": "(printed above)"}

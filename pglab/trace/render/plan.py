"""Query and Plan trees as a learner reads them, shared by the text and SVG
renderings: plan nodes named and costed as EXPLAIN prints them (subplans
where EXPLAIN shows them), the executor's calls of each plan node counted as
EXPLAIN ANALYZE counts loops and rows, one line per Query, and durations in
milliseconds."""

from dataclasses import dataclass, field

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
    "RESULTCACHE": "Result Cache",
}


def ms(ns):
    """A duration in nanoseconds as the renderings print it."""
    return f"{ns / 1e6:.3f} ms"


def _field(node, name):
    """A Plan field, written flat (:lefttree, up to 15) or qualified by the
    embedded struct (:join.plan.lefttree, 16+)."""
    if name in node:
        return node[name]
    for key, value in node.items():
        if key.endswith("." + name):
            return value
    return None


_CHILD_PLANS = ("lefttree", "righttree")
_CHILD_LISTS = ("appendplans", "mergeplans", "bitmapplans", "custom_plans")
# fields of a plan node that hold other plan nodes, searched for no SubPlan of its own
_NOT_EXPRESSIONS = _CHILD_PLANS + _CHILD_LISTS + ("subplan", "initPlan")


@dataclass
class PlanNode:
    """One node of a plan as EXPLAIN draws it: `node` is the parsed plan node,
    `subplan` the name EXPLAIN gives a subplan it heads ("SubPlan 2",
    "InitPlan 1", "CTE c")."""
    depth: int
    node: dict
    node_id: int | None
    name: str
    relation: str | None = None
    subplan: str | None = None

    @property
    def label(self):
        """`Index Scan on i`, as EXPLAIN names the node (the relation by its alias)."""
        return f"{self.name} on {self.relation}" if self.relation else self.name


def _own_subplans(node):
    """The SubPlan expressions in a plan node's own expressions (targetlist,
    quals...), in field order: the subplans EXPLAIN lists under the node."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if value.get("node") == "SUBPLAN":
                found.append(value)
            for key, v in value.items():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for key, value in node.items():
        if key.rsplit(".", 1)[-1] not in _NOT_EXPRESSIONS:
            walk(value)
    return found


def plan_tree(plan_tree_event):
    """The PlanNodes of a plan_tree event's PlannedStmt in EXPLAIN's order:
    a node, its InitPlans, its outer and inner children, the plans an Append
    or a Subquery Scan runs, then the SubPlans of its expressions."""
    stmt = plan_tree_event["tree"]
    if not isinstance(stmt, dict):
        return []
    rtable = _rtable_names(stmt)
    subplans = stmt.get("subplans") if isinstance(stmt.get("subplans"), list) else []
    out = []

    def visit(node, depth, subplan=None):
        if not isinstance(node, dict) or not node.get("node"):
            return
        scanrelid = _field(node, "scanrelid")
        relation = rtable[scanrelid - 1] if isinstance(scanrelid, int) and 0 < scanrelid <= len(rtable) else None
        node_id = _field(node, "plan_node_id")
        out.append(PlanNode(depth, node, node_id if isinstance(node_id, int) else None,
                            EXPLAIN_NAMES.get(node["node"], node["node"]), relation, subplan))
        init = _field(node, "initPlan")
        for sp in init if isinstance(init, list) else []:
            visit_subplan(sp, depth + 1)
        for key in _CHILD_PLANS:
            visit(_field(node, key), depth + 1)
        for key in _CHILD_LISTS:
            children = _field(node, key)
            for child in children if isinstance(children, list) else []:
                visit(child, depth + 1)
        if isinstance(_field(node, "subplan"), dict):
            visit(_field(node, "subplan"), depth + 1)
        for sp in _own_subplans(node):
            visit_subplan(sp, depth + 1)

    def visit_subplan(sp, depth):
        plan_id = sp.get("plan_id") if isinstance(sp, dict) else None
        if isinstance(plan_id, int) and 0 < plan_id <= len(subplans):
            visit(subplans[plan_id - 1], depth, sp.get("plan_name") or f"SubPlan {plan_id}")

    visit(stmt.get("planTree"), 0)
    return out


def plan_nodes(plan_tree_event):
    """(depth, node dict) of a plan_tree event's PlannedStmt, in EXPLAIN's order."""
    return [(n.depth, n.node) for n in plan_tree(plan_tree_event)]


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


def cost(node):
    """`(cost=1.23..61.35 rows=1900)`, as EXPLAIN prints a node's estimates."""
    return (f"(cost={_num(_field(node, 'startup_cost'), 2)}..{_num(_field(node, 'total_cost'), 2)} "
            f"rows={_num(_field(node, 'plan_rows'), 0)})")


def plan_line(n):
    """A PlanNode as EXPLAIN's node line, without indentation: `Hash Join  (cost=...)`."""
    return f"{n.label}  {cost(n.node)}"


def plan_lines(plan_tree_event):
    """The plan as EXPLAIN draws it: `-> Hash Join  (cost=1.23..61.35 rows=1900)`,
    indented two spaces per level."""
    return ["  " * n.depth + ("-> " if n.depth else "") + plan_line(n) for n in plan_tree(plan_tree_event)]


# ------------------------------------------------------------------ the executor's calls per plan node

@dataclass
class NodeCalls:
    """The recorded calls of one plan node: `calls` ExecProcNode calls (or
    MultiExecProcNode's, `multi`), in `loops` loops as EXPLAIN ANALYZE counts
    them; `rows` those that returned a row (None: not known, as for Hash);
    `dur` their summed duration (ns, children's calls and gdb's stops
    included); `spans` each call's (ts, dur, loop, row, status)."""
    node_id: int
    node: str                   # the Plan's node tag: "IndexScan"
    function: str | None        # its ExecProcNode function: "ExecIndexScan"
    calls: int = 0
    loops: int = 0
    rows: int | None = None
    dur: int = 0
    multi: bool = False
    spans: list = field(default_factory=list)

    @property
    def name(self):
        """EXPLAIN's name for the node type."""
        return EXPLAIN_NAMES.get(self.node.upper(), self.node)

    def summary(self):
        """`4 loops · 20 calls · 16 rows · 4.620 ms`."""
        parts = [_count(self.loops, "loop"), _count(self.calls, "call")]
        if self.rows is not None:
            parts.append(_count(self.rows, "row"))
        parts.append(ms(self.dur))
        return " · ".join(parts)


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def node_calls(result, plan):
    """{plan node id: NodeCalls} of the executor's calls of plan `plan` (the
    plan_tree event's "plan"; None: calls of plans not traced)."""
    out = {}
    loops = {}
    for e in sorted((e for e in result.of("exec_call") if e.get("plan") == plan), key=lambda e: e["ts"]):
        nc = out.get(e["node_id"])
        if nc is None:
            nc = out[e["node_id"]] = NodeCalls(e["node_id"], e["node"], e.get("function"))
        nc.calls += 1
        nc.dur += e["dur"]
        nc.multi = nc.multi or bool(e.get("multi"))
        if e.get("row") is not None:
            nc.rows = (nc.rows or 0) + bool(e["row"])
        loops.setdefault(e["node_id"], set()).add((e.get("executor"), e.get("loop")))
        nc.spans.append((e["ts"], e["dur"], e.get("loop"), e.get("row"), e.get("status", "ok")))
    for node_id, seen in loops.items():
        out[node_id].loops = len(seen)
    return out


def executor_cap(result):
    """The cap on recorded executor calls when the trace reached it, else None."""
    capped = result.of("exec_capped")
    return capped[0]["cap"] if capped else None


def query_summary(tree):
    """One line per Query in a query_tree event."""
    out = []
    for q in tree if isinstance(tree, list) else [tree]:
        if not isinstance(q, dict) or q.get("node") != "QUERY":
            continue
        rels = [((r.get("eref") or {}).get("aliasname"), r.get("relid")) for r in q.get("rtable") or []
                if isinstance(r, dict) and r.get("node")]
        out.append(f"Query commandType={q.get('commandType')} rtable={rels} "
                   f"jointree={'yes' if q.get('jointree') else 'no'} "
                   f"targetList={len(q.get('targetList') or [])} entries")
    return out

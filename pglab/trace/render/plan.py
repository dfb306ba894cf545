"""Query and Plan trees as a learner reads them, shared by the text and SVG
renderings: plan nodes named and costed as EXPLAIN prints them, one line per
Query, and durations in milliseconds."""

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


def plan_nodes(plan_tree_event):
    """(depth, node dict) of a plan_tree event's PlannedStmt, pre-order."""
    stmt = plan_tree_event["tree"]
    out = []

    def visit(node, depth):
        if not isinstance(node, dict) or not node.get("node"):
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

    if isinstance(stmt, dict):
        visit(stmt.get("planTree"), 0)
    return out


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
    """The plan as EXPLAIN draws it: `-> Hash Join  (cost=1.23..61.35 rows=1900)`,
    indented two spaces per level."""
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
        if not isinstance(q, dict) or q.get("node") != "QUERY":
            continue
        rels = [((r.get("eref") or {}).get("aliasname"), r.get("relid")) for r in q.get("rtable") or []
                if isinstance(r, dict) and r.get("node")]
        out.append(f"Query commandType={q.get('commandType')} rtable={rels} "
                   f"jointree={'yes' if q.get('jointree') else 'no'} "
                   f"targetList={len(q.get('targetList') or [])} entries")
    return out

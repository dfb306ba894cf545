"""The text rendering: aligned columns or trees, per target, then the
warnings and hints (`invoke trace --format text`, the default)."""

from .plan import ms, plan_lines, query_summary


def _columns(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return lines


def _heap(result):
    rows = [(e["rel"], e["func"], f"({e['block']},{e['offset']})", e["xmin"], e["t_len"],
             " ".join(f.removeprefix("HEAP_") for f in e["flags"])) for e in result.of("heap_insert")]
    return _columns(rows, ["relation", "function", "tid", "xmin", "t_len", "infomask"]) if rows else []


def _wal(result):
    rows = [(e["start_lsn"], e["end_lsn"], e["rmgr"], e["record_type"], e["len"],
             "yes" if e.get("has_fpi") else "") for e in result.of("wal_record")]
    return _columns(rows, ["start_lsn", "end_lsn", "rmgr", "type", "len", "fpi"]) if rows else []


def _spans(result):
    lines = []
    for s in sorted(result.of("span"), key=lambda e: (e["ts"], e["depth"])):
        status = "" if s["status"] == "ok" else f"  [{s['status']}]"
        args = ""
        if s.get("args"):
            args = " " + ", ".join(f"{k}={str(v)[:60]!s}" for k, v in s["args"].items())
        lines.append(f"{'  ' * s['depth']}{s['name']} {ms(s['dur'])}{args}{status}")
        for frame in s.get("bt") or []:
            lines.append(f"{'  ' * s['depth']}    at {frame}")
    return lines


def _trees(result):
    lines = []
    cut = " (cut short)"
    for q in result.of("query_tree"):
        lines.append(f"query tree after {q['func']}{cut if q.get('truncated') else ''}:")
        lines += ["  " + x for x in query_summary(q["tree"])]
    for p in result.of("plan_tree"):
        lines.append(f"plan tree from {p['func']}{cut if p.get('truncated') else ''}:")
        lines += ["  " + x for x in plan_lines(p)]
    return lines


def _locks(result):
    rows = []
    for e in result.of("lock"):
        what = e.get("relname") or ", ".join(
            f"{k}={e[k]}" for k in ("database", "relation", "page", "tuple", "transactionid",
                                    "virtualxid_proc", "virtualxid_lxid", "classid", "objid",
                                    "key1", "key2") if k in e)
        rows.append((e["locktype"], what, e["mode"], e["result"], "waited" if e["waited"] else ""))
    return _columns(rows, ["locktype", "object", "mode", "result", ""]) if rows else []


def _memory(result):
    lines = []
    depth = {}
    for e in result.of("memctx_create", "memctx_reset", "memctx_delete"):
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
    return lines


def _hooks(result):
    rows = [(e["hook"], e.get("function") or "-", e.get("library") or ("postgres" if e["installed"] else ""))
            for e in result.of("hook")]
    return _columns(rows, ["hook", "function", "library"]) if rows else []


def _calls(result):
    lines = []
    for e in result.of("call"):
        args = ", ".join(f"{k}={v}" for k, v in e["args"].items())
        lines.append(f"{e['function']}({args}) = {e.get('retval')}  {ms(e['dur'])} [{e['status']}]")
        for frame in e.get("bt") or []:
            lines.append(f"    at {frame}")
    return lines


def render_text(result):
    """A human-readable report: aligned columns or trees, per target."""
    lines = [f"trace {result.target} on backend {result.pid} (server {result.server_version}): "
             f"{len(result.events)} events, end={result.end_reason}"]
    if result.sql_error:
        lines.append(f"SQL error: {result.sql_error}")
    for section in (_heap, _wal, _spans, _trees, _locks, _memory, _hooks, _calls):
        lines += section(result)
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [f"hint: {h}" for h in result.hints]
    return "\n".join(lines) + "\n"


render = render_text

"""The Perfetto rendering: Chrome trace-event JSON, which ui.perfetto.dev and
chrome://tracing open.  Spans, locks and calls become complete ("X") events;
tuples, WAL records and memory-context changes instant ("i") events."""

import json

_INSTANTS = ("heap_insert", "wal_record", "memctx_create", "memctx_reset", "memctx_delete")


def _instant_name(e):
    kind = e["event"]
    if kind == "heap_insert":
        return f"heap_insert ({e['block']},{e['offset']})"
    if kind == "wal_record":
        return f"{e['rmgr']}/{e['record_type']}"
    return f"{kind} {e.get('name')}"


def render_perfetto(result):
    """The trace-event object (a dict); timestamps in µs from the first event."""
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
        elif kind in _INSTANTS:
            out.append({"name": _instant_name(e), "cat": kind, "ph": "i", "s": "t", "ts": ts, "pid": pid,
                        "tid": pid, "args": {k: v for k, v in e.items() if k not in ("schema", "ts", "bt")}})
    return {"traceEvents": out, "displayTimeUnit": "ns"}


def render(result):
    return json.dumps(render_perfetto(result))

"""The Perfetto rendering: Chrome trace-event JSON, which ui.perfetto.dev and
chrome://tracing open.  Spans, locks and calls become complete ("X") events;
tuples, WAL records and memory-context changes instant ("i") events.  With a
second session (--other), its waits as the driver sampled them go on a track
of its own backend, beside the traced backend's sleeps and wake-ups."""

import json

_INSTANTS = ("heap_insert", "wal_record", "memctx_create", "memctx_reset", "memctx_delete", "lock_wakeup",
             "deadlock_check", "deadlock", "other_start", "other_end")


def _instant_name(e):
    kind = e["event"]
    if kind == "heap_insert":
        return f"heap_insert ({e['block']},{e['offset']})"
    if kind == "wal_record":
        return f"{e['rmgr']}/{e['record_type']}"
    if kind == "lock_wakeup":
        return f"wakes {e['woken_pid']}"
    if kind in ("deadlock_check", "other_end"):
        return f"{kind} {e.get('result') or e.get('error') or 'ok'}"
    if kind in ("deadlock", "other_start"):
        return kind
    return f"{kind} {e.get('name')}"


def render_perfetto(result):
    """The trace-event object (a dict); timestamps in µs from the first event."""
    if not result.events:
        return {"traceEvents": []}
    t0 = min(e["ts"] for e in result.events)
    pid = result.pid
    out = [{"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
            "args": {"name": f"postgres backend {pid}"}}]
    if result.other_pid is not None:
        out.append({"name": "process_name", "ph": "M", "pid": result.other_pid, "tid": result.other_pid,
                    "args": {"name": f"other session, backend {result.other_pid}"}})
    for e in result.events:
        ts = (e["ts"] - t0) / 1000.0
        kind = e["event"]
        # the driver's events are about the backend in their pid (the other session's, or a sampled wait's)
        track = e.get("pid", pid) if e.get("origin") == "driver" else pid
        if kind in ("span", "lock", "call", "lock_wait", "session_wait"):
            name = e.get("name") or e.get("function") or f"{e.get('mode')} {e.get('locktype')}"
            if kind in ("lock_wait", "session_wait"):
                name = f"waits: {name}"
            args = {k: v for k, v in e.items() if k not in ("schema", "ts", "dur", "bt")}
            out.append({"name": name, "cat": e.get("stage", kind), "ph": "X", "ts": ts,
                        "dur": e.get("dur", 0) / 1000.0, "pid": track, "tid": track, "args": args})
        elif kind in _INSTANTS:
            out.append({"name": _instant_name(e), "cat": kind, "ph": "i", "s": "t", "ts": ts, "pid": track,
                        "tid": track, "args": {k: v for k, v in e.items() if k not in ("schema", "ts", "bt")}})
    return {"traceEvents": out, "displayTimeUnit": "ns"}


def render(result):
    return json.dumps(render_perfetto(result))

"""The text rendering: aligned columns or trees, per target, then the
warnings and hints (`invoke trace --format text`, the default).  A trace with
waits, wake-ups or a second session (--other) also gets a timeline: which
session did what, who waited for whom, the release and the durations."""

from .plan import ms, plan_lines, query_summary

FIRST_NORMAL_OID = 16384    # FirstNormalObjectId: the timeline leaves initdb's own relations out


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
        result = f"{e['result']} (deadlock detected)" if e.get("deadlock") else e["result"]
        rows.append((e["locktype"], what, e["mode"], result, "waited" if e["waited"] else ""))
    return _columns(rows, ["locktype", "object", "mode", "result", ""]) if rows else []


# ------------------------------------------------------------------ the timeline of waits

TIMELINE_EVENTS = ("other_start", "other_end", "session_wait", "lock_wait", "lock_wakeup", "deadlock_check",
                   "deadlock")


def lock_object(e):
    """What a lock event is on, as a learner reads it: relation t, transaction 745, tuple (0,1) of t."""
    rel = e.get("relname") or (f"relation {e['relation']}" if "relation" in e else None)
    kind = e.get("locktype")
    if kind == "relation":
        return f"relation {e['relname']}" if e.get("relname") else rel
    if kind == "transactionid":
        return f"transaction {e['transactionid']}"
    if kind == "tuple":
        return f"tuple ({e.get('page')},{e.get('tuple')}) of {e.get('relname') or rel}"
    if kind == "page":
        return f"page {e.get('page')} of {e.get('relname') or rel}"
    if kind == "virtualxid":
        vxid = e.get("virtualxid") or f"{e.get('virtualxid_proc')}/{e.get('virtualxid_lxid')}"
        return f"virtual transaction {vxid}"
    if kind in ("extend", "relation_extend"):
        return f"extension of {e.get('relname') or rel}"
    fields = ", ".join(f"{k}={e[k]}" for k in ("database", "classid", "objid", "key1", "key2") if k in e)
    return f"{kind} {fields}".strip()


def _user_object(e):
    return "relation" not in e or e["relation"] >= FIRST_NORMAL_OID


def _same_lock(a, b):
    return all(a.get(k) == b.get(k) for k in ("locktype", "mode", "relation", "transactionid", "page", "tuple"))


def _timeline(result):
    """(ns, who, text) lines: what the traced backend did with locks of your
    objects, its waits and wake-ups (gdb side), and what the driver saw of
    both sessions (--other)."""
    if not result.of(*TIMELINE_EVENTS):
        return []
    other = result.other_pid
    names = {result.pid: "traced", other: "other"}

    def who(pid):
        return f"{names[pid]} ({pid})" if pid in names else f"backend {pid}"

    traced_waits = [w for w in result.of("session_wait") if w.get("session") == "traced"]
    items = []
    for e in result.events:
        kind = e.get("event")
        if kind == "lock" and _user_object(e):
            end = e["ts"] + e.get("dur", 0)
            if e["result"] == "ERROR":
                why = "deadlock detected" if e.get("deadlock") else "an ERROR (lock_timeout, cancel...)"
                items.append((end, result.pid, f"does not get {e['mode']} on {lock_object(e)}: {why}"))
            elif e["waited"]:
                items.append((end, result.pid, f"gets {e['mode']} on {lock_object(e)} after waiting"))
            elif e["result"] == "LOCKACQUIRE_OK":
                items.append((e["ts"], result.pid, f"locks {lock_object(e)} in {e['mode']}"))
        elif kind == "lock_wait":
            blockers = [b for w in traced_waits if _same_lock(w, e) for b in w.get("blocked_by", [])]
            by = f", blocked by {', '.join(who(b) for b in dict.fromkeys(blockers))}" if blockers else ""
            outcome = {"granted": "granted", "deadlock": "deadlock detected", "error": "ended by an ERROR",
                       "unfinished": "still asleep when the trace ended"}.get(e.get("result"), e.get("result"))
            items.append((e["ts"], result.pid, f"sleeps waiting for {e['mode']} on {lock_object(e)}{by}: "
                                               f"{ms(e['dur'])}, {outcome}"))
        elif kind == "deadlock_check":
            verdict = {"DS_NO_DEADLOCK": "no deadlock", "DS_SOFT_DEADLOCK": "a soft deadlock, queue rearranged",
                       "DS_HARD_DEADLOCK": "deadlock", "DS_BLOCKED_BY_AUTOVACUUM": "blocked by autovacuum"}
            items.append((e["ts"], result.pid, f"checks for a deadlock after deadlock_timeout: "
                                               f"{verdict.get(e.get('result'), e.get('result'))}"))
        elif kind == "deadlock":
            items.append((e["ts"], result.pid, f"deadlock detected: raises ERROR waiting for {e.get('mode')} on "
                                               f"{lock_object(e)}"))
        elif kind == "lock_wakeup":
            items.append((e["ts"], result.pid, f"releases {lock_object(e)}: wakes {who(e['woken_pid'])}, "
                                               f"granted {e['mode']}"))
        elif kind == "other_start":
            after = " (after the traced SQL ended)" if e.get("after_traced") else ""
            items.append((e["ts"], e["pid"], f"starts{after}: {e['sql']}"))
        elif kind == "session_wait" and e.get("session") == "other":
            by = ", ".join(who(b) for b in e.get("blocked_by", [])) or "nobody listed"
            seen = f"seen for ~{e['dur'] / 1e6:.0f} ms" if e.get("ended") else "still waiting at the end"
            items.append((e["ts"], e["pid"], f"waits for {e['mode']} on {lock_object(e)}, blocked by {by} "
                                             f"({seen})"))
        elif kind == "other_end":
            items.append((e["ts"], e["pid"], f"ends after {e['duration_s'] * 1000:.1f} ms: "
                                             + _outcome(e.get("error"), e.get("sqlstate"))))
    if result.sql_start_ns is not None and result.sql_duration_s is not None:
        items.append((result.sql_start_ns + int(result.sql_duration_s * 1e9), result.pid,
                      f"SQL ends after {result.sql_duration_s * 1000:.1f} ms: "
                      + _outcome(result.sql_error, result.sqlstate)))
    if not items:
        return []
    items.sort(key=lambda item: item[0])
    t0 = result.sql_start_ns if result.sql_start_ns is not None else items[0][0]
    width = max(len(who(pid)) for _, pid, _ in items)
    lines = [f"timeline (ms after the traced SQL started; traced = backend {result.pid}"
             + (f", other = backend {other}" if other else "") + "):"]
    lines += [f"{(ts - t0) / 1e6:9.1f}  {who(pid).ljust(width)}  {text}" for ts, pid, text in items]
    return lines


def _outcome(error, sqlstate):
    return f"ERROR {error} ({sqlstate})" if error else "ok"


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
    if result.hidden:
        lines.append(f"{result.hidden} catalog lock events hidden (--user-only)")
    if result.sql_error:
        lines.append(f"SQL error: {result.sql_error}")
    if result.other_pid is not None:
        lines.append(f"other session on backend {result.other_pid}: {result.other_sql}")
        if result.other_error:
            lines.append(f"other session's SQL error: {result.other_error} ({result.other_sqlstate})")
    for section in (_heap, _wal, _spans, _trees, _locks, _memory, _hooks, _calls, _timeline):
        lines += section(result)
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [f"hint: {h}" for h in result.hints]
    return "\n".join(lines) + "\n"


render = render_text

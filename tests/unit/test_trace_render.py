"""The renderings, plan parsing and hints, replayed on traces recorded from real
runs on 15.18 (tests/fixtures/traces/, made by record.py there): the text
rendering compared whole with the one recorded, the plan with EXPLAIN's."""

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from pglab.errors import TraceError
from pglab.trace import TraceResult, render
from pglab.trace.render import plan
from pglab.trace.targets import hints_for
from pglab_tracing import nodes, targets
from tests.fixtures.traces.explain import explain_lines

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "traces"
NAMES = sorted(p.name.removesuffix(".events.jsonl") for p in FIXTURES.glob("*.events.jsonl"))
SVG = "{http://www.w3.org/2000/svg}"


def recorded(name):
    meta = json.loads((FIXTURES / f"{name}.result.json").read_text())
    meta["rows"] = [tuple(r) for r in meta["rows"]] if meta["rows"] is not None else None
    events = [json.loads(line) for line in (FIXTURES / f"{name}.events.jsonl").read_text().splitlines()]
    return TraceResult(events=events, **meta)


def explain_plan():
    return json.loads((FIXTURES / "query_join.explain.json").read_text())[0]["Plan"]


def test_every_scenario_is_recorded():
    assert NAMES == ["call", "heap_insert", "heap_insert_none", "hooks", "locks", "memctx", "query_error",
                     "query_join", "wal"]


@pytest.mark.parametrize("name", NAMES)
def test_text_rendering(name):
    assert render.render(recorded(name), "text") == (FIXTURES / f"{name}.txt").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_json_rendering_is_the_events_file(name):
    assert render.render(recorded(name), "json") == (FIXTURES / f"{name}.events.jsonl").read_text()


def test_unknown_format_is_one_line():
    with pytest.raises(TraceError, match="unknown format 'html': use one of text, json, perfetto, svg"):
        render.render(recorded("wal"), "html")


# ------------------------------------------------------------------ plans and queries

def test_plan_is_explains():
    [event] = recorded("query_join").of("plan_tree")
    assert [plan.EXPLAIN_NAMES[n["node"]] for _, n in plan.plan_nodes(event)] == \
        ["Aggregate", "Hash Join", "Seq Scan", "Hash", "Seq Scan"]
    assert [d for d, _ in plan.plan_nodes(event)] == [0, 1, 2, 2, 3]
    assert plan.plan_lines(event) == explain_lines(explain_plan())


def test_query_summary():
    [event] = recorded("query_join").of("query_tree")
    assert plan.query_summary(event["tree"]) == [
        "Query commandType=1 rtable=[('qa', 16384), ('qb', 16387), ('unnamed_join', None)] "
        "jointree=yes targetList=2 entries"]


def test_a_plan_cut_short_renders_what_was_read():
    [event] = recorded("query_join").of("plan_tree")
    text = event["text"]
    cut = text[:text.index(":righttree")]           # inside the Hash Join, before its inner side
    part = {**event, "tree": nodes.parse(cut), "truncated": True}
    # the range table comes after the plan in a PlannedStmt: the scan cannot name its relation
    expected = ["Aggregate  (cost=70.85..70.95 rows=10)",
                "  -> Hash Join  (cost=1.23..61.35 rows=1900)",
                "    -> Seq Scan  (cost=0.00..34.00 rows=1900)"]
    assert plan.plan_lines(part) == expected
    result = replace(recorded("query_join"), events=[part], warnings=[], hints=[])
    assert render.render(result, "text").splitlines()[1:] == [
        "plan tree from planner (cut short):"] + ["  " + line for line in expected]
    labels = [t.text for t in ET.fromstring(render.render(result, "svg")).iter(f"{SVG}text")]
    assert labels[1:] == [line.strip().removeprefix("-> ") for line in expected]


# ------------------------------------------------------------------ perfetto and svg

def test_perfetto_query_spans_are_complete_events():
    result = recorded("query_join")
    out = json.loads(render.render(result, "perfetto"))
    t0 = min(e["ts"] for e in result.events)
    spans = result.of("span")
    complete = [e for e in out["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["cat"], e["ts"], e["dur"]) for e in complete] == [
        (s["name"], s["stage"], (s["ts"] - t0) / 1000.0, s["dur"] / 1000.0) for s in spans]
    assert out["traceEvents"][0] == {"name": "process_name", "ph": "M", "pid": result.pid, "tid": result.pid,
                                     "args": {"name": f"postgres backend {result.pid}"}}
    assert len(out["traceEvents"]) == 1 + len(spans)      # trees, start and end are not drawn
    assert out["displayTimeUnit"] == "ns"


def test_perfetto_instants():
    result = recorded("wal")
    out = render.render_perfetto(result)
    assert [(e["name"], e["ph"], e["s"]) for e in out["traceEvents"][1:]] == [
        (f"{r['rmgr']}/{r['record_type']}", "i", "t") for r in result.of("wal_record")]
    heap = render.render_perfetto(recorded("heap_insert"))
    assert [e["name"] for e in heap["traceEvents"][1:]] == [
        f"heap_insert ({e['block']},{e['offset']})" for e in recorded("heap_insert").of("heap_insert")]
    locks = render.render_perfetto(recorded("locks"))
    assert [e["name"] for e in locks["traceEvents"][1:]] == [
        f"{e['mode']} {e['locktype']}" for e in recorded("locks").of("lock")]


def test_svg_draws_the_call_tree_and_the_plan():
    result = recorded("query_join")
    svg = ET.fromstring(render.render(result, "svg"))
    assert svg.tag == f"{SVG}svg"
    titles = [g.find(f"{SVG}title").text for g in svg.iter(f"{SVG}g")]
    assert titles == [f"{s['name']} {plan.ms(s['dur'])}" for s in result.of("span")]
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    at = labels.index("plan tree (planner)")
    assert labels[at + 1:] == [line.strip().removeprefix("-> ") for line in explain_lines(explain_plan())]
    assert labels[0] == "call tree (time →)"


def test_svg_marks_the_spans_an_error_unwound():
    svg = ET.fromstring(render.render(recorded("query_error"), "svg"))
    red = sorted(g.find(f"{SVG}title").text.split()[0] for g in svg.iter(f"{SVG}g")
                 if g.find(f"{SVG}rect").get("fill") == "#fb6a4a")
    assert red == ["ExecutorRun", "PortalRun", "exec_simple_query"]


def test_svg_without_query_events():
    labels = [t.text for t in ET.fromstring(render.render(recorded("wal"), "svg")).iter(f"{SVG}text")]
    assert labels == ["no query spans or plan in this trace"]


# ------------------------------------------------------------------ hints

def test_hints_when_the_target_was_not_hit():
    result = recorded("heap_insert_none")
    assert hints_for(result) == list(targets.BY_NAME["heap_insert"].hints)
    failed = replace(result, sql_error="relation \"nope\" does not exist", end_reason="exited")
    assert hints_for(failed) == ['the SQL failed: relation "nope" does not exist',
                                 "the backend exited during the trace"] + list(targets.BY_NAME["heap_insert"].hints)


def test_no_hints_when_the_target_was_hit():
    for name in ("heap_insert", "wal", "query_join", "locks", "memctx", "hooks", "call"):
        assert hints_for(recorded(name)) == [], name


@pytest.mark.parametrize("target", ["ExecInsert", "function:wal", "no_such_function"])
def test_function_targets_fall_back_to_the_function_hint(target):
    result = replace(recorded("heap_insert_none"), target=target)
    assert hints_for(result) == ["the function was not called by this statement (or it was inlined: try its caller)"]


@pytest.mark.parametrize("name", ["wal", "query_join", "locks", "memctx", "hooks"])
def test_each_target_has_its_own_hints(name):
    result = recorded(name)
    missed = replace(result, events=[e for e in result.events if e["event"] in ("trace_start", "ready", "trace_end")])
    assert hints_for(missed) == list(targets.resolve(result.target).hints)
    assert hints_for(missed)


def test_hint_for_a_gdb_that_cannot_call_into_the_backend():
    result = replace(recorded("query_join"), warnings=[
        "deferred work failed: Couldn't write extended state status: Bad address."])
    [hint] = hints_for(result)
    assert hint.startswith("gdb 18.1 cannot call functions in the backend on this CPU")


# ------------------------------------------------------------------ two sessions (--other): the timeline

MS = 1_000_000      # ns
T0 = 25_081_000_000_000     # the traced SQL's start on CLOCK_MONOTONIC, as the driver records it


def lock(ms, mode, result="LOCKACQUIRE_OK", waited=False, dur=0.1, **tag):
    return {"event": "lock", "ts": T0 + int(ms * MS), "dur": int(dur * MS), "pid": 101, "mode": mode,
            "result": result, "waited": waited, "granted": result != "ERROR", **tag}


def rel(oid, name):
    return {"locktype": "relation", "database": 5, "relation": oid, "relname": name}


XID = {"locktype": "transactionid", "transactionid": 727}


def two_sessions(events, **kw):
    """A locks trace of backend 101 beside the other session 202, with the events given."""
    fields = dict(target="locks", sql="UPDATE t SET v=v+1 WHERE id=1; SELECT pg_sleep(1)", pid=101,
                  server_version=150018, end_reason="stopped", sql_start_ns=T0, sql_duration_s=1.1019,
                  other_sql="UPDATE t SET v=v+1 WHERE id=1", other_pid=202, other_duration_s=1.0066)
    fields.update(kw)
    return TraceResult(events=events, **fields)


def driver_event(kind, ms, **fields):
    return {"event": kind, "ts": T0 + int(ms * MS), "origin": "driver", **fields}


def test_the_timeline_of_a_wait_names_both_sessions_the_wait_and_the_wakeup():
    events = [
        lock(40.0, "AccessShareLock", **rel(1259, "pg_class")),                # a catalog: table only
        lock(50.4, "RowExclusiveLock", **rel(16385, "t")),
        lock(51.0, "RowExclusiveLock", result="LOCKACQUIRE_ALREADY_CLEAR", **rel(16385, "t")),
        lock(86.4, "ExclusiveLock", **XID),
        {"event": "lock_wakeup", "ts": T0 + 1101 * MS, "pid": 101, "woken_pid": 202, "mode": "ShareLock", **XID},
        driver_event("other_start", 96.0, pid=202, session="other", sql="UPDATE t SET v=v+1 WHERE id=1",
                     after_traced=False),
        driver_event("session_wait", 96.1, pid=202, session="other", mode="ShareLock", blocked_by=[101],
                     dur=1006 * MS + 633_000, ended=True, **XID),
        driver_event("other_end", 1102.6, pid=202, session="other", duration_s=1.0066, error=None, sqlstate=None),
    ]
    assert render.render(two_sessions(events, hidden=104), "text").splitlines() == [
        "trace locks on backend 101 (server 150018): 8 events, end=stopped",
        "104 catalog lock events hidden (--user-only)",
        "other session on backend 202: UPDATE t SET v=v+1 WHERE id=1",
        "locktype       object             mode              result",
        "-------------  -----------------  ----------------  -------------------------  ",
        "relation       pg_class           AccessShareLock   LOCKACQUIRE_OK",
        "relation       t                  RowExclusiveLock  LOCKACQUIRE_OK",
        "relation       t                  RowExclusiveLock  LOCKACQUIRE_ALREADY_CLEAR",
        "transactionid  transactionid=727  ExclusiveLock     LOCKACQUIRE_OK",
        "timeline (ms after the traced SQL started; traced = backend 101, other = backend 202):",
        "     50.4  traced (101)  locks relation t in RowExclusiveLock",
        "     86.4  traced (101)  locks transaction 727 in ExclusiveLock",
        "     96.0  other (202)   starts: UPDATE t SET v=v+1 WHERE id=1",
        "     96.1  other (202)   waits for ShareLock on transaction 727, blocked by traced (101) (seen for ~1007 ms)",
        "   1101.0  traced (101)  releases transaction 727: wakes other (202), granted ShareLock",
        "   1101.9  traced (101)  SQL ends after 1101.9 ms: ok",
        "   1102.6  other (202)   ends after 1006.6 ms: ok",
    ]


def test_a_deadlock_the_traced_backend_detects_says_so_where_it_happened():
    events = [
        lock(55.3, "RowExclusiveLock", **rel(16385, "t")),
        lock(129.6, "ExclusiveLock", **XID),
        lock(684.7, "ShareLock", result="ERROR", waited=True, dur=1002.0, deadlock=True,
             locktype="transactionid", transactionid=728),
        {"event": "lock_wait", "ts": T0 + int(684.9 * MS), "dur": 1001 * MS, "pid": 101, "result": "deadlock",
         "mode": "ShareLock", "locktype": "transactionid", "transactionid": 728},
        {"event": "deadlock_check", "ts": T0 + int(1685.9 * MS), "dur": MS // 10, "pid": 101,
         "result": "DS_HARD_DEADLOCK", "mode": "ShareLock", "locktype": "transactionid"},
        {"event": "deadlock", "ts": T0 + int(1686.5 * MS), "pid": 101, "mode": "ShareLock",
         "locktype": "transactionid", "transactionid": 728},
        {"event": "lock_wakeup", "ts": T0 + 1689 * MS, "pid": 101, "woken_pid": 202, "mode": "ShareLock", **XID},
        driver_event("other_start", 134.5, pid=202, session="other", sql="UPDATE t SET v=v+1 WHERE id=2",
                     after_traced=False),
        driver_event("session_wait", 700.0, pid=101, session="traced", mode="ShareLock", blocked_by=[202],
                     dur=1000 * MS, ended=True, locktype="transactionid", transactionid=728),
        driver_event("other_end", 1689.9, pid=202, session="other", duration_s=1.5554, error=None, sqlstate=None),
    ]
    result = two_sessions(events, sql_error="deadlock detected", sqlstate="40P01", sql_duration_s=1.6894)
    text = render.render(result, "text").splitlines()
    assert text[1] == "SQL error: deadlock detected"
    assert "transactionid  transactionid=728  ShareLock         ERROR (deadlock detected)  waited" in text
    assert text[text.index("timeline (ms after the traced SQL started; traced = backend 101, other = backend 202):")
                + 1:] == [
        "     55.3  traced (101)  locks relation t in RowExclusiveLock",
        "    129.6  traced (101)  locks transaction 727 in ExclusiveLock",
        "    134.5  other (202)   starts: UPDATE t SET v=v+1 WHERE id=2",
        "    684.9  traced (101)  sleeps waiting for ShareLock on transaction 728, blocked by other (202): "
        "1001.000 ms, deadlock detected",
        "   1685.9  traced (101)  checks for a deadlock after deadlock_timeout: deadlock",
        "   1686.5  traced (101)  deadlock detected: raises ERROR waiting for ShareLock on transaction 728",
        "   1686.7  traced (101)  does not get ShareLock on transaction 728: deadlock detected",
        "   1689.0  traced (101)  releases transaction 727: wakes other (202), granted ShareLock",
        "   1689.4  traced (101)  SQL ends after 1689.4 ms: ERROR deadlock detected (40P01)",
        "   1689.9  other (202)   ends after 1555.4 ms: ok",
    ]


def test_an_other_session_that_failed_at_once_is_one_line():
    events = [driver_event("other_start", 20.0, pid=202, session="other", sql="SELECT 1/0", after_traced=False),
              driver_event("other_end", 21.0, pid=202, session="other", duration_s=0.001,
                           error="division by zero", sqlstate="22012")]
    result = two_sessions(events, other_sql="SELECT 1/0", other_error="division by zero", other_sqlstate="22012")
    text = render.render(result, "text").splitlines()
    assert text[1:3] == ["other session on backend 202: SELECT 1/0",
                         "other session's SQL error: division by zero (22012)"]
    assert text[-3:] == ["     20.0  other (202)   starts: SELECT 1/0",
                         "     21.0  other (202)   ends after 1.0 ms: ERROR division by zero (22012)",
                         "   1101.9  traced (101)  SQL ends after 1101.9 ms: ok"]


def test_perfetto_puts_the_other_sessions_wait_on_its_own_track():
    events = [lock(50.4, "RowExclusiveLock", **rel(16385, "t")),
              driver_event("session_wait", 96.1, pid=202, session="other", mode="ShareLock", blocked_by=[101],
                           dur=1000 * MS, ended=True, **XID)]
    out = render.render_perfetto(two_sessions(events))
    assert [(e["name"], e["ph"], e["pid"]) for e in out["traceEvents"]] == [
        ("process_name", "M", 101), ("process_name", "M", 202),
        ("RowExclusiveLock relation", "X", 101), ("waits: ShareLock transactionid", "X", 202)]
    assert out["traceEvents"][3]["dur"] == 1000 * 1000.0       # µs

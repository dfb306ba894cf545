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

"""The renderings, plan parsing and hints, replayed on traces recorded from real
runs on 15.18 (tests/fixtures/traces/, made by record.py there): the text
rendering compared whole with the one recorded, the plan with EXPLAIN's."""

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from pglab.errors import TraceError
from pglab.trace import TraceResult, render
from pglab.trace.render import plan
from pglab.trace.targets import hints_for
from pglab_tracing import nodes, targets
from tests.fixtures.traces import picture
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
                     "query_join", "query_nested", "wal"]


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
    rows = picture.plan_rows(ET.fromstring(render.render(result, "svg")))
    assert [r["label"] for r in rows] == [line.strip().removeprefix("-> ") for line in expected]


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
    svg = picture.parse(render.render(result, "svg"))
    assert svg.tag == f"{SVG}svg"
    titles = [g.find(f"{SVG}title").text for g in svg.iter(f"{SVG}g") if g.get("class") == "span"]
    assert sorted(titles) == sorted(f"{s['name']} {plan.ms(s['dur'])}" for s in result.of("span"))
    rows = picture.plan_rows(svg)
    assert [r["label"] for r in rows] == [line.strip().removeprefix("-> ") for line in explain_lines(explain_plan())]
    assert all(r["calls"] is None for r in rows)    # recorded before the executor's calls were
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert labels.index("call tree (time →)") < labels.index("plan tree (planner)")


def test_svg_marks_the_spans_an_error_unwound():
    svg = picture.parse(render.render(recorded("query_error"), "svg"))
    red = sorted(g.find(f"{SVG}title").text.split()[0] for g in svg.iter(f"{SVG}g")
                 if g.get("class") == "span" and g.find(f"{SVG}rect").get("fill") == "#fb6a4a")
    assert red == ["ExecutorRun", "PortalRun", "exec_simple_query"]
    assert ("left by an ERROR", "#fb6a4a") in picture.legend(svg)


def test_svg_without_query_events():
    result = recorded("wal")
    labels = [t.text for t in picture.parse(render.render(result, "svg")).iter(f"{SVG}text")]
    assert labels == [f"trace wal · backend {result.pid} · PostgreSQL 15.18", f"SQL: {result.sql}",
                      "no query spans or plan in this trace"]


# ------------------------------------------------------------------ the picture, as a person reads it

def nested_svg():
    result = recorded("query_nested")
    return result, picture.parse(render.render(result, "svg"))


@pytest.mark.parametrize("name", ["query_nested", "query_join", "query_error"])
def test_svg_names_every_box_of_the_call_tree_without_overlaps(name):
    result = recorded(name)
    svg = picture.parse(render.render(result, "svg"))
    drawn = picture.spans(svg)
    assert sorted(n for n, *_ in drawn) == sorted(s["name"] for s in result.of("span"))
    for full, shown, where, rect, text in drawn:
        assert shown, f"{full} has no name on the picture"
        # its name, or its start cut with an ellipsis: the full name is the box's <title>, on hover
        assert shown == full or (shown.endswith("…") and full.startswith(shown[:-1]) and len(shown) >= 9), shown
        assert where in ("inside", "right", "left", "callout"), where
        x, y, w, h = rect
        box = picture.text_box(text)
        if where == "inside":
            assert x <= box[0] and box[2] <= x + w + 1, (full, box, rect)
        elif where in ("right", "left"):
            assert box[0] >= x + w if where == "right" else box[2] <= x, (full, box, rect)
            assert y <= box[1] and box[3] <= y + h
        else:
            assert box[1] > max(r[1] + r[3] for *_, r, _ in drawn), full     # under the chart
    names = [(full, picture.text_box(text)) for full, _, _, _, text in drawn]
    for i, (a, box_a) in enumerate(names):
        for b, box_b in names[i + 1:]:
            assert not picture.overlap(box_a, box_b), (a, b)
        for full, _, where, rect, _ in drawn:
            x, y, w, h = rect
            if full != a and w > 1.5:
                assert not picture.overlap(box_a, (x + 0.5, y + 0.5, x + w - 0.5, y + h - 0.5)), (a, "over", full)
    # no leader, from a narrow box down to its name, crosses another name
    for path in svg.iter(f"{SVG}path"):
        if path.get("class") == "leader":
            (x, y0), (_, y1) = [tuple(map(float, p.split(","))) for p in path.get("d")[1:].split(" L")[:2]]
            crossed = [n for n, box in names if picture.overlap(box, (x - 0.5, y0, x + 0.5, y1))]
            assert crossed == [], (x, crossed)
    # the names stay on the picture
    width = float(svg.get("width"))
    assert all(0 <= box[0] and box[2] <= width for _, box in names)


def test_svg_time_axes_are_in_ms_and_place_the_boxes():
    result, svg = nested_svg()
    top, lanes = picture.axes(svg)
    for ticks in (top, lanes):
        assert len(ticks) >= 4
        values, xs = [v for v, _ in ticks], [x for _, x in ticks]
        assert values == sorted(set(values)) and xs == sorted(set(xs))
        steps = {round(b - a, 6) for a, b in zip(values, values[1:])}
        assert len(steps) == 1                          # evenly spaced
    assert top[0][0] == 0
    # the top axis says where a span starts, in ms since the statement began
    t0 = min(s["ts"] for s in result.of("span"))

    def at(ticks, ts):
        (v0, x0), (v1, x1) = ticks[0], ticks[-1]
        return x0 + ((ts - t0) / 1e6 - v0) * (x1 - x0) / (v1 - v0)

    for name, _, _, (x, _, w, _), _ in picture.spans(svg):
        assert any(abs(x - at(top, s["ts"])) < 1.0 and abs(x + w - at(top, s["ts"] + s["dur"])) < 1.0
                   for s in result.of("span") if s["name"] == name), name
    # the lanes' axis, zoomed on the executor, on the same clock: each call box where its call began
    single = [rect for n, rect in picture.calls(svg) if n == 1]
    assert len(single) > 10
    for x, _, w, _ in single:
        assert any(abs(x - at(lanes, e["ts"])) < 1.0 for e in result.of("exec_call")), x
    [run] = [s for s in result.of("span") if s["name"] == "ExecutorRun"]
    assert at(lanes, run["ts"]) >= at(top, t0) and at(lanes, run["ts"] + run["dur"]) <= float(svg.get("width"))


@pytest.mark.parametrize("name", ["query_nested", "query_join", "query_error"])
def test_svg_legend_lists_the_phases_present(name):
    result = recorded(name)
    svg = picture.parse(render.render(result, "svg"))
    entries = picture.legend(svg)
    stages = {s["stage"] for s in result.of("span")}
    phases = [label for label, _ in entries if label not in ("left by an ERROR",) and "call" not in label]
    assert len(phases) == len(stages)
    assert [p.split(" ")[0] for p in phases] == [s for s in ("query", "parse", "analyze", "rewrite", "plan",
                                                              "execute", "utility", "commit") if s in stages]
    colours = {c for _, c in entries}
    assert {g.find(f"{SVG}rect").get("fill") for g in svg.iter(f"{SVG}g") if g.get("class") == "span"} <= colours
    has_calls = bool(result.of("exec_call"))
    assert any("plan node's call" in label for label, _ in entries) == has_calls


def test_svg_one_row_per_plan_node_with_what_explain_analyze_counts():
    result, svg = nested_svg()
    analyzed = json.loads((FIXTURES / "query_nested.explain.json").read_text())[0]["Plan"]

    def walk(p):
        yield p
        for child in p.get("Plans", []):
            yield from walk(child)

    explain = list(walk(analyzed))
    rows = picture.plan_rows(svg)
    assert [r["label"].split("  (")[0].split(" on ")[0] for r in rows] == [p["Node Type"] for p in explain]
    assert [p["Node Type"] for p in explain] == ["Sort", "Nested Loop", "Values Scan", "Index Scan"]
    for row, p in zip(rows, explain):
        assert row["loops"] == p["Actual Loops"], row
        assert row["rows"] == p["Actual Rows"] * p["Actual Loops"], row
        # every node here runs to its end: one call per row, and one more per loop that returns none
        assert row["calls"] == row["rows"] + row["loops"], row
        events = [e for e in result.of("exec_call") if e["node_id"] == row["node_id"]]
        assert len(events) == row["calls"]
        assert row["stats"].startswith(f"{row['loops']} loop{'s' if row['loops'] > 1 else ''} · {row['calls']} calls"
                                       f" · {row['rows']} rows · ")
    # each node's calls are drawn on its own row, beside it
    boxes = picture.calls(svg)
    for row in rows:
        x, y, w, h = row["rect"]
        mine = [n for n, (cx, cy, cw, ch) in boxes if y <= cy and cy + ch <= y + 38 and cx > x + w]
        assert sum(mine) == row["calls"], row["label"]
    assert sum(n for n, _ in boxes) == len(result.of("exec_call"))


def test_svg_rendered_to_png_shows_the_boxes_and_their_names(tmp_path):
    result, svg = nested_svg()
    text = render.render(result, "svg")
    png = picture.to_png(text, tmp_path / "query.png")
    assert (png.width, png.height) == (int(svg.get("width")), int(svg.get("height")))
    white = (255, 255, 255)
    checked = picture.assert_drawn(png, svg)
    assert checked > 40
    # and white where nothing is: the right half of the plan's title line
    [title] = [t for t in svg.iter(f"{SVG}text") if t.text == "plan tree (planner)"]
    y = float(title.get("y"))
    assert set(png.region(float(title.get("x")) + 200, y - 8, png.width * 0.3, y)) == {white}


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


def test_every_time_axis_has_at_least_four_ticks_of_a_nice_step():
    """An axis over any span gets 1, 2 or 5 times a power of ten as its step, and at least four
    ticks (a span of 14 ms had three, 5 ms apart, before)."""
    from pglab.trace.render.svg import nice_step

    for span in [x / 100 for x in range(5, 100)] + list(range(1, 2000, 7)):
        step = nice_step(span)
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert round(mantissa, 6) in (1, 2, 5) and span / step >= 4 - 1e-9, (span, step)
    assert nice_step(14) == 2 and nice_step(40) == 5

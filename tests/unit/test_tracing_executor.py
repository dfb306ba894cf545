"""The executor bookkeeping of the query target (pglab_tracing.executor), fed
the way its breakpoints feed it: loops counted as EXPLAIN ANALYZE counts
them, plan and executor ids across reused addresses, the cap."""

from pglab_tracing.executor import ExecutorCalls

STMT, ESTATE = 0x5000, 0x6000
NL, OUTER, INNER = 0x7000, 0x7100, 0x7200


def nested_loop(calls, outer_rows, inner_rows):
    """The calls ExecNestLoop makes: for each outer row, ExecReScan(inner), then
    the inner side until it returns no row; last, the outer side's empty call.
    Returns the exec_call events, in the order they end."""
    events = []
    ts = [0]

    def tick():
        ts[0] += 10
        return ts[0]

    def call(addr, row, inner=None):
        node = calls.node(addr)
        c = calls.enter(node, tick())
        if inner:
            inner()
        events.append(calls.leave(c, tick(), row))

    def one_outer_row():
        calls.rescan(INNER)
        for _ in range(inner_rows):
            call(INNER, True)
        call(INNER, False)

    for _ in range(outer_rows):
        call(NL, True, lambda: (call(OUTER, True), one_outer_row()))
    call(NL, False, lambda: call(OUTER, False))
    return events


def new_plan(calls):
    plan = calls.planned(STMT)
    calls.executor_started(ESTATE, STMT)
    for addr, node_id, tag in ((NL, 0, "NestLoop"), (OUTER, 1, "SeqScan"), (INNER, 2, "IndexScan")):
        calls.fresh_node(addr, ESTATE, STMT, node_id, tag, f"Exec{tag}")
    return plan


def by_node(events, node_id):
    return [e for e in events if e["node_id"] == node_id]


def test_the_inner_side_of_a_nested_loop_has_a_loop_per_outer_row():
    calls = ExecutorCalls()
    plan = new_plan(calls)
    events = nested_loop(calls, outer_rows=4, inner_rows=3)
    inner = by_node(events, 2)
    assert len(inner) == 4 * (3 + 1)
    assert sorted({e["loop"] for e in inner}) == [1, 2, 3, 4]          # EXPLAIN ANALYZE: loops=4
    assert sum(e["row"] for e in inner) == 12                           # rows=3 per loop
    assert {e["loop"] for e in by_node(events, 1)} == {1}               # the outer side: one loop
    assert {e["loop"] for e in by_node(events, 0)} == {1}
    assert {e["plan"] for e in events} == {plan}
    assert {e["function"] for e in inner} == {"ExecIndexScan"}
    assert {(e["node_id"], e["depth"]) for e in events} == {(0, 0), (1, 1), (2, 1)}
    assert all(e["dur"] > 0 and e["status"] == "ok" for e in events)


def test_a_rescan_before_the_first_call_starts_no_loop():
    calls = ExecutorCalls()
    new_plan(calls)
    calls.rescan(INNER)
    calls.rescan(INNER)
    c = calls.enter(calls.node(INNER), 1)
    assert c["loop"] == 1
    calls.rescan(0xdead)                # a PlanState never called: nothing to end


def test_a_reused_estate_address_is_a_new_executor_with_fresh_nodes():
    calls = ExecutorCalls()
    first = new_plan(calls)
    nested_loop(calls, 1, 1)
    calls.executor_ended(ESTATE)
    assert calls.node(NL) is None
    second = new_plan(calls)            # the next statement: same addresses
    events = nested_loop(calls, 2, 0)
    assert second == first + 1
    assert {e["plan"] for e in events} == {second}
    assert {e["executor"] for e in events} == {2}
    assert {e["loop"] for e in by_node(events, 2)} == {1, 2}


def test_a_plan_not_seen_by_the_tracer_has_no_plan_id():
    calls = ExecutorCalls()
    node = calls.fresh_node(NL, ESTATE, 0x9999, 0, "Result", "ExecResult")
    assert (node.plan, node.executor) == (None, 1)


def test_the_cap_stops_recording():
    calls = ExecutorCalls(cap=5)
    new_plan(calls)
    node = calls.node(OUTER)
    opened = [calls.enter(node, t) for t in range(7)]
    assert [c is not None for c in opened] == [True] * 5 + [False] * 2
    assert calls.capped and calls.recorded == 5


def test_calls_left_open_end_as_unfinished_innermost_first():
    calls = ExecutorCalls()
    new_plan(calls)
    calls.enter(calls.node(NL), 1)
    calls.enter(calls.node(OUTER), 2)
    left = calls.unfinished(10)
    assert [(e["node_id"], e["status"], e["dur"], e["row"]) for e in left] == [
        (1, "unfinished", 8, None), (0, "unfinished", 9, None)]
    assert calls.open == []


def test_multi_exec_calls_are_marked():
    calls = ExecutorCalls()
    new_plan(calls)
    c = calls.enter(calls.node(INNER), 1, multi=True)
    assert calls.leave(c, 3, None)["multi"] is True

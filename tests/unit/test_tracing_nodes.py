"""nodeToString() parsing (pglab_tracing.nodes), on the text a real 15.18 backend
wrote for a join (tests/fixtures/traces/query_join.*), with no gdb in the process."""

import json
from pathlib import Path

import pytest

from pglab_tracing import nodes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "traces"


def recorded(kind):
    """The raw nodeToString() text and the tree the gdb side parsed it into."""
    for line in (FIXTURES / "query_join.events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == kind:
            return event["text"], event["tree"]
    raise AssertionError(f"no {kind} event in the fixture")


def test_parses_what_the_backend_wrote():
    text, tree = recorded("plan_tree")
    parsed = nodes.parse(text)
    assert parsed == tree
    assert parsed["node"] == "PLANNEDSTMT" and parsed["planTree"]["node"] == "AGG"
    assert [rte["eref"]["aliasname"] for rte in parsed["rtable"]] == ["qa", "qb", "unnamed_join"]
    assert not nodes.is_truncated(parsed)


def test_lists_typed_lists_null_and_datums():
    tree = nodes.parse('{CONST :consttype 23 :constlen 4 :constbyval true :constisnull false '
                       ':location 7 :constvalue 4 [ 42 0 0 0 0 0 0 0 ]} ')
    assert tree == {"node": "CONST", "consttype": 23, "constlen": 4, "constbyval": True, "constisnull": False,
                    "location": 7, "constvalue": {"datum_len": 4, "bytes": [42, 0, 0, 0, 0, 0, 0, 0]}}
    assert nodes.parse("({A :x <>} (i 1 2) (o 10) (b))") == [
        {"node": "A", "x": None}, {"node": "IntList", "items": [1, 2]}, {"node": "OidList", "items": [10]},
        {"node": "Bitmapset", "items": []}]
    assert nodes.parse('{ALIAS :aliasname my\\ table :colnames <>}') == {
        "node": "ALIAS", "aliasname": "my table", "colnames": None}
    assert nodes.parse("") is None


def test_the_truncation_from_the_bug_report():
    tree = nodes.parse("{QUERY :commandType 1 :rtable (")
    assert tree == {"node": "QUERY", "commandType": 1, "rtable": [{nodes.TRUNCATED: True}]}
    assert nodes.is_truncated(tree)


def test_a_field_cut_after_its_value_is_left_out():
    # "1" may have been the start of "1 2 3" or of "12": the field is not guessed
    assert nodes.parse("{QUERY :commandType 1 :querySource 0") == {
        "node": "QUERY", "commandType": 1, nodes.TRUNCATED: True}
    assert nodes.parse("{QUERY :commandType 1 :querySource 0 ") == {
        "node": "QUERY", "commandType": 1, nodes.TRUNCATED: True}
    assert nodes.parse("{QUERY :commandType 1 :constvalue 4 [ 1 0 ") == {
        "node": "QUERY", "commandType": 1, nodes.TRUNCATED: True}
    assert nodes.parse("(i 1 2") == {"node": "IntList", "items": [1], nodes.TRUNCATED: True}
    assert nodes.parse("{SEQSC") == {"node": None, nodes.TRUNCATED: True}


def consistent(part, full):
    """`part` is what a prefix of full's text can show: equal where complete,
    and where marked, a prefix of full's fields or items."""
    if isinstance(part, dict):
        assert isinstance(full, dict), (part, full)
        keys = [k for k in part if k != nodes.TRUNCATED]
        assert set(keys) <= set(full), set(keys) - set(full)
        if "items" in part and part.get("node") in ("IntList", "OidList", "XidList", "Bitmapset"):
            assert part["items"] == full["items"][:len(part["items"])]
            return
        for key in keys:
            if key == "node" and part[key] is None:
                continue
            if nodes.is_truncated(part[key]):
                consistent(part[key], full[key])
            else:
                assert part[key] == full[key], key
    elif part == [{nodes.TRUNCATED: True}]:
        # cut right after "(": nothing read yet, not even whether it is a typed list
        assert isinstance(full, list) or full.get("node") in ("IntList", "OidList", "XidList", "Bitmapset")
    elif isinstance(part, list):
        assert isinstance(full, list), (part, full)
        items = part[:-1] if part and part[-1] == {nodes.TRUNCATED: True} else part
        assert len(items) <= len(full)
        for i, item in enumerate(items):
            if nodes.is_truncated(item):
                assert i == len(items) - 1, "only the last item can be cut"
                consistent(item, full[i])
            else:
                assert item == full[i]
    else:
        assert part == full


@pytest.mark.parametrize("kind,step", [("query_tree", 1), ("plan_tree", 7)])
def test_every_prefix_of_a_real_dump_parses(kind, step):
    """Every prefix of the Query dump (every 7th of the longer plan's, for time)."""
    text, full = recorded(kind)
    for n in range(0, len(text), step):
        part = nodes.parse(text[:n])        # never raises
        if not text[:n].strip():
            assert part is None
            continue
        assert nodes.is_truncated(part), n
        consistent(part, full)
    assert nodes.parse(text) == full

"""--watch's pure parts: splitting the statements a learner types, and saying
what changed between two decoded pages."""

import copy

from pglab.inspect.watch import diff, split_statements


def test_statements_split_on_semicolons_outside_quotes_and_comments():
    text = ("UPDATE t SET s = 'a;b' WHERE id = 1; -- a comment; with a semicolon\n"
            "DO $$ BEGIN PERFORM 1; END $$;  SELECT \"odd;name\" FROM t;;")
    assert split_statements(text) == ["UPDATE t SET s = 'a;b' WHERE id = 1",
                                      "DO $$ BEGIN PERFORM 1; END $$", 'SELECT "odd;name" FROM t']


def test_a_last_statement_without_semicolon_counts():
    assert split_statements("VACUUM t") == ["VACUUM t"]
    assert split_statements(" ; ;") == []


def _page(items, **header):
    h = {"lower": 32, "upper": 8000, "prune_xid": 0, "flag_names": [], **header}
    return {"relation": "public.t", "nblocks": 1,
            "pages": [{"kind": "heap", "block": 0, "header": h, "items": items, "free_space": h["upper"] - h["lower"],
                       "vm": {"all_visible": False, "all_frozen": False}}]}


def _tuple(lp, xmin, xmax=0, ctid=None, flags=(), combined=(), heap_only=False, off=8100):
    return {"lp": lp, "state": "normal", "lp_off": off, "lp_len": 28, "t_xmin": xmin, "t_xmax": xmax,
            "t_ctid": ctid or f"(0,{lp})", "raw_flags": list(flags), "combined_flags": list(combined),
            "heap_only": heap_only}


def test_an_update_shows_xmax_set_and_the_new_version():
    before = _page([_tuple(1, 700, flags=["HEAP_XMAX_INVALID"])])
    after = _page([_tuple(1, 700, 701, "(0,2)", ["HEAP_HOT_UPDATED"]),
                   _tuple(2, 701, flags=["HEAP_XMAX_INVALID"], heap_only=True, off=8068)],
                  lower=36, upper=7968, prune_xid=701)
    assert diff(before, after) == [
        "header: pd_lower 32 → 36", "header: pd_upper 8000 → 7968", "header: pd_prune_xid 0 → 701",
        "free space: 7968 → 7932 bytes",
        "lp 1: t_xmax 0 → 701", "lp 1: t_ctid (0,1) → (0,2)", "lp 1: +HEAP_HOT_UPDATED -HEAP_XMAX_INVALID",
        "lp 2: new normal tuple xmin 701 (heap-only)"]


def test_pruning_and_freezing_read_as_such():
    before = _page([_tuple(1, 700, 701, "(0,2)"), _tuple(2, 701, heap_only=True, off=8068)])
    pruned = copy.deepcopy(before)
    pruned["pages"][0]["items"][0] = {"lp": 1, "state": "redirect", "redirect_to": 2, "lp_off": 2, "lp_len": 0}
    assert diff(before, pruned) == ["lp 1: normal tuple xmin 700, xmax 701 → redirect → lp 2"]
    frozen = copy.deepcopy(pruned)
    frozen["pages"][0]["items"][1]["raw_flags"] = ["HEAP_XMIN_COMMITTED", "HEAP_XMIN_INVALID"]
    frozen["pages"][0]["items"][1]["combined_flags"] = ["HEAP_XMIN_FROZEN"]
    frozen["pages"][0]["vm"] = {"all_visible": True, "all_frozen": True}
    assert diff(pruned, frozen) == ["visibility map: all-visible yes, all-frozen yes",
                                    "lp 2: +HEAP_XMIN_COMMITTED +HEAP_XMIN_INVALID +HEAP_XMIN_FROZEN"]


def test_no_change_is_an_empty_list():
    page = _page([_tuple(1, 700)])
    assert diff(page, copy.deepcopy(page)) == []


def test_compaction_is_one_line_naming_the_moved_tuples():
    before = _page([_tuple(1, 700, 701), _tuple(2, 700, off=8072), _tuple(3, 700, off=8044),
                    _tuple(4, 700, off=8016), _tuple(5, 700, off=7988)])
    after = copy.deepcopy(before)
    items = after["pages"][0]["items"]
    items[0] = {"lp": 1, "state": "unused", "lp_off": 0, "lp_len": 0}
    for it, off in zip(items[1:], (8100, 8072, 8044, 8016)):
        it["lp_off"] = off
    items[4]["raw_flags"] = ["HEAP_XMIN_COMMITTED"]     # moved and hinted: both are said
    assert diff(before, after) == ["lp 1: normal tuple xmin 700, xmax 701 → unused",
                                   "lp 5: lp_off 7988 → 8016", "lp 5: +HEAP_XMIN_COMMITTED",
                                   "lp 2–4: moved (the page was compacted; same tuples, new lp_off)"]


def _gin(items, **opaque):
    o = {"rightlink": 4294967295, "maxoff": 0, "flags": 16, "rightmost": True, "flag_names": ["list"], **opaque}
    return {"relation": "public.g", "nblocks": 3,
            "pages": [{"kind": "gin", "block": 2, "type": "pending", "opaque": o, "items": items,
                       "header": {"lower": 24 + 4 * len(items), "upper": 8184 - 16 * len(items), "prune_xid": 0,
                                  "flag_names": []}, "free_space": 8160 - 20 * len(items)}]}


def _pending(n, key, ctid):
    return {"itemoffset": n, "lp_off": 8184 - 16 * n, "lp_flags": 1, "lp_len": 16, "state": "normal",
            "attnum": 1, "category": "norm key", "keys": [{"name": "tags", "type": "integer", "value": key}],
            "ctid": ctid}


def test_a_gin_pending_list_filling_then_cleaned_reads_as_such():
    before = _gin([_pending(1, 7, "(0,1)")])
    after = _gin([_pending(1, 7, "(0,1)"), _pending(2, 3, "(0,2)"), _pending(3, 9, "(0,2)")])
    assert diff(before, after) == ["header: pd_lower 28 → 36", "header: pd_upper 8168 → 8136",
                                   "free space: 8140 → 8100 bytes", "lp 2: new key 3 → heap (0,2)",
                                   "lp 3: new key 9 → heap (0,2)"]
    cleaned = _gin([], flags=4, flag_names=["deleted"])
    cleaned["pages"][0]["type"] = "deleted"
    assert diff(after, cleaned)[3:] == ["page: pending → deleted", "opaque: flags 16 → 4", "opaque: +deleted",
                                        "opaque: -list", "lp 1–3: gone"]

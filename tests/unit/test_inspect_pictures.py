"""inspect's SVG and HTML pictures, drawn from results decoded on 15.18 (tests/fixtures/inspect/).

heap.json is block 0 of a table with a HOT chain (lp 1 → 4 → 5); watch.json is a watch of
UPDATE, SELECT, VACUUM (lp 1 becomes a redirect to lp 6) and VACUUM FREEZE on it;
btree_dedup.json is a deduplicated index (root 3 over 54 leaves of posting lists; their TID
lists cut to 3 except on block 1);
btree_levels.json is cut from a 165-page index: the meta, the root and the leaves 1 → 2 → 4,
each page's items cut to its first 11 and its last.
"""

import copy
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from pglab.inspect.render.html import render_html, render_watch_html
from pglab.inspect.render.svg import render_svg

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inspect"
SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>"


def load(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def svg_of(result):
    return ET.fromstring(render_svg(result))


def groups(root, cls):
    return [g for g in root.iter(f"{SVG}g") if cls in g.get("class", "").split()]


def arrows(root, kind):
    return sorted((int(g.get("data-from")), int(g.get("data-to"))) for g in groups(root, "arrow")
                  if kind in g.get("class").split())


def rects(group):
    return [(float(r.get("x")), float(r.get("y")), float(r.get("width"))) for r in group.iter(f"{SVG}rect")]


def tuple_group(root, lp):
    [g] = [g for g in groups(root, "tuple") if g.get("data-lp") == str(lp)]
    return g


def one_page(result, block):
    return {**result, "pages": [p for p in result["pages"] if p["block"] == block]}


# ---- heap pages ----------------------------------------------------------------------------------

def test_heap_svg_is_a_standalone_svg_document():
    text = render_svg(load("heap"))
    assert text.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="1200" ')
    assert ET.fromstring(text).tag == f"{SVG}svg"


def test_one_box_per_line_pointer_and_per_stored_tuple():
    root = svg_of(load("heap"))
    assert [g.get("data-lp") for g in groups(root, "lp")] == ["1", "2", "3", "4", "5"]
    assert [g.get("data-lp") for g in groups(root, "tuple")] == ["1", "2", "3", "4", "5"]
    assert [g.get("class") for g in groups(root, "tuple")] == ["tuple normal", "tuple normal", "tuple normal",
                                                               "tuple hot", "tuple hot"]


def test_after_vacuum_unused_and_redirect_lps_have_no_tuple():
    root = svg_of(load("watch")[3]["result"])
    assert [g.get("class") for g in groups(root, "lp")] == ["lp redirect", "lp unused", "lp normal", "lp unused",
                                                            "lp unused", "lp hot"]
    assert [g.get("data-lp") for g in groups(root, "tuple")] == ["3", "6"]


def test_redirect_arrow_goes_from_its_lp_to_the_target_lp():
    root = svg_of(load("watch")[3]["result"])
    assert arrows(root, "redirect") == [(1, 6)]
    assert arrows(root, "hot") == []
    assert arrows(root, "ptr") == [(3, 3), (6, 6)]


def test_hot_chain_arrows_follow_next():
    root = svg_of(load("heap"))
    assert arrows(root, "hot") == [(1, 4), (4, 5)]
    assert arrows(root, "redirect") == []
    assert arrows(root, "ptr") == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]


def test_boxes_sit_at_their_byte_offsets_2_25_px_a_byte_512_bytes_a_row():
    root = svg_of(load("heap"))
    [layout] = groups(root, "layout")
    assert (layout.get("data-row-bytes"), layout.get("data-px")) == ("512", "2.25")
    y0 = float(layout.get("data-y0"))
    # lp 1 is at 8152 = row 15 + 472 bytes, 38 bytes long; lp 3 at 7784 = row 15 + 104 bytes, 336 long
    assert rects(tuple_group(root, 1)) == [(44 + 472 * 2.25, y0 + 15 * 64, 38 * 2.25)]
    assert rects(tuple_group(root, 3)) == [(44 + 104 * 2.25, y0 + 15 * 64, 336 * 2.25)]
    # the line pointers: 4 bytes each from offset 24
    lp_boxes = [rects(g)[0] for g in groups(root, "lp")]
    assert lp_boxes == [(44 + (24 + 4 * k) * 2.25, y0, 9.0) for k in range(5)]


def test_a_tuple_across_a_row_end_is_cut_in_two():
    root = svg_of(load("watch")[1]["result"])    # lp 6: 38 bytes at 7664, across 7680
    y0 = float(groups(root, "layout")[0].get("data-y0"))
    assert rects(tuple_group(root, 6)) == [(44 + 496 * 2.25, y0 + 14 * 64, 16 * 2.25), (44, y0 + 15 * 64, 22 * 2.25)]


def test_hover_titles_say_the_tuple_fields():
    root = svg_of(load("heap"))
    title = tuple_group(root, 4).find(f"{SVG}title").text.splitlines()
    assert title[:2] == ["lp 4: normal, 38 bytes at 7744 (heap-only, HOT-updated)",
                         "xmin 726  xmax 726  cid/xvac 2  ctid (0,5)"]
    assert title[-3:] == ["id integer = 1", "v integer = 11", "note text = 'first'"]


def test_header_and_visibility_map_are_written():
    texts = [t.text for t in svg_of(load("watch")[3]["result"]).iter(f"{SVG}text")]
    assert "pd_lower 48 · pd_upper 7816 · pd_special 8192 · free space 7768 bytes · 6 line pointers" in texts
    assert "visibility map: all-visible yes, all-frozen no" in texts
    assert ("block 0 · pd_lsn 0/1AD1F50 · pd_checksum 0 · pd_flags 5 (PD_HAS_FREE_LINES PD_ALL_VISIBLE) · "
            "pd_prune_xid 0 · version 4") in texts


def test_html_special_characters_are_escaped():
    result = load("heap")
    result["pages"][0]["items"][2]["values"][2]["value"] = EVIL
    result["relation"] = "public.<b>"
    text = render_svg(result)
    assert "<script>" not in text and "<b>" not in text
    root = ET.fromstring(text)
    assert tuple_group(root, 3).find(f"{SVG}title").text.splitlines()[-1] == f"note text = '{EVIL}'"
    page = render_html(result)
    assert EVIL not in page and "<b>" not in page
    assert "note=&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in page
    assert "<h1>public.&lt;b&gt;</h1>" in page


# ---- B-trees -------------------------------------------------------------------------------------

def page_boxes(root):
    return {int(g.get("data-block")): float(g.find(f"{SVG}rect").get("y")) for g in groups(root, "page")}


def test_a_level_of_more_than_40_pages_shows_4_each_side_of_one_box_for_the_rest():
    root = svg_of(load("btree_dedup"))
    boxes = page_boxes(root)
    assert sorted(boxes) == [1, 2, 3, 4, 5, 52, 53, 54, 55]
    [elided] = groups(root, "elided")
    assert elided.get("data-count") == "46"
    assert boxes[3] < min(y for b, y in boxes.items() if b != 3)     # the root on top
    assert arrows(root, "downlink") == [(3, b) for b in (1, 2, 4, 5, 52, 53, 54, 55)]
    assert arrows(root, "sibling") == [(1, 2), (2, 4), (4, 5), (52, 53), (53, 54), (54, 55)]


def test_a_level_of_40_pages_is_drawn_whole():
    result = load("btree_dedup")
    result["pages"] = result["pages"][:41]       # blocks 1..41: the root (3) and 40 leaves
    root = svg_of(result)
    assert sorted(page_boxes(root)) == list(range(1, 42))
    assert groups(root, "elided") == []


def test_levels_root_on_top_siblings_and_downlinks():
    result = load("btree_levels")
    root = svg_of(result)
    boxes = page_boxes(root)
    assert sorted(boxes) == [1, 2, 3, 4]
    assert boxes[3] < boxes[1] == boxes[2] == boxes[4]
    assert arrows(root, "sibling") == [(1, 2), (2, 4)]
    assert arrows(root, "downlink") == [(3, 1), (3, 2), (3, 4)]
    assert arrows(root, "metaroot") == [(0, 3)]
    assert groups(root, "layout") == []          # four pages: the tree alone
    texts = [t.text for t in groups(root, "page")[0].iter(f"{SVG}text")]
    assert texts == ["blk 3 · root", "12 items", "12 children", "−∞ … 59659", "← — | — →"]


def test_a_single_btree_page_gets_its_layout():
    root = svg_of(one_page(load("btree_dedup"), 1))
    assert sorted(page_boxes(root)) == [1]
    assert len(groups(root, "lp")) == 10
    tuples = groups(root, "tuple")
    assert [g.get("data-lp") for g in tuples] == [str(n) for n in range(1, 11)]
    assert [g.get("data-lp") for g in tuples if "hikey" in g.get("class").split()] == ["1"]
    assert [g.get("data-tids") for g in tuples] == [None] + ["132"] * 9
    # the high key: 24 bytes at 880 = row 1 + 368 bytes
    y0 = float(groups(root, "layout")[0].get("data-y0"))
    assert rects(tuple_group(root, 1)) == [(44 + 368 * 2.25, y0 + 64, 24 * 2.25)]
    texts = [t.text for t in tuple_group(root, 2).iter(f"{SVG}text")]
    assert texts == ["#2", "0", "×132 TIDs"]


def test_internal_page_alone_labels_its_downlinks():
    root = svg_of(one_page(load("btree_levels"), 3))
    texts = [t.text for t in tuple_group(root, 2).iter(f"{SVG}text")]
    assert texts == ["#2", "367", "→2"]
    assert [t.text for t in tuple_group(root, 1).iter(f"{SVG}text")] == ["#1", "−∞", "→1"]


# ---- HTML ----------------------------------------------------------------------------------------

class Tags(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag, **attrs):
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def test_result_html_is_one_self_contained_page():
    page = render_html(load("heap"))
    tags = Tags(page)
    assert page.startswith("<!DOCTYPE html>")
    assert len(tags.all("svg")) == 1
    assert tags.all("script") == [] and tags.all("link") == [] and tags.all("img") == []
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert len(tags.all("tr")) == 1 + 5        # the head, then a row per line pointer


def test_watch_html_has_a_section_per_step_and_a_slider():
    steps = load("watch")
    page = render_watch_html(steps)
    tags = Tags(page)
    sections = tags.all("section")
    assert [s["data-step"] for s in sections] == ["0", "1", "2", "3", "4"]
    assert ["hidden" in s for s in sections] == [False, True, True, True, True]
    assert tags.all("input") == [{"type": "range", "id": "step", "min": "0", "max": "4", "value": "0", "step": "1"}]
    assert len(tags.all("svg")) == 5
    assert [b["id"] for b in tags.all("button") if "id" in b] == ["prev", "next"]
    assert len(tags.all("li")) == 5 + sum(len(s["changes"]) for s in steps)   # timeline + changes
    assert 'section[data-step="3"] g[data-lp="1"] > rect' in page   # lp 1 changed at VACUUM: outlined
    assert "<pre class=\"sql\">VACUUM hot</pre>" in page


def test_watch_html_escapes_sql_and_changes():
    steps = copy.deepcopy(load("watch"))
    steps[1]["sql"] = f"SELECT '{EVIL}'"
    steps[1]["changes"].append(f"note: {EVIL}")
    page = render_watch_html(steps)
    assert EVIL not in page
    assert "<pre class=\"sql\">SELECT &#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;</pre>" in page
    assert "<li>note: &lt;script&gt;alert(1)&lt;/script&gt;</li>" in page
    assert len(Tags(page).all("script")) == 1      # the page's own

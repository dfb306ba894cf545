"""The SVG picture of an inspect result.

A heap page is drawn to scale: its blcksz bytes as a band wrapped in rows (offset 0
top left, each row's first offset written on its left): the 24-byte page header,
the line pointer array growing from there (one 4-byte box per line pointer), the
free space from pd_lower to pd_upper, the tuples at their true offsets growing back
from the end, the special space. Grey between tuples is padding or space no line
pointer refers to. Arrows lead from each line pointer to its tuple's first byte,
from a redirect to the line pointer it names, and along a HOT chain from a version
to the next (`next`). Boxes are coloured by state and have a <title> for hovering.

A B-tree is drawn as its levels (tree.py); a result of one B-tree page also gets
that page's layout, drawn like a heap page's. The primitives are in draw.py.
"""

from .draw import (CHAR_W, FILL, LEFT, STRIP_PX, STYLE, WIDTH, clip, curve, draw_legend, esc, fit, num, rect,
                   text_at)
from .tree import draw_tree, key_text

ROW_BYTES = 512            # bytes a row up to 8 kB pages (2.25 px a byte); bigger pages keep 16 rows
ROW_H, ROW_GAP = 46, 18    # a row, and the gap under it where HOT chain arcs run
PITCH = ROW_H + ROW_GAP
PAGE_HEADER, ITEM_ID = 24, 4   # SizeOfPageHeaderData, sizeof(ItemIdData)
ARROWS_UP_TO = 64          # more line pointers than this: no lp → tuple arrows, they would hide the page
MAX_PAGES = 64             # heap pages drawn at most (as many as render/ lets through); the rest are counted
HEAP_LEGEND = ([("header", "page header"), ("normal", "tuple"), ("hot", "heap-only (HOT) tuple"), ("dead", "dead"),
                ("redirect", "redirect"), ("unused", "unused"), ("free", "free space"),
                ("pad", "padding / unreferenced")],
               [("ptr", "line pointer → tuple"), ("redirect", "redirect → lp"), ("hot", "HOT chain: next version")])
BTREE_LEGEND = ([("header", "page header"), ("leaf", "leaf tuple"), ("posting", "posting list"),
                 ("pivot", "pivot (downlink)"), ("hikey", "high key"), ("dead", "dead"), ("free", "free space"),
                 ("special", "special (BTPageOpaqueData)"), ("pad", "padding")], [("ptr", "line pointer → item")])




# ---- one page, to scale --------------------------------------------------------------------------

class Strip:
    """Byte offsets of one page → positions in its band of rows starting at y0."""

    def __init__(self, blcksz, y0):
        self.blcksz, self.y0 = blcksz, y0
        self.row_bytes = max(ROW_BYTES, blcksz // 16)
        self.px = STRIP_PX / self.row_bytes
        self.rows = -(-blcksz // self.row_bytes)
        self.height = self.rows * PITCH

    def xy(self, off):
        return LEFT + (off % self.row_bytes) * self.px, self.y0 + (off // self.row_bytes) * PITCH

    def pieces(self, off, length):
        """[(x, y, w)]: the byte range cut where it wraps from one row to the next."""
        out, end = [], min(off + length, self.blcksz)
        while off < end:
            stop = min(end, (off // self.row_bytes + 1) * self.row_bytes)
            out.append((*self.xy(off), (stop - off) * self.px))
            off = stop
        return out


def _region(strip, off, length, fill, title, variants, dash="", cls="m"):
    """([its boxes], [its label, in its widest piece])."""
    pieces = strip.pieces(off, length)
    boxes = [rect(x, y, w, ROW_H, FILL[fill], "#777", dash) for x, y, w in pieces]
    x, y, w = max(pieces, key=lambda p: p[2]) if pieces else (0, 0, 0)
    return [f"<g><title>{esc(title)}</title>"] + boxes + ["</g>"], [text_at(x + w / 2, y + 27, fit(variants, w), cls,
                                                                        "middle")] * bool(pieces)


def _ground(page, strip):
    """([the rows, header, free space, special space], [their labels, pd_lower and pd_upper marked])."""
    hdr, rb = page["header"], strip.row_bytes
    lower, upper, special, free = hdr["lower"], hdr["upper"], hdr["special"], hdr["upper"] - hdr["lower"]
    shapes, labels = [], []
    for r in range(strip.rows):
        y = strip.y0 + r * PITCH
        shapes.append(rect(LEFT, y, min(rb, strip.blcksz - r * rb) * strip.px, ROW_H, FILL["pad"], "#999"))
        labels.append(text_at(LEFT - 4, y + 27, r * rb, "m dim", "end"))
    regions = [(0, PAGE_HEADER, "header", f"page header, {PAGE_HEADER} bytes", ["header", "hdr"], "", "m"),
               (lower, free, "free", f"free space: {free} bytes from pd_lower {lower} to pd_upper {upper}",
                [f"free space: {free} bytes (pd_lower {lower} … pd_upper {upper})", f"free {free} B"], "3 2",
                "m halo"),
               (special, strip.blcksz - special, "special", f"special space, {strip.blcksz - special} bytes at "
                f"{special}", ["special", "sp"], "", "m")]
    marks = ((lower, "pd_lower", 1), (upper, "pd_upper", -1))
    if hdr.get("new"):   # never initialized: all zeros, no header, no line pointers
        regions, marks = [(0, strip.blcksz, "free", "a new page: all zeros", ["new page: all zeros"], "3 2",
                           "m halo")], ()
    for region in regions:
        more, label = _region(strip, *region)
        shapes, labels = shapes + more, labels + label
    for off, name, side in marks:
        x, y = strip.xy(off)
        labels.append(f'<line x1="{num(x)}" y1="{num(y - 3)}" x2="{num(x)}" y2="{num(y + ROW_H + 3)}" stroke="#222" '
                      f'stroke-width="2"/>')
        if min(free, rb - off % rb if side > 0 else off % rb) * strip.px > len(name) * CHAR_W + 10:
            labels.append(text_at(x + 4 * side, y + 13, name, "m halo", "start" if side > 0 else "end"))
    return shapes, labels


def _strip(page, entries, strip):
    """The page's bytes with its line pointers, tuples, and the arrows between them."""
    lps, tuples, arrows, boxes, w = [], [], [], {}, ITEM_ID * strip.px
    for e in entries:
        x, y = strip.xy(PAGE_HEADER + ITEM_ID * (e["n"] - 1))
        boxes[e["n"]] = {"lp": (x + w / 2, y, y + ROW_H)}
        label = text_at(x + w / 2, y + 27, e["n"], "m", "middle") if len(str(e["n"])) * CHAR_W <= w else ""
        lps.append(f'<g class="lp {e["kind"]}" data-lp="{e["n"]}"><title>{esc(e["lp_title"])}</title>'
                   + rect(x, y, w, ROW_H, FILL[e["kind"]], "#333", "2 1" if e["kind"] == "unused" else "")
                   + label + "</g>")
    for e in entries:
        pieces = strip.pieces(e["off"], e["len"]) if e["stored"] else []
        if not pieces:
            continue
        x, y, pw = pieces[0] if pieces[0][2] >= 60 else max(pieces, key=lambda p: p[2])
        boxes[e["n"]]["tuple"] = (x + pw / 2, y, y + ROW_H)
        tuples.append(f'<g class="tuple {e["kind"]}" data-lp="{e["n"]}"{e.get("attrs", "")}>'
                   f'<title>{esc(e["title"])}</title>'
                   + "".join(rect(*p[:2], p[2], ROW_H, FILL[e["kind"]], "#333", width=1.2) for p in pieces)
                   + "".join(text_at(x + 3, y + 13 + 14 * i, fit(v, pw)) for i, v in enumerate(e["lines"]))
                   + "</g>")
        (lx, _, lbottom), (tx, ttop, tw) = boxes[e["n"]]["lp"], pieces[0]
        if len(entries) <= ARROWS_UP_TO and ttop > lbottom:   # to where lp_off points: the tuple's first byte
            bend = max(24, (ttop - lbottom) / 3)
            arrows.append(curve("ptr", (lx, lbottom), (tx + min(8, tw / 2), ttop), bend, e["n"], e["n"],
                                 f"lp {e['n']} → its tuple at offset {e['off']}", -bend))
    for e in entries:
        target = boxes.get(e.get("redirect") or e.get("next"))
        if e.get("redirect") and target:
            (x1, y1, _), (x2, y2, _) = boxes[e["n"]]["lp"], target["lp"]
            arrows.append(curve("redirect", (x1, y1), (x2, y2), -min(22, 8 + abs(x2 - x1) / 4), e["n"],
                                 e["redirect"], f"lp {e['n']} redirects to lp {e['redirect']}"))
        elif e.get("next") and target and "tuple" in boxes[e["n"]]:
            (x1, _, y1), (x2, _, y2) = boxes[e["n"]]["tuple"], target.get("tuple", target["lp"])
            arrows.append(curve("hot", (x1, y1), (x2, y2), ROW_GAP - 4, e["n"], e["next"],
                                 f"lp {e['n']}'s t_ctid leads to lp {e['next']}: the next version"))
    shapes, labels = _ground(page, strip)   # arrows under the labels and boxes they cross, over the free space
    return ([f'<g class="layout" data-block="{page["block"]}" data-y0="{num(strip.y0)}" data-row-bytes='
             f'"{strip.row_bytes}" data-px="{num(strip.px)}">'] + shapes + arrows + labels + lps + tuples + ["</g>"])


def value_text(v, n=60):
    if v.get("dropped") or v.get("null"):
        return "(dropped)" if v.get("dropped") else "NULL"
    for key in ("toast", "compressed", "error"):
        if key in v:
            return f"({key}: " + (", ".join(f"{k} {x}" for k, x in v[key].items()) if key != "error" else v[key]) + ")"
    value = v.get("value")
    return clip(f"'{value}'" if isinstance(value, str) else value, n)


def heap_entries(page):
    """What the strip draws for each line pointer of a heap page."""
    out = []
    for it in page.get("items", []):
        state, n = it["state"], it["lp"]
        e = {"n": n, "kind": "hot" if state == "normal" and it.get("heap_only") else state, "off": it["lp_off"],
             "len": it["lp_len"], "stored": it["lp_len"] > 0 and state in ("normal", "dead"),
             "redirect": it.get("redirect_to") if state == "redirect" else None, "next": it.get("next"),
             "lp_title": f"lp {n}: redirect → lp {it.get('redirect_to')} (lp_flags 2)" if state == "redirect" else
             f"lp {n}: {state}, lp_off {it['lp_off']}, lp_len {it['lp_len']}, lp_flags {it['lp_flags']}",
             "title": f"lp {n}: {state}, {it['lp_len']} bytes at {it['lp_off']}", "lines": [[f"lp {n}", f"{n}"]]}
        if "t_xmin" in it:
            vals, xmin, xmax = it.get("values", []), it["t_xmin"], it["t_xmax"]
            what = ", ".join(w for w, on in (("heap-only", it["heap_only"]), ("HOT-updated", it["hot_updated"])) if on)
            e["title"] = "\n".join([
                e["title"] + (f" ({what})" if what else ""),
                f"xmin {xmin}  xmax {xmax}  cid/xvac {it['t_field3']}  ctid {it['t_ctid']}",
                f"t_infomask 0x{it['t_infomask']:04x}  t_infomask2 0x{it['t_infomask2']:04x}  t_hoff {it['t_hoff']}"
                f"  natts {it['natts']}  t_bits {it['t_bits'] or '-'}",
                "flags: " + " ".join(it["raw_flags"] + it["combined_flags"])]
                + [f"{v['name']} {v.get('type', '')} = {value_text(v)}" for v in vals])
            short = " | ".join(value_text(v, 12) for v in vals)
            e["lines"] = [[f"lp {n}: {short}"] * bool(short) + [f"lp {n}", f"{n}"],
                          [f"xmin {xmin}  ctid {it['t_ctid']}", f"xmin {xmin}", f"{xmin}"], [f"xmax {xmax}", f"{xmax}"]]
        out.append(e)
    return out


def btree_entries(page):
    """What the strip draws for each line pointer of a B-tree page."""
    out = []
    for it in page.get("items", []):
        n, tids, down = it["itemoffset"], it.get("tids") or [], it.get("downlink")
        kind = ("dead" if it["state"] == "dead" or it.get("dead") else "hikey" if it.get("high_key")
                else "posting" if tids else "pivot" if it.get("pivot") else "leaf")
        key = key_text(it) if "ctid" in it else ""
        desc = {"hikey": "high key", "posting": f"posting list of {len(tids)} heap TIDs",
                "pivot": f"pivot, downlink to block {down}"}.get(kind, f"leaf tuple → heap {it.get('htid')}")
        title = [f"item {n}: {desc}, {it['lp_len']} bytes at {it['lp_off']}, {it['state']}",
                 f"key: {key}   ctid {it.get('ctid')}   htid {it.get('htid')}", f"data: {it.get('data', '')}"]
        title += ["TIDs: " + " ".join(tids[:12]) + (" …" if len(tids) > 12 else "")] if tids else []
        third = {"hikey": ["high key", "hk"], "posting": [f"×{len(tids)} TIDs", f"×{len(tids)}"],
                 "pivot": [f"→ blk {down}", f"→{down}"] if down else []}.get(kind, [])
        out.append({"n": n, "kind": kind, "off": it["lp_off"], "len": it["lp_len"], "title": "\n".join(title),
                    "lp_title": f"lp {n}: lp_off {it['lp_off']}, lp_len {it['lp_len']}, {it['state']}",
                    "stored": it["lp_len"] > 0 and it["state"] in ("normal", "dead"), "redirect": None,
                    "lines": [[f"#{n}"], [clip(key, 40), clip(key, 8), clip(key, 4)], third],
                    "attrs": f' data-tids="{len(tids)}"' if tids else ""})
    return out



# ---- the whole picture ---------------------------------------------------------------------------

def _page_text(page, y, kind):
    h = page["header"]
    lines = [f"block {page['block']} · pd_lsn {h['lsn']} · pd_checksum {h['checksum']} · pd_flags {h['flags']} "
             f"({' '.join(h['flag_names']) or 'none'}) · pd_prune_xid {h['prune_xid']} · version {h['version']}",
             f"pd_lower {h['lower']} · pd_upper {h['upper']} · pd_special {h['special']} · free space "
             f"{page['free_space']} bytes · {len(page.get('items', []))} line pointers"]
    vm, s = page.get("vm"), page.get("stats", {})
    yes = {True: "yes", False: "no"}
    lines.append(("visibility map: " + (f"all-visible {yes[vm['all_visible']]}, all-frozen {yes[vm['all_frozen']]}"
                                        if vm else "no bits read")) if kind == "heap" else
                 f"btpo_prev {s['btpo_prev']} · btpo_next {s['btpo_next']} · btpo_level {s['btpo_level']} · "
                 f"btpo_flags {s['btpo_flags']} ({' '.join(s['flag_names']) or 'none'}) · btpo_cycleid "
                 f"{s.get('btpo_cycleid')}")
    return [text_at(12, y + 14 + 16 * i, t, "m b" if i == 0 else "m") for i, t in enumerate(lines)], y + 76


def _layouts(result, pages, y, kind):
    out = []
    for page in pages:
        more, y = _page_text(page, y, kind)
        strip = Strip(result["blcksz"], y)
        out += more + _strip(page, heap_entries(page) if kind == "heap" else btree_entries(page), strip)
        y += strip.height + 16
    return out, y


def render_svg(result: dict) -> str:
    """The picture of one inspect result (heap pages to scale, or a B-tree's levels) as an SVG document."""
    pages, nb = result["pages"], result["nblocks"]
    out = [text_at(12, 22, f"{result['relation']} · {result['kind']} · {nb} block{'s' * (nb != 1)} on disk, "
                         f"{len(pages)} shown · build {result['build']} · {result['blcksz']}-byte pages", "t")]
    if result["kind"] == "heap":
        legend, y = draw_legend(44, *HEAP_LEGEND, "tuple labels: lp · xmin · xmax")
        more, y = _layouts(result, pages[:MAX_PAGES], y + 6, "heap")
        out += legend + more
        if len(pages) > MAX_PAGES:
            out.append(text_at(12, y + 4, f"… {len(pages) - MAX_PAGES} more pages not drawn", "b"))
            y += 20
    else:
        more, y = draw_tree(result, 44)
        out += more
        if len(pages) == 1:
            legend, y = draw_legend(y + 24, *BTREE_LEGEND, "item labels: item number · key")
            more, y = _layouts(result, pages, y + 6, "btree")
            out += legend + more
    height = num(y + 12)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} '
            f'{height}"><style>{STYLE}</style>' + "".join(out) + "</svg>\n")

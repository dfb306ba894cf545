"""The SVG picture of an inspect result.

A heap page is drawn to scale: its blcksz bytes as a band wrapped in rows (offset 0
top left, each row's first offset written on its left): the 24-byte page header,
the line pointer array growing from there (one 4-byte box per line pointer), the
free space from pd_lower to pd_upper, the tuples at their true offsets growing back
from the end, the special space. Grey between tuples is padding or space no line
pointer refers to. Arrows lead from each line pointer to its tuple's first byte,
from a redirect to the line pointer it names, and along a HOT chain from a version
to the next (`next`). Boxes are coloured by state and have a <title> for hovering.

A B-tree is drawn as its levels, root on top: one box per page (block, type, items,
heap TIDs or children, key range, siblings), sibling links within a level, and
downlinks to the child pages the result holds. A level of more than ELIDE_OVER pages
shows its first and last KEEP_EACH_SIDE pages around one box for the rest. A result
of one B-tree page also gets that page's layout, drawn like a heap page's.
"""

import html
import math

WIDTH, LEFT, STRIP_PX = 1200, 44, 1152   # the strip: offsets written left of LEFT, then 1152 px of bytes
ROW_BYTES = 512            # bytes a row up to 8 kB pages (2.25 px a byte); bigger pages keep 16 rows
ROW_H, ROW_GAP = 46, 18    # a row, and the gap under it where HOT chain arcs run
PITCH = ROW_H + ROW_GAP
PAGE_HEADER, ITEM_ID = 24, 4   # SizeOfPageHeaderData, sizeof(ItemIdData)
CHAR_W = 6.7               # one 11px monospace character
ARROWS_UP_TO = 64          # more line pointers than this: no lp → tuple arrows, they would hide the page
MAX_PAGES = 64             # heap pages drawn at most (as many as render/ lets through); the rest are counted
ELIDE_OVER, KEEP_EACH_SIDE = 40, 4
BOX_W, BOX_H, BOX_GAP, PER_LINE, LEVEL_COL = 108, 72, 16, 9, 56

FILL = {"header": "#969696", "normal": "#9ecae1", "hot": "#a1d99b", "dead": "#fb6a4a", "redirect": "#fdae6b",
        "unused": "#ffffff", "free": "#ffffff", "pad": "#e3e3e3", "special": "#bcbddc", "leaf": "#9ecae1",
        "posting": "#a1d99b", "pivot": "#fee391", "hikey": "#fdae6b"}
PAGE_FILL = {"r": "#fec44f", "i": "#fee391", "l": "#c6dbef", "d": "#d9d9d9", "D": "#d9d9d9", "e": "#fcbba1"}
PAGE_TYPE = {"r": "root", "i": "internal", "l": "leaf", "d": "deleted", "D": "deleted", "e": "half-dead"}
ARROW = {"ptr": ("#636363", 1, ""), "redirect": ("#e6550d", 1.6, "4 2"), "hot": ("#6a51a3", 1.8, ""),
         "downlink": ("#3182bd", 1.2, ""), "sibling": ("#525252", 1.2, ""), "metaroot": ("#525252", 1.2, "")}
STYLE = ("text{font-family:system-ui,'DejaVu Sans',sans-serif;font-size:12px;fill:#222}"
         ".m{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:11px}.b{font-weight:bold}"
         ".t{font-size:15px;font-weight:bold}.dim{fill:#666}"
         ".halo{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}"
         "g.lp:hover rect,g.tuple:hover rect,g.page:hover rect{stroke:#000;stroke-width:2}")
HEAP_LEGEND = ([("header", "page header"), ("normal", "tuple"), ("hot", "heap-only (HOT) tuple"), ("dead", "dead"),
                ("redirect", "redirect"), ("unused", "unused"), ("free", "free space"),
                ("pad", "padding / unreferenced")],
               [("ptr", "line pointer → tuple"), ("redirect", "redirect → lp"), ("hot", "HOT chain: next version")])
BTREE_LEGEND = ([("header", "page header"), ("leaf", "leaf tuple"), ("posting", "posting list"),
                 ("pivot", "pivot (downlink)"), ("hikey", "high key"), ("dead", "dead"), ("free", "free space"),
                 ("special", "special (BTPageOpaqueData)"), ("pad", "padding")], [("ptr", "line pointer → item")])


def _e(value):
    return html.escape(str(value))


def _n(v):
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _clip(text, n):
    text = str(text)
    return text if len(text) <= n else text[:max(n - 1, 0)] + "…"


def _fit(variants, width):
    """The first variant that fits in width px of 11px monospace, or ''."""
    return next((v for v in variants if len(v) * CHAR_W <= width - 4), "")


def _rect(x, y, w, h, fill, stroke="#555", dash="", width=0.6):
    dash = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width}"{dash}/>')


def _text(x, y, s, cls="m", anchor="start"):
    return f'<text x="{_n(x)}" y="{_n(y)}" class="{cls}" text-anchor="{anchor}">{_e(s)}</text>'


def _arrow(kind, d, tip, came_from, frm, to, title, back=None):
    """Path d with a head at tip (reached from came_from), and one at back=(tip, came_from) if given."""
    color, width, dash = ARROW[kind]
    out = [f'<g class="arrow {kind}" data-from="{frm}" data-to="{to}"><title>{_e(title)}</title><path d="{d}" '
           f'fill="none" stroke="{color}" stroke-width="{width}" stroke-dasharray="{dash or "none"}" opacity="0.85"/>']
    for (x, y), (fx, fy) in [(tip, came_from)] + [back] * bool(back):
        length = math.hypot(x - fx, y - fy) or 1
        ux, uy = (x - fx) / length, (y - fy) / length
        bx, by = x - 7 * ux, y - 7 * uy
        out.append(f'<polygon points="{_n(x)},{_n(y)} {_n(bx - 3.5 * uy)},{_n(by + 3.5 * ux)} '
                   f'{_n(bx + 3.5 * uy)},{_n(by - 3.5 * ux)}" fill="{color}"/>')
    return "".join(out) + "</g>"


def _curve(kind, a, b, bend, frm, to, title, arrive=None):
    """From a to b: leaving a `bend` px down (negative: up), arriving from `arrive` px below b (default: bend)."""
    c1, c2 = (a[0], a[1] + bend), (b[0], b[1] + (bend if arrive is None else arrive))
    d = f"M{_n(a[0])},{_n(a[1])} C{_n(c1[0])},{_n(c1[1])} {_n(c2[0])},{_n(c2[1])} {_n(b[0])},{_n(b[1])}"
    return _arrow(kind, d, b, c2, frm, to, title)


def _legend(y, swatches, arrows, note):
    """A line of colour swatches (wrapped), then a line of arrow kinds and the note."""
    out, x = [], 12
    for kind, label in swatches:
        if x + 22 + len(label) * 7 > WIDTH - 12:
            x, y = 12, y + 18
        out += [_rect(x, y - 10, 14, 12, FILL[kind], "#555", "3 2" if kind in ("unused", "free") else ""),
                _text(x + 19, y, label, "")]
        x += 34 + len(label) * 7
    x, y = 12, y + 18
    for kind, label in arrows:
        color, width, dash = ARROW[kind]
        out += [f'<line x1="{x}" y1="{y - 4}" x2="{x + 22}" y2="{y - 4}" stroke="{color}" stroke-width="{width}"'
                f' stroke-dasharray="{dash or "none"}"/>', _text(x + 28, y, label, "")]
        x += 46 + len(label) * 7
    return out + [_text(x, y, note, "dim")], y + 12


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
    boxes = [_rect(x, y, w, ROW_H, FILL[fill], "#777", dash) for x, y, w in pieces]
    x, y, w = max(pieces, key=lambda p: p[2]) if pieces else (0, 0, 0)
    return [f"<g><title>{_e(title)}</title>"] + boxes + ["</g>"], [_text(x + w / 2, y + 27, _fit(variants, w), cls,
                                                                        "middle")] * bool(pieces)


def _ground(page, strip):
    """([the rows, header, free space, special space], [their labels, pd_lower and pd_upper marked])."""
    hdr, rb = page["header"], strip.row_bytes
    lower, upper, special, free = hdr["lower"], hdr["upper"], hdr["special"], hdr["upper"] - hdr["lower"]
    shapes, labels = [], []
    for r in range(strip.rows):
        y = strip.y0 + r * PITCH
        shapes.append(_rect(LEFT, y, min(rb, strip.blcksz - r * rb) * strip.px, ROW_H, FILL["pad"], "#999"))
        labels.append(_text(LEFT - 4, y + 27, r * rb, "m dim", "end"))
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
        labels.append(f'<line x1="{_n(x)}" y1="{_n(y - 3)}" x2="{_n(x)}" y2="{_n(y + ROW_H + 3)}" stroke="#222" '
                      f'stroke-width="2"/>')
        if min(free, rb - off % rb if side > 0 else off % rb) * strip.px > len(name) * CHAR_W + 10:
            labels.append(_text(x + 4 * side, y + 13, name, "m halo", "start" if side > 0 else "end"))
    return shapes, labels


def _strip(page, entries, strip):
    """The page's bytes with its line pointers, tuples, and the arrows between them."""
    lps, tuples, arrows, boxes, w = [], [], [], {}, ITEM_ID * strip.px
    for e in entries:
        x, y = strip.xy(PAGE_HEADER + ITEM_ID * (e["n"] - 1))
        boxes[e["n"]] = {"lp": (x + w / 2, y, y + ROW_H)}
        label = _text(x + w / 2, y + 27, e["n"], "m", "middle") if len(str(e["n"])) * CHAR_W <= w else ""
        lps.append(f'<g class="lp {e["kind"]}" data-lp="{e["n"]}"><title>{_e(e["lp_title"])}</title>'
                   + _rect(x, y, w, ROW_H, FILL[e["kind"]], "#333", "2 1" if e["kind"] == "unused" else "")
                   + label + "</g>")
    for e in entries:
        pieces = strip.pieces(e["off"], e["len"]) if e["stored"] else []
        if not pieces:
            continue
        x, y, pw = pieces[0] if pieces[0][2] >= 60 else max(pieces, key=lambda p: p[2])
        boxes[e["n"]]["tuple"] = (x + pw / 2, y, y + ROW_H)
        tuples.append(f'<g class="tuple {e["kind"]}" data-lp="{e["n"]}"{e.get("attrs", "")}>'
                   f'<title>{_e(e["title"])}</title>'
                   + "".join(_rect(*p[:2], p[2], ROW_H, FILL[e["kind"]], "#333", width=1.2) for p in pieces)
                   + "".join(_text(x + 3, y + 13 + 14 * i, _fit(v, pw)) for i, v in enumerate(e["lines"]))
                   + "</g>")
        (lx, _, lbottom), (tx, ttop, tw) = boxes[e["n"]]["lp"], pieces[0]
        if len(entries) <= ARROWS_UP_TO and ttop > lbottom:   # to where lp_off points: the tuple's first byte
            bend = max(24, (ttop - lbottom) / 3)
            arrows.append(_curve("ptr", (lx, lbottom), (tx + min(8, tw / 2), ttop), bend, e["n"], e["n"],
                                 f"lp {e['n']} → its tuple at offset {e['off']}", -bend))
    for e in entries:
        target = boxes.get(e.get("redirect") or e.get("next"))
        if e.get("redirect") and target:
            (x1, y1, _), (x2, y2, _) = boxes[e["n"]]["lp"], target["lp"]
            arrows.append(_curve("redirect", (x1, y1), (x2, y2), -min(22, 8 + abs(x2 - x1) / 4), e["n"],
                                 e["redirect"], f"lp {e['n']} redirects to lp {e['redirect']}"))
        elif e.get("next") and target and "tuple" in boxes[e["n"]]:
            (x1, _, y1), (x2, _, y2) = boxes[e["n"]]["tuple"], target.get("tuple", target["lp"])
            arrows.append(_curve("hot", (x1, y1), (x2, y2), ROW_GAP - 4, e["n"], e["next"],
                                 f"lp {e['n']}'s t_ctid leads to lp {e['next']}: the next version"))
    shapes, labels = _ground(page, strip)   # arrows under the labels and boxes they cross, over the free space
    return ([f'<g class="layout" data-block="{page["block"]}" data-y0="{_n(strip.y0)}" data-row-bytes='
             f'"{strip.row_bytes}" data-px="{_n(strip.px)}">'] + shapes + arrows + labels + lps + tuples + ["</g>"])


def value_text(v, n=60):
    if v.get("dropped") or v.get("null"):
        return "(dropped)" if v.get("dropped") else "NULL"
    for key in ("toast", "compressed", "error"):
        if key in v:
            return f"({key}: " + (", ".join(f"{k} {x}" for k, x in v[key].items()) if key != "error" else v[key]) + ")"
    value = v.get("value")
    return _clip(f"'{value}'" if isinstance(value, str) else value, n)


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


# ---- B-tree --------------------------------------------------------------------------------------

def key_text(item):
    """An index tuple's key as text; '−∞' when every column is truncated away (an internal page's first)."""
    if not item.get("keys"):
        return item.get("data") or "?"
    keys = [k for k in item["keys"] if not k.get("truncated")]
    return ", ".join("NULL" if k.get("null") else str(k.get("value")) for k in keys) if keys else "−∞"


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
                    "lines": [[f"#{n}"], [_clip(key, 40), _clip(key, 8), _clip(key, 4)], third],
                    "attrs": f' data-tids="{len(tids)}"' if tids else ""})
    return out


def _ordered(pages):
    """A level's pages along their sibling links, left to right."""
    by, out, seen = {p["block"]: p for p in pages}, [], set()
    for p in sorted(pages, key=lambda p: (p["stats"]["btpo_prev"] in by, p["block"])):
        b = p["block"]
        while b in by and b not in seen:
            seen.add(b)
            out.append(by[b])
            b = by[b]["stats"]["btpo_next"]
    return out


def _page_box(p, x, y, root):
    s, items = p["stats"], p.get("items", [])
    data = [it for it in items if not it.get("high_key") and "ctid" in it]
    name = ("root " if p["block"] == root and s["type"] != "r" else "") + PAGE_TYPE.get(s["type"], s["type"])
    third = (f"{sum(len(it.get('tids') or [1]) for it in data)} heap TIDs" if s["type"] == "l"
             else f"{sum(1 for it in data if it.get('downlink'))} children")
    lo, hi = (key_text(data[0]), key_text(data[-1])) if data else ("", "")
    hikey = next((key_text(it) for it in items if it.get("high_key")), "none (rightmost)")
    dead = f", {s['dead_items']} dead" if s["dead_items"] else ""
    lines = [f"blk {p['block']} · {name}", f"{len(items)} items{dead}",
             third, _fit([f"{lo} … {hi}", f"{_clip(lo, 6)} … {_clip(hi, 6)}"], BOX_W) if data else "(no items)",
             f"← {s['btpo_prev'] or '—'} | {s['btpo_next'] or '—'} →"]
    title = (f"block {p['block']}: {name}, level {s['btpo_level']}, flags {' '.join(s['flag_names']) or '-'}\n"
             f"{s['live_items']} live, {s['dead_items']} dead items, free {s['free_size']} B, "
             f"avg item {s['avg_item_size']} B\nprev {s['btpo_prev']}, next {s['btpo_next']}, high key {hikey}")
    return (f'<g class="page" data-block="{p["block"]}" data-level="{s["btpo_level"]}"><title>{_e(title)}</title>'
            + _rect(x, y, BOX_W, BOX_H, PAGE_FILL.get(s["type"], "#eee"), "#333", "4 2" * (s["type"] in "dDe"))
            + "".join(_text(x + 5, y + 14 + 13 * i, _fit(t, BOX_W), "m b" if i == 0 else "m")
                      for i, t in enumerate([[lines[0], f"{p['block']} · {name}", f"blk {p['block']}"]]
                                            + [[t] for t in lines[1:]])) + "</g>")


def _elided(hidden, x, y):
    blocks = _clip(" ".join(str(p["block"]) for p in hidden), 400)
    return (f'<g class="elided" data-count="{len(hidden)}"><title>{len(hidden)} pages not drawn: blocks {blocks}'
            f'</title>' + _rect(x, y, BOX_W, BOX_H, "#fafafa", "#777", "4 3")
            + _text(x + BOX_W / 2, y + 30, f"… {len(hidden)} more", "m b", "middle")
            + _text(x + BOX_W / 2, y + 46, f"blk {hidden[0]['block']}…{hidden[-1]['block']}", "m", "middle") + "</g>")


def _sibling(prev, slot, x, y):
    """The link from the box drawn before to this one, bent when the level wraps to a new line."""
    (a, ax, ay), pages = prev, isinstance(prev[0], dict) and isinstance(slot, dict)
    start, end = (ax + BOX_W, ay + BOX_H / 2), (x, y + BOX_H / 2)
    d = (f"M{_n(start[0])},{_n(start[1])} " + (f"H{_n(x)}" if ay == y else
         f"h8 V{_n(ay + BOX_H + 11)} H{_n(x - 8)} V{_n(end[1])} H{_n(x)}"))
    if not (pages and a["stats"]["btpo_next"] == slot["block"]):
        return f'<path class="sibling" d="{d}" fill="none" stroke="#999" stroke-dasharray="3 3"/>'
    frm, to = a["block"], slot["block"]
    back = (start, (start[0] + 5, start[1])) if slot["stats"]["btpo_prev"] == frm else None
    return _arrow("sibling", d, end, (x - 5, end[1]), frm, to, f"block {frm}'s btpo_next is {to}"
                  + (f", block {to}'s btpo_prev is {frm}" if back else ""), back)


def _downlinks(p, pos):
    items, out = p.get("items", []), []
    px, py = pos.get(p["block"], (None, None))
    for k, it in enumerate(items if px is not None else []):
        child = it.get("downlink")
        if child in pos and it.get("pivot") and not it.get("high_key"):
            a = (px + 6 + (BOX_W - 12) * k / max(len(items) - 1, 1), py + BOX_H)
            out.append(_curve("downlink", a, (pos[child][0] + BOX_W / 2, pos[child][1]), 20, p["block"], child,
                              f"block {p['block']} item {it['itemoffset']} (key {key_text(it)}) → block {child}"))
    return out


def _tree(result, y):
    meta, pages = result.get("meta") or {}, result["pages"]
    root, mx = meta.get("root"), (WIDTH - 300) / 2
    boxes = [f'<g class="meta"><title>{_e(", ".join(f"{k} {v}" for k, v in meta.items()))}</title>'
             + _rect(mx, y, 300, 36, "#f0f0f0", "#333")
             + _text(mx + 150, y + 15, "meta page (block 0)", "m b", "middle")
             + _text(mx + 150, y + 29, f"root {root} · level {meta.get('level')} · fastroot {meta.get('fastroot')}",
                     "m", "middle") + "</g>"]
    pos, links, y = {}, [], y + 70
    if not pages:
        return boxes + [_text(WIDTH / 2, y, "an empty index: no root page yet", "", "middle")], y + 20
    levels = {}
    for p in pages:
        levels.setdefault(p["stats"]["btpo_level"], []).append(p)
    for level in sorted(levels, reverse=True):
        row, prev = _ordered(levels[level]), None
        what = "root" if any(p["block"] == root for p in row) else "leaves" if level == 0 else "internal"
        if len(row) > ELIDE_OVER:
            row = row[:KEEP_EACH_SIDE] + [row[KEEP_EACH_SIDE:-KEEP_EACH_SIDE]] + row[-KEEP_EACH_SIDE:]
        boxes += [_text(12, y + 30, f"level {level}", "b"), _text(12, y + 46, what, "dim")]
        for i in range(0, len(row), PER_LINE):
            line = row[i:i + PER_LINE]
            x = LEVEL_COL + (WIDTH - LEVEL_COL - len(line) * (BOX_W + BOX_GAP) + BOX_GAP) / 2
            for slot in line:
                boxes.append(_elided(slot, x, y) if isinstance(slot, list) else _page_box(slot, x, y, root))
                pos.update({slot["block"]: (x, y)} if isinstance(slot, dict) else {})
                links += [_sibling(prev, slot, x, y)] if prev else []
                prev, x = (slot, x, y), x + BOX_W + BOX_GAP
            y += BOX_H + 22
        y += 40
    if root in pos:
        rx, ry = pos[root]
        links.append(_curve("metaroot", (WIDTH / 2, ry - 34), (rx + BOX_W / 2, ry), 12, 0, root,
                            f"the meta page's root: block {root}"))
    for p in pages:
        links += _downlinks(p, pos)
    return links + boxes, y - 40   # links first: boxes hide the lines that pass behind them


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
    return [_text(12, y + 14 + 16 * i, t, "m b" if i == 0 else "m") for i, t in enumerate(lines)], y + 76


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
    out = [_text(12, 22, f"{result['relation']} · {result['kind']} · {nb} block{'s' * (nb != 1)} on disk, "
                         f"{len(pages)} shown · build {result['build']} · {result['blcksz']}-byte pages", "t")]
    if result["kind"] == "heap":
        legend, y = _legend(44, *HEAP_LEGEND, "tuple labels: lp · xmin · xmax")
        more, y = _layouts(result, pages[:MAX_PAGES], y + 6, "heap")
        out += legend + more
        if len(pages) > MAX_PAGES:
            out.append(_text(12, y + 4, f"… {len(pages) - MAX_PAGES} more pages not drawn", "b"))
            y += 20
    else:
        more, y = _tree(result, 44)
        out += more
        if len(pages) == 1:
            legend, y = _legend(y + 24, *BTREE_LEGEND, "item labels: item number · key")
            more, y = _layouts(result, pages, y + 6, "btree")
            out += legend + more
    height = _n(y + 12)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} '
            f'{height}"><style>{STYLE}</style>' + "".join(out) + "</svg>\n")

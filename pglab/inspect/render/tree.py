"""A B-tree drawn as its levels, root on top: one box per page (block, type,
items, heap TIDs or children, key range, siblings), sibling links within a level,
and downlinks to the child pages the result holds.  A level of more than
ELIDE_OVER pages shows its first and last KEEP_EACH_SIDE pages around one box
for the rest."""

from .draw import WIDTH, arrow, clip, curve, esc, fit, num, rect, text_at

ELIDE_OVER, KEEP_EACH_SIDE = 40, 4
BOX_W, BOX_H, BOX_GAP, PER_LINE, LEVEL_COL = 108, 72, 16, 9, 56

PAGE_FILL = {"r": "#fec44f", "i": "#fee391", "l": "#c6dbef", "d": "#d9d9d9", "D": "#d9d9d9", "e": "#fcbba1"}
PAGE_TYPE = {"r": "root", "i": "internal", "l": "leaf", "d": "deleted", "D": "deleted", "e": "half-dead"}


def key_text(item):
    """An index tuple's key as text; '−∞' when every column is truncated away (an internal page's first)."""
    if not item.get("keys"):
        return item.get("data") or "?"
    keys = [k for k in item["keys"] if not k.get("truncated")]
    return ", ".join("NULL" if k.get("null") else str(k.get("value")) for k in keys) if keys else "−∞"


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
             third, fit([f"{lo} … {hi}", f"{clip(lo, 6)} … {clip(hi, 6)}"], BOX_W) if data else "(no items)",
             f"← {s['btpo_prev'] or '—'} | {s['btpo_next'] or '—'} →"]
    title = (f"block {p['block']}: {name}, level {s['btpo_level']}, flags {' '.join(s['flag_names']) or '-'}\n"
             f"{s['live_items']} live, {s['dead_items']} dead items, free {s['free_size']} B, "
             f"avg item {s['avg_item_size']} B\nprev {s['btpo_prev']}, next {s['btpo_next']}, high key {hikey}")
    return (f'<g class="page" data-block="{p["block"]}" data-level="{s["btpo_level"]}"><title>{esc(title)}</title>'
            + rect(x, y, BOX_W, BOX_H, PAGE_FILL.get(s["type"], "#eee"), "#333", "4 2" * (s["type"] in "dDe"))
            + "".join(text_at(x + 5, y + 14 + 13 * i, fit(t, BOX_W), "m b" if i == 0 else "m")
                      for i, t in enumerate([[lines[0], f"{p['block']} · {name}", f"blk {p['block']}"]]
                                            + [[t] for t in lines[1:]])) + "</g>")


def _elided(hidden, x, y):
    blocks = clip(" ".join(str(p["block"]) for p in hidden), 400)
    return (f'<g class="elided" data-count="{len(hidden)}"><title>{len(hidden)} pages not drawn: blocks {blocks}'
            f'</title>' + rect(x, y, BOX_W, BOX_H, "#fafafa", "#777", "4 3")
            + text_at(x + BOX_W / 2, y + 30, f"… {len(hidden)} more", "m b", "middle")
            + text_at(x + BOX_W / 2, y + 46, f"blk {hidden[0]['block']}…{hidden[-1]['block']}", "m", "middle") + "</g>")


def _sibling(prev, slot, x, y):
    """The link from the box drawn before to this one, bent when the level wraps to a new line."""
    (a, ax, ay), pages = prev, isinstance(prev[0], dict) and isinstance(slot, dict)
    start, end = (ax + BOX_W, ay + BOX_H / 2), (x, y + BOX_H / 2)
    d = (f"M{num(start[0])},{num(start[1])} " + (f"H{num(x)}" if ay == y else
         f"h8 V{num(ay + BOX_H + 11)} H{num(x - 8)} V{num(end[1])} H{num(x)}"))
    if not (pages and a["stats"]["btpo_next"] == slot["block"]):
        return f'<path class="sibling" d="{d}" fill="none" stroke="#999" stroke-dasharray="3 3"/>'
    frm, to = a["block"], slot["block"]
    back = (start, (start[0] + 5, start[1])) if slot["stats"]["btpo_prev"] == frm else None
    return arrow("sibling", d, end, (x - 5, end[1]), frm, to, f"block {frm}'s btpo_next is {to}"
                  + (f", block {to}'s btpo_prev is {frm}" if back else ""), back)


def _downlinks(p, pos):
    items, out = p.get("items", []), []
    px, py = pos.get(p["block"], (None, None))
    for k, it in enumerate(items if px is not None else []):
        child = it.get("downlink")
        if child in pos and it.get("pivot") and not it.get("high_key"):
            a = (px + 6 + (BOX_W - 12) * k / max(len(items) - 1, 1), py + BOX_H)
            out.append(curve("downlink", a, (pos[child][0] + BOX_W / 2, pos[child][1]), 20, p["block"], child,
                              f"block {p['block']} item {it['itemoffset']} (key {key_text(it)}) → block {child}"))
    return out


def draw_tree(result, y):
    meta, pages = result.get("meta") or {}, result["pages"]
    root, mx = meta.get("root"), (WIDTH - 300) / 2
    boxes = [f'<g class="meta"><title>{esc(", ".join(f"{k} {v}" for k, v in meta.items()))}</title>'
             + rect(mx, y, 300, 36, "#f0f0f0", "#333")
             + text_at(mx + 150, y + 15, "meta page (block 0)", "m b", "middle")
             + text_at(mx + 150, y + 29, f"root {root} · level {meta.get('level')} · fastroot {meta.get('fastroot')}",
                     "m", "middle") + "</g>"]
    pos, links, y = {}, [], y + 70
    if not pages:
        return boxes + [text_at(WIDTH / 2, y, "an empty index: no root page yet", "", "middle")], y + 20
    levels = {}
    for p in pages:
        levels.setdefault(p["stats"]["btpo_level"], []).append(p)
    for level in sorted(levels, reverse=True):
        row, prev = _ordered(levels[level]), None
        what = "root" if any(p["block"] == root for p in row) else "leaves" if level == 0 else "internal"
        if len(row) > ELIDE_OVER:
            row = row[:KEEP_EACH_SIDE] + [row[KEEP_EACH_SIDE:-KEEP_EACH_SIDE]] + row[-KEEP_EACH_SIDE:]
        boxes += [text_at(12, y + 30, f"level {level}", "b"), text_at(12, y + 46, what, "dim")]
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
        links.append(curve("metaroot", (WIDTH / 2, ry - 34), (rx + BOX_W / 2, ry), 12, 0, root,
                            f"the meta page's root: block {root}"))
    for p in pages:
        links += _downlinks(p, pos)
    return links + boxes, y - 40   # links first: boxes hide the lines that pass behind them

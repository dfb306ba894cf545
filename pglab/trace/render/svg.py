"""The SVG rendering of a query trace, as a learner reads it: a title and a
legend of the phases' colours; the call tree as an icicle chart under a time
axis in ms (x = time, y = depth; every box named, or when too narrow for
its name, named on hover by its <title>); then for each plan its tree as
EXPLAIN draws it, each node with the executor's calls of it on a time lane
of its own (zoomed on the executor's run): how many loops, calls and rows,
how long.  A Nested Loop's inner side shows a cluster of calls per outer row.

The elements carry classes for whoever reads the SVG back (the tests):
`span` boxes, `axis` ticks, `legend` entries, `plan-node` rows with their
`data-calls` / `data-loops` / `data-rows`, `call` boxes on the lanes."""

import html
import math

from .plan import executor_cap, ms, node_calls, plan_line, plan_tree

WIDTH = 1200
PAD = 12
ROW_H = 22              # an icicle row
NODE_H = 38             # a plan node's row: its EXPLAIN line and its counts
CHAR_W = 6.7            # the width of a character of 11px monospace (DejaVu Sans Mono: 0.6 em)
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"

STAGES = (("query", "#9ecae1", "query (exec_simple_query...)"), ("parse", "#fdd0a2", "parse"),
          ("analyze", "#fdae6b", "analyze"), ("rewrite", "#fd8d3c", "rewrite"), ("plan", "#a1d99b", "plan"),
          ("execute", "#bcbddc", "execute"), ("utility", "#d9d9d9", "utility"), ("commit", "#c7e9c0", "commit"))
PALETTE = {stage: colour for stage, colour, _ in STAGES}
ERROR = "#fb6a4a"
# a plan node's colour: its tree box and its calls on the lane
NODE_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                "#9c755f", "#bab0ac")


def _e(text):
    return html.escape(str(text), quote=True)


def fit(text, width, size=11):
    """`text` cut to what `width` pixels hold at font size `size`, with an
    ellipsis; None when not even two characters and the ellipsis would fit."""
    room = int((width - 6) / (CHAR_W * size / 11))
    if len(text) <= room:
        return text
    if room < 3:
        return None
    return text[:room - 1] + "…"


def nice_step(span, ticks=8):
    """A tick step of 1, 2 or 5 times a power of ten giving about `ticks` ticks, and never fewer
    than half as many (a step of 5 where 2 would give up to 2.5 times as many ticks)."""
    raw = max(span, 1e-9) / ticks
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return 2 * mag if step == 5 * mag and span / step < ticks / 2 else step


def tick_label(value, step):
    digits = max(0, -math.floor(math.log10(step)))
    return f"{value:.{digits}f}"


def _tint(colour, amount=0.55):
    """The colour mixed with white: a fill light enough for black text."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{int(c + (255 - c) * amount):02x}" for c in (r, g, b))


class Scale:
    """Time (ns on the events' clock) to x, over [t0, t1] drawn from x0 to x1;
    labels are ms since `origin`."""

    def __init__(self, t0, t1, x0, x1, origin):
        self.t0, self.t1, self.x0, self.x1, self.origin = t0, max(t1, t0 + 1), x0, x1, origin

    def x(self, ts):
        return self.x0 + (ts - self.t0) * (self.x1 - self.x0) / (self.t1 - self.t0)

    def w(self, dur):
        return dur * (self.x1 - self.x0) / (self.t1 - self.t0)

    def axis(self, y, grid_to=None, caption=None):
        """Ticks in ms (since origin) along y, "12 ms", gridlines down to
        grid_to; the caption above the axis' end."""
        lo, hi = (self.t0 - self.origin) / 1e6, (self.t1 - self.origin) / 1e6
        step = nice_step(hi - lo)
        parts = [f'<g class="axis"><line x1="{self.x0:.1f}" y1="{y}" x2="{self.x1:.1f}" y2="{y}" '
                 f'stroke="#333" stroke-width="1"/>']
        value = math.ceil(lo / step - 1e-9) * step
        while value <= hi + 1e-9:
            x = self.x(self.origin + value * 1e6)
            parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#333"/>')
            if grid_to is not None:
                parts.append(f'<line x1="{x:.1f}" y1="{y + 4}" x2="{x:.1f}" y2="{grid_to}" stroke="#e4e4e4"/>')
            label = f"{tick_label(value, step)} ms"
            half = _text_w(label, 10) / 2
            # the end ticks' labels kept inside the picture
            anchor = ("start" if x - half < self.x0 - PAD + 1 else
                      "end" if x + half > self.x1 + PAD - 1 else "middle")
            parts.append(f'<text class="tick" x="{x:.1f}" y="{y + 15}" font-size="10" text-anchor="{anchor}">'
                         f'{label}</text>')
            value += step
        if caption:
            parts.append(f'<text x="{self.x1:.1f}" y="{y - 4}" font-size="10" text-anchor="end" '
                         f'fill="#555">{_e(caption)}</text>')
        parts.append("</g>")
        return parts


# ------------------------------------------------------------------ header and legend

def _title(result, y, width):
    version = result.server_version
    release = f"{version // 10000}.{version % 10000}" if version >= 100000 else str(version)
    head = f"trace {result.target} · backend {result.pid} · PostgreSQL {release}"
    sql = " ".join((result.sql or "").split())
    shown = fit("SQL: " + sql, width - 2 * PAD) or ""
    parts = [f'<text x="{PAD}" y="{y + 14}" font-size="14" font-weight="bold">{_e(head)}</text>',
             f'<g><title>{_e(sql)}</title><text x="{PAD}" y="{y + 32}" font-size="11">{_e(shown)}</text></g>']
    y += 40
    if result.sql_error:
        msg = fit(f"ERROR: {result.sql_error}", width - 2 * PAD) or ""
        parts.append(f'<text x="{PAD}" y="{y + 8}" font-size="11" fill="#b2182b">{_e(msg)}</text>')
        y += 16
    return parts, y


def _legend(entries, y, width):
    """Colour swatches with their names, wrapped to the width."""
    parts = ['<g class="legend">']
    x = PAD
    for colour, label, stroke in entries:
        w = 16 + len(label) * CHAR_W + 14
        if x + w > width - PAD:
            x, y = PAD, y + 18
        parts.append(f'<g class="legend-entry"><rect x="{x}" y="{y}" width="12" height="12" fill="{colour}" '
                     f'stroke="{stroke}" stroke-width="0.8"/><text x="{x + 16}" y="{y + 10}" '
                     f'font-size="11">{_e(label)}</text></g>')
        x += w
    parts.append("</g>")
    return parts, y + 22


def legend_entries(result):
    """The colours the picture uses: the phases of its spans, red if an ERROR
    left some, then the plan nodes' calls."""
    spans = result.of("span")
    present = {s["stage"] for s in spans}
    entries = [(colour, label, "#555") for stage, colour, label in STAGES if stage in present]
    entries += [("#eeeeee", stage, "#555") for stage in sorted(present - set(PALETTE))]
    if any(s["status"] != "ok" for s in spans):
        entries.append((ERROR, "left by an ERROR", "#555"))
    if result.of("exec_call"):
        entries.append((_tint(NODE_COLOURS[0], 0.45), "a plan node's call (colour per node)", NODE_COLOURS[0]))
        entries.append(("#ffffff", "a call that returned no row", NODE_COLOURS[0]))
    return entries


# ------------------------------------------------------------------ the call tree

MIN_INSIDE = 8          # a box shows its name inside when this much of it fits (or the whole of a shorter name)
CALLOUT_H = 15          # a line of names under the call tree, for boxes too narrow to hold theirs


def _span_colour(s):
    return ERROR if s["status"] != "ok" else PALETTE.get(s["stage"], "#eeeeee")


def _text_w(text, size=11):
    return len(text) * CHAR_W * size / 11


def _free(occupied, lo, hi):
    """The free stretches of [lo, hi] between the sorted (x0, x1) intervals of a row."""
    out, at = [], lo
    for a, b in sorted(occupied):
        if b <= at:
            continue
        if a >= hi:
            break
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < hi:
        out.append((at, hi))
    return out


def place_labels(spans, scale, width):
    """Where each span's name goes, {id(span): (where, x, text)}: "inside" its
    box; "right" or "left" of it in its row where the row is free; else
    "callout", on a line under the chart (x: the box's middle)."""
    rows = {}
    for s in spans:
        rows.setdefault(s["depth"], []).append(s)
    placed = {}
    leaders = []                # the x of the callouts' leaders, down through the rows below their box
    extent = {d: [(scale.x(s["ts"]), scale.x(s["ts"]) + max(scale.w(s["dur"]), 1.0)) for s in row]
              for d, row in rows.items()}
    for depth, row in sorted(rows.items()):
        boxes = extent[depth]
        occupied = [(a - 1, b + 1) for a, b in boxes] + [(x - 3, x + 3) for x in leaders]
        pending = []
        for s, (x0, x1) in sorted(zip(row, boxes), key=lambda sb: sb[1][0]):
            name = s["name"]
            text = fit(name, x1 - x0)
            if text is not None and len(text.rstrip("…")) >= min(len(name), MIN_INSIDE):
                placed[id(s)] = ("inside", x0 + 3, text)
            else:
                pending.append((s, x0, x1))
        for s, x0, x1 in pending:
            name = s["name"]
            need = _text_w(name) + 4
            best = None
            for side in ("right", "left"):
                lo, hi = (x1 + 3, width - PAD) if side == "right" else (PAD, x0 - 3)
                if hi - lo < 20:
                    continue
                stretches = _free(occupied, lo, hi)
                if not stretches:
                    continue
                a, b = stretches[0] if side == "right" else stretches[-1]
                if (side == "right" and a > lo + 0.5) or (side == "left" and b < hi - 0.5):
                    continue            # not next to the box
                text = name if b - a >= need else fit(name, b - a + 6)
                if text is None or len(text.rstrip("…")) < min(len(name), MIN_INSIDE):
                    continue
                if best is None or len(text) > len(best[2]):
                    tw = _text_w(text)
                    best = (side, a + 1 if side == "right" else b - tw - 1, text)
                if text == name:
                    break
            if best is None:
                # the leader down from the box where no box below it is, if there is such a place
                below = [b for d, bs in extent.items() if d > depth for b in bs]
                gaps = _free([(a - 1, b + 1) for a, b in below], x0 + 0.5, x1 - 0.5)
                a, b = max(gaps, key=lambda g: g[1] - g[0]) if gaps else (x0, x1)
                placed[id(s)] = ("callout", (a + b) / 2, name)
                leaders.append((a + b) / 2)
            else:
                placed[id(s)] = best
                occupied.append((best[1] - 2, best[1] + _text_w(best[2]) + 2))
    return placed


def _callout_lines(spans, placed, width):
    """{id(span): (line index, side)} for the callouts: each name on a line
    under the chart, beside its leader ("right" of it, or "left" near the
    picture's right edge), the lines packed so that no name overlaps another
    and no leader crosses a name on its way down."""
    blocks = []                 # per line: [(x0, x1)] of the names on it
    deep = []                   # (leader x, line) of the callouts placed

    def fits(xc, k, b0, b1, strict):
        if any(b0 - 8 < e1 and e0 < b1 + 8 for e0, e1 in blocks[k]):
            return False
        if any(b0 - 2 <= x <= b1 + 2 for x, line in deep if line > k):
            return False        # a leader going further down would cross this name
        return not strict or not any(e0 - 2 <= xc <= e1 + 2 for m in range(k) for e0, e1 in blocks[m])

    out = {}
    callouts = [s for s in spans if placed[id(s)][0] == "callout"]
    right = [s for s in callouts if placed[id(s)][1] + 2 + _callout_w(placed[id(s)][2]) <= width - PAD]
    left = [s for s in callouts if s not in right]
    order = (sorted(right, key=lambda s: -placed[id(s)][1]) + sorted(left, key=lambda s: placed[id(s)][1]))
    for s in order:
        xc, name = placed[id(s)][1], placed[id(s)][2]
        side = "right" if s in right else "left"
        tw = _callout_w(name)
        b0, b1 = (xc + 2, xc + 2 + tw) if side == "right" else (xc - 2 - tw, xc - 2)
        k = next((k for k in range(len(blocks)) if fits(xc, k, b0, b1, True)), None)
        if k is None:
            k = next((k for k in range(len(blocks)) if fits(xc, k, b0, b1, False)), None)
        if k is None:
            k = len(blocks)
            blocks.append([])
        blocks[k].append((b0, b1))
        deep.append((xc, k))
        out[id(s)] = (k, side)
    return out, len(blocks)


def _callout_w(name):
    """A callout's width: its colour swatch and its name."""
    return 12 + _text_w(name)


def _span_box(s, scale, y, where, callout=None):
    x = scale.x(s["ts"])
    w = max(scale.w(s["dur"]), 1.0)
    colour = _span_colour(s)
    status = "" if s["status"] == "ok" else f" ({s['status']})"
    kind, tx, text = where
    parts = [f'<g class="span" data-stage="{_e(s["stage"])}" data-label="{kind}"><title>{_e(s["name"])} '
             f'{ms(s["dur"])}{status}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW_H - 2}" '
             f'fill="{colour}" stroke="#555" stroke-width="0.5"/>']
    if kind == "callout":
        line_y, side = callout
        xc, mid = tx, line_y - 4
        if side == "right":
            sx, tx, anchor = xc + 2, xc + 14, "start"
        else:
            sx, tx, anchor = xc - 11, xc - 14, "end"
        edge = sx if side == "right" else sx + 9
        parts.append(f'<path class="leader" d="M{xc:.1f},{y + ROW_H - 2} L{xc:.1f},{mid} L{edge:.1f},{mid}" '
                     f'stroke="#444" stroke-width="0.7" fill="none"/>'
                     f'<circle cx="{xc:.1f}" cy="{y + ROW_H - 2}" r="1.6" fill="#444"/>'
                     f'<rect x="{sx:.1f}" y="{line_y - 9}" width="9" height="9" fill="{colour}" stroke="#555" '
                     f'stroke-width="0.5"/>'
                     f'<text class="name" x="{tx:.1f}" y="{line_y}" font-size="11" text-anchor="{anchor}">'
                     f'{_e(text)}</text>')
    else:
        fill = "#000" if kind == "inside" else "#333"
        parts.append(f'<text class="name" x="{tx:.1f}" y="{y + 14}" font-size="11" fill="{fill}">'
                     f'{_e(text)}</text>')
    parts.append("</g>")
    return parts


def _call_tree(spans, y, width):
    t0 = min(s["ts"] for s in spans)
    t1 = max(s["ts"] + s["dur"] for s in spans)
    scale = Scale(t0, t1, PAD, width - PAD, t0)
    depth = max(s["depth"] for s in spans) + 1
    parts = [f'<text x="{PAD}" y="{y + 12}" font-size="12" font-weight="bold">call tree (time →)</text>']
    y += 22
    body = y + 22
    bottom = body + depth * ROW_H
    placed = place_labels(spans, scale, width)
    lines, n_lines = _callout_lines(spans, placed, width)
    parts += scale.axis(y, grid_to=bottom, caption="since the statement began")
    boxes, callouts = [], []
    for s in sorted(spans, key=lambda s: (s["depth"], s["ts"])):
        where = placed[id(s)]
        if where[0] == "callout":
            line, side = lines[id(s)]
            callouts += _span_box(s, scale, body + s["depth"] * ROW_H, where,
                                  (bottom + 14 + line * CALLOUT_H, side))
        else:
            boxes += _span_box(s, scale, body + s["depth"] * ROW_H, where)
    # the boxes named by a callout last, their leaders over the boxes below them
    parts += boxes + callouts
    return parts, bottom + n_lines * CALLOUT_H + (18 if n_lines else 6), scale


# ------------------------------------------------------------------ plans and the executor's calls

def _window(result, calls, spans):
    """The time the lanes show: the ExecutorRun spans the calls ran in, or the calls' own extent."""
    starts = [ts for nc in calls.values() for ts, *_ in nc.spans]
    ends = [ts + dur for nc in calls.values() for ts, dur, *_ in nc.spans]
    if not starts:
        return None
    lo, hi = min(starts), max(ends)
    runs = [s for s in spans if s["name"] == "ExecutorRun" and s["ts"] <= hi and s["ts"] + s["dur"] >= lo]
    if runs:
        lo = min(lo, min(s["ts"] for s in runs))
        hi = max(hi, max(s["ts"] + s["dur"] for s in runs))
    return lo, hi


def _lane(nc, colour, scale, y, name):
    """The calls of one node on its lane; calls closer than 2 px are drawn as one box."""
    groups = []
    for ts, dur, loop, row, status in sorted(nc.spans):
        x0, x1 = scale.x(ts), scale.x(ts + dur)
        last = groups[-1] if groups else None
        if last is not None and x0 - last["x1"] < 2.0 and last["x1"] - last["x0"] < 2.0 and x1 - x0 < 2.0:
            last["x1"] = max(last["x1"], x1)
            last["calls"].append((ts, dur, loop, row, status))
        else:
            groups.append({"x0": x0, "x1": x1, "calls": [(ts, dur, loop, row, status)]})
    parts = []
    h = 18
    if nc.loops > 1:
        # where each loop begins: a Nested Loop's inner side restarts once per outer row
        firsts = {}
        for ts, dur, loop, row, status in sorted(nc.spans):
            firsts.setdefault(loop, ts)
        last_end = -1e9         # where the last loop's number ends: the next one starts past it
        starts = [scale.x(ts) for _, ts in sorted(firsts.items(), key=lambda kv: kv[1])]
        for k, (loop, ts) in enumerate(sorted(firsts.items(), key=lambda kv: kv[1])):
            x = starts[k]
            parts.append(f'<line class="loop" x1="{x:.1f}" y1="{y - 3}" x2="{x:.1f}" y2="{y + h}" '
                         f'stroke="{colour}" stroke-width="1"/>')
            room = (starts[k + 1] if k + 1 < len(starts) else scale.x1) - x - 4
            text = f"loop {loop}" if _text_w(f"loop {loop}", 9) <= room else str(loop)
            if x + 2 >= last_end + 3:
                parts.append(f'<text class="loop-number" x="{x + 2:.1f}" y="{y - 1}" font-size="9" '
                             f'fill="#333">{text}</text>')
                last_end = x + 2 + _text_w(text, 9)
    for g in groups:
        calls = g["calls"]
        w = max(g["x1"] - g["x0"], 1.2)
        loops = sorted({c[2] for c in calls})
        dur = sum(c[1] for c in calls)
        if len(calls) == 1:
            ts, d, loop, row, status = calls[0]
            what = {True: "returned a row", False: "returned no row", None: ""}[row] if status == "ok" else status
            title = f"{nc.function or nc.node} — {name}, loop {loop}: {ms(d)}{', ' + what if what else ''}"
            empty = row is False
        else:
            span = f"loop {loops[0]}" if len(loops) == 1 else f"loops {loops[0]}–{loops[-1]}"
            title = f"{nc.function or nc.node} — {name}: {len(calls)} calls ({span}), {ms(dur)}"
            empty = False
        fill = "#ffffff" if empty else _tint(colour, 0.45)
        if any(c[4] != "ok" for c in calls):
            fill = ERROR
        label = fit(nc.function or nc.node, w)
        parts.append(f'<g class="call" data-calls="{len(calls)}"><title>{_e(title)}</title>'
                     f'<rect x="{g["x0"]:.1f}" y="{y}" width="{w:.1f}" height="{h}" fill="{fill}" '
                     f'stroke="{colour}" stroke-width="0.8"/>')
        if label:
            parts.append(f'<text x="{g["x0"] + 3:.1f}" y="{y + 13}" font-size="11">{_e(label)}</text>')
        parts.append("</g>")
    return parts


def _tree_column(nodes):
    """The width of the plan tree's column: the longest line, indented."""
    longest = max((n.depth * 18 + len((f"{n.subplan}: " if n.subplan else "") + _plan_line(n)) * CHAR_W
                   for n in nodes), default=200)
    return longest + 24


def _plan_section(p, nodes, calls, y, width, window, top_scale, top_y, cap_ts):
    """One plan: its tree, and beside each node its lane of calls."""
    parts = []
    title = f"plan tree ({p['func']})" if p is not None else "plan not traced"
    if p is not None and p.get("truncated"):
        title += " (cut short)"
    parts.append(f'<text x="{PAD}" y="{y + 12}" font-size="12" font-weight="bold">{_e(title)}</text>')
    y += 20
    tree_w = min(_tree_column(nodes), width * 0.5) if window else width - 2 * PAD
    lane_x0, lane_x1 = PAD + tree_w + 10, width - PAD
    scale = None
    if window:
        scale = Scale(window[0], window[1], lane_x0, lane_x1, top_scale.origin)
        axis_y = y + 4
        rows_y = axis_y + 26
        parts += scale.axis(axis_y, grid_to=rows_y + len(nodes) * NODE_H)
        # the zoom: from the executor's time on the call tree's axis to this axis
        x0, x1 = top_scale.x(window[0]), top_scale.x(window[1])
        parts.append(f'<g class="zoom"><path d="M{x0:.1f},{top_y} L{lane_x0},{axis_y} M{x1:.1f},{top_y} '
                     f'L{lane_x1},{axis_y}" stroke="#888" stroke-dasharray="3,3" fill="none"/>'
                     f'<rect x="{x0:.1f}" y="{top_y - 4}" width="{max(x1 - x0, 1):.1f}" height="4" '
                     f'fill="#888"/></g>')
        y = rows_y
    positions = {}
    for i, n in enumerate(nodes):
        colour = NODE_COLOURS[i % len(NODE_COLOURS)]
        ny = y + i * NODE_H
        x = PAD + n.depth * 18
        nc = calls.get(n.node_id)
        # the tree's connectors: from the parent's box down to this one
        parent = next((positions[j] for j in range(i - 1, -1, -1) if nodes[j].depth == n.depth - 1), None)
        if parent is not None:
            px, py = parent
            top = py + (NODE_H - 6 if window else ROW_H - 4)
            parts.append(f'<path d="M{px + 8},{top} L{px + 8},{ny + 10} L{x},{ny + 10}" stroke="#666" '
                         f'fill="none"/>')
        positions[i] = (x, ny)
        if scale is not None and i % 2 == 0:
            # a band across the row: the node and its lane read as one line
            parts.append(f'<rect class="band" x="{PAD}" y="{ny - 3}" width="{lane_x1 - PAD}" '
                         f'height="{NODE_H}" fill="#f6f6f6"/>')
        line = _plan_line(n)
        head = f"{n.subplan}: " if n.subplan else ""
        label = fit(head + line, tree_w - (x - PAD) - 6) or ""
        stats = nc.summary() if nc else ("never executed" if window else "")
        attrs = f' data-node-id="{n.node_id}"' if n.node_id is not None else ""
        if nc:
            attrs += f' data-calls="{nc.calls}" data-loops="{nc.loops}"'
            attrs += f' data-rows="{nc.rows}"' if nc.rows is not None else ""
        fill = _tint(colour, 0.75) if window else "#f0f0ff"
        stroke = colour if window else "#669"
        box_w = max(len(label), len(stats)) * CHAR_W + 10
        parts.append(f'<g class="plan-node"{attrs}><title>{_e(head + line)}'
                     f'{_e(" — " + stats) if stats else ""}</title>'
                     f'<rect x="{x}" y="{ny}" width="{min(box_w, tree_w - (x - PAD)):.1f}" '
                     f'height="{NODE_H - 6 if stats else ROW_H - 4}" fill="{fill}" stroke="{stroke}" rx="2"/>'
                     f'<text class="label" x="{x + 5}" y="{ny + 13}" font-size="11">{_e(label)}</text>')
        if stats:
            parts.append(f'<text class="stats" x="{x + 5}" y="{ny + 27}" font-size="10" fill="#333">'
                         f'{_e(stats)}</text>')
        parts.append("</g>")
        if scale is not None:
            parts.append(f'<line x1="{lane_x0}" y1="{ny + NODE_H - 4}" x2="{lane_x1}" y2="{ny + NODE_H - 4}" '
                         f'stroke="#f0f0f0"/>')
            if nc:
                parts += _lane(nc, colour, scale, ny + 6, n.label)
    y += len(nodes) * (NODE_H if window else ROW_H)
    if scale is not None:
        if cap_ts is not None and window[0] <= cap_ts <= window[1]:
            cx = scale.x(cap_ts)
            parts.append(f'<g class="cap"><line x1="{cx:.1f}" y1="{y - len(nodes) * NODE_H}" x2="{cx:.1f}" '
                         f'y2="{y}" stroke="#b2182b" stroke-dasharray="4,2"/><text x="{cx - 3:.1f}" '
                         f'y="{y - 3}" font-size="10" fill="#b2182b" text-anchor="end">cap reached</text></g>')
        note = ("↑ each plan node's calls (ExecProcNode) in time, zoomed on ExecutorRun; "
                "loops and rows as EXPLAIN ANALYZE counts them")
        parts.append(f'<text x="{lane_x0}" y="{y + 8}" font-size="10" fill="#555">'
                     f'{_e(fit(note, lane_x1 - lane_x0, 10))}</text>')
        y += 14
    return parts, y + PAD


def _plans(result, y, width, top_scale, top_y):
    parts = []
    spans = result.of("span")
    capped = result.of("exec_capped")
    cap_ts = capped[0]["ts"] if capped else None
    drawn = set()
    for p in result.of("plan_tree"):
        nodes = plan_tree(p)
        calls = node_calls(result, p.get("plan")) if p.get("plan") is not None else {}
        drawn.add(p.get("plan"))
        window = _window(result, calls, spans) if calls and top_scale is not None else None
        more, y = _plan_section(p, nodes, calls, y, width, window, top_scale, top_y, cap_ts)
        parts += more
    # calls of plans whose tree was not dumped (a cached plan, a dump skipped)
    for plan in sorted({e.get("plan") for e in result.of("exec_call")} - drawn, key=lambda v: (v is None, v)):
        calls = node_calls(result, plan)
        nodes = [_Untraced(nc) for nc in sorted(calls.values(), key=lambda nc: nc.node_id)]
        window = _window(result, calls, spans) if top_scale is not None else None
        more, y = _plan_section(None, nodes, calls, y, width, window, top_scale, top_y, cap_ts)
        parts += more
    return parts, y


class _Untraced:
    """A plan node known only from its calls: its id and type."""

    def __init__(self, nc):
        self.depth, self.node, self.node_id, self.subplan = 0, {}, nc.node_id, None
        self.name = nc.name
        self.label = f"node {nc.node_id}: {nc.name}"
        self.relation = None


def _plan_line(n):
    return n.label if isinstance(n, _Untraced) else plan_line(n)


def _notes(result, y, width):
    notes = []
    cap = executor_cap(result)
    if cap is not None:
        notes.append(f"recording of executor calls stopped at its cap, {cap} calls (run_trace(extra="
                     f"{{'max_node_calls': N}})): later calls are not drawn and the counts stop there")
    if result.of("exec_call"):
        notes.append("times include gdb's stops (about half a millisecond at each call drawn): compare them with "
                     "each other, not with EXPLAIN ANALYZE")
    parts = []
    for note in notes:
        colour = "#b2182b" if note.startswith("recording") else "#555"
        parts.append(f'<text class="note" x="{PAD}" y="{y + 10}" font-size="10" fill="{colour}">'
                     f'{_e(fit(note, width - 2 * PAD, 10))}</text>')
        y += 15
    return parts, y


def render_svg(result, width=WIDTH):
    """An SVG picture of a trace's query spans, plans and executor calls."""
    parts, y = _title(result, PAD, width)
    spans = result.of("span")
    if spans or result.of("plan_tree", "exec_call"):
        more, y = _legend(legend_entries(result), y, width)
        parts += more
    top_scale, top_y = None, None
    if spans:
        more, y, top_scale = _call_tree(spans, y, width)
        parts += more
        top_y = y - 6
        y += 8
    more, y = _plans(result, y, width, top_scale, top_y)
    parts += more
    if not spans and not result.of("plan_tree", "exec_call"):
        parts.append(f'<text x="{PAD}" y="{y + 12}">no query spans or plan in this trace</text>')
        y += 20
    more, y = _notes(result, y, width)
    parts += more
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{int(y + PAD)}" '
            f'viewBox="0 0 {width} {int(y + PAD)}" font-family="{FONT}">'
            f'<rect width="100%" height="100%" fill="#ffffff"/>' + "".join(parts) + "</svg>\n")


render = render_svg

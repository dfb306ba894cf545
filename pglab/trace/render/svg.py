"""The SVG rendering: the query call tree as an icicle chart (x = time,
y = depth) and, below it, the plan tree as indented boxes."""

import html

from .plan import ms, plan_lines

_PALETTE = {"query": "#9ecae1", "parse": "#fdd0a2", "analyze": "#fdae6b", "rewrite": "#fd8d3c",
            "plan": "#a1d99b", "execute": "#bcbddc", "utility": "#d9d9d9", "commit": "#c7e9c0"}
ROW_H, PAD = 22, 10


def _call_tree(spans, y, width):
    parts = []
    t0 = min(s["ts"] for s in spans)
    t1 = max(s["ts"] + s["dur"] for s in spans)
    scale = (width - 2 * PAD) / max(t1 - t0, 1)
    parts.append(f'<text x="{PAD}" y="{y + 12}" font-weight="bold">call tree (time →)</text>')
    y += 20
    for s in spans:
        x = PAD + (s["ts"] - t0) * scale
        w = max(s["dur"] * scale, 1)
        yy = y + s["depth"] * ROW_H
        color = "#fb6a4a" if s["status"] != "ok" else _PALETTE.get(s["stage"], "#eeeeee")
        label = html.escape(f"{s['name']} {ms(s['dur'])}")
        parts.append(f'<g><title>{label}</title><rect x="{x:.1f}" y="{yy}" width="{w:.1f}" '
                     f'height="{ROW_H - 2}" fill="{color}" stroke="#555" stroke-width="0.5"/>')
        if w > 40:
            parts.append(f'<text x="{x + 3:.1f}" y="{yy + 15}" font-size="11" '
                         f'clip-path="inset(0)">{html.escape(s["name"])[:int(w / 6.5)]}</text>')
        parts.append("</g>")
    y += (max(s["depth"] for s in spans) + 1) * ROW_H + PAD
    return parts, y


def _plan(p, y, width):
    parts = [f'<text x="{PAD}" y="{y + 12}" font-weight="bold">plan tree ({html.escape(p["func"])})</text>']
    y += 20
    for line in plan_lines(p):
        depth = (len(line) - len(line.lstrip(" "))) // 2
        text = line.strip().removeprefix("-> ")
        x = PAD + depth * 24
        parts.append(f'<rect x="{x}" y="{y}" width="{min(len(text) * 7 + 10, width - x - PAD)}" '
                     f'height="{ROW_H - 4}" fill="#f0f0ff" stroke="#669"/>'
                     f'<text x="{x + 5}" y="{y + 13}" font-size="11">{html.escape(text)}</text>')
        y += ROW_H
    return parts, y + PAD


def render_svg(result, width=1000):
    """An SVG picture of the query spans and plans of a trace."""
    parts = []
    y = PAD
    spans = result.of("span")
    if spans:
        more, y = _call_tree(spans, y, width)
        parts += more
    for p in result.of("plan_tree"):
        more, y = _plan(p, y, width)
        parts += more
    if not parts:
        parts.append(f'<text x="{PAD}" y="{y + 12}">no query spans or plan in this trace</text>')
        y += 20
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + PAD}" '
            f'font-family="monospace">' + "".join(parts) + "</svg>\n")


render = render_svg

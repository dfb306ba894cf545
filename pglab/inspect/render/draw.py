"""Drawing primitives shared by inspect's pictures: escaping, boxes, labels,
arrows with data-from/data-to (what the tests read), the legend, the colours."""

import html
import math

WIDTH, LEFT, STRIP_PX = 1200, 44, 1152   # the strip: offsets written left of LEFT, then 1152 px of bytes
CHAR_W = 6.7               # one 11px monospace character
FILL = {"header": "#969696", "normal": "#9ecae1", "hot": "#a1d99b", "dead": "#fb6a4a", "redirect": "#fdae6b",
        "unused": "#ffffff", "free": "#ffffff", "pad": "#e3e3e3", "special": "#bcbddc", "leaf": "#9ecae1",
        "posting": "#a1d99b", "pivot": "#fee391", "hikey": "#fdae6b"}
ARROW = {"ptr": ("#636363", 1, ""), "redirect": ("#e6550d", 1.6, "4 2"), "hot": ("#6a51a3", 1.8, ""),
         "downlink": ("#3182bd", 1.2, ""), "sibling": ("#525252", 1.2, ""), "metaroot": ("#525252", 1.2, "")}
STYLE = ("text{font-family:system-ui,'DejaVu Sans',sans-serif;font-size:12px;fill:#222}"
         ".m{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:11px}.b{font-weight:bold}"
         ".t{font-size:15px;font-weight:bold}.dim{fill:#666}"
         ".halo{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}"
         "g.lp:hover rect,g.tuple:hover rect,g.page:hover rect{stroke:#000;stroke-width:2}")


def esc(value):
    return html.escape(str(value))


def num(v):
    return f"{v:.3f}".rstrip("0").rstrip(".")


def clip(text, n):
    text = str(text)
    return text if len(text) <= n else text[:max(n - 1, 0)] + "…"


def fit(variants, width):
    """The first variant that fits in width px of 11px monospace, or ''."""
    return next((v for v in variants if len(v) * CHAR_W <= width - 4), "")


def rect(x, y, w, h, fill, stroke="#555", dash="", width=0.6):
    dash = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width}"{dash}/>')


def text_at(x, y, s, cls="m", anchor="start"):
    return f'<text x="{num(x)}" y="{num(y)}" class="{cls}" text-anchor="{anchor}">{esc(s)}</text>'


def arrow(kind, d, tip, came_from, frm, to, title, back=None):
    """Path d with a head at tip (reached from came_from), and one at back=(tip, came_from) if given."""
    color, width, dash = ARROW[kind]
    out = [f'<g class="arrow {kind}" data-from="{frm}" data-to="{to}"><title>{esc(title)}</title><path d="{d}" '
           f'fill="none" stroke="{color}" stroke-width="{width}" stroke-dasharray="{dash or "none"}" opacity="0.85"/>']
    for (x, y), (fx, fy) in [(tip, came_from)] + [back] * bool(back):
        length = math.hypot(x - fx, y - fy) or 1
        ux, uy = (x - fx) / length, (y - fy) / length
        bx, by = x - 7 * ux, y - 7 * uy
        out.append(f'<polygon points="{num(x)},{num(y)} {num(bx - 3.5 * uy)},{num(by + 3.5 * ux)} '
                   f'{num(bx + 3.5 * uy)},{num(by - 3.5 * ux)}" fill="{color}"/>')
    return "".join(out) + "</g>"


def curve(kind, a, b, bend, frm, to, title, arrive=None):
    """From a to b: leaving a `bend` px down (negative: up), arriving from `arrive` px below b (default: bend)."""
    c1, c2 = (a[0], a[1] + bend), (b[0], b[1] + (bend if arrive is None else arrive))
    d = f"M{num(a[0])},{num(a[1])} C{num(c1[0])},{num(c1[1])} {num(c2[0])},{num(c2[1])} {num(b[0])},{num(b[1])}"
    return arrow(kind, d, b, c2, frm, to, title)


def draw_legend(y, swatches, arrows, note):
    """A line of colour swatches (wrapped), then a line of arrow kinds and the note."""
    out, x = [], 12
    for kind, label in swatches:
        if x + 22 + len(label) * 7 > WIDTH - 12:
            x, y = 12, y + 18
        out += [rect(x, y - 10, 14, 12, FILL[kind], "#555", "3 2" if kind in ("unused", "free") else ""),
                text_at(x + 19, y, label, "")]
        x += 34 + len(label) * 7
    x, y = 12, y + 18
    for kind, label in arrows:
        color, width, dash = ARROW[kind]
        out += [f'<line x1="{x}" y1="{y - 4}" x2="{x + 22}" y2="{y - 4}" stroke="{color}" stroke-width="{width}"'
                f' stroke-dasharray="{dash or "none"}"/>', text_at(x + 28, y, label, "")]
        x += 46 + len(label) * 7
    return out + [text_at(x, y, note, "dim")], y + 12

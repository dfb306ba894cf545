"""The HTML pages of inspect: one result, or a watch (the page after each statement).

Each is one self-contained file (inline CSS, no network) embedding the SVG
picture from svg.py, with a table under it saying in text what the picture shows:
a heap page's line pointers, or a B-tree's pages. A watch shows one step at a
time: the statement, its status, what changed (line pointers that changed are
outlined in red in the picture) and the page; every step is drawn in advance and
the page's few lines of JS only choose which one is visible (a range slider,
prev/next buttons, the timeline, the left and right arrow keys).
"""

import html
import re

from .svg import MAX_PAGES, render_svg, value_text
from .tree import PAGE_TYPE, key_text

CSS = """
body{font-family:system-ui,'DejaVu Sans',sans-serif;font-size:14px;color:#222;margin:16px;max-width:1240px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:12px 0 6px}
.sub{color:#555;margin:0 0 10px}.pic{overflow-x:auto;border:1px solid #ddd;background:#fff;margin:8px 0}
.hint{color:#666;font-size:13px}
table{border-collapse:collapse;font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f3f3f3}td.v{white-space:normal;max-width:460px;overflow-wrap:anywhere}
pre.sql{background:#f6f8fa;border:1px solid #ddd;padding:8px;margin:4px 0;white-space:pre-wrap;font-size:13px}
.status{font-family:ui-monospace,'DejaVu Sans Mono',monospace}.error{color:#b30000;font-weight:bold}
ul.changes{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12.5px;margin:4px 0;columns:2 480px}
.controls{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #ddd;z-index:1;
 display:flex;gap:10px;align-items:center}
.controls input{width:320px}.controls button{font-size:14px;padding:3px 10px}
ol.timeline{display:flex;flex-wrap:wrap;gap:6px;list-style:none;padding:0;margin:8px 0}
ol.timeline button{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px;max-width:300px;
 overflow:hidden;text-overflow:ellipsis;white-space:nowrap;border:1px solid #bbb;background:#f7f7f7;padding:3px 8px}
ol.timeline button.on{background:#3182bd;color:#fff;border-color:#3182bd}
"""
SCRIPT = """<script>
(function () {
  var steps = document.querySelectorAll("section.step"), range = document.getElementById("step");
  var pos = document.getElementById("pos"), tl = document.querySelectorAll("ol.timeline button");
  function show(i) {
    i = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach(function (s, k) { s.hidden = k !== i; });
    tl.forEach(function (b, k) { b.className = k === i ? "on" : ""; });
    range.value = i;
    pos.textContent = "step " + i + " of " + (steps.length - 1);
    document.getElementById("prev").disabled = i === 0;
    document.getElementById("next").disabled = i === steps.length - 1;
    if (history.replaceState) history.replaceState(null, "", "#step=" + i);   // a link to this step
  }
  range.addEventListener("input", function () { show(+range.value); });
  document.getElementById("prev").onclick = function () { show(+range.value - 1); };
  document.getElementById("next").onclick = function () { show(+range.value + 1); };
  tl.forEach(function (b, k) { b.onclick = function () { show(k); }; });
  document.addEventListener("keydown", function (e) {
    if (e.target === range) return;   // the slider moves itself on arrow keys
    if (e.key === "ArrowLeft") { show(+range.value - 1); e.preventDefault(); }
    if (e.key === "ArrowRight") { show(+range.value + 1); e.preventDefault(); }
  });
  var m = /step=(\\d+)/.exec(location.hash);
  show(m ? +m[1] : 0);
})();
</script>"""
CHANGED_LP = re.compile(r"^(?:block (\d+): )?lp (\d+):")


def _e(value):
    return html.escape(str(value))


def _table(head, rows):
    return ("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f'<td class="v">{_e(c)}</td>' if i >= len(r) - 2 else f"<td>{_e(c)}</td>"
                                       for i, c in enumerate(r)) + "</tr>" for r in rows) + "</table>")


def _heap_rows(page):
    for it in page.get("items", []):
        state = it["state"] + (" → lp %s" % it["redirect_to"] if it["state"] == "redirect" else "")
        state += " (heap-only)" if it.get("heap_only") else ""
        values = ", ".join(f"{v['name']}={value_text(v)}" for v in it.get("values", []))
        yield (it["lp"], state, it["lp_off"], it["lp_len"], it.get("t_xmin", ""), it.get("t_xmax", ""),
               it.get("t_ctid", ""), " ".join(it.get("raw_flags", []) + it.get("combined_flags", [])), values)


def _btree_rows(result):
    for p in result["pages"]:
        s, items = p["stats"], p.get("items", [])
        data = [it for it in items if not it.get("high_key") and "ctid" in it]
        keys = f"{key_text(data[0])} … {key_text(data[-1])}" if data else ""
        hikey = next((key_text(it) for it in items if it.get("high_key")), "")
        yield (p["block"], PAGE_TYPE.get(s["type"], s["type"]), s["btpo_level"], s["btpo_prev"], s["btpo_next"],
               len(items), s["free_size"], hikey, keys)


def _details(result, open_=True):
    """The text under a picture: each heap page's line pointers, or the B-tree's pages."""
    if result["kind"] == "heap":
        return "".join(
            f"<details{' open' * open_}><summary>block {p['block']}: {len(p.get('items', []))} line pointers"
            "</summary>" + _table(("lp", "state", "lp_off", "lp_len", "xmin", "xmax", "t_ctid", "flags", "values"),
                                  _heap_rows(p)) + "</details>" for p in result["pages"][:MAX_PAGES])
    return (f"<details><summary>{len(result['pages'])} page{'s' * (len(result['pages']) != 1)}</summary>"
            + _table(("block", "type", "level", "prev", "next", "items", "free", "high key", "keys"),
                     _btree_rows(result)) + "</details>")


def _doc(title, body):
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head>\n<body>\n{body}\n'
            f"</body></html>\n")


def _subtitle(result):
    pages, nb = result["pages"], result["nblocks"]
    drawn = ", ".join(str(p["block"]) for p in pages[:12]) + (" …" if len(pages) > 12 else "")
    return (f'<p class="sub">{_e(result["kind"])} · build {_e(result["build"])} · {nb} block{"s" * (nb != 1)} on '
            f'disk · {"block" if len(pages) == 1 else "blocks"} shown: {_e(drawn or "none")}</p>')


def render_html(result: dict) -> str:
    """One inspect result as a self-contained HTML page: the picture, then its line pointers or pages."""
    body = (f"<h1>{_e(result['relation'])}</h1>{_subtitle(result)}"
            '<p class="hint">Hover any box or arrow in the picture for its fields.</p>'
            f'<div class="pic">{render_svg(result)}</div>{_details(result)}')
    return _doc(f"pglab inspect: {result['relation']}", body)


def _changed_css(k, changes):
    """Red outlines, in step k's picture, on the line pointers and tuples its changes name."""
    rules = []
    for change in changes:
        m = CHANGED_LP.match(change)
        if m:
            page = f' g.layout[data-block="{m.group(1)}"]' if m.group(1) else ""
            rules.append(f'section[data-step="{k}"]{page} g[data-lp="{m.group(2)}"] > rect')
    return ",\n".join(dict.fromkeys(rules)) + "{stroke:#d62728;stroke-width:2}\n" if rules else ""


def _step(k, step):
    sql, status, changes = step["sql"], step["status"], step["changes"]
    what = "the page before any statement" if sql is None else "after the statement"
    head = f"<h2>step {k}: {what}</h2>" + (f'<pre class="sql">{_e(sql)}</pre>' if sql is not None else "")
    cls = "status error" if status.startswith("ERROR") else "status"
    listed = ("<ul class=\"changes\">" + "".join(f"<li>{_e(c)}</li>" for c in changes) + "</ul>" if changes else
              "<p>no change on the page</p>" if sql is not None else "")
    wal = ""
    if step.get("wal") is not None:
        from .wal import wal_lines

        wal = f'<pre class="wal">{_e(chr(10).join(wal_lines(step["wal"], step["result"]["relation"])))}</pre>'
    return (f'<section class="step" data-step="{k}"{" hidden" if k else ""}>{head}'
            f'<p class="{cls}">status: {_e(status)}</p>{listed}{wal}<div class="pic">{render_svg(step["result"])}</div>'
            f"{_details(step['result'], open_=False)}</section>")


def render_watch_html(steps: list) -> str:
    """A watch as one HTML page: a step at a time, chosen with the slider, the buttons or the arrow keys."""
    relation = steps[0]["result"]["relation"] if steps else "?"
    last = len(steps) - 1
    timeline = "".join(f'<li><button title="{_e(s["sql"] or "before")}">{k}: {_e(s["sql"] or "before")}'
                       f"</button></li>" for k, s in enumerate(steps))
    css = "".join(_changed_css(k, s["changes"]) for k, s in enumerate(steps))
    body = (f"<h1>watch: {_e(relation)}</h1>{_subtitle(steps[0]['result']) if steps else ''}"
            f"<style>{css}</style>"
            '<div class="controls"><button id="prev">◀ prev</button>'
            f'<input type="range" id="step" min="0" max="{last}" value="0" step="1">'
            f'<button id="next">next ▶</button><span id="pos">step 0 of {last}</span>'
            '<span class="hint">← → keys step too; hover the picture for fields</span></div>'
            f'<ol class="timeline">{timeline}</ol>' + "".join(_step(k, s) for k, s in enumerate(steps)) + SCRIPT)
    return _doc(f"pglab inspect watch: {relation}", body)

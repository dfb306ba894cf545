"""inspect's renderers: text for the terminal, JSON for programs, SVG and HTML for eyes."""

import json

from ...errors import InspectError

FORMATS = ("text", "json", "svg", "html")
PICTURE_PAGES = 64     # SVG/HTML draw at most this many heap pages


def check_format(fmt):
    if fmt not in FORMATS:
        raise InspectError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


PICTURED = ("heap", "btree")   # the kinds svg.py draws


def check_picture(kind, fmt):
    """One line for a picture of what svg.py does not draw (before anything runs or is read)."""
    if fmt in ("svg", "html") and kind not in PICTURED:
        name = {"gin": "a GIN", "brin": "a BRIN", "hash": "a hash"}.get(kind, f"a {kind}")
        raise InspectError(f"--format {fmt} draws heap and B-tree pages; show {name} index with --format text "
                           f"or json")


def write_result(result, pages, fmt, out):
    """Write one inspect result; PAGES may be a generator (text and JSON stream it)."""
    check_picture(result["kind"], fmt)
    if fmt == "text":
        from .text import write_result as write_text

        write_text(result, pages, out)
    elif fmt == "json":
        _write_json(result, pages, out)
    else:
        pages = list(pages)
        if result["kind"] == "heap" and len(pages) > PICTURE_PAGES:   # a B-tree's levels elide what is too many
            raise InspectError(f"{len(pages)} heap pages are too many to draw (at most {PICTURE_PAGES}): "
                               f"pick one with --block N, or use --format text/json for --all")
        full = {**result, "pages": pages}
        if fmt == "svg":
            from .svg import render_svg

            out.write(render_svg(full))
        else:
            from .html import render_html

            out.write(render_html(full))


VIEW_NAMES = {"maps": "--fsm and --vm", "summary": "--summary", "buffers": "--buffers"}


def check_view(view, fmt):
    """One line for a whole-relation view in a format it has no picture in, before anything is read."""
    if fmt in ("svg", "html"):
        raise InspectError(f"{VIEW_NAMES[view]} show in --format text or json")


def write_view(result, rows, fmt, out):
    """A whole-relation view (maps, summary, buffers): its head, then ROWS (a generator for maps)
    under "blocks" in JSON, or its text."""
    check_view(result["view"], fmt)
    if fmt == "json":
        _write_json(result, rows, out, key="blocks")
        return
    from . import views

    getattr(views, f"write_{result['view']}")(result, rows, out)


def _write_json(result, pages, out, key="pages"):
    """{...head, "pages": [...]}, written page by page."""
    head = json.dumps(result)
    out.write(head[:-1] + (f', "{key}": [' if len(head) > 2 else f'"{key}": ['))
    for k, page in enumerate(pages):
        if k:
            out.write(", ")
        out.write(page if isinstance(page, str) else json.dumps(page))   # page.c's JSON text as it is
    out.write("]}\n")


def check_watch(kind, fmt):
    """One line for a watch in a format that cannot show it, before its statements run."""
    if fmt == "svg":
        raise InspectError("--watch draws its steps with --format html (one page, a step slider); "
                           "--format svg draws one page: drop --watch")
    check_picture(kind, fmt)


def write_watch(steps, fmt, out):
    if fmt == "text":
        from .text import write_watch as write_text

        write_text(steps, out)
    elif fmt == "json":
        json.dump(steps, out)
        out.write("\n")
    elif fmt == "html":
        from .html import render_watch_html

        out.write(render_watch_html(steps))
    else:
        raise InspectError("--watch draws its steps with --format html (one page, a step slider); "
                           "--format svg draws one page: drop --watch")

"""Renderings of a TraceResult, one module per format: text (the default),
json (JSON lines, schema pglab.trace/1), perfetto (Chrome trace events), svg
(the query call tree and plan).  plan.py holds what text and svg share."""

from ...errors import TraceError
from . import json, perfetto, svg, text
from .json import render_json  # noqa: F401
from .perfetto import render_perfetto  # noqa: F401
from .svg import render_svg  # noqa: F401
from .text import render_text  # noqa: F401

# format name -> render(result): the text `invoke trace --format FMT` writes
RENDERERS = {"text": text.render, "json": json.render, "perfetto": perfetto.render, "svg": svg.render}


def check_format(fmt):
    if fmt not in RENDERERS:
        raise TraceError(f"unknown format '{fmt}': use one of {', '.join(RENDERERS)}")


def render(result, fmt):
    """The trace in one format, as `invoke trace --format FMT` writes it."""
    check_format(fmt)
    return RENDERERS[fmt](result)

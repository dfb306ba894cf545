"""The JSON-lines rendering: the events as the gdb side wrote them (schema
pglab.trace/1, docs/tracing.md), plus what the driver added (lock relnames)."""

import json


def render_json(result):
    """The events as JSON lines (the on-disk format)."""
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in result.events)


render = render_json

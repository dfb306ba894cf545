"""trace: gdb on a live backend.

    driver.py    the gdb process and the SQL session: run_trace(), trace_build()
    result.py    TraceResult, the events read back
    targets.py   the driver's view of the one registry of targets (pglab_tracing.targets): hints
    render/      one module per format: text, json, perfetto, svg (+ plan, shared by text and svg)

The gdb side is the package pglab_tracing (tracing/ in a checkout).
"""

from .driver import run_trace, trace_build  # noqa: F401
from .result import SCHEMA, TraceResult  # noqa: F401

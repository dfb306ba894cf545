"""The trace targets, as the driver sees them: the registry itself lives on the
gdb side (pglab_tracing.targets, importable without gdb) and is only read here,
to explain a trace that did not hit its target."""

from pglab_tracing.targets import resolve

# gdb before 14 cannot write the registers of a process on a CPU with AMX state
# (its XSAVE buffer is too small), so every call into the backend fails with this.
_XSTATE_FAILURE = "Couldn't write extended state status"


def hints_for(result):
    """Reasons a target may not have been hit, if it was not; and what to do
    when this gdb could not call into the backend."""
    hints = []
    target = resolve(result.target)
    if not result.of(*target.events):
        if result.sql_error:
            hints.append(f"the SQL failed: {result.sql_error}")
        if result.end_reason == "exited":
            hints.append("the backend exited during the trace")
        hints += target.hints
    if any(_XSTATE_FAILURE in w for w in result.warnings):
        gdb = next((e.get("gdb") for e in result.of("trace_start")), "this gdb")
        hints.append(f"gdb {gdb} cannot call functions in the backend on this CPU (its extended register "
                     "state is larger than that gdb knows): Query and Plan trees and rm_identify() names "
                     "need gdb 14 or newer (the gdb-for-pwndbg package on PyPI ships one; a gdb in "
                     "pglab's environment is preferred to the system's)")
    return hints

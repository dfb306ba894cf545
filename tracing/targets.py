"""The one registry of trace targets.

Read by the gdb session (which module's install(ctx) sets a target's
breakpoints), by the `trace` task's help (names()) and by the driver's hints
(which event kinds show a target was hit, and what to suggest when it was not).
A name that is not registered is a plain function name, traced by the
`functions` module; "function:NAME" forces that reading for a name that is also
a target.  Pure: imports without gdb.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    module: str          # the module of this package whose install(ctx) sets the breakpoints
    events: tuple        # the event kinds that show the target was hit
    summary: str
    hints: tuple = ()    # reasons it may not have been hit, most likely first


TARGETS = (
    Target("heap_insert", "heap", ("heap_insert",), "each tuple heap_insert/heap_multi_insert places", (
        "the statement raised an ERROR before any row reached the heap",
        "no row was inserted (WHERE false, ON CONFLICT DO NOTHING, a BEFORE trigger returning NULL)",
        "the table is not a heap: check SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam",
        "the insert happened in another process (a parallel worker, dblink, a background worker)",
        "COPY and multi-row paths use heap_multi_insert (also traced): look for func=heap_multi_insert",
    )),
    Target("wal", "wal", ("wal_record",), "each WAL record XLogInsert writes", (
        "temporary and unlogged tables write no WAL",
        "the statement was read-only or raised an ERROR first",
        "with wal_level=minimal, a table created in the same transaction skips WAL",
    )),
    Target("query", "query", ("span",), "parse → analyze/rewrite → plan → execute as a call tree", (
        "utility statements (DDL) are not planned: look for ProcessUtility",
        "the extended protocol runs exec_parse/bind/execute_message, traced as stage 'query'",
    )),
    Target("locks", "locks", ("lock",), "heavyweight lock acquisitions", (
        "locks already held in this transaction are reported as LOCKACQUIRE_ALREADY_HELD",
        "the statement took no heavyweight locks (e.g. SELECT 1)",
    )),
    Target("memctx", "memory", ("memctx_create", "memctx_reset", "memctx_delete"), "memory contexts", (
        "the statement ended before it needed a memory context of its own (an ERROR while parsing?)",
    )),
    Target("hooks", "hooks", ("hook",), "which hooks are installed, by which library", (
        "the hook variables are read when the trace ends, and only while the backend is alive",
    )),
)
BY_NAME = {t.name: t for t in TARGETS}

# Any other name: a function, traced by functions.install(ctx, name).
FUNCTION = Target("function", "functions", ("call",), "any function by name: arguments, return value, duration", (
    "the function was not called by this statement (or it was inlined: try its caller)",
))
FUNCTION_PREFIX = "function:"


def names():
    """The registered target names, in the order help texts list them."""
    return [t.name for t in TARGETS]


def resolve(target):
    """The Target for a name the user gave: a registered one, else FUNCTION."""
    if target.startswith(FUNCTION_PREFIX):
        return FUNCTION
    return BY_NAME.get(target, FUNCTION)


def function_name(target):
    """The function a FUNCTION target names ("function:wal" -> "wal")."""
    return target.removeprefix(FUNCTION_PREFIX)

"""Interactive gdb commands over the same helpers the batch tracer uses.

    (gdb) source /path/to/pglab_tracing/loader.py     # tracing/loader.py in a checkout
    (gdb) python import pglab_tracing.commands
    (gdb) pglab-hooks
    (gdb) pglab-memctx [DEPTH]
    (gdb) pglab-trace heap_insert /tmp/events.jsonl
    (gdb) continue
    (gdb) pglab-trace-stop

`python -c "from pglab.trace import driver; print(driver.loader_path())"`
prints the loader's path.  Work a breakpoint defers until the backend is
stopped at a known-safe point (the Query and Plan trees of `pglab-trace
query`, read with the backend's nodeToString()) runs at that very stop, from
a stop handler: `query` stops at the return of pg_analyze_and_rewrite*() and
planner(), and `continue` goes on from there.
"""

import gdb

from . import common, hooks, memory, session, version


def _profile():
    """The Profile of the attached server, from the server_version_num GUC's
    variable (file-static in guc.c / guc_tables.c) or the PG_VERSION_NUM macro."""
    val = common.find_variable("server_version_num")
    num = int(val) if val is not None else 0
    if not num:
        try:
            num = int(gdb.parse_and_eval("PG_VERSION_NUM"))     # a macro: needs -g3
        except gdb.error:
            raise gdb.GdbError("cannot tell the server version (no server_version_num, "
                               "no PG_VERSION_NUM macro); use the pglab driver") from None
    return version.profile(num)


class HooksCommand(gdb.Command):
    """List the PostgreSQL *_hook variables that are set, and who set them."""

    def __init__(self):
        super().__init__("pglab-hooks", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        for rec in hooks.report(_profile().hooks):
            if rec["installed"]:
                gdb.write(f"{rec['hook']:40} {rec['function'] or '?':30} {rec['library'] or 'postgres'}\n")
            else:
                gdb.write(f"{rec['hook']:40} -\n")


class MemctxCommand(gdb.Command):
    """Print TopMemoryContext's tree with allocated bytes: pglab-memctx [DEPTH]."""

    def __init__(self):
        super().__init__("pglab-memctx", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        depth_limit = int(arg) if arg.strip() else 99
        top = common.find_variable("TopMemoryContext")
        if top is None or int(top) == 0:
            raise gdb.GdbError("TopMemoryContext is not set (not a backend?)")

        def show(node, depth):
            if depth > depth_limit:
                return
            ident = f" ({node['ident']})" if node.get("ident") else ""
            gdb.write(f"{'  ' * depth}{node['name']}{ident}: {node['mem_allocated']} bytes, "
                      f"subtree {node['total_allocated']}\n")
            for child in node["children"]:
                show(child, depth + 1)
        show(memory.snapshot(top), 0)


_active = {}


def _deferred_runner(ctx):
    """A stop handler running the work deferred at this stop, while the
    pointers it was given are alive: the next `continue` may free them."""
    def on_stop(event):
        if session.alive():
            ctx.run_deferred()
        else:
            ctx.drop_deferred("the backend is gone")
    return on_stop


class TraceCommand(gdb.Command):
    """Install a tracer: pglab-trace TARGET FILE [--bt].  Then `continue`."""

    def __init__(self):
        super().__init__("pglab-trace", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if len(argv) < 2:
            raise gdb.GdbError("usage: pglab-trace TARGET FILE [--bt]")
        if _active:
            raise gdb.GdbError("a trace is active: pglab-trace-stop first")
        em = common.Emitter(argv[1], gdb.selected_inferior().pid)
        ctx = common.Context(em, _profile(), bt="--bt" in argv)
        installed = session.install(ctx, argv[0])
        _active["ctx"] = ctx
        _active["on_stop"] = _deferred_runner(ctx)
        gdb.events.stop.connect(_active["on_stop"])
        gdb.write(f"tracing {argv[0]}: {', '.join(installed) or 'at stop'}; events -> {argv[1]}\n")


class TraceStopCommand(gdb.Command):
    """Finish the active pglab-trace: run finishers, delete its breakpoints."""

    def __init__(self):
        super().__init__("pglab-trace-stop", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        ctx = _active.pop("ctx", None)
        if ctx is None:
            raise gdb.GdbError("no active trace")
        gdb.events.stop.disconnect(_active.pop("on_stop"))
        ctx.drop_deferred("deferred to a stop that has passed")    # never read freed memory
        for fn in ctx.finishers:
            fn(session.alive())
        ctx.delete_breakpoints()
        ctx.em.emit("trace_end", reason="command", backend_alive=session.alive(),
                    counts=dict(ctx.em.counts))
        ctx.em.close()


HooksCommand()
MemctxCommand()
TraceCommand()
TraceStopCommand()

"""Query processing as a call tree: parse -> analyze/rewrite -> plan -> execute.

An entry breakpoint per stage opens a span and a FinishBreakpoint closes it.
A PostgreSQL ERROR longjmps past the FinishBreakpoint; its out_of_scope()
then closes the span with status "error".  At the return of
pg_analyze_and_rewrite*() and planner() the stop is kept (stop() returns
True) and the dump deferred, so that whoever handles that stop (the session
loop, or the interactive command's stop handler), not the breakpoint callback,
calls the backend's nodeToString() on the result and pfrees it -- at that
stop, while the tree is alive.
"""

import gdb

from . import common, nodes


def stage_functions(profile):
    """(function, stage) in the order they run; missing ones are skipped."""
    return (
        [("exec_simple_query", "query"), ("exec_parse_message", "query"),
         ("exec_bind_message", "query"), ("exec_execute_message", "query"),
         ("pg_parse_query", "parse"), ("raw_parser", "parse")]
        + [(f, "analyze") for f in profile.parse_analyze_functions]
        + [(f, "analyze") for f in profile.analyze_and_rewrite_functions]
        + [("pg_rewrite_query", "rewrite"), ("pg_plan_queries", "plan"), ("pg_plan_query", "plan"),
           ("planner", "plan"), ("standard_planner", "plan"),
           ("PortalStart", "execute"), ("PortalRun", "execute"),
           ("ExecutorStart", "execute"), ("ExecutorRun", "execute"),
           ("ExecutorFinish", "execute"), ("ExecutorEnd", "execute"),
           ("ProcessUtility", "utility"), ("finish_xact_command", "commit")]
    )


def interesting_args(profile):
    return {
        "exec_simple_query": ("query_string",),
        "exec_parse_message": ("query_string", "stmt_name"),
        "PortalRun": tuple(a for a in ("count", profile.portal_run_once_arg) if a),
        "ExecutorRun": tuple(a for a in ("direction", "count", profile.executor_run_once_arg) if a),
        "planner": ("cursorOptions",),
    }


def format_value(val):
    """Short readable text for an argument value."""
    t = val.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR and t.target().strip_typedefs().code == gdb.TYPE_CODE_INT \
            and t.target().strip_typedefs().sizeof == 1:
        return common.cstring(val, 2000)
    if t.code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_BOOL, gdb.TYPE_CODE_CHAR):
        return int(val)
    if t.code == gdb.TYPE_CODE_FLT:
        return float(val)
    if t.code == gdb.TYPE_CODE_PTR:
        return f"{int(val):#x}"
    return str(val)


class QueryTracer:
    def __init__(self, ctx):
        self.ctx = ctx
        self.stack = []
        self.next_id = 1
        self.args = interesting_args(ctx.profile)
        self.dump_on_return = {f: "query_tree" for f in ctx.profile.analyze_and_rewrite_functions}
        self.dump_on_return["planner"] = "plan_tree"

    def enter(self, name, stage, frame):
        span = {"id": self.next_id, "name": name, "stage": stage,
                "parent": self.stack[-1]["id"] if self.stack else None,
                "depth": len(self.stack), "start": self.ctx.em.now()}
        self.next_id += 1
        args = {}
        for arg in self.args.get(name, ()):
            try:
                args[arg] = format_value(frame.read_var(arg))
            except ValueError:
                pass        # not an argument of this version
        if args:
            span["args"] = args
        if self.ctx.bt:
            span["bt"] = common.backtrace()
        self.stack.append(span)
        return span

    def close(self, span, status, end=None):
        if span not in self.stack:
            return
        end = self.ctx.em.now() if end is None else end
        # Anything opened above it was left by longjmp without us noticing yet.
        while self.stack:
            top = self.stack.pop()
            top_status = status if top is span else "error"
            self.ctx.em.emit("span", ts=top["start"], dur=end - top["start"], status=top_status,
                             **{k: v for k, v in top.items() if k != "start"})
            if top is span:
                break

    def dump(self, kind, func, addr):
        reason = common.unsafe_to_call()
        if reason:
            self.ctx.em.emit("warning", message=f"{kind} of {func} skipped: {reason}")
            return
        text = node_to_string_checked(addr)
        if text is None:
            return
        fields = {"func": func, "tree": nodes.parse(text)}
        if nodes.is_truncated(fields["tree"]):
            fields["truncated"] = True
        if self.ctx.extra.get("raw_nodes"):
            fields["text"] = text
        self.ctx.em.emit(kind, **fields)

    def finish(self, alive):
        while self.stack:
            self.close(self.stack[-1], "unfinished")


def node_to_string_checked(addr):
    if int(addr) == 0:
        return None
    return common.node_to_string(addr)


class StageReturn(common.TraceFinish):
    def __init__(self, ctx, frame, tracer, span):
        super().__init__(ctx, frame)
        self.tracer, self.span = tracer, span

    def returned(self, value):
        end = self.ctx.em.now()
        self.tracer.close(self.span, "ok", end)
        kind = self.tracer.dump_on_return.get(self.span["name"])
        if kind is None or value is None:
            return False
        addr = int(value)
        name = self.span["name"]
        self.ctx.defer(lambda: self.tracer.dump(kind, name, addr))
        return True

    def unwound(self):
        self.tracer.close(self.span, "error")


class StageEntry(common.TraceBreakpoint):
    def __init__(self, ctx, name, tracer, stage):
        super().__init__(ctx, name)
        self.tracer, self.fname, self.stage = tracer, name, stage

    def hit(self, frame):
        span = self.tracer.enter(self.fname, self.stage, frame)
        StageReturn(self.ctx, frame, self.tracer, span)
        return False


def install(ctx):
    tracer = QueryTracer(ctx)
    installed = []
    for name, stage in stage_functions(ctx.profile):
        if common.find_function(name) is not None:
            StageEntry(ctx, name, tracer, stage)
            installed.append(name)
    if "exec_simple_query" not in installed:
        raise common.NoDebugInfo("exec_simple_query has no debug info in this build")
    ctx.finishers.append(tracer.finish)
    return installed

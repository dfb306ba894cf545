"""Query processing as a call tree: parse -> analyze/rewrite -> plan -> execute.

An entry breakpoint per stage opens a span and a FinishBreakpoint closes it.
A PostgreSQL ERROR longjmps past the FinishBreakpoint; its out_of_scope()
then closes the span with status "error".  At the return of
pg_analyze_and_rewrite*() and planner() the stop is kept (stop() returns
True) and the dump deferred, so that whoever handles that stop (the session
loop, or the interactive command's stop handler), not the breakpoint callback,
calls the backend's nodeToString() on the result and pfrees it -- at that
stop, while the tree is alive.

The executor's part is recorded per plan node (executor.py keeps the books):
ExecProcNodeFirst() runs once for each PlanState of an executor run and names
the node's own ExecProcNode function (node->ExecProcNodeReal: ExecSeqScan,
ExecNestLoop...), where a breakpoint is set the first time it is seen; each
call of it, and of MultiExecProcNode() (Hash, Bitmap Index Scan), becomes an
`exec_call` event with the plan node's id and type read from its PlanState,
and ExecReScan() ends a node's loop.  Past the cap on recorded calls those
breakpoints are removed, so the overhead stays bounded.
"""

import time

import gdb

from . import common, executor, nodes


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
        self.executor = None        # the ExecutorTracer, when the build lets us follow plan nodes

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

    def dump(self, kind, func, addr, plan=None):
        reason = common.unsafe_to_call()
        if reason:
            self.ctx.em.emit("warning", message=f"{kind} of {func} skipped: {reason}")
            return
        text = node_to_string_checked(addr)
        if text is None:
            return
        fields = {"func": func, "tree": nodes.parse(text)}
        if plan is not None:
            fields["plan"] = plan       # what the executor's exec_call events name it by
        if nodes.is_truncated(fields["tree"]):
            fields["truncated"] = True
        if self.ctx.extra.get("raw_nodes"):
            fields["text"] = text
        self.ctx.em.emit(kind, **fields)

    def finish(self, alive):
        if self.executor is not None:
            self.executor.finish()
        while self.stack:
            self.close(self.stack[-1], "unfinished")


def node_to_string_checked(addr):
    if int(addr) == 0:
        return None
    return common.node_to_string(addr)


class StageReturn(common.TraceFinish):
    def __init__(self, ctx, frame, tracer, span, query_desc=None):
        super().__init__(ctx, frame)
        self.tracer, self.span, self.query_desc = tracer, span, query_desc

    def returned(self, value):
        end = self.ctx.em.now()
        self.tracer.close(self.span, "ok", end)
        name = self.span["name"]
        exe = self.tracer.executor
        if name == "ExecutorStart" and exe is not None and self.query_desc:
            exe.executor_started(self.query_desc)
        kind = self.tracer.dump_on_return.get(name)
        if kind is None or value is None:
            return False
        addr = int(value)
        plan = exe.calls.planned(addr) if kind == "plan_tree" and exe is not None and addr else None
        self.ctx.defer(lambda: self.tracer.dump(kind, name, addr, plan))
        return True

    def unwound(self):
        self.tracer.close(self.span, "error")


class StageEntry(common.TraceBreakpoint):
    def __init__(self, ctx, name, tracer, stage):
        super().__init__(ctx, name)
        self.tracer, self.fname, self.stage = tracer, name, stage

    def hit(self, frame):
        span = self.tracer.enter(self.fname, self.stage, frame)
        query_desc = None
        if self.fname in ("ExecutorStart", "ExecutorEnd") and self.tracer.executor is not None:
            query_desc = int(frame.read_var("queryDesc"))
            if self.fname == "ExecutorEnd":
                self.tracer.executor.executor_ended(query_desc)
        StageReturn(self.ctx, frame, self.tracer, span, query_desc)
        return False


# ---------------------------------------------------------------- the executor, per plan node

RETURNS_BATCH = 100     # fired return breakpoints deleted together (ExecutorTracer.returned)


def _function_block(pc):
    block = gdb.block_for_pc(pc)
    while block is not None and block.function is None:
        block = block.superblock
    return block


def plan_state_argument(block):
    """The argument of type PlanState * of a function's block (called pstate
    in the node functions, node in execProcnode.c), by its type in the debug info."""
    for sym in block:
        if not sym.is_argument:
            continue
        t = sym.type.strip_typedefs()
        if t.code == gdb.TYPE_CODE_PTR and t.target().strip_typedefs().tag == "PlanState":
            return sym
    return None


def breakpoint_spec(block):
    """Where to break in a function so that its arguments are readable: past
    its prologue, at the end of its first line (where gdb puts a breakpoint
    on the function's name; checked on 13, 17 and 18).  An address, since a
    node function is static and its name need not be unique, and resolving
    a name costs tens of milliseconds, an address nothing."""
    sal = gdb.find_pc_line(block.start)
    if sal.last is not None and block.start <= sal.last + 1 < block.end:
        return f"*{sal.last + 1:#x}"
    return block.function.name


class ExecutorTracer:
    """The executor's calls per plan node (module docstring); executor.py keeps the books."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.calls = executor.ExecutorCalls(int(ctx.extra.get("max_node_calls", executor.NODE_CALLS_DEFAULT)))
        self.planstate_ptr = common.lookup_type("PlanState").pointer()
        self.query_desc_ptr = common.lookup_type("QueryDesc").pointer()
        self.functions = {}     # entry address of a node's ExecProcNodeReal -> its NodeEntry, or None
        self.breakpoints = []   # removed when the cap is reached
        self.empty_flag = None  # TTS_FLAG_EMPTY, from the build's macro info (-g3)
        self.installed = []
        self.returns = []       # NodeReturns that have fired, deleted in batches

    @classmethod
    def install(cls, ctx):
        missing = [f for f in ("ExecProcNodeFirst", "MultiExecProcNode", "ExecReScan")
                   if common.find_function(f) is None]
        if missing:
            ctx.em.emit("warning", message=f"executor calls per plan node not traced: no debug info "
                        f"for {', '.join(missing)}")
            return None
        self = cls(ctx)
        for name, kind in (("ExecProcNodeFirst", NodeFirst), ("MultiExecProcNode", MultiEntry),
                           ("ExecReScan", ReScan)):
            block = _function_block(int(common.find_function(name).value().address))
            arg = plan_state_argument(block)
            if arg is None:
                ctx.em.emit("warning", message=f"executor calls per plan node not traced: {name} "
                            "has no PlanState * argument in this build")
                self.remove_breakpoints()
                return None
            self.breakpoints.append(kind(ctx, name, self, arg))
            self.installed.append(name)
        return self

    # ------------------------------------------------------------ what the breakpoints call

    def node_function(self, real):
        """The name of the node function at address `real`, its breakpoint
        set the first time (None: no debug info to read its PlanState from)."""
        if real in self.functions:
            bp = self.functions[real]
            return bp.fname if bp is not None else None
        # Reading a file's debug info the first time and setting the breakpoint
        # take milliseconds the backend does not spend: kept off the clock, as
        # the tracer's inferior calls are.
        start = time.monotonic_ns()
        bp = None
        block = _function_block(real)
        if block is not None:
            arg = plan_state_argument(block)
            if arg is not None:
                bp = NodeEntry(self.ctx, breakpoint_spec(block), self, block.function.name, arg)
                self.breakpoints.append(bp)
        self.functions[real] = bp
        self.ctx.em.excluded_ns += time.monotonic_ns() - start
        return bp.fname if bp is not None else None

    def fresh(self, addr, function):
        """The Node of the PlanState at addr, read through its debug info."""
        ps = gdb.Value(addr).cast(self.planstate_ptr).dereference()
        plan = ps["plan"].dereference()
        estate = ps["state"]
        return self.calls.fresh_node(addr, int(estate), int(estate.dereference()["es_plannedstmt"]),
                                     int(plan["plan_node_id"]), str(plan["type"]).removeprefix("T_"), function)

    def executor_started(self, query_desc):
        qd = gdb.Value(query_desc).cast(self.query_desc_ptr).dereference()
        if int(qd["estate"]):
            self.calls.executor_started(int(qd["estate"]), int(qd["plannedstmt"]))

    def executor_ended(self, query_desc):
        estate = int(gdb.Value(query_desc).cast(self.query_desc_ptr).dereference()["estate"])
        if estate:
            self.calls.executor_ended(estate)

    def call(self, frame, bp, multi=False):
        """A call of a node starts; False, or True at the cap (the stop is kept
        so that the breakpoints are removed outside a breakpoint's callback)."""
        if self.calls.capped:
            return False
        addr = int(frame.read_var(bp.arg))
        node = self.calls.node(addr) or self.fresh(addr, bp.fname)
        call = self.calls.enter(node, self.ctx.em.now(), multi)
        if call is None:
            self.ctx.em.emit("exec_capped", cap=self.calls.cap)
            self.ctx.defer(self.remove_breakpoints)
            return True
        NodeReturn(self.ctx, frame, self, call)
        return False

    def returned(self, call, value, finish):
        """A node's call returned; True asks for a stop, to delete the return
        breakpoints that have fired."""
        row = None if call.get("multi") else self.is_row(value)
        self.emit(self.calls.leave(call, self.ctx.em.now(), row))
        # A FinishBreakpoint whose stop() says "do not stop" is not deleted by
        # gdb: it stays, and gdb looks at every one left at each stop, so each
        # call would cost more than the one before.  They are deleted every
        # RETURNS_BATCH calls, at a stop of their own (gdb allows no deleting
        # inside a breakpoint's callback).
        self.returns.append(finish)
        if len(self.returns) < RETURNS_BATCH:
            return False
        fired, self.returns = self.returns, []
        self.ctx.defer(lambda: self.delete_fired(fired))
        return True

    def delete_fired(self, fired):
        for bp in fired:
            if bp.is_valid():
                bp.delete()
        self.ctx.breakpoints[:] = [b for b in self.ctx.breakpoints if b.is_valid()]

    def unwound(self, call):
        self.emit(self.calls.leave(call, self.ctx.em.now(), None, "error"))

    def is_row(self, slot):
        """Whether a returned TupleTableSlot * holds a row: not TupIsNull()."""
        if slot is None:
            return None
        addr = int(slot)
        if addr == 0:
            return False
        if self.empty_flag is None:
            try:        # a macro: read where the node's caller, executor code, stopped
                self.empty_flag = int(gdb.parse_and_eval("TTS_FLAG_EMPTY"))
            except gdb.error:
                self.empty_flag = 0
                self.ctx.em.emit("warning", message="rows per plan node not counted: no TTS_FLAG_EMPTY "
                                 f"macro in this build's debug info (it needs -g3); {common.REBUILD}")
        if not self.empty_flag:
            return None
        return not int(slot.dereference()["tts_flags"]) & self.empty_flag

    def emit(self, fields):
        ts = fields.pop("ts")
        self.ctx.em.emit("exec_call", ts=ts, **fields)

    def remove_breakpoints(self):
        for bp in self.breakpoints:
            if bp.is_valid():
                bp.delete()
        self.breakpoints.clear()

    def finish(self):
        for fields in self.calls.unfinished(self.ctx.em.now()):
            self.emit(fields)


class _ExecutorBreakpoint(common.TraceBreakpoint):
    def __init__(self, ctx, spec, tracer, arg, fname=None):
        super().__init__(ctx, spec)
        self.tracer, self.arg, self.fname = tracer, arg, fname or spec


class NodeFirst(_ExecutorBreakpoint):
    """ExecProcNodeFirst(node): once per PlanState and executor run."""

    def hit(self, frame):
        if self.tracer.calls.capped:
            return False
        node = frame.read_var(self.arg)
        function = self.tracer.node_function(int(node.dereference()["ExecProcNodeReal"]))
        self.tracer.fresh(int(node), function)
        return False

    def dedupe_key(self, frame):
        return int(frame.read_var(self.arg))


class NodeEntry(_ExecutorBreakpoint):
    """A node's own ExecProcNode function (ExecSeqScan...): one call."""

    def __init__(self, ctx, spec, tracer, fname, arg):
        super().__init__(ctx, spec, tracer, arg, fname)

    def hit(self, frame):
        return self.tracer.call(frame, self)


class MultiEntry(_ExecutorBreakpoint):
    """MultiExecProcNode(node): a Hash or bitmap node's one call per loop."""

    def hit(self, frame):
        return self.tracer.call(frame, self, multi=True)


class ReScan(_ExecutorBreakpoint):
    """ExecReScan(node): the node's loop ends."""

    def hit(self, frame):
        self.tracer.calls.rescan(int(frame.read_var(self.arg)))
        return False

    def dedupe_key(self, frame):
        return int(frame.read_var(self.arg))


class NodeReturn(common.TraceFinish):
    def __init__(self, ctx, frame, tracer, call):
        super().__init__(ctx, frame)
        self.tracer, self.call = tracer, call

    def returned(self, value):
        return self.tracer.returned(self.call, value, self)

    def unwound(self):
        self.tracer.unwound(self.call)


def install(ctx):
    tracer = QueryTracer(ctx)
    installed = []
    for name, stage in stage_functions(ctx.profile):
        if common.find_function(name) is not None:
            StageEntry(ctx, name, tracer, stage)
            installed.append(name)
    if "exec_simple_query" not in installed:
        raise common.NoDebugInfo("exec_simple_query has no debug info in this build")
    tracer.executor = ExecutorTracer.install(ctx)
    if tracer.executor is not None:
        installed += tracer.executor.installed
    ctx.finishers.append(tracer.finish)
    return installed

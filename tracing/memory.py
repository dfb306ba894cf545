"""Memory contexts: creation, reset and deletion as they happen, and a
MemoryContextStats-style snapshot of TopMemoryContext's tree at the end.

Creation is traced at MemoryContextCreate(), which every context type's
creator calls (also for AllocSet contexts recycled from its freelist).  A
deletion removes a whole subtree, so MemoryContextDelete() reports every
context below the one named.  Everything is read from struct fields.
"""


from . import common

SNAPSHOT_LIMIT = 5000


def context_fields(ctx_ptr):
    """id/name/ident/type of a MemoryContext pointer."""
    c = ctx_ptr.dereference()
    return {
        "addr": f"{int(ctx_ptr):#x}",
        "name": common.cstring(c["name"], 200),
        "ident": common.cstring(c["ident"], 200),
        "type": str(c["type"]).removeprefix("T_"),
    }


def children(ctx_ptr):
    """Child contexts of a MemoryContext pointer, oldest link first."""
    child = ctx_ptr["firstchild"]
    while int(child) != 0:
        yield child
        child = child["nextchild"]


def walk_postorder(ctx_ptr, limit=SNAPSHOT_LIMIT):
    """Descendants first, then ctx_ptr itself (the order they are deleted in)."""
    out = []
    stack = [(ctx_ptr, False)]
    while stack and len(out) < limit:
        node, expanded = stack.pop()
        if expanded:
            out.append(node)
            continue
        stack.append((node, True))
        for child in children(node):
            stack.append((child, False))
    return out


def snapshot(ctx_ptr, limit=SNAPSHOT_LIMIT):
    """Nested dict of the tree under ctx_ptr with mem_allocated per context
    and the subtree total, like MemoryContextStats() prints it."""
    count = [0]

    def node(p):
        count[0] += 1
        d = context_fields(p)
        d["mem_allocated"] = int(p["mem_allocated"])
        kids = []
        for child in children(p):
            if count[0] >= limit:
                d["truncated"] = True
                break
            kids.append(node(child))
        d["children"] = kids
        d["total_allocated"] = d["mem_allocated"] + sum(k["total_allocated"] for k in kids)
        return d

    return node(ctx_ptr)


class MemoryTracer:
    def __init__(self, ctx):
        self.ctx = ctx
        self.deleted = set()    # addresses reported deleted (pre-17 recursion repeats them)

    def finish(self, alive):
        if not alive:
            return
        top = common.find_variable("TopMemoryContext")
        if top is None or int(top) == 0:
            return
        self.ctx.em.emit("memctx_snapshot", tree=snapshot(top))


class CreateEntry(common.TraceBreakpoint):
    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer
        self.args = ctx.profile.memctx_create_args

    def dedupe_key(self, frame):
        return int(frame.read_var("node"))

    def hit(self, frame):
        node = frame.read_var("node")
        parent = frame.read_var("parent")
        rec = {"addr": f"{int(node):#x}", "name": common.cstring(frame.read_var("name"), 200),
               "type": str(frame.read_var("tag")).removeprefix("T_"),
               "parent": f"{int(parent):#x}" if int(parent) else None,
               "parent_name": common.cstring(parent["name"], 200) if int(parent) else None}
        self.tracer.deleted.discard(int(node))
        if self.ctx.bt:
            rec["bt"] = common.backtrace()
        self.ctx.em.emit("memctx_create", **rec)
        return False


class ResetEntry(common.TraceBreakpoint):
    # Per-tuple loops reset the same context from the same frame with nothing
    # else of ours in between, so a repeat cannot be told from gdb re-reporting
    # a hit after a signal: keep both (a rare duplicate beats a lost reset).
    dedupe = False

    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer

    def hit(self, frame):
        c = frame.read_var("context")
        if bool(c["isReset"]) or int(c) in self.tracer.deleted:
            return False        # a no-op, or part of a deletion already reported
        rec = context_fields(c)
        rec["mem_allocated"] = int(c["mem_allocated"])
        if self.ctx.bt:
            rec["bt"] = common.backtrace()
        self.ctx.em.emit("memctx_reset", **rec)
        return False


class DeleteEntry(common.TraceBreakpoint):
    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer

    def dedupe_key(self, frame):
        return int(frame.read_var("context"))

    def hit(self, frame):
        root = frame.read_var("context")
        bt = common.backtrace() if self.ctx.bt else None
        for c in walk_postorder(root):
            addr = int(c)
            if addr in self.tracer.deleted:
                continue
            self.tracer.deleted.add(addr)
            rec = context_fields(c)
            parent = c["parent"]
            rec["parent"] = f"{int(parent):#x}" if int(parent) else None
            rec["parent_name"] = common.cstring(parent["name"], 200) if int(parent) else None
            rec["mem_allocated"] = int(c["mem_allocated"])
            rec["root"] = addr == int(root)
            if bt:
                rec["bt"] = bt
            self.ctx.em.emit("memctx_delete", **rec)
        return False


def install(ctx):
    tracer = MemoryTracer(ctx)
    common.lookup_type("MemoryContextData")
    if common.function_breakpoint(ctx, CreateEntry, "MemoryContextCreate", tracer) is None:
        raise common.NoDebugInfo("MemoryContextCreate has no debug info in this build")
    installed = ["MemoryContextCreate"]
    if common.function_breakpoint(ctx, ResetEntry, "MemoryContextResetOnly", tracer):
        installed.append("MemoryContextResetOnly")
    if common.function_breakpoint(ctx, DeleteEntry, "MemoryContextDelete", tracer):
        installed.append("MemoryContextDelete")
    ctx.finishers.append(tracer.finish)
    return installed

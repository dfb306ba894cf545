"""Any function by name: its arguments at entry (from the debug info of its
own block), its return value (FinishBreakpoint) and duration."""

import gdb

from . import common

MAX_EVENTS_DEFAULT = 100000


def format_arg(val):
    """Readable text for one argument: strings for char *, node tags for
    Node pointers, addresses for other pointers, gdb's own text otherwise."""
    t = val.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        addr = int(val)
        if addr == 0:
            return None
        target = t.target().strip_typedefs()
        if target.code == gdb.TYPE_CODE_INT and target.sizeof == 1:
            return common.cstring(val, 300)
        if target.code == gdb.TYPE_CODE_STRUCT and target.fields() \
                and target.fields()[0].name == "type" and str(target.fields()[0].type) == "NodeTag":
            return f"({val.dereference()['type']}) {addr:#x}"
        return f"{addr:#x}"
    if t.code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_CHAR):
        return int(val)
    if t.code == gdb.TYPE_CODE_BOOL:
        return bool(val)
    if t.code == gdb.TYPE_CODE_FLT:
        return float(val)
    return str(val)


def arguments(frame):
    """[(name, value)] of the frame's function arguments, by debug info."""
    out = []
    block = frame.block()
    while block is not None and block.function is None:
        block = block.superblock
    if block is None:
        return out
    for sym in block:
        if sym.is_argument:
            try:
                out.append((sym.name, format_arg(sym.value(frame))))
            except (gdb.error, gdb.MemoryError) as exc:
                out.append((sym.name, f"<{exc}>"))
    return out


class CallReturn(common.TraceFinish):
    def __init__(self, ctx, frame, rec):
        super().__init__(ctx, frame)
        self.rec = rec

    def _done(self, status, retval=None):
        if "start" not in self.rec:
            return
        start = self.rec.pop("start")
        self.ctx.em.emit("call", ts=start, dur=self.ctx.em.now() - start, status=status,
                         retval=retval, **self.rec)

    def returned(self, value):
        self._done("ok", None if value is None else format_arg(value))
        return False

    def unwound(self):
        self._done("error")


class CallEntry(common.TraceBreakpoint):
    def __init__(self, ctx, name):
        super().__init__(ctx, name)
        self.fname = name

    def hit(self, frame):
        if self.ctx.em.counts.get("call", 0) >= self.ctx.extra.get("max_events", MAX_EVENTS_DEFAULT):
            return False
        rec = {"function": self.fname, "args": dict(arguments(frame)), "start": self.ctx.em.now()}
        if self.ctx.bt:
            rec["bt"] = common.backtrace()
        CallReturn(self.ctx, frame, rec)
        return False


def install(ctx, name):
    if common.find_function(name) is None:
        # Perhaps in a library the SQL will load (LOAD, CREATE EXTENSION, first
        # call of an extension function): leave the breakpoint pending.
        ctx.em.emit("warning", message=f"no function {name!r} with debug info loaded yet; "
                    "the breakpoint stays pending until a library defines it")
    bp = CallEntry(ctx, name)
    return [name + (" (pending)" if bp.pending else "")]

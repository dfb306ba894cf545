"""Shared helpers: the event writer, lazy type and symbol lookup, safe inferior
calls, backtraces and the guarded Breakpoint/FinishBreakpoint base classes."""

import json
import os
import sys
import time

import gdb

from . import SCHEMA


# ---------------------------------------------------------------- events

class Emitter:
    """Writes events as JSON lines.  An event is serialized only when the
    events are written out (at flush(), at close(), or every PENDING_MAX
    events): the backend is stopped while a breakpoint's stop() runs, so
    json.dumps there would lengthen every stop.  The file is complete once
    close() ran, which session.main() guarantees on every path."""

    PENDING_MAX = 50_000

    def __init__(self, path, pid):
        self._fh = open(path, "w", buffering=1 << 16, encoding="utf-8")
        self.pid = pid
        self.seq = 0
        # Time spent in the tracer's own inferior calls (nodeToString...) is
        # subtracted from "ts" so it does not inflate the spans around it.
        self.excluded_ns = 0
        self.counts = {}
        self._pending = []

    def now(self):
        return time.monotonic_ns() - self.excluded_ns

    def emit(self, event, ts=None, **fields):
        self.seq += 1
        self.counts[event] = self.counts.get(event, 0) + 1
        record = {"schema": SCHEMA, "event": event, "ts": self.now() if ts is None else ts,
                  "seq": self.seq, "pid": self.pid}
        record.update(fields)
        self._pending.append(record)
        if len(self._pending) >= self.PENDING_MAX:
            self._write_pending()

    def _write_pending(self):
        dumps, write = json.dumps, self._fh.write
        for record in self._pending:
            write(dumps(record, separators=(",", ":"), default=str))
            write("\n")
        self._pending.clear()

    def flush(self):
        self._write_pending()
        self._fh.flush()

    def close(self):
        if not self._fh.closed:
            self._write_pending()
            self._fh.close()


class Context:
    """What every target needs: the emitter, the version profile, options."""

    def __init__(self, emitter, profile, bt=False, extra=None):
        self.em = emitter
        self.profile = profile
        self.bt = bt
        self.extra = extra or {}
        self.breakpoints = []   # everything we created, deleted on the way out
        self.deferred = []      # work needing inferior calls, run at a stop we chose
        self.finishers = []     # fn(alive) run once when the trace ends, before detaching

    def defer(self, fn):
        """Queue work that calls into the backend, for the stop being handled
        now: it must run before the backend resumes (the pointers it reads are
        only valid at this stop), so whoever resumes runs run_deferred() first."""
        self.deferred.append(fn)

    def run_deferred(self):
        while self.deferred:
            fn = self.deferred.pop(0)
            start = time.monotonic_ns()
            try:
                fn()
            except (gdb.error, gdb.MemoryError, ValueError, KeyError, TypeError, IndexError) as exc:
                self.em.emit("warning", message=f"deferred work failed: {exc}")
            finally:
                self.em.excluded_ns += time.monotonic_ns() - start

    def drop_deferred(self, why):
        """Forget queued work whose stop has passed: its pointers may be freed."""
        if self.deferred:
            self.em.emit("warning", message=f"{len(self.deferred)} deferred dump(s) dropped: {why}")
            self.deferred.clear()

    def delete_breakpoints(self):
        for bp in self.breakpoints:
            if bp.is_valid():
                bp.delete()
        self.breakpoints.clear()


# ---------------------------------------------------------------- errors

# The command that makes a build with debug info (a debug build is build-pg's default flavour).
REBUILD = "`invoke build-pg` (debug is its default flavour)"


class NoDebugInfo(gdb.GdbError):
    """The build lacks the debug info a target needs."""
    code = "no-debug-info"


# ---------------------------------------------------------------- lookups

_types = {}


def lookup_type(name):
    """gdb.Type by name, cached; a missing type means no usable debug info."""
    t = _types.get(name)
    if t is None:
        try:
            t = gdb.lookup_type(name)
        except gdb.error as exc:
            raise NoDebugInfo(f"no debug info for type {name!r} ({exc}); "
                               f"rebuild PostgreSQL with debug info: {REBUILD}") from None
        _types[name] = t
    return t


def find_function(name):
    """The gdb.Symbol of a function with debug info, global or file-static, or None."""
    sym = gdb.lookup_global_symbol(name)
    if sym is None:
        sym = gdb.lookup_static_symbol(name)
    if sym is None or not sym.is_function:
        return None
    return sym


_variables = {}


def find_variable(name):
    """gdb.Value of a global or file-static variable, or None.

    The symbol gdb finds first may be an `extern` declaration from another
    file (LOC_UNRESOLVED); its value() still resolves through the minimal
    symbol.  The Symbol is cached; value() is re-read on every call."""
    sym = _variables.get(name)
    if sym is None:
        for lookup in (gdb.lookup_global_symbol, gdb.lookup_static_symbol):
            cand = lookup(name)
            if cand is not None and (cand.is_variable or cand.addr_class == gdb.SYMBOL_LOC_UNRESOLVED):
                sym = cand
                break
        if sym is None:
            return None
        _variables[name] = sym
    return sym.value()


def require_debug_info():
    """Fail with one clear message when the server was built without -g."""
    lookup_type("HeapTupleData")
    sym = find_function("heap_insert")
    if sym is None:
        raise NoDebugInfo("no debug info for heap_insert(): this PostgreSQL build has no -g; "
                           f"rebuild it with debug info: {REBUILD}")


def anchor_address(func_name, pattern):
    """Address of the first statement at or after the source line of func_name
    containing `pattern`, or None when the source or the line is not found.

    Breaking there lets us read a function's results (locals included) with
    one stop instead of an entry breakpoint plus a FinishBreakpoint."""
    sym = find_function(func_name)
    if sym is None or sym.symtab is None:
        return None
    block = gdb.block_for_pc(int(sym.value().address))
    while block is not None and block.function is None:
        block = block.superblock
    if block is None:
        return None
    table = sym.symtab.linetable()
    entries = [e for e in table if block.start <= e.pc < block.end]
    if not entries:
        return None
    first = sym.line
    last = max(e.line for e in entries)
    try:
        with open(sym.symtab.fullname(), encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split("\n")
    except OSError:
        return None
    target = None
    for lineno in range(first, min(last, len(lines)) + 1):
        if pattern in lines[lineno - 1]:
            target = lineno
            break
    if target is None:
        return None
    candidates = [e for e in entries if e.line >= target]
    best_line = min(e.line for e in candidates)
    return min(e.pc for e in candidates if e.line == best_line)


def local_symbols(pc, names):
    """gdb.Symbol objects for the given local/argument names visible at pc.
    Passing Symbols (not strings) to Frame.read_var skips a lookup per hit."""
    found = {}
    block = gdb.block_for_pc(pc)
    while block is not None:
        for sym in block:
            if sym.name in names and sym.name not in found and (sym.is_variable or sym.is_argument):
                found[sym.name] = sym
        if block.function is not None:
            break
        block = block.superblock
    return found


class FrameSlots:
    """Pointer-sized locals of one breakpoint location, read from raw stack memory.

    The first hit asks the debug info where each local lives (Frame.read_var)
    and remembers its distance from the frame's stack pointer; at a fixed pc
    that distance never changes, so later hits read one register and the
    memory, skipping gdb's per-hit frame-base evaluation (the hot-path cost)."""

    def __init__(self, symbols):
        self.symbols = symbols            # {name: gdb.Symbol}
        self.deltas = None
        self.inferior = gdb.selected_inferior()

    def read(self, frame):
        sp = int(frame.read_register("sp"))
        if self.deltas is None:
            deltas = {}
            for name, sym in self.symbols.items():
                value = frame.read_var(sym)
                if value.address is None or value.type.strip_typedefs().sizeof != 8:
                    return {n: int(frame.read_var(s)) for n, s in self.symbols.items()}  # in a register: no shortcut
                deltas[name] = int(value.address) - sp
            self.deltas = deltas
        return {name: int.from_bytes(bytes(self.inferior.read_memory(sp + d, 8)), sys.byteorder)
                for name, d in self.deltas.items()}


def field_offset(type_name, path):
    """(byte offset, size) of a dotted field path inside a struct type, from
    the debug info -- so hot paths can read raw bytes without hard-coding
    any layout.  Cached."""
    key = (type_name, path)
    hit = _offsets.get(key)
    if hit is None:
        t = lookup_type(type_name).strip_typedefs()
        offset = 0
        for name in path.split("."):
            for f in t.fields():
                if f.name == name:
                    offset += f.bitpos // 8
                    t = f.type.strip_typedefs()
                    break
            else:
                raise NoDebugInfo(f"{type_name} has no field {path!r} in this build's debug info")
        hit = _offsets[key] = (offset, t.sizeof)
    return hit


_offsets = {}


class RawReader:
    """Reads named fields of one struct type from raw inferior memory: one
    read_memory() per struct instead of one gdb.Value per field."""

    def __init__(self, type_name, paths):
        self.size = lookup_type(type_name).strip_typedefs().sizeof
        self.fields = [(p,) + field_offset(type_name, p) for p in paths]
        self.inferior = gdb.selected_inferior()

    def read(self, addr):
        raw = bytes(self.inferior.read_memory(addr, self.size))
        return {p: int.from_bytes(raw[o:o + n], sys.byteorder) for p, o, n in self.fields}


def cstring(value, limit=512):
    """Python str of a char * (None for NULL), cut at `limit` characters."""
    if int(value) == 0:
        return None
    return value.string(errors="replace")[:limit]


def array_string(value):
    """Python str of a NUL-terminated char[N] field such as NameData.data."""
    raw = bytes(gdb.selected_inferior().read_memory(value.address, value.type.sizeof))
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


# ---------------------------------------------------------------- stacks and calls

def frame_sp(frame):
    """The frame's stack pointer: with the function name, identifies one
    activation (a re-reported breakpoint hit has the same one)."""
    return int(frame.read_register("sp"))


def backtrace(limit=64):
    """Innermost-first list of "function file:line" for the selected thread."""
    out = []
    frame = gdb.newest_frame()
    while frame is not None and len(out) < limit:
        name = frame.name() or "??"
        if frame.type() == gdb.SIGTRAMP_FRAME:
            name = "<signal handler called>"
        sal = frame.find_sal()
        if sal.symtab is not None:
            out.append(f"{name} {os.path.basename(sal.symtab.filename)}:{sal.line}")
        else:
            out.append(name)
        frame = frame.older()
    return out


def unsafe_to_call():
    """Why calling into the backend now would be unsafe, or None.

    Only ever asked at stops we chose (a function's entry or return, or the
    backend idle in its wait loop), so spinlocks are not held there; what can
    still bite is a critical section (an ERROR inside would PANIC) or being
    inside a signal handler."""
    crit = find_variable("CritSectionCount")
    if crit is None:
        return "CritSectionCount not found"
    if int(crit) != 0:
        return f"inside a critical section (CritSectionCount={int(crit)})"
    frame = gdb.newest_frame()
    while frame is not None:
        if frame.type() == gdb.SIGTRAMP_FRAME:
            return "inside a signal handler"
        name = frame.name() or ""
        if name in ("s_lock", "tas", "SpinLockAcquire", "LWLockWaitForVar"):
            return f"inside {name}"
        frame = frame.older()
    return None


def call_char_star(expr):
    """Evaluate an inferior call returning a palloc'd char *, return it as str
    and pfree it.  Callers must have checked unsafe_to_call()."""
    ptr = gdb.parse_and_eval(expr)
    addr = int(ptr)
    if addr == 0:
        return None
    try:
        return ptr.string(errors="replace")
    finally:
        gdb.parse_and_eval(f"pfree((void *) {addr:#x})")


def node_to_string(addr):
    """The backend's own nodeToString() of the node at addr."""
    return call_char_star(f"nodeToString((const void *) {int(addr):#x})")


# ---------------------------------------------------------------- breakpoint bases

_hits = [0]     # stops of all our breakpoints, to spot a hit reported twice


class TraceBreakpoint(gdb.Breakpoint):
    """A silent breakpoint whose work is done in hit(); errors become events.

    hit() returns True only when it deferred work that needs an inferior
    call: the session loop then runs it with the backend stopped at this
    known-safe point and continues."""

    def __init__(self, ctx, spec, internal=True):
        super().__init__(spec, type=gdb.BP_BREAKPOINT, internal=internal)
        self.silent = True
        self.ctx = ctx
        self._last = None
        ctx.breakpoints.append(self)

    def stop(self):
        _hits[0] += 1
        try:
            frame = gdb.selected_frame()
            # When a signal arrives while gdb steps off a breakpoint, gdb can
            # report the same hit again: same activation (stack pointer and
            # dedupe_key) and no other of our stops in between.  A real second
            # call from the same caller has its FinishBreakpoint (or another
            # of ours) in between, or a different key.
            if self.dedupe:
                key = (frame_sp(frame), self.dedupe_key(frame))
                if self._last == (key, _hits[0] - 1):
                    self._last = (key, _hits[0])
                    return False
                self._last = (key, _hits[0])
            return bool(self.hit(frame))
        except (gdb.error, gdb.MemoryError, ValueError, KeyError, TypeError, OverflowError) as exc:
            self.ctx.em.emit("warning", message=f"{type(self).__name__}: {exc}")
            return False

    dedupe = True

    def dedupe_key(self, frame):
        """Tells apart real consecutive calls that have no other stop of
        ours between them (subclasses without a FinishBreakpoint)."""
        return None

    def hit(self, frame):
        raise NotImplementedError


class TraceFinish(gdb.FinishBreakpoint):
    """Return of the selected frame: returned() on return, unwound() when the
    frame is left by longjmp (a PostgreSQL ERROR) so no span stays open."""

    def __init__(self, ctx, frame):
        super().__init__(frame, internal=True)
        self.silent = True
        self.ctx = ctx
        ctx.breakpoints.append(self)

    def stop(self):
        _hits[0] += 1
        try:
            return bool(self.returned(self.return_value))
        except (gdb.error, gdb.MemoryError, ValueError, KeyError, TypeError, OverflowError) as exc:
            self.ctx.em.emit("warning", message=f"{type(self).__name__}: {exc}")
            return False

    def out_of_scope(self):
        try:
            self.unwound()
        except (gdb.error, gdb.MemoryError, ValueError, KeyError, TypeError) as exc:
            self.ctx.em.emit("warning", message=f"{type(self).__name__}: {exc}")

    def returned(self, value):
        raise NotImplementedError

    def unwound(self):
        pass


def function_breakpoint(ctx, cls, name, *args):
    """Create cls at the entry of function `name` if the build has it."""
    if find_function(name) is None:
        return None
    return cls(ctx, name, *args)

"""Heap inserts: heap_insert() and heap_multi_insert(), one event per tuple.

The tuple's TID, xmin, length and infomask are only final after the tuple
was placed on its page, so we break at the line after that (the
pgstat_count_heap_insert() call, after END_CRIT_SECTION) and read the locals
`heaptup` / `heaptuples` there: one stop per call, no FinishBreakpoint.  When
the source is not available we fall back to entry + FinishBreakpoint and read
the caller's tuple (whose t_self heap_insert copies back).
"""

import gdb

from . import common
from .infomask import decode_infomask, natts


class RelationNames:
    """Relation pointer -> (relid, name); rd_rel->relname read once per relation."""

    def __init__(self):
        self._names = {}
        self._rel = common.RawReader("RelationData", ["rd_id"])

    def get_addr(self, addr):
        relid = self._rel.read(addr)["rd_id"]
        key = (addr, relid)
        name = self._names.get(key)
        if name is None:
            rel = gdb.Value(addr).cast(common.lookup_type("RelationData").pointer())
            name = common.array_string(rel["rd_rel"]["relname"]["data"])
            self._names[key] = name
        return relid, name

    def get(self, rel):
        return self.get_addr(int(rel))


class TupleReader:
    """Event fields of a placed HeapTuple, read as raw bytes at offsets the
    debug info gives for each field name (the per-event hot path)."""

    def __init__(self):
        self.tup = common.RawReader("HeapTupleData", [
            "t_len", "t_self.ip_blkid.bi_hi", "t_self.ip_blkid.bi_lo", "t_self.ip_posid", "t_data"])
        self.hdr = common.RawReader("HeapTupleHeaderData", [
            "t_choice.t_heap.t_xmin", "t_infomask", "t_infomask2"])

    def fields(self, addr):
        t = self.tup.read(addr)
        h = self.hdr.read(t["t_data"])
        infomask, infomask2 = h["t_infomask"], h["t_infomask2"]
        return {
            "block": (t["t_self.ip_blkid.bi_hi"] << 16) | t["t_self.ip_blkid.bi_lo"],
            "offset": t["t_self.ip_posid"],
            "xmin": h["t_choice.t_heap.t_xmin"],
            "t_len": t["t_len"],
            "infomask": infomask,
            "infomask2": infomask2,
            "natts": natts(infomask2),
            "flags": decode_infomask(infomask, infomask2),
        }


def tuple_fields(htup):
    """The per-tuple event fields of a HeapTuple (pointer) whose header is set."""
    return _reader().fields(int(htup))


_readers = []


def _reader():
    if not _readers:
        _readers.append(TupleReader())
    return _readers[0]


def _emit(ctx, func, rel_addr, fields, **more):
    relid, relname = ctx.relnames.get_addr(rel_addr)
    if ctx.bt:
        more["bt"] = common.backtrace()
    ctx.em.emit("heap_insert", func=func, relid=relid, rel=relname, **fields, **more)


class HeapInsertDone(gdb.Breakpoint):
    """heap_insert() after the tuple is on its page: reads relation, heaptup."""

    def __init__(self, ctx, addr):
        super().__init__(f"*{addr:#x}", internal=True)
        self.silent = True
        self.ctx = ctx
        ctx.breakpoints.append(self)
        syms = common.local_symbols(addr, {"relation", "heaptup"})
        if len(syms) != 2:
            raise common.NoDebugInfo("heap_insert: locals relation/heaptup not found in debug info")
        self._slots = common.FrameSlots(syms)
        self._reader = _reader()
        self._last = None

    def stop(self):
        try:
            local = self._slots.read(gdb.selected_frame())
            fields = self._reader.fields(local["heaptup"])
            # A signal arriving while gdb steps over this breakpoint makes gdb
            # report the same hit again; the same TID twice in a row is that.
            key = (fields["block"], fields["offset"], fields["xmin"])
            if key == self._last:
                return False
            self._last = key
            _emit(self.ctx, "heap_insert", local["relation"], fields)
        except (gdb.error, gdb.MemoryError) as exc:
            self.ctx.em.emit("warning", message=f"heap_insert: {exc}")
        return False


class HeapMultiInsertDone(gdb.Breakpoint):
    """heap_multi_insert() after all tuples are placed: one event per tuple."""

    def __init__(self, ctx, addr):
        super().__init__(f"*{addr:#x}", internal=True)
        self.silent = True
        self.ctx = ctx
        ctx.breakpoints.append(self)
        syms = common.local_symbols(addr, {"relation", "heaptuples", "ntuples"})
        if len(syms) != 3:
            raise common.NoDebugInfo("heap_multi_insert: locals relation/heaptuples/ntuples not found")
        self._syms = syms
        self._last = None

    def stop(self):
        try:
            frame = gdb.selected_frame()
            rel = int(frame.read_var(self._syms["relation"]))
            tuples = frame.read_var(self._syms["heaptuples"])
            n = int(frame.read_var(self._syms["ntuples"]))
            first = tuple_fields(tuples[0]) if n else None
            key = (int(tuples), n, first and (first["block"], first["offset"], first["xmin"]))
            if key == self._last:
                return False    # the same hit reported again (see HeapInsertDone)
            self._last = key
            for i in range(n):
                _emit(self.ctx, "heap_multi_insert", rel, tuple_fields(tuples[i]), index=i, ntuples=n)
        except (gdb.error, gdb.MemoryError) as exc:
            self.ctx.em.emit("warning", message=f"heap_multi_insert: {exc}")
        return False


class _CallerTupleReturn(common.TraceFinish):
    def __init__(self, ctx, frame, rel, tup):
        super().__init__(ctx, frame)
        self._rel, self._tup = rel, tup

    def returned(self, value):
        _emit(self.ctx, "heap_insert", int(self._rel), tuple_fields(self._tup), fallback=True)
        return False


class HeapInsertEntry(common.TraceBreakpoint):
    """Fallback without sources: entry + FinishBreakpoint, reading `tup`."""

    def hit(self, frame):
        rel, tup = frame.read_var("relation"), frame.read_var("tup")
        rel.fetch_lazy()    # the argument slots die with the frame; keep the pointers
        tup.fetch_lazy()
        _CallerTupleReturn(self.ctx, frame, rel, tup)
        return False


def install(ctx):
    ctx.relnames = RelationNames()
    common.lookup_type("HeapTupleData")
    installed = []
    addr = common.anchor_address("heap_insert", ctx.profile.anchors["heap_insert"])
    if addr is not None:
        HeapInsertDone(ctx, addr)
        installed.append("heap_insert")
    elif common.find_function("heap_insert") is not None:
        HeapInsertEntry(ctx, "heap_insert")
        installed.append("heap_insert (entry+finish fallback: source not found)")
    addr = common.anchor_address("heap_multi_insert", ctx.profile.anchors["heap_multi_insert"])
    if addr is not None:
        HeapMultiInsertDone(ctx, addr)
        installed.append("heap_multi_insert")
    else:
        ctx.em.emit("warning", message="heap_multi_insert not traced: source line not found")
    if not installed:
        raise common.NoDebugInfo("heap_insert has no debug info in this build")
    return installed

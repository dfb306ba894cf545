"""WAL records: one event per record inserted by XLogInsertRecord().

XLogInsert() is called inside its caller's critical section, so nothing here
calls into the backend while tracing: we break at XLogInsertRecord's final
`return EndPos;` and read rechdr (the assembled XLogRecord header), StartPos,
EndPos and num_fpi by name.  Record type names come from the resource
manager's own rm_identify(), called once per distinct (rmid, info) when the
trace ends and the backend sits idle; events are emitted then.
"""

import gdb

from . import common
from .walnames import fallback_identify, lsn_text, unknown_name


class WalTracer:
    def __init__(self, ctx):
        self.ctx = ctx
        self.records = []
        self._rmgr_names = {}

    def rmgr_name(self, rmid):
        name = self._rmgr_names.get(rmid)
        if name is None:
            table = common.find_variable("RmgrTable")
            name = common.cstring(table[rmid]["rm_name"]) if table is not None else None
            name = name or f"rmgr {rmid}"
            self._rmgr_names[rmid] = name
        return name

    def identify_all(self, can_call):
        """{(rmid, info): name}; calls rm_identify only if can_call."""
        names = {}
        table = common.find_variable("RmgrTable")
        for rmid, info, rmgr in {(r["rmid"], r["info"], r["rmgr"]) for r in self.records}:
            name = None
            if can_call and table is not None and int(table[rmid]["rm_identify"]) != 0:
                try:
                    # Called through the Value: gdb converts the argument to the
                    # prototype's uint8.  Spelling "(uint8)" in an expression
                    # instead makes gdb search a -g3 build's debug info for the
                    # typedef: seconds, spent while the driver waits for gdb to stop.
                    res = table[rmid]["rm_identify"].dereference()(gdb.Value(info))
                    name = common.cstring(res)
                except gdb.error as exc:
                    self.ctx.em.emit("warning", message=f"rm_identify({rmgr}, {info:#x}): {exc}")
            if name is None:
                name = fallback_identify(rmgr, info)
            names[(rmid, info)] = name or unknown_name(info)
        return names

    def finish(self, alive):
        reason = common.unsafe_to_call() if alive else "backend exited"
        if reason:
            self.ctx.em.emit("warning", message=f"record types from a built-in table: {reason}")
        names = self.identify_all(can_call=not reason)
        for rec in self.records:
            ts = rec.pop("ts")
            rec["record_type"] = names[(rec["rmid"], rec["info"])]
            self.ctx.em.emit("wal_record", ts=ts, **rec)


class XLogInsertRecordDone(gdb.Breakpoint):
    def __init__(self, ctx, tracer, addr):
        super().__init__(f"*{addr:#x}", internal=True)
        self.silent = True
        self.ctx = ctx
        self.tracer = tracer
        ctx.breakpoints.append(self)
        names = {"rechdr", "StartPos", "EndPos", "num_fpi", "inserted"}
        self._syms = common.local_symbols(addr, names)
        missing = {"rechdr", "StartPos", "EndPos"} - set(self._syms)
        if missing:
            raise common.NoDebugInfo(f"XLogInsertRecord: locals {sorted(missing)} not in debug info")

    def stop(self):
        try:
            self._record(gdb.selected_frame())
        except (gdb.error, gdb.MemoryError) as exc:
            self.ctx.em.emit("warning", message=f"XLogInsertRecord: {exc}")
        return False

    def _record(self, frame):
        syms = self._syms
        if "inserted" in syms and not bool(frame.read_var(syms["inserted"])):
            return      # an XLOG_SWITCH with nothing to switch: no record
        hdr = frame.read_var(syms["rechdr"]).dereference()
        start = int(frame.read_var(syms["StartPos"]))
        if self.tracer.records and self.tracer.records[-1]["start"] == start:
            return      # the same hit reported again after a signal

        end = int(frame.read_var(syms["EndPos"]))
        rmid = int(hdr["xl_rmid"])
        info = int(hdr["xl_info"])
        num_fpi = int(frame.read_var(syms["num_fpi"])) if "num_fpi" in syms else None
        rec = {
            "ts": self.ctx.em.now(),
            "rmid": rmid,
            "rmgr": self.tracer.rmgr_name(rmid),
            "info": info,
            "len": int(hdr["xl_tot_len"]),
            "xid": int(hdr["xl_xid"]),
            "start_lsn": lsn_text(start),
            "end_lsn": lsn_text(end),
            "start": start,
            "end": end,
            "fpi": num_fpi,
            "has_fpi": None if num_fpi is None else num_fpi > 0,
        }
        if self.ctx.bt:
            rec["bt"] = common.backtrace()
        self.tracer.records.append(rec)


def install(ctx):
    tracer = WalTracer(ctx)
    addr = common.anchor_address("XLogInsertRecord", ctx.profile.anchors["XLogInsertRecord"])
    if addr is None:
        raise gdb.GdbError("XLogInsertRecord: source line 'return EndPos;' not found "
                           "(sources of this build missing?)")
    XLogInsertRecordDone(ctx, tracer, addr)
    ctx.finishers.append(tracer.finish)
    return ["XLogInsertRecord"]

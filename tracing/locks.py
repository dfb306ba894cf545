"""Heavyweight lock acquisitions: LockAcquireExtended() (LockAcquire calls it).

One event per call, emitted at its return with the LockAcquireResult
(LOCKACQUIRE_OK, _ALREADY_HELD, _ALREADY_CLEAR, _NOT_AVAIL), whether the
backend had to sleep in WaitOnLock() first, the decoded LOCKTAG and the lock
mode's name from the lock method's own lockModeNames table.  Nothing is
called in the backend; relation OIDs are turned into names by the driver.
"""


from . import common

# What locktag_field1..4 mean per LockTagType (storage/lock.h SET_LOCKTAG_*).
TAG_FIELDS = {
    "LOCKTAG_RELATION": ("database", "relation"),
    "LOCKTAG_RELATION_EXTEND": ("database", "relation"),
    "LOCKTAG_DATABASE_FROZEN_IDS": ("database",),
    "LOCKTAG_PAGE": ("database", "relation", "page"),
    "LOCKTAG_TUPLE": ("database", "relation", "page", "tuple"),
    "LOCKTAG_TRANSACTION": ("transactionid",),
    "LOCKTAG_VIRTUALTRANSACTION": ("virtualxid_proc", "virtualxid_lxid"),
    "LOCKTAG_SPECULATIVE_TOKEN": ("transactionid", "token"),
    "LOCKTAG_OBJECT": ("database", "classid", "objid", "objsubid"),
    "LOCKTAG_USERLOCK": ("field1", "field2", "field3", "field4"),
    "LOCKTAG_ADVISORY": ("database", "key1", "key2", "keytype"),
    "LOCKTAG_APPLY_TRANSACTION": ("database", "subscription", "transactionid", "objid"),
}


class LockNames:
    """Mode and tag-type names read from the backend's own tables, cached."""

    def __init__(self):
        self._modes = {}
        self._types = {}

    def mode(self, method, mode):
        key = (method, mode)
        name = self._modes.get(key)
        if name is None:
            methods = common.find_variable("LockMethods")
            name = None
            if methods is not None and method > 0:
                table = methods[method]
                if int(table) != 0 and 0 < mode <= int(table["numLockModes"]):
                    name = common.cstring(table["lockModeNames"][mode])
            name = name or f"mode {mode}"
            self._modes[key] = name
        return name

    def tag_type(self, code):
        name = self._types.get(code)
        if name is None:
            names = common.find_variable("LockTagTypeNames")
            name = common.cstring(names[code]) if names is not None else str(code)
            self._types[code] = name
        return name


def decode_tag(tag, names):
    """dict for a LOCKTAG value: pg_locks-style locktype plus named fields."""
    ttype = tag["locktag_type"]
    code = int(ttype)
    enum_name = str(ttype.cast(common.lookup_type("LockTagType")))
    fields = [int(tag[f"locktag_field{i}"]) for i in range(1, 5)]
    out = {"locktype": names.tag_type(code), "tag_type": enum_name,
           "method": int(tag["locktag_lockmethodid"])}
    for key, value in zip(TAG_FIELDS.get(enum_name, ("field1", "field2", "field3", "field4")), fields):
        out[key] = value
    return out


class LockTracer:
    def __init__(self, ctx):
        self.ctx = ctx
        self.names = LockNames()
        self.pending = []   # acquisitions in progress (innermost last)


class AcquireReturn(common.TraceFinish):
    def __init__(self, ctx, frame, tracer, rec):
        super().__init__(ctx, frame)
        self.tracer, self.rec = tracer, rec

    def _done(self, result):
        rec = self.rec
        if "start" not in rec:
            return      # already reported
        if rec in self.tracer.pending:
            self.tracer.pending.remove(rec)
        now = self.ctx.em.now()
        start = rec.pop("start")
        self.ctx.em.emit("lock", ts=start, dur=now - start, result=result,
                         granted=result in ("LOCKACQUIRE_OK", "LOCKACQUIRE_ALREADY_HELD",
                                            "LOCKACQUIRE_ALREADY_CLEAR"), **rec)

    def returned(self, value):
        self._done(str(value) if value is not None else None)
        return False

    def unwound(self):
        self._done("ERROR")     # deadlock, lock_timeout, cancel: left by longjmp


class AcquireEntry(common.TraceBreakpoint):
    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer

    def hit(self, frame):
        tag = frame.read_var("locktag").dereference()
        mode = int(frame.read_var("lockmode"))
        rec = decode_tag(tag, self.tracer.names)
        rec.update(mode=self.tracer.names.mode(rec["method"], mode), mode_num=mode,
                   session=bool(frame.read_var("sessionLock")),
                   dont_wait=bool(frame.read_var("dontWait")),
                   waited=False, start=self.ctx.em.now())
        if self.ctx.bt:
            rec["bt"] = common.backtrace()
        self.tracer.pending.append(rec)
        AcquireReturn(self.ctx, frame, self.tracer, rec)
        return False


class WaitEntry(common.TraceBreakpoint):
    """WaitOnLock(): the acquisition in progress has to sleep."""

    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer

    def hit(self, frame):
        if self.tracer.pending and not self.tracer.pending[-1]["waited"]:
            self.tracer.pending[-1]["waited"] = True
            self.ctx.em.emit("lock_wait", mode=self.tracer.pending[-1]["mode"],
                             locktype=self.tracer.pending[-1]["locktype"])
        return False


def install(ctx):
    tracer = LockTracer(ctx)
    common.lookup_type("LOCKTAG")
    if common.function_breakpoint(ctx, AcquireEntry, "LockAcquireExtended", tracer) is None:
        raise common.NoDebugInfo("LockAcquireExtended has no debug info in this build")
    installed = ["LockAcquireExtended"]
    if common.function_breakpoint(ctx, WaitEntry, "WaitOnLock", tracer) is not None:
        installed.append("WaitOnLock")
    return installed

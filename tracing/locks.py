"""Heavyweight lock acquisitions: LockAcquireExtended() (LockAcquire calls it),
and the waits and wake-ups the traced backend takes part in.

"lock": one per LockAcquireExtended() call, emitted at its return with the
LockAcquireResult (LOCKACQUIRE_OK, _ALREADY_HELD, _ALREADY_CLEAR, _NOT_AVAIL),
whether the backend had to sleep in WaitOnLock() first, the decoded LOCKTAG and
the lock mode's name from the lock method's own lockModeNames table.
"lock_wait": the backend's own sleep in WaitOnLock(), emitted when it ends,
with how long it slept and how it ended (granted, deadlock, error).
"deadlock_check": DeadLockCheck()'s verdict, run after deadlock_timeout asleep.
"deadlock": DeadLockReport(), the "deadlock detected" ERROR about to be raised.
"lock_wakeup": ProcWakeup(), the backend waking a waiter of a lock it released
(the woken backend's pid, the lock's tag and the mode granted to it).
ProcWakeup() is the function that wakes one waiter from 13 through 18
(ProcLockWakeup() calls it per waiter it grants).

Nothing is called in the backend; relation OIDs are turned into names by the
driver.  DeadLockCheck() runs from ProcSleep() (CheckDeadLock()) in normal
context, not in the timeout's signal handler, so stopping there is safe.
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
        self.waiting = None     # the lock_wait in progress: its fields and start

    def end_wait(self, result):
        """Emit the sleep in progress (once), ended with `result`."""
        wait, self.waiting = self.waiting, None
        if wait is None:
            return
        start = wait.pop("start")
        rec = wait.pop("rec")
        self.ctx.em.emit("lock_wait", ts=start, dur=rec.get("raised_at", self.ctx.em.now()) - start,
                         result=result, **wait)

    def finish(self, alive):
        """At trace end: a sleep still in progress is reported as unfinished."""
        self.end_wait("unfinished")


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
        if self.tracer.waiting is not None and self.tracer.waiting["rec"] is rec:
            # 13-17: the deadlock ERROR leaves WaitOnLock by longjmp; its
            # FinishBreakpoint may learn that only after this one does
            self.tracer.end_wait("deadlock" if rec.get("deadlock") else "error")
        # a longjmp is only noticed at the next stop: end at the ERROR's own time when known
        now = rec.pop("raised_at", None) or self.ctx.em.now()
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
            rec = self.tracer.pending[-1]
            rec["waited"] = True
            self.tracer.end_wait("error")   # a sleep we never saw end (cannot happen twice at once)
            fields = {k: v for k, v in rec.items() if k not in ("start", "bt", "waited", "session", "dont_wait")}
            self.tracer.waiting = {**fields, "start": self.ctx.em.now(), "rec": rec}
            WaitReturn(self.ctx, frame, self.tracer)
        return False


class WaitReturn(common.TraceFinish):
    """WaitOnLock()'s end: returned (woken with the lock; from 18 it returns
    PROC_WAIT_STATUS_ERROR on a deadlock and the caller raises it), or left by
    longjmp (13-17 raise the deadlock inside it; lock_timeout, cancel)."""

    def __init__(self, ctx, frame, tracer):
        super().__init__(ctx, frame)
        self.tracer = tracer

    def _rec(self):
        return (self.tracer.waiting or {}).get("rec") or {}

    def returned(self, value):
        status = str(value) if value is not None else ""
        if status.endswith("_ERROR"):
            self._rec()["deadlock"] = True
        self.tracer.end_wait("deadlock" if self._rec().get("deadlock") else "granted")
        return False

    def unwound(self):
        self.tracer.end_wait("deadlock" if self._rec().get("deadlock") else "error")


class DeadlockCheckEntry(common.TraceBreakpoint):
    """DeadLockCheck(): deadlock_timeout passed while this backend slept."""

    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer

    def hit(self, frame):
        DeadlockCheckReturn(self.ctx, frame, self.tracer, self.ctx.em.now())
        return False


class DeadlockCheckReturn(common.TraceFinish):
    def __init__(self, ctx, frame, tracer, start):
        super().__init__(ctx, frame)
        self.tracer, self.start = tracer, start

    def returned(self, value):
        verdict = str(value) if value is not None else None
        wait = self.tracer.waiting or {}
        self.ctx.em.emit("deadlock_check", ts=self.start, dur=self.ctx.em.now() - self.start, result=verdict,
                         **{k: wait[k] for k in ("locktype", "mode") if k in wait})
        if verdict == "DS_HARD_DEADLOCK" and wait.get("rec") is not None:
            wait["rec"]["deadlock"] = True
        return False


class DeadlockReport(common.TraceBreakpoint):
    """DeadLockReport(): this backend raises "deadlock detected" (it does not return)."""

    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer

    def hit(self, frame):
        rec = self.tracer.pending[-1] if self.tracer.pending else {}
        fields = {k: v for k, v in rec.items()
                  if k not in ("start", "bt", "session", "dont_wait", "waited", "deadlock")}
        self.ctx.em.emit("deadlock", **fields)
        if rec:
            rec["deadlock"], rec["raised_at"] = True, self.ctx.em.now()
        return False


class WakeupEntry(common.TraceBreakpoint):
    """ProcWakeup(proc, status): this backend grants a waiter its lock and wakes it
    (when it releases a lock, or a waiter ahead in the queue gives up)."""

    def __init__(self, ctx, name, tracer):
        super().__init__(ctx, name)
        self.tracer = tracer

    def dedupe_key(self, frame):
        return int(frame.read_var("proc"))

    def hit(self, frame):
        proc = frame.read_var("proc").dereference()
        lock = proc["waitLock"]
        if int(lock) == 0:
            return False        # not asleep on a lock: ProcWakeup returns at once
        rec = decode_tag(lock.dereference()["tag"], self.tracer.names)
        mode = int(proc["waitLockMode"])
        self.ctx.em.emit("lock_wakeup", woken_pid=int(proc["pid"]), mode=self.tracer.names.mode(rec["method"], mode),
                         mode_num=mode, **rec)
        return False


def install(ctx):
    tracer = LockTracer(ctx)
    common.lookup_type("LOCKTAG")
    if common.function_breakpoint(ctx, AcquireEntry, "LockAcquireExtended", tracer) is None:
        raise common.NoDebugInfo("LockAcquireExtended has no debug info in this build")
    installed = ["LockAcquireExtended"]
    for cls, name in ((WaitEntry, "WaitOnLock"), (DeadlockCheckEntry, "DeadLockCheck"),
                      (DeadlockReport, "DeadLockReport"), (WakeupEntry, "ProcWakeup")):
        if common.function_breakpoint(ctx, cls, name, tracer) is not None:
            installed.append(name)
    ctx.finishers.append(tracer.finish)
    return installed

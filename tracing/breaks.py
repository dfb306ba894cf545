"""Breakpoints `invoke debug` sets for a learner: where any ERROR is raised.

    (gdb) python import pglab_tracing.breaks as b; b.break_on_error(21)

errfinish() runs for every ereport(); it stops here only when the report being
finished is an ERROR or worse (elevel >= ERROR, the level of the build's
utils/elog.h, passed in by pglab).  Once gdb has shown where it stopped, the
message, where it was raised and the top of the stack follow.  Same function
and arguments on every major 13+.
"""

import gdb

STACK_LINES = 8


class ErrorBreakpoint(gdb.Breakpoint):
    """errfinish, stopping only for elevel >= ERROR."""

    def __init__(self, error_level):
        super().__init__("errfinish", internal=False)
        self.error_level = error_level
        self._report = None
        gdb.events.stop.connect(self._after_stop)

    def stop(self):
        try:
            edata = gdb.parse_and_eval("errordata[errordata_stack_depth]")
            elevel = int(edata["elevel"])
        except gdb.error:
            return False        # not where pglab expects: never stop on a guess
        if elevel < self.error_level:
            return False
        self._report = True
        return True

    def _after_stop(self, event):
        report, self._report = self._report, None
        if report is None or not isinstance(event, gdb.BreakpointEvent) or self not in event.breakpoints:
            return
        try:
            edata = gdb.parse_and_eval("errordata[errordata_stack_depth]")
            message = edata["message"].string() if int(edata["message"]) else "(no message)"
            # errfinish's own arguments: it copies them into edata only once it runs
            where = f"{gdb.parse_and_eval('funcname').string()} " \
                    f"({gdb.parse_and_eval('filename').string().rsplit('/', 1)[-1]}:" \
                    f"{int(gdb.parse_and_eval('lineno'))})"
        except (gdb.error, gdb.MemoryError) as exc:
            message, where = f"(unreadable: {exc})", "?"
        gdb.write(f"\npglab: ERROR: {message}\n"
                  f"pglab: raised in {where}: `up` goes there, `bt` shows the whole stack, `continue` lets "
                  f"the statement fail\n")
        gdb.execute(f"bt {STACK_LINES}")


def break_on_error(error_level):
    return ErrorBreakpoint(int(error_level))

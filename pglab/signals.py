"""SIGTERM and SIGHUP take the path Ctrl-C takes.

A closed terminal (SIGHUP) or a CI job's timeout (SIGTERM) would otherwise end
pglab at once, skipping what Ctrl-C runs on the way out: servers stopped, gdb
detached and the traced backend resumed, children killed.  So both are turned
into a KeyboardInterrupt in the main thread (Terminated, which says which signal
it was); every clean-up written for Ctrl-C runs for them too.  Further signals
while that clean-up runs are ignored, so that it finishes: the sender's SIGKILL
remains the last word.
"""

import signal
import threading

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, on its way out like a Ctrl-C."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self):
        return 128 + self.signum


def _handler(signum, _frame):
    for sig in HANDLED + (signal.SIGINT,):
        signal.signal(sig, signal.SIG_IGN)     # the clean-up runs once, to its end
    raise Terminated(signum)


def install():
    """Route SIGTERM and SIGHUP through KeyboardInterrupt (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in HANDLED:
        if signal.getsignal(sig) is not signal.SIG_IGN:    # nohup: a hang-up the user asked to ignore stays ignored
            signal.signal(sig, _handler)


def exit_code(exc):
    """The shell's exit code for an interrupt: 130 for Ctrl-C, 128+N for signal N."""
    return exc.exit_code if isinstance(exc, Terminated) else 130

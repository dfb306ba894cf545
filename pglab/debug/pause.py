"""ext-test --debug: hold a test's backend before its first statement until gdb lets it go.

Every connection the suites open gets `post_auth_delay` (PGOPTIONS): a backend
sleeps right after authentication, before it reads a statement.  A watcher
thread sees each new backend of the cluster in that sleep (its title ends in
"startup" and it waits in select/nanosleep).  The first one whose database is
not postgres or template1 (pg_regress's and the pytest plugin's own connections
use those) is the test's: gdb attaches to it, with the breakpoints, a SIGUSR1
queued, and the prompt.  The learner's `continue` delivers the SIGUSR1, which
ends the sleep, and the test runs under gdb.  Every other backend is woken at
once with SIGUSR1 (its handler is installed before the sleep: harmless).
"""

import os
import signal
import threading
import time

from .. import ui
from ..procs import process_title, processes_in

DELAY = 2100             # seconds a held backend sleeps when nobody attaches (the GUC allows 2147)
POLL = 0.02
OWN_DATABASES = ("postgres", "template1")
SLEEPING = ("poll_schedule_timeout", "nanosleep", "do_select", "core_sys_select")


def _wchan(pid):
    try:
        return open(f"/proc/{pid}/wchan").read()
    except OSError:
        return ""


def held_database(pid):
    """The database of a backend sleeping in post_auth_delay ("postgres: USER DB [local] startup"), or None."""
    words = process_title(pid).split()
    if len(words) < 4 or words[0] != "postgres:" or words[-1] != "startup":
        return None
    if not any(s in _wchan(pid) for s in SLEEPING):
        return None
    return words[2]


class TestPause:
    """Holds the first test backend for gdb; wakes every other."""

    def __init__(self, plan, cluster, skip=0):
        self.plan = plan
        self.cluster = cluster
        self.skip = skip          # test backends to let through first (hold the test at that position)
        self.held = None
        self._seen = set()
        self._stop = threading.Event()
        self._thread = None

    def env(self, base=None):
        options = " ".join(filter(None, [(base or {}).get("PGOPTIONS", os.environ.get("PGOPTIONS", "")),
                                         f"-c post_auth_delay={DELAY}"]))
        return {"PGOPTIONS": options}

    def __enter__(self):
        self._seen = set(processes_in(self.cluster.datadir))
        self._thread = threading.Thread(target=self._watch, name="pglab-test-pause", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        for pid in processes_in(self.cluster.datadir):     # never leave one asleep for half an hour
            if held_database(pid) is not None:
                _wake(pid)

    def _watch(self):
        while not self._stop.is_set():
            for pid in processes_in(self.cluster.datadir):
                if pid in self._seen:
                    continue
                db = held_database(pid)
                if db is None:
                    continue          # not asleep yet (or not a backend): look again next round
                self._seen.add(pid)
                if self.held is None and db not in OWN_DATABASES:
                    if self.skip:
                        self.skip -= 1
                        _wake(pid)
                        continue
                    self.held = pid
                    self._open_gdb(pid, db)
                else:
                    _wake(pid)
            time.sleep(POLL)

    def _open_gdb(self, pid, db):
        from . import gdb_command_line, gdb_script, open_beside, second_terminal

        self.plan.script_file.write_text(gdb_script(self.plan, resume="queue-signal SIGUSR1"))
        if open_beside(self.plan, pid, focus=True) is None:
            ui.say(f"the test's backend (PID {pid}, database {db}) waits before its first statement; gdb is "
                   f"attached in the pane on the right: `continue` runs the test")
            return
        ui.say(f"the test's backend (PID {pid}, database {db}) waits before its first statement. "
               f"{second_terminal(pid)}")
        ui.raw(f"\n    {gdb_command_line(self.plan, pid)}\n")
        ui.say("then `continue` in gdb runs the test")


def _wake(pid):
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        pass

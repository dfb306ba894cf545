"""debug: gdb on a PostgreSQL process, interactively, set up for a learner.

    invoke debug --break heap_insert --sql "INSERT INTO t VALUES (1)"

The default target is the backend of a psql session opened on the build's
cluster: psql runs in this terminal, and a psqlrc pglab writes asks the backend
for its PID and runs `python -m pglab.debug.pane`, which opens gdb beside it
(a tmux pane, when tmux is there) or prints the command to run in a second
terminal, then waits until gdb says it is attached before psql runs --sql.
gdb starts with the build's source directory, pglab's printers and commands
(pglab_tracing.printers, .pgcommands), the breakpoints, and `confirm off` so
that quitting detaches: the backend and the server go on.

Other targets: --backend PID, --bgworker NAME, --new-backends (gdb on the
postmaster, following every backend it forks) and --core FILE.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DebugError
from ..procs import attach_instructions

READY_TIMEOUT = 60.0     # for gdb to attach and say it is ready


@dataclass
class Plan:
    """Everything gdb needs, written to a JSON file the pane launcher reads."""

    build_id: str
    gdb: str
    postgres: str                     # the build's postgres executable (symbols, and a core's program)
    source_dir: str
    build_dir: str
    loader: str                       # pglab_tracing's loader.py
    error_level: int                  # ERROR in the build's utils/elog.h
    breaks: list = field(default_factory=list)
    sql: str | None = None
    on_error: bool = False
    new_backends: bool = False
    workdir: str = ""

    @property
    def ready_file(self):
        return Path(self.workdir) / "gdb-ready"

    @property
    def script_file(self):
        return Path(self.workdir) / "session.gdb"

    def save(self):
        path = Path(self.workdir) / "plan.json"
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path):
        return cls(**json.loads(Path(path).read_text()))


def error_level(build):
    """ERROR's value in the build's utils/elog.h (20 in 13, 21 from 14)."""
    header = build.pg_config_value("--includedir-server") / "utils" / "elog.h"
    m = re.search(r"^#define\s+ERROR\s+(\d+)", header.read_text(), re.M) if header.exists() else None
    if m is None:
        raise DebugError(f"cannot read ERROR's level from {header}: is {build.id} installed whole?")
    return int(m.group(1))


def gdb_quote(text):
    """TEXT as one argument of a gdb command that splits its arguments as a shell would
    (`directory`): in double quotes, with backslashes and double quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gdb_script(plan, *, attach=True, resume="continue"):
    """The commands gdb runs before handing the prompt to the learner."""
    lines = [
        "set pagination off",
        "set confirm off",                 # `quit` detaches and leaves the process running
        "set print pretty on",
        "set breakpoint pending on",        # an extension's functions: its library loads on first use
        f"directory {gdb_quote(plan.source_dir)}",
        f"directory {gdb_quote(plan.build_dir)}",     # generated files (gram.c, ...) are in the build tree
        f"source {plan.loader}",           # `source` takes the rest of the line as the file's name, unquoted
        # the printers and pg-* commands; a failure is said and the session goes on without them
        "python",
        "try:",
        "    import pglab_tracing.printers as _p, pglab_tracing.pgcommands",
        "    _p.register(None)",
        "except Exception as exc:",
        "    gdb.write(f'pglab: the printers did not load: {exc}\\n')",
        "end",
        # PostgreSQL's own signals (latches, timeouts, shutdown) pass through without stopping; SIGINT
        # stops as gdb does by default, so Ctrl-C in gdb interrupts the backend (a cancel from psql stops too)
        "handle SIGUSR1 SIGUSR2 SIGALRM SIGPIPE SIGURG SIGCHLD SIGTERM SIGQUIT nostop noprint pass",
    ]
    if plan.new_backends:
        # on the postmaster: every child it forks stays under gdb and runs on; a breakpoint stops
        # whichever reaches it first (and, gdb being all-stop, the postmaster with it until `continue`)
        lines += ["set detach-on-fork off", "set follow-fork-mode parent", "set schedule-multiple on"]
    for name in plan.breaks:
        lines.append(f"break {name}")
    if plan.on_error:
        lines.append(f"python import pglab_tracing.breaks as _b; _b.break_on_error({plan.error_level})")
    if attach:
        lines.append(f"shell touch {shlex.quote(str(plan.ready_file))}")
        if resume == "continue":
            lines.append("echo pglab: attached; the breakpoints are set. The process runs until one is hit "
                         "(Ctrl-C stops it here; quit detaches).\\n")
            lines.append("continue")
        else:            # a held test backend: the learner's `continue` delivers what wakes it
            lines.append(resume)
            lines.append("echo pglab: the test's backend waits before its first statement: set breakpoints, "
                         "then `continue` runs the test.\\n")
    return "\n".join(lines) + "\n"


def gdb_argv(plan, *, pid=None, core=None):
    argv = [plan.gdb, "-nx", "-q", "-iex", "set debuginfod enabled off",
            "-iex", "set print symbol-loading off", "-x", str(plan.script_file), plan.postgres]
    if core is not None:
        argv.append(str(core))
    elif pid is not None:
        argv.append(str(pid))
    return argv


def gdb_command_line(plan, pid):
    """The command a learner runs in a second terminal on PID, with `sudo ` first only where
    this user needs root for it (a backend of another account)."""
    _words, prefix = attach_instructions(pid)
    return prefix + " ".join(shlex.quote(a) for a in gdb_argv(plan, pid=pid))


def second_terminal(pid):
    """The words that come before gdb_command_line: where, and as whom, to run it."""
    return attach_instructions(pid)[0]


def open_beside(plan, pid, *, focus):
    """gdb on PID in a tmux pane to the right of this one: None when it opened, else why not
    (not inside tmux, or tmux refused).  FOCUS: the new pane takes the keyboard.  gdb's pid
    is kept in the session folder (gdb.pid), for end_session."""
    if not os.environ.get("TMUX") or shutil.which("tmux") is None:
        return "not inside tmux"
    cmd = ["tmux", "split-window", "-h", "-P", "-F", "#{pane_pid}", *([] if focus else ["-d"]),
           f"exec {gdb_command_line(plan, pid)}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return f"tmux could not open gdb's pane: {done.stderr.strip()}"
    (Path(plan.workdir) / "gdb.pid").write_text(done.stdout.strip() + "\n")
    return None


def end_session(workdir, timeout=10.0):
    """What a debug session leaves when it ends (psql quit, or pglab interrupted: Ctrl-C, SIGTERM,
    SIGHUP): the pane helper still waiting is ended, and gdb on the session's backend (the one
    pglab opened in tmux, or whichever gdb traces that backend) gets SIGTERM, on which gdb
    detaches (the breakpoints removed, the backend running on) and quits."""
    from ..procs import alive, proc_status

    def pid_in(name):
        try:
            return int((Path(workdir) / name).read_text())
        except (OSError, ValueError):
            return None

    def is_gdb(pid):      # by its command line: a gdb from PyPI runs under the dynamic loader
        return any(Path(arg).name.startswith("gdb") for arg in _cmdline(pid).split(" ")[:2])

    helper = pid_in("pane.pid")
    if helper is not None and alive(helper) and str(workdir) in _cmdline(helper):
        os.kill(helper, signal.SIGTERM)
    backend = pid_in("backend.pid")
    tracer = int((proc_status(backend) or {}).get("TracerPid", "0").split()[0] or 0) if backend else 0
    gdbs = {pid for pid in (pid_in("gdb.pid"), tracer) if pid and alive(pid) and is_gdb(pid)}
    for pid in gdbs:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in gdbs) and time.monotonic() < deadline:
        time.sleep(0.05)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""



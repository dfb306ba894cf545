"""Opens gdb beside a psql session: run by that session's psqlrc (`\\!`).

    PGLAB_DEBUG_PID=<backend pid> python -m pglab.debug.pane PLAN.json

The psqlrc has asked the backend for its PID.  Inside tmux, gdb opens in a pane
to the right; elsewhere this prints the one command to run in a second terminal.
Then it waits until gdb has attached and set the breakpoints (gdb touches the
plan's ready file) and writes go.sql, which the psqlrc includes next: the --sql
statement, or a line saying why it is not run.
"""

import os
import sys
import time
from pathlib import Path

from . import READY_TIMEOUT, Plan, gdb_command_line, gdb_script, open_beside, second_terminal

HUMAN_TIMEOUT = 600.0     # a person opening a second terminal


def _say(text):
    sys.stdout.write(f"pglab: {text}\n")
    sys.stdout.flush()


def psql_quote(text):
    """TEXT as one single-quoted argument of a psql meta-command (\\echo, \\i): psql reads C-like
    escapes there, so a backslash is doubled, a quote doubled and a line break written \\n."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n").replace("\r", "\\r") + "'"


def go_script(sql):
    """What go.sql holds for --sql: a line saying what runs, then the SQL as it was given (any
    number of lines) and a `;` on a line of its own, which also ends a last line that is a comment."""
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return f"\\echo {psql_quote('pglab: running: ' + sql)}\n{sql}\n;\n"


def main(plan_path):
    plan = Plan.load(plan_path)
    pid = int(os.environ["PGLAB_DEBUG_PID"])
    (Path(plan.workdir) / "backend.pid").write_text(f"{pid}\n")      # for end_session
    (Path(plan.workdir) / "pane.pid").write_text(f"{os.getpid()}\n")
    plan.script_file.write_text(gdb_script(plan))
    go = Path(plan.workdir) / "go.sql"
    # with --sql gdb stops at once: it takes the keyboard; else the learner types SQL in psql first
    why_not = open_beside(plan, pid, focus=bool(plan.sql))
    in_tmux = why_not is None
    if in_tmux:
        _say(f"gdb is attaching to this session's backend (PID {pid}) in the pane on the right")
    elif why_not != "not inside tmux":
        _say(why_not)
    if not in_tmux:
        _say(f"this session's backend is PID {pid}. {second_terminal(pid)}")
        sys.stdout.write(f"\n    {gdb_command_line(plan, pid)}\n\n")
        sys.stdout.flush()
    timeout = READY_TIMEOUT if in_tmux else HUMAN_TIMEOUT
    deadline = time.monotonic() + timeout
    while not plan.ready_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not plan.ready_file.exists():
        go.write_text(f"\\echo 'pglab: gdb did not attach within {int(timeout)} s; the session goes on without it'\n")
        return 1
    _say("gdb is attached and the breakpoints are set; it stops the backend when one is hit")
    if plan.sql:
        go.write_text(go_script(plan.sql))
    else:
        go.write_text("")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

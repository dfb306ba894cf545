"""The one subprocess wrapper for long, logged commands (configure, make, PGXS).

Output goes to a log file line by line; an optional callback sees each line (for
progress); a failure raises the caller's error class with the log's last lines.
"""

import subprocess
from collections import deque
from pathlib import Path

from .errors import BuildError

TAIL_LINES = 25


def run_logged(cmd, log, *, cwd=None, env=None, on_line=None, step=None, error=BuildError, account=None):
    """Run `cmd` (an argument list), appending its output to `log` (as `account` when given:
    pglab.accounts; the log itself is written by the caller).

    Returns nothing; raises `error` naming the step, the exit code, the tail of the
    output and the log path if the command fails."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    tail = deque(maxlen=TAIL_LINES)
    step = step or Path(cmd[0]).name
    with open(log, "a", encoding="utf-8", errors="replace") as out:
        out.write(f"$ {' '.join(str(c) for c in cmd)}\n")
        out.flush()
        proc = subprocess.Popen(
            [str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
            **(account.subprocess_kwargs() if account is not None else {}),
        )
        try:
            for line in proc.stdout:
                out.write(line)
                tail.append(line.rstrip("\n"))
                if on_line is not None:
                    on_line(line)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if code != 0:
        text = "\n".join(tail)
        raise error(f"{step} failed (exit {code}); last lines:\n{text}\nfull log: {log}", step=step, log=log, tail=text)

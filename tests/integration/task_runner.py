"""Runs `invoke TASK ...` many times fast, for the input fuzz (test_inputs_fuzz.py).

Started with its working directory in a clone of pglab, it imports invoke and the
clone's tasks once, then for each JSON line it reads on stdin (an argv list) forks a
child that runs `invoke ARGV` exactly as the `invoke` command would, its stdout and
stderr in files, and answers with one JSON line: {"code", "stdout", "stderr"}.  An
exception that escapes the child ends it as Python ends any program: the traceback
on stderr and exit status 1.  A child still running after its timeout is killed
(code null).
"""

import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())      # the clone's pglab, as invoke's loader would find it

from invoke.main import program      # noqa: E402

import tasks                          # noqa: E402,F401  (the clone's, with everything it imports)

TIMEOUT = 30.0


def child(argv, out, err):
    os.dup2(out, 1)
    os.dup2(err, 2)
    program.run(["invoke", *argv])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve():
    for line in sys.stdin:
        argv = json.loads(line)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                child(argv, out.fileno(), err.fileno())
            deadline = time.monotonic() + TIMEOUT
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    code = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    code = None
                    break
                time.sleep(0.005)
            out.seek(0)
            err.seek(0)
            answer = {"code": code, "stdout": out.read().decode(errors="replace"),
                      "stderr": err.read().decode(errors="replace")}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()

"""A Python that has already imported pytest, kept between ext-test runs.

pytest's own start-up (importing pytest, psycopg and the plugin: ~0.2 s of a
~0.8 s edit → verdict loop) would sit on the critical path of every run.  So
after a run, ext-test leaves one interpreter behind that has imported them and
waits on a Unix socket; the next run hands it the command line, environment,
folder and an output pipe, and it forks a child that runs pytest.main() exactly
as `python -m pytest ARGS` would.  The child imports the extension's tests
afresh: only pytest, psycopg and pglab's plugin come from before.

It serves one run at a time, exits after IDLE seconds without one, and exits
when asked by a run whose interpreter or pglab differs (the key).  When it is
not there, busy or stale, ext-test starts pytest the usual way.

    python -m pglab.ext.prestart SOCKET KEY
"""

import hashlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

IDLE = 1800.0          # seconds without a run before it exits
HANDSHAKE = 0.3        # how long a run waits for it to answer before going the usual way


def socket_path(settings):
    """In the temporary directory (a socket's path must be short), per working area."""
    tag = hashlib.sha256(str(settings.layout.root.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"pglab-pytest-{os.geteuid()}-{tag}.sock"


def key():
    """What the pre-started interpreter must share with the run: this Python and
    the code it pre-imports (pglab's plugin and this module, pytest, psycopg)."""
    parts = [sys.executable]
    for module in ("pytest", "psycopg", "pglab.ext.pytest_plugin", "pglab.ext.prestart"):
        spec = importlib.util.find_spec(module)
        origin = Path(spec.origin) if spec and spec.origin else None
        parts.append(f"{module}:{origin.stat().st_mtime_ns if origin else '-'}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class Child:
    """A pytest run forked by the pre-started interpreter; looks like a Popen
    to pglab.postmortem.Supervised (pid, stdout, wait, poll, returncode)."""

    def __init__(self, conn, pid, stdout):
        self.conn, self.pid, self.stdout = conn, pid, stdout
        self.returncode = None

    def poll(self):
        if self.returncode is None and select.select([self.conn], [], [], 0)[0]:
            self._read_exit()
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            if not select.select([self.conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("pytest", timeout)
            self._read_exit()
        return self.returncode

    def _read_exit(self):
        data = self.conn.recv(4096)
        try:
            self.returncode = json.loads(data)["exit"]
        except (ValueError, KeyError):
            self.returncode = -signal.SIGKILL    # the pre-started interpreter itself died
        self.conn.close()


def run(settings, args, *, env, cwd):
    """Hand a pytest run to the pre-started interpreter; a Child, or None when
    it is not there, busy or stale (then one is started for the next run)."""
    path = socket_path(settings)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        if not select.select([conn], [], [], HANDSHAKE)[0] or conn.recv(16) != b"ready":
            raise OSError("busy")
        read_end, write_end = os.pipe()
        request = {"key": key(), "args": list(args), "env": dict(env), "cwd": str(cwd)}
        socket.send_fds(conn, [json.dumps(request).encode()], [write_end])
        os.close(write_end)
        reply = json.loads(conn.recv(4096) or b"{}")
    except (OSError, ValueError):
        conn.close()
        start(settings)
        return None
    if "pid" not in reply:      # stale: it exits; the next run gets a new one
        os.close(read_end)
        conn.close()
        start(settings)
        return None
    return Child(conn, reply["pid"], os.fdopen(read_end, "rb", buffering=0))


def start(settings):
    """Start a pre-started interpreter for the next run, detached."""
    path = socket_path(settings)
    subprocess.Popen([sys.executable, "-m", "pglab.ext.prestart", str(path), key()], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                     env={k: v for k, v in os.environ.items() if not k.startswith("PGLAB_TEST_")})


def stop(settings):
    """Ask the pre-started interpreter to exit (a stale key does it)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(socket_path(settings)))
            if select.select([conn], [], [], HANDSHAKE)[0] and conn.recv(16) == b"ready":
                socket.send_fds(conn, [json.dumps({"key": "stop"}).encode()], [])
                return True
    except OSError:
        pass
    return False


# ---- the pre-started interpreter ---------------------------------------------------------

def serve(path, my_key):
    import psycopg  # noqa: F401  (what the child would import first)
    import pytest

    import pglab.ext.pytest_plugin  # noqa: F401

    path = Path(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path.unlink(missing_ok=True)
        listener.bind(str(path))
    except OSError:
        return          # another one got there first
    os.chmod(path, 0o600)
    mine = path.stat().st_ino
    listener.listen(4)
    try:
        while select.select([listener], [], [], IDLE)[0]:
            conn, _ = listener.accept()
            with conn:
                try:
                    conn.sendall(b"ready")
                    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 1)
                except OSError:
                    continue
                if not msg:
                    continue            # the run gave up waiting and went the usual way
                request = json.loads(msg)
                if request.get("key") != my_key:
                    conn.sendall(b"{}")
                    return
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    _child(pytest, request, fds[0])
                os.close(fds[0])
                conn.sendall(json.dumps({"pid": pid}).encode())
                _, status = os.waitpid(pid, 0)
                try:
                    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
                except OSError:
                    pass
    finally:
        listener.close()
        try:
            if path.stat().st_ino == mine:   # not a successor's, bound while this one was leaving
                path.unlink()
        except FileNotFoundError:
            pass


def _child(pytest, request, out):
    """In the forked child: become `python -m pytest ARGS` in the run's folder and environment."""
    code = 3
    try:
        os.setsid()
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))   # read at start-up, not from the env
        sys.argv = ["pytest", *request["args"]]
        code = int(pytest.main(request["args"]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])

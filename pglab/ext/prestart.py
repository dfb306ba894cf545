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

It runs as the server's account (the tests it runs are code pglab did not write)
and listens in a private folder of that account's (/tmp/pglab-UID-pytest-TAG,
0700; one per working area).  A run talks to it only when the folder is that
account's and private, and the process at the other end of the socket is the one
pglab started (its pid is kept in the working area, SO_PEERCRED says who answers);
it takes the pid of the pytest it forks only if that process is its child, and
acts on that pid (postmortem's kill) only while it still is.

    python -m pglab.ext.prestart SOCKET KEY
"""

import hashlib
import importlib.util
import json
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import accounts, boundary, ui
from ..procs import owner_uid

IDLE = 1800.0          # seconds without a run before it exits
HANDSHAKE = 0.3        # how long a run waits for it to answer before going the usual way


def socket_path(settings, uid=None):
    """In a private folder of the account's in the temporary directory (a socket's path
    must be short), one per working area."""
    uid = uid if uid is not None else _account(settings).uid
    tag = hashlib.sha256(str(settings.layout.root.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"pglab-{uid}-pytest-{tag}" / "sock"


def _account(settings):
    return accounts.ensure(settings.account)


def _pid_file(settings):
    return settings.layout.root / "pytest-prestart.pid"


def private(folder, uid):
    """The folder is uid's own and nobody else's (not a link, no group or other access)."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077


def peer(conn):
    """(pid, uid) of the process at the other end of a Unix socket."""
    pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid, uid


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


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

    def __init__(self, conn, pid, stdout, server, uid):
        self.conn, self.pid, self.stdout = conn, pid, stdout
        self.server, self.uid = server, uid
        self.returncode = None

    def owned(self):
        """Still the server's child, of the account: the one process pglab may signal."""
        return self.returncode is None and parent_of(self.pid) == self.server and owner_uid(self.pid) == self.uid

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


def _server_pid(settings):
    try:
        return int(_pid_file(settings).read_text())
    except (OSError, ValueError):
        return None


def _connect(settings, account):
    """A connection to the pre-started interpreter pglab started, or None (not there, or the
    folder or the process at the other end is not the one pglab made: then it is not used)."""
    path = socket_path(settings, account.uid)
    if not path.parent.exists():
        return None
    if not private(path.parent, account.uid):
        ui.warn(f"{path.parent} is not a private folder of {account.name}'s: pytest starts without the pre-started "
                f"interpreter (remove the folder to have it back)")
        return None
    server = _server_pid(settings)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        if peer(conn) != (server, account.uid):
            raise OSError("not the interpreter pglab started")
    except OSError:
        conn.close()
        return None
    return conn, server


def run(settings, args, *, env, cwd):
    """Hand a pytest run to the pre-started interpreter; a Child, or None when
    it is not there, busy or stale (then one is started for the next run)."""
    account = _account(settings)
    found = _connect(settings, account)
    if found is None:
        start(settings)
        return None
    conn, server = found
    try:
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
    pid = reply.get("pid")
    # its child, of the account; or already gone (pytest --version): then Child.owned() is False
    # and nothing is ever signalled
    if not isinstance(pid, int) or pid <= 1 or (parent_of(pid) not in (server, None) or
                                                 owner_uid(pid) not in (account.uid, None)):
        os.close(read_end)      # stale (it exits; the next run gets a new one), or not its child
        conn.close()
        start(settings)
        return None
    return Child(conn, pid, os.fdopen(read_end, "rb", buffering=0), server, account.uid)


def start(settings):
    """Start a pre-started interpreter for the next run, detached, as the server's account."""
    account = _account(settings)
    try:
        boundary.reach_python(account)
    except boundary.BoundaryError:
        return          # the account cannot run this Python: pytest starts the usual way, which says why
    path = socket_path(settings, account.uid)
    env = boundary.account_env(account)
    env = {k: v for k, v in env.items() if not k.startswith("PGLAB_TEST_")}
    proc = subprocess.Popen([sys.executable, "-m", "pglab.ext.prestart", str(path), key()], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd="/",
                            env=env, **account.subprocess_kwargs())
    _pid_file(settings).parent.mkdir(parents=True, exist_ok=True)
    boundary.write_file(_pid_file(settings), f"{proc.pid}\n")


def stop(settings):
    """Ask the pre-started interpreter to exit (a stale key does it)."""
    account = accounts.existing(settings.account)
    found = _connect(settings, account) if account is not None else None
    if found is None:
        return False
    conn, _server = found
    with conn:
        try:
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
    try:
        os.mkdir(path.parent, 0o700)
    except FileExistsError:
        pass
    if not private(path.parent, os.geteuid()):
        return          # not a folder of ours alone: no socket there
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
            if peer(conn)[1] not in (0, os.geteuid()):
                conn.close()     # only root (the run) or this account itself
                continue
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

"""Processes and ports of pglab's servers, found from /proc and the sockets.

Every process of a cluster is found by its working directory, which PostgreSQL
sets to the data directory, so none is ever left behind.
"""

import os
import signal
import socket
import tempfile
from pathlib import Path

from .errors import ClusterError


def processes_in(datadir):
    """PIDs of every process whose working directory is `datadir` (a cluster's
    postmaster and all its children chdir there)."""
    target = str(Path(datadir).resolve())
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.readlink(f"/proc/{entry.name}/cwd") == target:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def is_postgres(pid):
    """The process runs a postgres executable (a server or one of its children)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return exe.removesuffix(" (deleted)").endswith("/postgres")   # (deleted): its install was rebuilt


def server_processes(datadir, uid=None):
    """The postgres processes working in `datadir` (of `uid` when given): a cluster's server and
    its children, never another program that happens to sit in that folder (a user's shell)."""
    return [pid for pid in processes_in(datadir)
            if is_postgres(pid) and (uid is None or owner_uid(pid) == uid)]


def start_time(pid):
    """When PID started (clock ticks after boot; /proc/PID/stat field 22), or None: with the pid,
    it tells a process from a later one that got the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def proc_status(pid):
    """/proc/PID/status as a dict of its fields, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            return dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None


def owner_uid(pid):
    """The real uid PID runs as, or None if it is gone."""
    status = proc_status(pid)
    return int(status["Uid"].split()[0]) if status and "Uid" in status else None


def attach_instructions(pid):
    """(words, command prefix) for telling this user where to run gdb on PID: a process
    of their own uid needs nothing more (no root); another account's needs root."""
    if owner_uid(pid) == os.geteuid():
        return "In a second terminal, run:", ""
    if os.geteuid() == 0:
        return "In a second terminal, as root, run:", ""
    return "In a second terminal, as root (gdb may attach to another account's process only as root), run:", "sudo "


def process_state(pid):
    """One-letter /proc state ('S', 'R', 't' traced-stopped, 'T', 'Z') or None if gone."""
    status = proc_status(pid)
    if status is None:
        return None
    return status.get("State", "?").strip()[:1]


def reap_all(under):
    """Kill every postgres process whose data directory lies under `under`.

    The janitor for test runs: returns the PIDs it had to kill."""
    root = str(Path(under).resolve())
    killed = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + "/")) and is_postgres(entry.name):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except ProcessLookupError:
                pass
    return killed


def port_free(port):
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((addr, port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno in (97, 99):  # no IPv6 here
                continue
            return False
    return True


def running_ports():
    """Ports of pglab servers running now (from their socket files)."""
    ports = []
    for folder in os.scandir(tempfile.gettempdir()):
        if not folder.name.startswith("pglab-"):
            continue
        try:       # another pglab may remove its folder while we look
            names = os.listdir(folder.path)
        except OSError:
            continue
        for name in names:
            if name.startswith(".s.PGSQL.") and not name.endswith(".lock"):
                try:
                    ports.append(int(name.rsplit(".", 1)[1]))
                except ValueError:
                    continue
    return ports


class Ports:
    """Hands out ports for servers: free on loopback and not used by another
    pglab server's socket.  Runs that overlap start their search at different
    places (by pid) and skip what the others hold."""

    def __init__(self, base=5433, span=500):
        self.base, self.span = base, span

    def taken(self):
        return set(running_ports())

    def pick(self, attempt=0, taken=()):
        start = self.base + (os.getpid() + attempt * 97) % self.span
        for port in range(start, start + 2000):
            if port not in taken and port_free(port):
                return port
        raise ClusterError(f"no free port between {start} and {start + 2000}")


def process_title(pid):
    """What ps shows for PID (a backend's "postgres: user db [local] idle"), or "" when it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""

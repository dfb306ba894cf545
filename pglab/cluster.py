"""Clusters on a build: initdb, start, stop, psql — safely, anywhere, even as root.

A Cluster is a data directory of one build.  Its server listens on a Unix socket
in a private directory and nowhere else unless asked (then on loopback only, with
password authentication; trust is for the socket alone).  PostgreSQL refuses to
run as root, so when pglab runs as root the server runs as an unprivileged account
(an existing `postgres`, else a `pglab` account created for the purpose) and
everything else goes on as before: clients connect as the `postgres` role over the
socket.  Every process of a cluster is found by its working directory, which
PostgreSQL sets to the data directory, so none is ever left behind.

    with Cluster.throwaway(build) as cl:
        cl.psql("-c", "select 1")
"""

import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ClusterError

SUPERUSER = "postgres"        # the bootstrap role, whoever runs the server


# ---- the account servers run as -------------------------------------------------

@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    @property
    def switching(self):
        return self.uid != os.geteuid()


def server_account(preferred=""):
    """Who runs postgres: the caller, or (as root) an unprivileged account."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return Account(me.pw_name, me.pw_uid, me.pw_gid)
    for name in ([preferred] if preferred else ["postgres", "pglab"]):
        try:
            entry = pwd.getpwnam(name)
            return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
        except KeyError:
            continue
    name = preferred or "pglab"
    done = subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/nonexistent", "--no-create-home",
                           "--shell", "/usr/sbin/nologin", "--comment", "pglab PostgreSQL servers", name],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(f"could not create the account {name} to run PostgreSQL as: {done.stderr.strip()}")
    entry = pwd.getpwnam(name)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _unreachable_ancestor(path, account):
    """The first directory above `path` the account cannot traverse, or None."""
    for parent in reversed(Path(path).resolve().parents):
        st = parent.stat()
        if st.st_uid == account.uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == account.gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return parent
    return None


# ---- processes -----------------------------------------------------------------------

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


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


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
            exe = os.readlink(f"/proc/{entry.name}/exe")
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + "/")) and exe.endswith("/postgres"):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except ProcessLookupError:
                pass
    return killed


# ---- ports ----------------------------------------------------------------------------

def _port_free(port):
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((addr, port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno in (97, 99):  # no IPv6 here
                continue
            return False
    return True


def free_port(start, taken=()):
    """A TCP port free on loopback, searched from `start`, skipping `taken`."""
    for port in range(start, start + 2000):
        if port not in taken and _port_free(port):
            return port
    raise ClusterError(f"no free port between {start} and {start + 2000}")


# ---- the cluster -----------------------------------------------------------------------

class Cluster:
    """A data directory of one build, and the server on it."""

    def __init__(self, build, base, *, account=None, port=None, tcp=None, conf=None, throwaway=False,
                 preferred_account="", template=None, core_dumps=False):
        self.build = build
        self.base = Path(base)
        self.datadir = self.base / "data"
        self.log = self.base / "server.log"
        self.account = account or server_account(preferred_account)
        self.tcp = tcp if tcp is not None else (self.base / "tcp").exists()  # None: as it was last started
        self.conf = dict(conf or {})
        self.throwaway = throwaway
        self.template = Path(template) if template else None   # an initdb'd data dir to copy
        self.core_dumps = core_dumps                           # crashed backends leave core files in data/
        self._port = port
        tag = hashlib.sha256(str(self.datadir.resolve()).encode()).hexdigest()[:10]
        self.socket_dir = Path(tempfile.gettempdir()) / f"pglab-{self.account.uid}-{tag}"

    # -- constructors
    @classmethod
    def named(cls, settings, build, name="main", **kw):
        return cls(build, settings.clusters / build.id / name, preferred_account=settings.account, **kw)

    @classmethod
    def throwaway(cls, build, settings=None, *, template=False, **kw):
        """A cluster in a fresh temporary directory, deleted when it stops.

        template=True copies a data directory initdb'd once per build instead of
        running initdb again: a second or two saved on every start."""
        preferred = settings.account if settings is not None else ""
        source = _template(build, settings, preferred) if template and settings is not None else None
        parent = settings.clusters / ".tmp" if settings is not None else Path(tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        os.chmod(parent, 0o755)
        base = Path(tempfile.mkdtemp(prefix=f"{build.id}-", dir=parent))
        return cls(build, base, throwaway=True, preferred_account=preferred, template=source, **kw)

    def __repr__(self):
        return f"<Cluster {self.build.id} port={self.port} data={self.datadir} ({self.state()})>"

    def __enter__(self):
        try:
            self.init()
            self.start()
        except BaseException:
            self.stop()
            if self.throwaway:
                self.destroy()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        if self.throwaway:
            self.destroy()

    # -- facts
    @property
    def port(self):
        if self._port is None:
            try:
                self._port = int((self.base / "port").read_text())
            except (OSError, ValueError):
                return None
        return self._port

    @property
    def env(self):
        """Environment for clients (psql, pg_regress, psycopg) to reach this cluster."""
        env = {"PGHOST": str(self.socket_dir), "PGUSER": SUPERUSER, "PGDATABASE": "postgres"}
        if self.port is not None:
            env["PGPORT"] = str(self.port)
        return env

    def conninfo(self, dbname="postgres"):
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={dbname}"

    @property
    def initialized(self):
        return (self.datadir / "PG_VERSION").is_file()

    def pid(self):
        try:
            return int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def state(self):
        if not self.initialized:
            return "absent"
        pid = self.pid()
        if pid is None:
            return "stopped"
        if _alive(pid) and pid in processes_in(self.datadir):
            return "running"
        return "crashed"

    def processes(self):
        return processes_in(self.datadir)

    # -- running things as the account
    def account_kwargs(self):
        if not self.account.switching:
            return {}
        return {"user": self.account.uid, "group": self.account.gid, "extra_groups": []}

    def server_env(self):
        return {"PATH": f"{self.build.bindir}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C",
                "HOME": str(self.base), "TZ": os.environ.get("TZ", "UTC")}

    def run(self, cmd, *, check=False, env=None, **kw):
        """Run a command as the server's account with the client environment set:
        for tools that write files the server reads or the other way round."""
        full_env = {**self.server_env(), **self.env, **(env or {})}
        return subprocess.run([str(c) for c in cmd], env=full_env, check=check, **self.account_kwargs(), **kw)

    def popen(self, cmd, **kw):
        """Like run(), without waiting; output is piped back as text."""
        return subprocess.Popen([str(c) for c in cmd], env={**self.server_env(), **self.env}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, **self.account_kwargs(), **kw)

    def own_dir(self, path, mode=0o700):
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if self.account.switching:
            os.chown(path, self.account.uid, self.account.gid)

    def ensure_reachable(self, *paths):
        """The server's account must reach the build, the cluster and `paths`: as
        root, let it traverse (o+x, not list) the directories in the way, and say so."""
        if not self.account.switching:
            return
        from . import ui

        for path in (self.build.bindir / "postgres", self.base, *paths):
            blocked = _unreachable_ancestor(path, self.account)
            while blocked is not None:
                try:
                    os.chmod(blocked, blocked.stat().st_mode | 0o001)
                except OSError as exc:
                    raise ClusterError(
                        f"the account '{self.account.name}' that runs PostgreSQL cannot enter {blocked} ({exc}); "
                        f"run `chmod o+x {blocked}` or set pglab.root (INVOKE_PGLAB_ROOT) to a directory it can reach"
                    ) from None
                ui.note(f"let the account '{self.account.name}' traverse {blocked} (chmod o+x) to reach {path}")
                blocked = _unreachable_ancestor(path, self.account)

    # -- lifecycle
    def init(self):
        """initdb, once.  Trust over the socket; TCP needs the generated password."""
        if self.initialized:
            return self
        self.base.parent.mkdir(parents=True, exist_ok=True)
        self.own_dir(self.base, 0o755)
        self.ensure_reachable()
        if self.template is not None and (self.template / "data" / "PG_VERSION").is_file():
            subprocess.run(["cp", "-a", str(self.template / "data"), str(self.datadir)], check=True)
            shutil.copy2(self.template / "password", self.base / "password")
            return self
        pwfile = self.base / "password"
        pwfile.write_text(secrets.token_urlsafe(18) + "\n")
        os.chmod(pwfile, 0o600)
        if self.account.switching:
            os.chown(pwfile, self.account.uid, self.account.gid)
        done = self.run([self.build.bin("initdb"), "-D", self.datadir, "-U", SUPERUSER, "--no-locale", "-E", "UTF8",
                         "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"],
                        capture_output=True, text=True)
        if done.returncode != 0:
            out = f"{done.stdout}\n{done.stderr}"
            raise ClusterError(f"initdb failed: {_last_line(out, 'FATAL') or _last_line(out)} (data: {self.datadir})")
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write("\n# pglab: socket, port and extension settings live here\ninclude_if_exists = 'pglab.conf'\n")
        return self

    def _write_conf(self, port):
        listen = "127.0.0.1" if self.tcp else ""
        lines = [f"port = {port}", f"unix_socket_directories = '{self.socket_dir}'",
                 f"listen_addresses = '{listen}'"]
        if self.throwaway:
            lines.append("fsync = off")  # a throwaway cluster never needs to survive a power cut
        for key, value in self.conf.items():
            lines.append(f"{key} = {_conf_value(value)}")
        path = self.datadir / "pglab.conf"
        path.write_text("\n".join(lines) + "\n")
        if self.account.switching:
            os.chown(path, self.account.uid, self.account.gid)
        (self.base / "port").write_text(f"{port}\n")
        if self.tcp:
            (self.base / "tcp").touch()
        else:
            (self.base / "tcp").unlink(missing_ok=True)
        self._port = port

    def _clear_stale_pid(self):
        pid = self.pid()
        if pid is None:
            return None
        if pid in self.processes():
            return "running"
        (self.datadir / "postmaster.pid").unlink()
        return f"removed a stale postmaster.pid (pid {pid} is gone: the server crashed or the machine restarted)"

    def _check_socket_dir(self):
        """The socket directory's name is predictable: use it only if it is ours."""
        try:
            st = os.lstat(self.socket_dir)
        except FileNotFoundError:
            return
        import stat

        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid not in (self.account.uid, 0):
            raise ClusterError(f"{self.socket_dir} exists and is not a directory of {self.account.name}'s: "
                               f"remove it, then start again")

    def start(self, *, timeout=60):
        """Start the server (no-op when running).  Returns a remark or None."""
        if not self.initialized:
            self.init()
        remark = self._clear_stale_pid()
        if remark == "running":
            if self.tcp and not (self.base / "tcp").exists():
                return "already running without TCP: `invoke pg-stop`, then `invoke pg-start --tcp`"
            return None
        self.ensure_reachable()
        self._check_socket_dir()
        self.own_dir(self.socket_dir)
        taken = set(running_ports())
        port = self.port if self.port and self.port not in taken else None  # keep the port it had
        for attempt in range(3):
            if port is None or (self.tcp and not _port_free(port)):
                port = free_port(5433 + (os.getpid() + attempt * 97) % 500, taken)
            self._write_conf(port)
            self.log.touch()
            if self.account.switching:
                os.chown(self.log, self.account.uid, self.account.gid)
            cores = ["-c"] if self.core_dumps else []
            done = self.run([self.build.bin("pg_ctl"), "-D", self.datadir, "-l", self.log, "-w", "-t", str(timeout),
                             *cores, "start"], capture_output=True, text=True)
            if done.returncode == 0:
                return remark
            taken.add(port)
            port = None
            tail = self.log_tail()
            if "Address already in use" not in tail and "could not create lock file" not in tail:
                break
        self._kill_leftovers()
        raise ClusterError(f"the server did not start: {_last_line(self.log_tail(), 'FATAL') or _last_line(done.stderr)}"
                           f" (log: {self.log})")

    def stop(self, *, mode="fast", timeout=60):
        """Stop the server and make sure none of its processes remain."""
        if self.initialized and self.pid() is not None and self.state() == "running":
            done = self.run([self.build.bin("pg_ctl"), "-D", self.datadir, "-m", mode, "-w", "-t", str(timeout), "stop"],
                            capture_output=True, text=True)
            if done.returncode != 0:
                self.run([self.build.bin("pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "-t", "10", "stop"],
                         capture_output=True, text=True)
        self._kill_leftovers()
        return self

    def _kill_leftovers(self):
        deadline = time.monotonic() + 5
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def destroy(self):
        """Stop and delete the cluster's directory and socket directory."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    # -- clients
    def log_tail(self, lines=20):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def psql(self, *args, dbname="postgres", input=None, check=True):
        """Run psql (as the caller) against this cluster; returns CompletedProcess."""
        cmd = [str(self.build.bin("psql")), "-X", "-v", "ON_ERROR_STOP=1", "-d", dbname, *args]
        done = subprocess.run(cmd, env={**os.environ, **self.env}, input=input, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise ClusterError(f"psql failed: {_last_line(done.stderr)}")
        return done

    def sql(self, query, dbname="postgres"):
        """One query through psql; rows as lists of strings (unaligned, tab-separated)."""
        out = self.psql("-At", "-F", "\t", "-c", query, dbname=dbname).stdout
        return [line.split("\t") for line in out.splitlines()]

    def connect(self, dbname="postgres", **kw):
        """A psycopg connection (autocommit) over the socket."""
        import psycopg

        return psycopg.connect(self.conninfo(dbname), autocommit=True, **kw)

    def exec_psql(self, args=()):
        """Replace this process with an interactive psql on the cluster."""
        psql = str(self.build.bin("psql"))
        os.execve(psql, [psql, *args], {**os.environ, **self.env})


def _template(build, settings, preferred_account):
    """The per-build template data directory, initdb'd on first use (under a lock)."""
    import fcntl

    base = settings.clusters / ".templates" / build.id
    if (base / "data" / "PG_VERSION").is_file():
        return base
    base.parent.mkdir(parents=True, exist_ok=True)
    with open(base.parent / f"{build.id}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "data" / "PG_VERSION").is_file():
            staging = base.parent / f".init-{build.id}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            Cluster(build, staging, preferred_account=preferred_account).init()
            shutil.rmtree(base, ignore_errors=True)
            staging.rename(base)
    return base


def running_ports():
    """Ports of pglab servers running now (from their socket files)."""
    ports = []
    tmp = Path(tempfile.gettempdir())
    for sock in tmp.glob("pglab-*/.s.PGSQL.*"):
        if not sock.name.endswith(".lock"):
            try:
                ports.append(int(sock.name.rsplit(".", 1)[1]))
            except ValueError:
                continue
    return ports


def clusters(settings):
    """Every named cluster under pg_source/clusters/: [(build_id, name, base)]."""
    found = []
    if settings.clusters.is_dir():
        for build_dir in sorted(settings.clusters.iterdir()):
            if build_dir.name.startswith(".") or not build_dir.is_dir():
                continue
            for base in sorted(build_dir.iterdir()):
                if (base / "data").is_dir():
                    found.append((build_dir.name, base.name, base))
    return found


def describe_clusters(settings):
    """Rows for pg-status: build, name, state, port, pid, data directory."""
    from .build import Build

    rows = []
    for build_id, name, base in clusters(settings):
        try:
            build = Build.load(settings.installs / build_id)
        except (OSError, ValueError):
            rows.append((build_id, name, "build missing (data kept)", "", "", str(base / "data")))
            continue
        cl = Cluster(build, base, preferred_account=settings.account)
        state = cl.state()
        hint = " (invoke pg-start recovers it)" if state == "crashed" else ""
        rows.append((build_id, name, state + hint, cl.port or "", cl.pid() if state == "running" else "", str(cl.datadir)))
    return rows


def _conf_value(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text.startswith("'") and text.endswith("'"):
        return text
    return "'" + text.replace("'", "''") + "'"


def _last_line(text, prefer=None):
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    if prefer:
        for line in reversed(lines):
            if prefer in line:
                return line
    return lines[-1] if lines else ""

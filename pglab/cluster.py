"""Clusters on a build: initdb, start, stop, psql — safely, anywhere, even as root.

A Cluster is a data directory of one build.  Its server listens on a Unix socket
in a private directory and nowhere else unless asked (then on loopback only, with
password authentication; trust is for the socket alone).  Under root the server
runs as an unprivileged account (pglab.accounts); clients connect as the
`postgres` role over the socket.  Only this module starts or stops postgres.

The cluster's folder is root's; in it, only data/ (and server.log, which pg_ctl
writes) belong to the account.  Root's own files (port, tcp, password and
pglab.conf, which postgresql.conf includes by its full path) sit beside them, where
nothing running as the account can replace them with a link (pglab.boundary).

    with Cluster.throwaway(settings, build) as cl:
        cl.psql("-c", "select 1")
"""

import enum
import hashlib
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from . import accounts, boundary, locks
from .errors import ClusterError
from .procs import Ports, alive, port_free, server_processes, start_time

SUPERUSER = "postgres"        # the bootstrap role, whoever runs the server
CONF_FILE = "pglab.conf"      # root's, beside data/; postgresql.conf includes it; rewritten at each start
ROOT_FILES = ("port", "tcp", "password", CONF_FILE)


class State(enum.Enum):
    ABSENT = "absent"         # no data directory yet
    STOPPED = "stopped"
    RUNNING = "running"
    CRASHED = "crashed"       # a postmaster.pid whose process is gone

    def __str__(self):
        return self.value


class Cluster:
    """A data directory of one build, and the server on it."""

    def __init__(self, build, base, *, account=None, preferred_account="", port=None, tcp=None, conf=None,
                 throwaway=False, template=None, core_dumps=False, ports=None):
        self.build = build
        self.base = Path(base)
        self.datadir = self.base / "data"
        self.log = self.base / "server.log"
        self._account = account
        self._preferred = preferred_account
        self.tcp = tcp if tcp is not None else (self.base / "tcp").exists()  # None: as it was last started
        self.conf = dict(conf or {})
        self.throwaway = throwaway
        self.template = Path(template) if template else None   # an initdb'd cluster to copy
        self.core_dumps = core_dumps                           # crashed backends leave core files in data/
        self.ports = ports or Ports()
        self._port = port

    # -- constructors
    @classmethod
    def named(cls, settings, build, name="main", **kw):
        return cls(build, settings.layout.cluster(build.id, name), preferred_account=settings.account, **kw)

    @classmethod
    def open(cls, settings, build, name="main", *, create, **kw):
        """The build's cluster NAME, started (a no-op when it runs), for a command to use.

        One policy per kind of caller, given as `create`:
          create=True  for commands whose job is to start or use a server (pg-start, psql, trace,
                       debug, ext-install's load): an absent cluster is made (initdb on first use);
          create=False for commands that look at what the learner made (inspect, lab checks): an
                       absent cluster is refused in one line naming the command that makes it,
                       and nothing is created.
        The start's remark (a stale postmaster.pid removed, running without TCP) is in .remark."""
        cluster = cls.named(settings, build, name, **kw)     # the name is checked before anything is made
        if not create and cluster.state() is State.ABSENT:
            raise ClusterError(f"no cluster {name!r} on {build.id} yet: `{start_command(settings, build, name)}` "
                               f"creates it")
        cluster.remark = cluster.start()
        return cluster

    @classmethod
    def throwaway(cls, settings, build, *, template=False, **kw):
        """A cluster in a fresh temporary directory, deleted when it stops.

        template=True copies a data directory initdb'd once per build instead of
        running initdb again: a second or two saved on every start."""
        source = template_for(build, settings) if template else None
        parent = settings.layout.throwaways
        parent.mkdir(parents=True, exist_ok=True)
        os.chmod(parent, 0o755)
        base = Path(tempfile.mkdtemp(prefix=f"{build.id}-", dir=parent))
        (base / "owner").write_text(f"{os.getpid()} {start_time(os.getpid())}\n")   # see owner_alive
        return cls(build, base, throwaway=True, preferred_account=settings.account, template=source, **kw)

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
    def account(self):
        """Who runs the server; looked up, never created, by reading state."""
        if self._account is None:
            self._account = accounts.existing(self._preferred)
            if self._account is None:
                raise ClusterError("no account to run PostgreSQL as yet: `invoke pg-start` creates one")
        return self._account

    def _ensure_account(self):
        if self._account is None:
            self._account = accounts.ensure(self._preferred)
        return self._account

    @property
    def socket_dir(self):
        tag = hashlib.sha256(str(self.datadir.resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"pglab-{self.account.uid}-{tag}"

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
        """The postmaster's pid from postmaster.pid (read without following a link: data/ is the account's)."""
        try:
            return int(boundary.read_file(self.datadir / "postmaster.pid").split("\n", 1)[0])
        except ValueError:
            return None

    def state(self):
        if not self.initialized:
            return State.ABSENT
        pid = self.pid()
        if pid is None:
            return State.STOPPED
        if alive(pid) and pid in self.processes():
            return State.RUNNING
        return State.CRASHED

    def processes(self):
        """The server's processes: postgres processes of the account working in data/ (a
        shell someone opened there is not one)."""
        account = self._account or accounts.existing(self._preferred)
        return server_processes(self.datadir, account.uid if account else None)

    # -- running things as the account
    def server_env(self):
        return {"PATH": f"{self.build.bindir}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C",
                "HOME": str(self.base), "TZ": os.environ.get("TZ", "UTC")}

    def run(self, cmd, *, check=False, env=None, **kw):
        """Run a command as the server's account with the client environment set:
        for tools that write files the server reads or the other way round."""
        full_env = {**self.server_env(), **self.env, **(env or {})}
        return subprocess.run([str(c) for c in cmd], env=full_env, check=check, **self.account.subprocess_kwargs(),
                              **kw)

    def account_dir(self, path, mode=0o700):
        """A folder of the account's inside one of root's (pglab.boundary.account_dir)."""
        return boundary.account_dir(self.account, path, mode)

    def ensure_reachable(self, *paths):
        """The server's account must reach the build, the cluster and `paths`: as
        root, let it traverse (o+x, not list) the directories in the way, and say so."""
        try:
            boundary.reach(self.account, self.build.bindir / "postgres", self.base, *paths)
        except boundary.BoundaryError as exc:
            raise ClusterError(str(exc)) from None

    # -- lifecycle
    def init(self):
        """initdb, once.  Trust over the socket; TCP needs the generated password."""
        if self.initialized:
            return self
        account = self._ensure_account()
        self._root_base()
        self.ensure_reachable()
        boundary.account_dir(account, self.datadir, 0o700)
        if self.template is not None:
            with locks.held(_template_lock(self.template), shared=True):   # template_for replaces it only exclusively
                if (self.template / "data" / "PG_VERSION").is_file():
                    done = self.run(["cp", "-a", f"{self.template / 'data'}/.", self.datadir],
                                    capture_output=True, text=True)
                    if done.returncode != 0:
                        raise ClusterError(f"copying the template {self.template} failed: {last_line(done.stderr)}")
                    boundary.write_file(self.base / "password", (self.template / "password").read_text(), 0o600)
                    return self
        password = secrets.token_urlsafe(18)
        boundary.write_file(self.base / "password", password + "\n", 0o600)
        pwfile = self.base / ".initdb-password"     # for initdb alone, which reads it as the account
        boundary.remove(pwfile)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
        try:
            os.write(fd, (password + "\n").encode())
            if account.switching:
                os.fchown(fd, account.uid, account.gid)
        finally:
            os.close(fd)
        try:
            done = self.run([self.build.bin("initdb"), "-D", self.datadir, "-U", SUPERUSER, "--no-locale", "-E",
                             "UTF8", "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                             "--no-sync"], capture_output=True, text=True)
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            out = f"{done.stdout}\n{done.stderr}"
            why = next((l.strip() for l in out.splitlines() if re.search(r"FATAL|error:|could not|PANIC", l)),
                       last_line(out))
            raise ClusterError(f"initdb failed: {why} (data: {self.datadir})")
        return self

    def _root_base(self):
        """The cluster's folder as root's (0755), so nothing running as the account can put a
        link among root's files.  One an earlier pglab handed to the account is taken back: its
        root files are read without following links and written afresh."""
        self.base.parent.mkdir(parents=True, exist_ok=True)
        try:
            st = os.lstat(self.base)
        except FileNotFoundError:
            os.mkdir(self.base, 0o755)
            return
        if not stat.S_ISDIR(st.st_mode):
            raise ClusterError(f"{self.base} is not a folder: remove it, then start again")
        if st.st_uid == os.geteuid():
            if stat.S_IMODE(st.st_mode) != 0o755:
                os.chmod(self.base, 0o755)      # mkdtemp's 0700: the account must reach data/
            return
        os.lchown(self.base, os.geteuid(), os.getegid())
        os.chmod(self.base, 0o755)      # not a link (lstat above), in a folder of root's
        for name in ROOT_FILES:
            path = self.base / name
            kept = boundary.read_file(path) if path.is_file() and not path.is_symlink() else None
            boundary.remove(path)
            if kept is not None and name != CONF_FILE:
                boundary.write_file(path, kept, 0o600 if name == "password" else 0o644)

    def _write_conf(self, port):
        listen = "127.0.0.1" if self.tcp else ""
        lines = [f"port = {port}", f"unix_socket_directories = {conf_value(str(self.socket_dir))}",
                 f"listen_addresses = '{listen}'"]
        if self.throwaway:
            lines.append("fsync = off")  # a throwaway cluster never needs to survive a power cut
        for key, value in self.conf.items():
            lines.append(f"{key} = {conf_value(value)}")
        boundary.write_file(self.base / CONF_FILE, "\n".join(lines) + "\n")
        self._include_conf()
        boundary.write_file(self.base / "port", f"{port}\n")
        if self.tcp:
            boundary.write_file(self.base / "tcp", "")
        else:
            (self.base / "tcp").unlink(missing_ok=True)
        self._port = port

    def _include_conf(self):
        """postgresql.conf's last word is pglab.conf, by its full path (a cluster copied from a
        template, moved, or made by an earlier pglab says otherwise): appended as the account."""
        line = f"include_if_exists = {conf_value(str(self.base / CONF_FILE))}"
        conf = self.datadir / "postgresql.conf"
        ours = [l.strip() for l in boundary.read_file(conf).splitlines() if l.strip().startswith("include_if_exists")]
        if ours and ours[-1] == line:
            return
        done = self.run(["sh", "-c", 'printf "%s\n" "$1" >> "$2"', "sh",
                         f"\n# pglab: port, socket and extension settings\n{line}", conf],
                        capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterError(f"cannot add pglab's settings to {conf}: {last_line(done.stderr)}")

    def _clear_stale_pid(self):
        pid = self.pid()
        if pid is None:
            return None
        if pid in self.processes():
            return "running"
        (self.datadir / "postmaster.pid").unlink()
        return f"removed a stale postmaster.pid (pid {pid} is gone: the server crashed or the machine restarted)"

    def _ensure_socket_dir(self):
        """The socket folder, made by the account itself (root never chmods or chowns in the
        shared temporary folder); its name is predictable, so it is used only if it is the
        account's own, private folder."""
        if not os.path.lexists(self.socket_dir):
            self.run(["mkdir", "-m", "0700", self.socket_dir], capture_output=True)
        try:
            st = os.lstat(self.socket_dir)
        except FileNotFoundError:
            raise ClusterError(f"cannot make the socket folder {self.socket_dir}") from None
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != self.account.uid or st.st_mode & 0o077:
            raise ClusterError(f"{self.socket_dir} exists and is not a private folder of {self.account.name}'s: "
                               f"remove it, then start again")

    def start(self, *, timeout=60):
        """Start the server (no-op when running).  Returns a remark or None."""
        self._ensure_account()
        if not self.initialized:
            self.init()
        remark = self._clear_stale_pid()
        if remark == "running":
            if self.tcp and not (self.base / "tcp").exists():
                return "already running without TCP: `invoke pg-stop`, then `invoke pg-start --tcp`"
            return None
        self._root_base()
        self.ensure_reachable()
        self._ensure_socket_dir()
        taken = self.ports.taken()
        port = self.port if self.port and self.port not in taken else None  # keep the port it had
        for attempt in range(3):
            if port is None or (self.tcp and not port_free(port)):
                port = self.ports.pick(attempt, taken)
            self._write_conf(port)
            boundary.account_file(self.account, self.log, 0o640)   # pg_ctl writes it as the account
            cores = ["-c"] if self.core_dumps else []
            done = self.run([self.build.bin("pg_ctl"), "-D", self.datadir, "-l", self.log, "-w", "-t", str(timeout),
                             *cores, "start"], capture_output=True, text=True)
            if done.returncode == 0:
                return remark
            tail = self.log_tail()
            said = f"{tail}\n{done.stderr}"
            if "could not access directory" in said and "Permission denied" in said:
                # a folder on the way was made untraversable since (a program resetting its own
                # temporary folder's mode, as pytest does): let the account through again, once
                self.ensure_reachable()
                if attempt == 0:
                    continue
            taken.add(port)
            port = None
            if "Address already in use" not in tail and "could not create lock file" not in tail:
                break
        self._kill_leftovers()
        raise ClusterError(f"the server did not start: {last_line(self.log_tail(), 'FATAL') or last_line(done.stderr)}"
                           f" (log: {self.log})")

    def restart(self, conf=None):
        """Stop and start again, with new settings when given."""
        if conf is not None:
            self.conf = dict(conf)
        self.stop()
        return self.start()

    def stop(self, *, mode="fast", timeout=60):
        """Stop the server and make sure none of its processes remain."""
        if self.initialized and self.pid() is not None and self.state() is State.RUNNING:
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
        if self._account is not None and os.path.lexists(self.socket_dir):
            self.run(["rm", "-rf", "--", self.socket_dir], capture_output=True)   # the account's folder

    # -- clients
    def log_size(self):
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset):
        """The server log from byte `offset` on (what one test run logged)."""
        return boundary.read_bytes(self.log, offset).decode(errors="replace")

    def log_tail(self, lines=20):
        return "\n".join(boundary.read_file(self.log).splitlines()[-lines:])

    def psql(self, *args, dbname="postgres", input=None, check=True):
        """Run psql (as the caller) against this cluster; returns CompletedProcess."""
        cmd = [str(self.build.bin("psql")), "-X", "-v", "ON_ERROR_STOP=1", "-d", dbname, *args]
        done = subprocess.run(cmd, env={**os.environ, **self.env}, input=input, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise ClusterError(f"psql failed: {last_line(done.stderr)}")
        return done

    def sql(self, query, dbname="postgres"):
        """One query through psql; rows as lists of strings (unaligned, tab-separated)."""
        out = self.psql("-At", "-F", "\t", "-c", query, dbname=dbname).stdout
        return [line.split("\t") for line in out.splitlines()]

    def connect(self, dbname="postgres", **kw):
        """A psycopg connection (autocommit) over the socket."""
        import psycopg

        return psycopg.connect(self.conninfo(dbname), autocommit=True, **kw)

    def exec_psql(self, args=(), env=None):
        """Replace this process with an interactive psql on the cluster (ENV: more variables for it)."""
        psql = str(self.build.bin("psql"))
        os.execve(psql, [psql, *args], {**os.environ, **self.env, **(env or {})})


def start_command(settings, build, name="main"):
    """The command that makes and starts the build's cluster NAME, as the user types it: with
    --version when BUILD is not the default build, --name when NAME is not main."""
    from .config import via
    from .pg.builds import default_build

    default = default_build(settings)
    version = "" if default is not None and default.id == build.id else f" --version {build.id}"
    return f"{via()} pg-start{version}{'' if name == 'main' else ' --name ' + name}"


def owner_alive(base, *, us_too=True, name="owner"):
    """The pglab process that made the throwaway cluster BASE still runs (the same process: its
    pid and start time, in BASE/NAME); us_too=False counts this process as gone (the test
    janitor's view)."""
    try:
        pid, _, started = (base / name).read_text().strip().partition(" ")
        pid = int(pid)
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return us_too
    return alive(pid) and (not started or str(start_time(pid)) == started)


def template_for(build, settings):
    """The build's template data directory, initdb'd on first use (under a lock).

    It is stamped with the install it was made by: a rebuilt install (a fork
    whose catalog changed, say) gets a fresh template instead of one its server
    would refuse to start."""
    base = settings.layout.template(build.id)
    account = accounts.ensure(settings.account)
    stamp = f"{build.built_at} {build.fingerprint} {account.uid}"

    def current():
        try:
            return (base / "data" / "PG_VERSION").is_file() and (base / "made-by").read_text() == stamp
        except OSError:
            return False

    if current():
        return base
    base.parent.mkdir(parents=True, exist_ok=True)
    with locks.held(_template_lock(base)):
        if not current():
            staging = base.parent / f".init-{build.id}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            Cluster(build, staging, preferred_account=settings.account).init()
            (staging / "made-by").write_text(stamp)
            shutil.rmtree(base, ignore_errors=True)
            staging.rename(base)
    return base


def _template_lock(template):
    return template.parent / f"{template.name}.lock"


def warm_lock(base):
    """Held by the ext-test run using a warm server (pglab.ext.server)."""
    return base.parent / f"{base.name}.lock"


def conf_value(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text.startswith("'") and text.endswith("'"):
        return text
    return "'" + text.replace("'", "''") + "'"


def last_line(text, prefer=None):
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    if prefer:
        for line in reversed(lines):
            if prefer in line:
                return line
    return lines[-1] if lines else ""

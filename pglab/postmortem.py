"""One supervisor for every child process that runs user code against a server:
pg_regress, pg_isolation_regress, prove, pytest (ext-test) and pg-check.

    outcome = supervise(cmd, tally=RegressTally(), cluster=cl, idle_timeout=300)

It runs the command in a process group of its own, feeds its output to a tally
that counts finished tests, and calls it hung when no test has finished for
`idle_timeout` seconds (a long suite that makes progress is never cut).  A hung
run gets backtraces of the server's busy backends and what they wait for; then
the whole process group is killed (psql children included).  Afterwards the
server log written during the run is checked for a backend that died, and its
core file (from the cluster, or from the directories named in `core_dirs`) is
backtraced with gdb.
"""

import os
import re
import resource
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CRASH_RE = re.compile(r"\(PID (\d+)\) was terminated by (signal \d+[^\n]*|exception[^\n]*)")
LOST_RE = re.compile(r"server closed the connection unexpectedly|terminating connection because of crash|"
                     r"consuming input failed|connection to server .* lost|SSL SYSCALL error: EOF")
GDB_TIMEOUT = 120


@dataclass
class Crash:
    test: str            # what triggered it, as the report names it (regress/foo)
    signal: str          # "signal 11: Segmentation fault"
    log: str             # the lines of the server log that tell the story
    backtrace: str


@dataclass
class Outcome:
    returncode: int
    output: str
    seconds: float
    hung: bool = False
    stalled: str = ""            # the test that was running when the run went idle
    hang_report: str = ""        # backtraces of the busy backends, their lock waits
    crash: Crash = None
    lost_connection: bool = False
    server_log: str = ""         # what the server logged during a run that failed, hung or crashed (its last lines)


SERVER_LOG_LINES = 200      # of a failed run's server log, kept for its report


# ---- tallies: what counts as a finished test ----------------------------------------

@dataclass
class Tally:
    """Counts finished tests in a suite's output.  Subclasses parse one format."""

    passed: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    current: str = ""           # the test started last, when the format says so
    order: list = field(default_factory=list)   # (test, "pass"|"fail"|"skip") as they finished
    _partial: str = ""

    @property
    def finished(self):
        return len(self.passed) + len(self.failed) + len(self.skipped)

    def feed(self, text):
        """Take more output; complete lines are parsed as they arrive."""
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self.line(line.rstrip("\r"))
        if self._partial:
            self.partial(self._partial)

    def close(self):
        if self._partial:
            self.line(self._partial)
            self._partial = ""

    def line(self, line):
        raise NotImplementedError

    def partial(self, text):
        """An unfinished line (pytest -v prints the test's name, then its result)."""

    def record(self, name, result):
        {"pass": self.passed, "fail": self.failed, "skip": self.skipped}[result].append(name)
        self.order.append((name, result))


# pg_regress and pg_isolation_regress: "ok 12  - join  345 ms" (16+, TAP style),
# "test join ... ok  345 ms" or "     join ... FAILED" (older; parallel groups)
_RESULT_RES = (
    re.compile(r"^(not ok|ok)\s+\d+\s+[-+]\s+(\S+)(.*)$"),
    re.compile(r"^(?:test\s+)?\s*(\S+)\s+\.\.\.\s+(ok|FAILED|failed|ignored|failed \(ignored\))\b(.*)$"),
)


def parse_regress_line(line):
    """(test, 'pass'|'fail'|'skip') for a result line of pg_regress, else None."""
    line = line.strip()
    m = _RESULT_RES[0].match(line)
    if m:
        if "# SKIP" in m.group(3) or "(ignored)" in m.group(3):
            return m.group(2), "skip"
        return m.group(2), "pass" if m.group(1) == "ok" else "fail"
    m = _RESULT_RES[1].match(line.removeprefix("# "))
    if m:
        word = m.group(2)
        return m.group(1), {"ok": "pass", "ignored": "skip", "failed (ignored)": "skip"}.get(word, "fail")
    return None


class RegressTally(Tally):
    """pg_regress output; `names` (the tests in the order given) tell which one
    is running: the first not finished yet."""

    def __init__(self, names=()):
        super().__init__()
        self.names = list(names)

    def line(self, line):
        parsed = parse_regress_line(line)
        if parsed:
            self.record(*parsed)
            done = set(self.passed + self.failed + self.skipped)
            self.current = next((n for n in self.names if n not in done), "")


def supervise(cmd, *, tally, cwd=None, env=None, account=None, **watch):
    """Run `cmd` under supervision; returns an Outcome (see Supervised.wait)."""
    return Supervised(cmd, cwd=cwd, env=env, account=account).wait(tally=tally, **watch)


class Supervised:
    """A command started in a process group of its own (as `account` when given),
    watched by wait().  Starting and watching are apart so that a command can
    start early (pytest importing and collecting while the build runs) and be
    watched once the server it needs is there."""

    def __init__(self, cmd, *, cwd=None, env=None, account=None, proc=None):
        """Start `cmd`, or watch `proc`: something Popen-like already running in a
        process group of its own (pid, stdout, wait, returncode)."""
        self.account = account
        if proc is None:
            extra = account.subprocess_kwargs() if account is not None else {}
            proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_allow_cores, **extra)
        self.proc = proc

    def cancel(self):
        """End it and everything it started, unwatched."""
        _kill_group(self.proc, graceful=False)
        self.proc.wait()
        self.proc.stdout.close()

    def kill(self):
        """End it and everything it started, while another thread watches it (wait() returns)."""
        _kill_group(self.proc, graceful=False)

    def wait(self, *, tally, cluster=None, build=None, idle_timeout=300.0, core_dirs=(), on_progress=None, lost=None):
        """Watch until it ends or no test finished for `idle_timeout` s; returns an Outcome.

        cluster: the server the command talks to (hang and crash reports), or None.
        core_dirs: more places where a crashed server leaves core files (TAP nodes);
            `build` (else the cluster's) is the one whose postgres made them.
        lost: a function telling, after the run, whether a client lost its
            connection where the output does not show it (pg_regress's results/)."""
        proc = self.proc
        offset = cluster.log_size() if cluster is not None else 0
        started = time.monotonic()
        chunks, hung, last_progress = [], False, time.monotonic()
        fd = proc.stdout.fileno()
        decoder = _Utf8()
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if ready:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    text = decoder.decode(data)
                    chunks.append(text)
                    before = tally.finished
                    tally.feed(text)
                    if tally.finished != before:
                        last_progress = time.monotonic()
                        if on_progress is not None:
                            on_progress(tally)
                if time.monotonic() - last_progress > idle_timeout:
                    hung = True
                    break
            tally.close()
            report = hang_report(cluster) if hung and cluster is not None else ""
            _kill_group(proc, graceful=hung)
            proc.wait()
        except BaseException:
            _kill_group(proc, graceful=False)
            proc.wait()
            raise
        finally:
            proc.stdout.close()
        output = "".join(chunks)
        outcome = Outcome(proc.returncode, output, time.monotonic() - started, hung=hung)
        if hung:
            outcome.stalled = tally.current or "?"
            outcome.hang_report = report
        outcome.lost_connection = bool(LOST_RE.search(output)) or bool(lost and lost(tally))
        if cluster is not None:
            outcome.crash = find_crash(cluster, offset, lost=outcome.lost_connection)
            if hung or outcome.crash or proc.returncode != 0:
                outcome.server_log = "\n".join(cluster.log_since(offset).splitlines()[-SERVER_LOG_LINES:])
        build = build or (cluster.build if cluster is not None else None)
        for where in core_dirs if outcome.crash is None and build is not None else ():
            outcome.crash = crash_from_cores(build, where, account=self.account)
            if outcome.crash:
                break
        return outcome


class _Utf8:
    """Decodes a byte stream whose chunks may split a character."""

    def __init__(self):
        import codecs

        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data):
        return self._dec.decode(data)


def _allow_cores():
    """In the child: let crashing processes write core files (as `pg_ctl -c` does)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _kill_group(proc, *, graceful):
    """End the command and everything it started (psql children, make's shells).  A process
    pglab did not start itself (a pre-started pytest's child) only while it is still that one."""
    owned = getattr(proc, "owned", lambda: True)
    try:
        if graceful and owned():
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
        if owned():
            os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---- hangs ---------------------------------------------------------------------------------

_BUSY_SQL = """
select a.pid, a.wait_event_type, a.wait_event, pg_blocking_pids(a.pid)::text,
       (select string_agg(l.locktype || ' ' || l.mode || coalesce(' on ' || l.relation::regclass::text, ''), ', ')
          from pg_locks l where l.pid = a.pid and not l.granted),
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)
  from pg_stat_activity a
 where a.state = 'active' and a.backend_type = 'client backend' and a.pid <> pg_backend_pid()
"""


def hang_report(cluster):
    """What each busy backend runs, waits for and its stack; then end them."""
    from .errors import PglabError

    try:
        rows = cluster.sql(_BUSY_SQL)
    except PglabError as exc:
        return f"the server did not answer: {exc}"
    report, pids = [], []
    for row in rows:     # every stack first: ending one backend can end the others' waits
        if len(row) < 6 or not row[0].isdigit():
            continue
        pid, wtype, wevent, blockers, waits, query = row
        lines = [f"backend {pid} running: {query}"]
        if wtype:
            lines.append(f"  waiting on {wtype}/{wevent}" + (f" for {waits}" if waits else ""))
        if blockers not in ("", "{}"):
            lines.append(f"  blocked by backend(s) {blockers.strip('{}')}")
        lines.append(backtrace_of(int(pid)))
        report.append("\n".join(lines))
        pids.append(pid)
    for pid in pids:
        try:
            cluster.sql(f"select pg_terminate_backend({pid})")
        except PglabError:
            pass
    return "\n".join(report) or "no busy backend on the server (the test itself was stuck)"


# ---- crashes -------------------------------------------------------------------------------

def find_crash(cluster, offset, *, lost, test=""):
    """A Crash if the server log since `offset` shows a backend dying, else None.

    The postmaster logs the death only after reaping the child, a moment after
    the client saw its connection drop: when the client lost its connection
    (`lost`), wait for that line and for the restart to finish."""
    deadline = time.monotonic() + (15 if lost else 0)
    while True:
        log_text = cluster.log_since(offset)
        after = log_text.split("terminated by", 1)
        done = CRASH_RE.search(log_text) and "ready to accept connections" in after[-1]
        if done or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    m = CRASH_RE.search(log_text)
    if not m and "TRAP:" not in log_text:
        return None
    trace = core_backtrace(cluster.build, cluster.datadir, account=cluster.account)
    lines = log_text.splitlines()
    keep = [i for i, l in enumerate(lines) if "TRAP:" in l]
    death = next((i for i, l in enumerate(lines) if CRASH_RE.search(l)), None)
    if death is not None:
        keep += list(range(death, min(death + 4, len(lines))))
    excerpt = "\n".join(lines[i] for i in sorted(set(keep)))
    return Crash(test, m.group(2) if m else "assertion failure (SIGABRT)", excerpt, trace)


def crash_from_cores(build, where, account=None):
    """A Crash from core files left under `where` (a TAP suite's nodes), else None."""
    where = Path(where)
    if not where.is_dir():
        return None
    cores = [p for p in where.rglob("core*") if p.is_file() and re.fullmatch(r"core(\.\d+)?", p.name)]
    if not cores:
        return None
    core = max(cores, key=lambda p: p.stat().st_mtime)
    trace = backtrace_from_core(build, core, account=account)
    return Crash("", f"core file {core.relative_to(where)}", "", trace)


def core_backtrace(build, datadir, account=None):
    """The backtrace of the newest core in a data directory (removing them all)."""
    cores = sorted((p for p in Path(datadir).glob("core*") if not p.is_symlink()), key=lambda p: p.stat().st_mtime)
    if not cores:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        return (f"no core file was written (kernel.core_pattern is '{pattern}'); "
                f"for backtraces run `sysctl -w kernel.core_pattern=core`")
    trace = backtrace_from_core(build, cores[-1], account=account)
    for core in cores:
        core.unlink()
    return trace


def _frames(gdb_output):
    """The `bt` lines of a gdb batch run (gdb also prints frame #0 once on load)."""
    frames = [l for l in gdb_output.splitlines() if l.startswith("#")]
    if len(frames) > 1 and frames[0] == frames[1]:
        frames = frames[1:]
    return "\n".join(frames)


def _gdb_bt(args, account=None):
    """gdb's `bt` for a core or a live pid, or a line saying why there is none.  A core file is
    read as the account that wrote it (gdb parsing a file code under test could shape runs
    unprivileged); gdb never auto-loads scripts from the files it reads."""
    from .debugger import find_gdb
    from .errors import GdbNotFound

    try:
        gdb = find_gdb()
    except GdbNotFound as exc:
        return f"no backtrace: {exc}"
    try:
        done = subprocess.run([gdb, "-nx", "-batch", "-iex", "set auto-load gdb-scripts off",
                               "-iex", "set auto-load python-scripts off", *args, "-ex", "bt"],
                              capture_output=True, text=True, timeout=GDB_TIMEOUT, cwd="/",
                              **(account.subprocess_kwargs() if account is not None else {}))
    except subprocess.TimeoutExpired:
        return f"no backtrace: gdb took longer than {GDB_TIMEOUT} s"
    return _frames(done.stdout) or done.stderr.strip()


def backtrace_from_core(build, core, account=None):
    return _gdb_bt([str(build.bin("postgres")), str(core)], account=account)


def backtrace_of(pid):
    return _gdb_bt(["-p", str(pid)])

"""invoke debug driven as a person drives it: in tmux, typing into the psql and gdb
panes and reading what they show (capture-pane).  Each run leaves the server
healthy: no process stopped, no gdb left, a later query answers."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pglab.cluster import Cluster
from pglab.config import PROJECT_ROOT
from pglab.debugger import find_gdb
from pglab.procs import attach_instructions
from pglab.errors import GdbNotFound
from pglab.pg.builds import find_build
from tests.conftest import built_ids

try:
    GDB = find_gdb()
except GdbNotFound:
    GDB = None

pytestmark = [
    pytest.mark.skipif(GDB is None, reason="gdb not installed (invoke doctor installs it)"),
    pytest.mark.skipif(subprocess.run(["which", "tmux"], capture_output=True).returncode != 0,
                       reason="tmux not installed (invoke doctor installs it)"),
]


class Tmux:
    """A tmux server of the test's own (its own socket), panes read as a person sees them."""

    def __init__(self, tmp_path):
        self.socket = str(tmp_path / "tmux.sock")

    def run(self, *args, check=True):
        done = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command):
        self.run("new-session", "-d", "-x", "200", "-y", "50", "-s", "t",
                 f"cd {shlex.quote(str(PROJECT_ROOT))} && {command}; sleep 600")

    def panes(self):
        return self.run("list-panes", "-t", "t", "-F", "#{pane_id}").split()

    def screen(self, pane):
        """What the pane shows (and its history), wrapped lines joined, trailing blanks dropped."""
        out = self.run("capture-pane", "-p", "-J", "-S", "-500", "-t", pane)
        return "\n".join(line.rstrip() for line in out.splitlines()).rstrip("\n")

    def type(self, pane, text):
        """Type TEXT and Enter (a trailing ; escaped: tmux reads it as a command separator)."""
        if text.endswith(";"):
            text = text[:-1] + "\\;"
        self.run("send-keys", "-t", pane, "-l", text)
        self.run("send-keys", "-t", pane, "Enter")

    def key(self, pane, key):
        self.run("send-keys", "-t", pane, key)

    def wait_for(self, pane, pattern, timeout=60.0, after=0):
        """The screen once PATTERN shows (searched past character AFTER); fails with the screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(pane)
            m = re.search(pattern, text[after:])
            if m:
                return text, m
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not show in {timeout:.0f} s; the pane shows:\n{text[-3000:]}")
            time.sleep(0.2)

    def wait_first(self, *waits, timeout=60.0):
        """The index of the first (pane, pattern, after) whose pattern shows; fails with the panes."""
        deadline = time.monotonic() + timeout
        while True:
            texts = [self.screen(pane) for pane, _, _ in waits]
            for i, ((_, pattern, after), text) in enumerate(zip(waits, texts)):
                if re.search(pattern, text[after:]):
                    return i
            if time.monotonic() > deadline:
                shown = "\n".join(f"{pattern!r}; the pane shows:\n{text[-1500:]}"
                                  for (_, pattern, _), text in zip(waits, texts))
                raise AssertionError(f"none showed in {timeout:.0f} s:\n{shown}")
            time.sleep(0.2)

    def wait_panes(self, n, timeout=60.0):
        deadline = time.monotonic() + timeout
        while len(self.panes()) != n:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {n} panes, have {self.panes()}")
            time.sleep(0.2)
        return self.panes()

    def kill(self):
        self.run("kill-server", check=False)


@pytest.fixture
def tmux(tmp_path):
    t = Tmux(tmp_path)
    yield t
    t.kill()





def _cluster_on(settings, build):
    name = f"debug-test-{os.getpid()}"
    cl = Cluster.named(settings, build, name)
    cl.start()
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS t (id int, note text)")
    return cl, name


@pytest.fixture(params=built_ids())
def any_major(request, settings):
    """A cluster on each built major in turn."""
    build = request.getfixturevalue("default_build") if request.param == "default" else \
        find_build(settings, request.param)
    cl, name = _cluster_on(settings, build)
    yield cl, name
    cl.stop()
    shutil.rmtree(cl.base, ignore_errors=True)


@pytest.fixture
def cluster(settings, default_build):
    cl, name = _cluster_on(settings, default_build)
    yield cl, name
    cl.stop()
    shutil.rmtree(cl.base, ignore_errors=True)


def debug_command(name, *args, build=None):
    pg = ["--pg", build.id] if build is not None else []
    return " ".join([shlex.quote(sys.executable), "-m", "invoke", "debug", "--name", name, *pg,
                     *(shlex.quote(a) for a in args)])


def gdb_processes(target):
    """Debug sessions' gdb processes on TARGET (a PID or a core file): its last argument.
    Other tests' sessions, on other processes, may run at the same time."""
    out = subprocess.run(["pgrep", "-f", "-a", "gdb"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "-x" in line and "session.gdb" in line
            and line.split()[-1] == str(target)]


def assert_healthy(cl, pid, target=None):
    """The backend PID runs or is gone (never stopped), no session gdb is left on it (or on
    TARGET, a core file), the server answers."""
    target = pid if target is None else target
    deadline = time.monotonic() + 10
    while gdb_processes(target) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert gdb_processes(target) == []
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except FileNotFoundError:
        state = None
    assert state not in ("t", "T"), f"process {pid} left stopped"
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def backend_pid(screen):
    return int(re.search(r"backend \(PID (\d+)\)", screen).group(1))


def test_break_in_heap_insert_step_and_quit(tmux, any_major):
    cl, name = any_major
    tmux.start(debug_command(name, "--break", "heap_insert", build=cl.build))
    psql, gdb = tmux.wait_panes(2)
    screen, _ = tmux.wait_for(psql, r"breakpoints are set")
    pid = backend_pid(screen)
    tmux.wait_for(gdb, r"pglab: attached; the breakpoints are set")
    tmux.type(psql, "INSERT INTO t VALUES (42, 'answer');")
    screen, _ = tmux.wait_for(gdb, r"Breakpoint 1, heap_insert \([\s\S]*?\)\s+at \S+heapam\.c:\d+\n\d+\s")
    assert re.search(r'heap_insert \(\s*relation=Relation "t" oid \d+ relkind \'r\'', screen)   # the printer
    assert re.search(rf"Attaching to program: \S+/postgres, process {pid}\n", screen)
    mark = len(screen)
    tmux.type(gdb, "p relation->rd_rel->relname")
    tmux.wait_for(gdb, r'\$\d+ = \{\s*data = "t", ', after=mark)
    mark = len(tmux.screen(gdb))
    tmux.type(gdb, "next")
    tmux.wait_for(gdb, r"\n\d+\s+.*\n\(gdb\)$", after=mark)
    mark = len(tmux.screen(gdb))
    tmux.type(gdb, "finish")
    tmux.wait_for(gdb, r"Run till exit from #0 .*heap_insert", after=mark)
    tmux.wait_for(gdb, r"heapam_tuple_insert \(", after=mark)
    # Ctrl-C in psql while the backend is stopped: the cancel reaches the backend as SIGINT, gdb
    # stops on it and does not pass it on: the INSERT is not cancelled
    tmux.key(psql, "C-c")
    tmux.type(gdb, "continue")
    tmux.wait_for(gdb, r"Program received signal SIGINT", after=mark)
    # the postmaster sends the cancel's SIGINT to the backend and to its process group
    # (signal_child), so gdb stops on it once or, when the two do not merge, twice; never a third time
    for _ in range(2):
        mark = len(tmux.screen(gdb))
        tmux.type(gdb, "continue")
        if tmux.wait_first((psql, r"INSERT 0 1", 0), (gdb, r"Program received signal SIGINT", mark)) == 0:
            break
    else:
        tmux.wait_for(psql, r"INSERT 0 1", timeout=0)     # fails with the pane: a third stop
    mark = len(tmux.screen(gdb))
    tmux.key(gdb, "C-c")          # Ctrl-C in gdb stops the (idle) backend and gives the prompt
    tmux.wait_for(gdb, r"Program received signal SIGINT", after=mark)
    tmux.type(gdb, "quit")
    tmux.wait_panes(1)
    assert_healthy(cl, pid)
    tmux.type(psql, "SELECT count(*) FROM t WHERE id = 42;")
    tmux.wait_for(psql, r"count\n-------\n +1\n")


def test_sql_stops_inside_heap_insert_with_the_source_line(tmux, cluster):
    cl, name = cluster
    tmux.start(debug_command(name, "--break", "heap_insert", "--sql", "INSERT INTO t VALUES (7, 'seven')"))
    psql, gdb = tmux.wait_panes(2)
    tmux.wait_for(psql, r"pglab: running: INSERT INTO t VALUES \(7, 'seven'\)")
    screen, m = tmux.wait_for(gdb, r"Breakpoint 1, heap_insert \([\s\S]*?\)\s+at (\S+heapam\.c):(\d+)\n(\d+)\s+(.*)\n")
    source = Path(m.group(1)).read_text().splitlines()
    assert int(m.group(2)) == int(m.group(3))
    assert source[int(m.group(2)) - 1].strip() == m.group(4).strip()
    pid = backend_pid(tmux.screen(psql))
    tmux.type(gdb, "quit")          # while stopped: detaching lets the INSERT finish
    tmux.wait_for(psql, r"INSERT 0 1")
    assert_healthy(cl, pid)


def test_on_error_stops_where_division_by_zero_is_raised(tmux, cluster):
    cl, name = cluster
    tmux.start(debug_command(name, "--on-error", "--sql", "SELECT 1/0"))
    psql, gdb = tmux.wait_panes(2)
    screen, _ = tmux.wait_for(gdb, r"pglab: ERROR: division by zero\npglab: raised in int4div \(int\.c:\d+\)")
    assert re.search(r"#1 +0x[0-9a-f]+ in int4div \(", screen)
    pid = backend_pid(tmux.screen(psql))
    tmux.type(gdb, "continue")
    tmux.wait_for(psql, r"ERROR: +division by zero")
    tmux.key(gdb, "C-c")            # gdb has the prompt again only once the backend is stopped
    tmux.wait_for(gdb, r"Program received signal SIGINT")
    tmux.type(gdb, "quit")
    tmux.wait_panes(1)
    assert_healthy(cl, pid)


def test_bgworker_by_name_is_the_process_pg_stat_activity_names(tmux, cluster):
    cl, name = cluster
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        [(pid,)] = c.execute("SELECT pid FROM pg_stat_activity "
                             "WHERE backend_type = 'logical replication launcher'").fetchall()
    tmux.start(debug_command(name, "--bgworker", "logical replication launcher"))
    [pane] = tmux.wait_panes(1)
    tmux.wait_for(pane, rf"Attaching to program: \S+/postgres, process {pid}\n")
    tmux.wait_for(pane, r"pglab: attached; the breakpoints are set")
    tmux.key(pane, "C-c")
    tmux.wait_for(pane, r"\(gdb\)$")
    tmux.type(pane, "quit")
    assert_healthy(cl, pid)


def test_an_unknown_bgworker_is_a_one_line_error(cluster):
    cl, name = cluster
    done = subprocess.run([sys.executable, "-m", "invoke", "debug", "--name", name, "--bgworker", "nosuch"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert re.fullmatch(r"error: no background worker 'nosuch' is running on \S+: running are .*"
                        r"logical replication launcher.* \(is the extension in shared_preload_libraries\?\)\n",
                        done.stderr)


def test_new_backends_stop_in_whichever_backend_runs_the_code(tmux, cluster):
    cl, name = cluster
    tmux.start(debug_command(name, "--new-backends", "--break", "heap_insert"))
    [pane] = tmux.wait_panes(1)
    tmux.wait_for(pane, rf"process {cl.pid()}\n")
    tmux.wait_for(pane, r"pglab: attached; the breakpoints are set")
    insert = subprocess.Popen([str(cl.build.bin("psql")), "-X", "-c", "INSERT INTO t VALUES (5, 'five')"],
                              env={**os.environ, **cl.env}, stdout=subprocess.PIPE, text=True)
    screen, m = tmux.wait_for(pane, r"\[New inferior \d+ \(process (\d+)\)\][\s\S]*hit Breakpoint 1\.\d+, heap_insert")
    tmux.type(pane, "continue")
    assert insert.wait(timeout=60) == 0 and insert.stdout.read().strip() == "INSERT 0 1"
    tmux.key(pane, "C-c")
    tmux.wait_for(pane, r"\(gdb\)$", after=len(screen))
    tmux.type(pane, "quit")
    time.sleep(1)
    assert_healthy(cl, cl.pid())


def test_core_file_opens_with_the_stack(tmux, cluster, tmp_path):
    cl, name = cluster
    core = tmp_path / "backend.core"
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        pid = c.info.backend_pid
        done = subprocess.run([GDB, "-nx", "-batch", "-iex", "set debuginfod enabled off", "-p", str(pid),
                               "-ex", f"gcore {core}"], capture_output=True, text=True, timeout=120)
        assert core.exists(), done.stderr
        assert c.execute("SELECT 2").fetchone() == (2,)      # gcore left it running
    tmux.start(debug_command(name, "--core", str(core)))
    [pane] = tmux.wait_panes(1)
    tmux.wait_for(pane, r"\(gdb\)$")
    tmux.type(pane, "bt")
    screen, _ = tmux.wait_for(pane, r"#\d+ +0x[0-9a-f]+ in PostgresMain \(")
    tmux.type(pane, "quit")
    assert_healthy(cl, pid, core)


def test_ext_test_debug_holds_the_chosen_test_until_gdb_continues(tmux, default_build):
    tmux.start(" ".join([shlex.quote(sys.executable), "-m", "invoke", "ext-test", "pgl_funcs", "--pg",
                         default_build.id, "--suite", "regress", "-k", "pgl_funcs", "--debug", "--break",
                         "pgl_add"]))
    runner, gdb = tmux.wait_panes(2, timeout=180)
    screen, m = tmux.wait_for(runner, r"the test's backend \(PID (\d+), database contrib_regression\) waits before "
                                      r"its first statement")
    pid = int(m.group(1))
    title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    assert title == "postgres: postgres contrib_regression [local] startup"
    tmux.wait_for(gdb, rf"Attaching to program: \S+/postgres, process {pid}\n")
    tmux.wait_for(gdb, r"Breakpoint 1 \(pgl_add\) pending\.\npglab: the test's backend waits before its first "
                       r"statement: set breakpoints, then `continue` runs the test\.\n\(gdb\)$")
    time.sleep(1)
    assert "regress" not in tmux.screen(runner).split("waits before")[1]    # held: no verdict yet
    tmux.type(gdb, "continue")
    screen, _ = tmux.wait_for(gdb, r"Breakpoint 1, pgl_add \(fcinfo=0x[0-9a-f]+\) at pgl_funcs\.c:\d+\n")
    tmux.type(gdb, "quit")
    tmux.wait_for(runner, r"│ regress │ pass +│ 2/2 ", timeout=180)
    tmux.wait_for(runner, r"all 3 suites passed")
    assert gdb_processes(pid) == []


def test_ext_test_debug_holds_a_pytest_tests_backend(tmux, default_build):
    tmux.start(" ".join([shlex.quote(sys.executable), "-m", "invoke", "ext-test", "pgl_funcs", "--pg",
                         default_build.id, "--suite", "pytest", "-k", "test_strict_add", "--debug", "--break", "pgl_add"]))
    runner, gdb = tmux.wait_panes(2, timeout=180)
    screen, m = tmux.wait_for(runner, r"the test's backend \(PID (\d+), database (pglab_tests_\d+)\) waits")
    pid = int(m.group(1))
    tmux.wait_for(gdb, r"`continue` runs the test\.\n\(gdb\)$")
    tmux.type(gdb, "continue")
    tmux.wait_for(gdb, r"Breakpoint 1, pgl_add \(fcinfo=0x[0-9a-f]+\) at pgl_funcs\.c:\d+\n")
    tmux.type(gdb, "quit")
    tmux.wait_for(runner, r"│ pytest +│ pass +│", timeout=180)
    assert gdb_processes(pid) == []


def test_without_tmux_it_prints_the_gdb_command_for_a_second_terminal(cluster):
    """No tmux session and no terminal: psql says its backend's PID and the exact gdb command; run as
    printed, gdb attaches to that backend and stops it in heap_insert."""
    cl, name = cluster
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "PGLAB_VIA")}
    psql = subprocess.Popen([sys.executable, "-m", "invoke", "debug", "--name", name, "--break", "heap_insert"],
                            cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    gdb = None
    try:
        lines = []
        while not any(line.startswith("    ") and "session.gdb" in line for line in lines):
            line = psql.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        m = re.search(r"pglab: this session's backend is PID (\d+)\. (.*)$", text, re.M)
        pid = int(m.group(1))
        # as root the backend is the servers' account's; as yourself, your own (no root needed)
        assert m.group(2) == attach_instructions(pid)[0] == (
            "In a second terminal, as root, run:" if os.geteuid() == 0 else "In a second terminal, run:")
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            assert c.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s",
                             (pid,)).fetchone() == ("pglab-debug",)
        command = shlex.split(lines[-1].strip())
        assert command[-1] == str(pid) and command[0] == GDB
        gdb = subprocess.Popen(command + ["-batch"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        after = [psql.stdout.readline(), psql.stdout.readline()]
        assert after == ["\n", "pglab: gdb is attached and the breakpoints are set; it stops the backend when one "
                                "is hit\n"]
        psql.stdin.write("INSERT INTO t VALUES (8, 'eight');\n")
        psql.stdin.close()
        out, _ = gdb.communicate(timeout=120)
        assert re.search(r"Breakpoint 1, heap_insert \(", out), out
        assert psql.wait(timeout=120) == 0
        assert "INSERT 0 1" in psql.stdout.read()
    finally:
        for proc in (gdb, psql):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert_healthy(cl, pid)


def test_multi_line_sql_from_a_clone_and_working_area_with_spaces_and_accents(default_build, tmp_path):
    """--sql of several lines (statements, a comment last) runs as given, from a clone and a working
    area whose paths hold a space and a non-ASCII letter: psql's \\i, the pane's command line and
    gdb's script all take them."""
    clone = tmp_path / "my clone ü" / "pglab"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
    area = tmp_path / "work área"
    sql = "CREATE TABLE t (id int, note text);\nINSERT INTO t\n  VALUES (9, 'it''s nine')  -- one row\n"
    env = {**{k: v for k, v in os.environ.items() if k not in ("TMUX", "PGLAB_VIA")},
           "INVOKE_PGLAB_ROOT": str(area)}
    psql = subprocess.Popen([sys.executable, "-m", "invoke", "debug", "--pg", default_build.id, "--break",
                             "heap_insert", "--sql", sql], cwd=clone, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    gdb = None
    try:
        lines = []
        while not any(line.startswith("    ") and "session.gdb" in line for line in lines):
            line = psql.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        pid = int(re.search(r"backend is PID (\d+)\.", "".join(lines)).group(1))
        command = shlex.split(lines[-1].strip())
        script = command[command.index("-x") + 1]
        assert script.startswith(f"{area}/debug/") and script.endswith("/session.gdb")
        gdb = subprocess.Popen(command + ["-batch", "-ex", "info source"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        out, _ = gdb.communicate(timeout=120)
        assert re.search(r"Breakpoint 1, heap_insert \(", out), out
        assert re.search(r"^Located in \S+/heapam\.c$", out, re.M), out
        psql.stdin.close()
        assert psql.wait(timeout=120) == 0
        rest = psql.stdout.read()
        assert rest.splitlines()[:5] == [
            "", "pglab: gdb is attached and the breakpoints are set; it stops the backend when one is hit",
            "pglab: running: CREATE TABLE t (id int, note text);", "INSERT INTO t",
            "  VALUES (9, 'it''s nine')  -- one row"]
        assert rest.splitlines()[5:] == ["CREATE TABLE", "INSERT 0 1"]
        assert gdb_processes(pid) == []
        # the clone's own pglab reads the row back (its server, its socket)
        done = subprocess.run([sys.executable, "-m", "invoke", "psql", "--version", default_build.id, "--command",
                               "SELECT id || ':' || note FROM t"], cwd=clone, env=env, capture_output=True, text=True)
        assert done.stdout.splitlines()[2] == " 9:it's nine", done.stdout + done.stderr
    finally:
        for proc in (gdb, psql):
            if proc is not None and proc.poll() is None:
                proc.kill()
        subprocess.run([sys.executable, "-m", "invoke", "pg-stop", "--all"], cwd=clone, env=env, capture_output=True)

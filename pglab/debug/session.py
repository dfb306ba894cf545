"""Starting a debugging session: which process, which terminal layout.

The task calls run(); it ends by replacing this process (with psql, gdb or tmux),
so what the learner types goes straight to the program that reads it.
"""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import ui
from ..config import PROJECT_ROOT, as_typed, via
from ..errors import DebugError
from . import Plan, end_session, error_level, gdb_argv, gdb_script
from .pane import psql_quote

KEEP_SESSIONS = 20      # session folders kept under the working area's debug/


def make_plan(settings, build, *, breaks=(), sql=None, on_error=False, new_backends=False):
    from ..debugger import find_gdb
    from ..trace.driver import loader_path

    gdb, loader, level = find_gdb(), str(loader_path()), error_level(build)    # each may refuse: before any file
    root = settings.layout.debug_sessions
    root.mkdir(parents=True, exist_ok=True)
    _prune(root)
    workdir = Path(tempfile.mkdtemp(prefix=f"{build.id}-", dir=root))
    return Plan(build_id=build.id, gdb=gdb, postgres=str(build.bin("postgres")),
                source_dir=str(build.source_dir), build_dir=str(build.build_dir), loader=loader,
                error_level=level, breaks=list(breaks), sql=sql, on_error=on_error,
                new_backends=new_backends, workdir=str(workdir))


def _prune(root):
    sessions = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in sessions[:-KEEP_SESSIONS]:
        shutil.rmtree(old, ignore_errors=True)


def run(settings, *, pg=None, name="main", breaks=(), sql=None, on_error=False, backend=None, bgworker=None,
        new_backends=False, core=None):
    """Set up and hand over to psql (with gdb beside it), or to gdb on another process."""
    from ..cluster import Cluster
    from ..pg.builds import find_build

    targets = [t for t in (backend is not None, bool(bgworker), new_backends, core is not None) if t]
    if len(targets) > 1:
        raise DebugError("give one of --backend, --bgworker, --new-backends and --core")
    if sql and (backend is not None or bgworker or core is not None):
        raise DebugError("--sql runs in the psql session debug opens; with --backend, --bgworker or --core "
                         "there is none: run the SQL yourself once gdb is attached")
    build = find_build(settings, pg)
    settings.layout.cluster(build.id, name)             # the name is checked before anything is made
    if core is not None:
        core = _core_file(core)
    plan = make_plan(settings, build, breaks=breaks, sql=sql, on_error=on_error, new_backends=new_backends)
    if core is not None:
        return _exec_gdb(plan, core=core, attach=False)
    cluster = Cluster.open(settings, build, name, create=True)
    if backend is not None:
        return _exec_gdb(plan, pid=_check_backend(cluster, backend))
    if bgworker:
        return _exec_gdb(plan, pid=find_bgworker(cluster, bgworker))
    if new_backends:
        ui.say(as_typed(f"gdb follows every process the postmaster (PID {cluster.pid()}) forks: open a session "
                        f"(`invoke psql{'' if name == 'main' else ' --name ' + name}`) and run SQL that reaches "
                        f"a breakpoint"))
        return _exec_gdb(plan, pid=cluster.pid())
    return _session(plan, cluster)


def _core_file(core):
    path = Path(os.path.expanduser(core))
    if not path.is_file():
        raise DebugError(f"no core file at {path}: ext-test keeps a crashed backend's core under its build "
                         f"folder and prints its path")
    if not _is_core(path):
        raise DebugError(f"{path} is not a core file (an ELF core dump, as ext-test keeps for a crashed backend)")
    return path


def _is_core(path):
    """Whether PATH is an ELF file of type ET_CORE (what gdb opens as a core; anything else it
    would take as a program, or refuse and wait at its prompt)."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
    except OSError:
        return False
    if len(head) < 18 or head[:4] != b"\x7fELF" or head[5] not in (1, 2):
        return False
    return int.from_bytes(head[16:18], "little" if head[5] == 1 else "big") == 4     # ET_CORE


def _check_backend(cluster, pid):
    from ..procs import processes_in

    pid = int(pid)
    if pid not in processes_in(cluster.datadir):
        raise DebugError(f"PID {pid} is not a process of {cluster.build.id}'s cluster at {cluster.datadir}: "
                         f"SELECT pid, backend_type FROM pg_stat_activity lists them")
    return pid


def find_bgworker(cluster, name):
    """The PID of the background worker NAME: its bgw_type (pg_stat_activity's backend_type) or bgw_name."""
    from ..procs import process_title, processes_in

    with cluster.connect() as conn:
        rows = conn.execute("SELECT pid, backend_type FROM pg_stat_activity WHERE backend_type = %s",
                            (name,)).fetchall()
        if not rows:      # the bgw_name: the process title a worker gets ("postgres: NAME")
            rows = [(pid, name) for pid in processes_in(cluster.datadir)
                    if process_title(pid) == f"postgres: {name}"]
        if not rows:
            running = [r[0] for r in conn.execute(
                "SELECT DISTINCT backend_type FROM pg_stat_activity WHERE backend_type <> 'client backend' "
                "ORDER BY 1").fetchall()]
            raise DebugError(f"no background worker {name!r} is running on {cluster.build.id}: running are "
                             f"{', '.join(running)} (is the extension in shared_preload_libraries?)")
        if len(rows) > 1:
            raise DebugError(f"{len(rows)} processes are called {name!r} (PIDs "
                             f"{', '.join(str(r[0]) for r in rows)}): pick one with --backend PID")
        return rows[0][0]


def _exec_gdb(plan, *, pid=None, core=None, attach=True):
    plan.script_file.write_text(gdb_script(plan, attach=attach))
    argv = gdb_argv(plan, pid=pid, core=core)
    what = f"the core file {core}" if core is not None else f"PID {pid}"
    ui.say(f"gdb on {what} with pglab's printers; `quit` detaches and leaves the process running")
    sys.stdout.flush()
    os.execv(argv[0], argv)


def _in_tmux():
    return bool(os.environ.get("TMUX"))


def _this_command():
    """The command that runs this same debug session again: with the `pglab` program, or with
    invoke and the clone's tasks (found from wherever the user stands, so relative paths hold)."""
    if via() == "pglab":
        return [sys.executable, "-m", "pglab", *sys.argv[1:]]
    return [sys.executable, "-m", "invoke", "--search-root", str(PROJECT_ROOT), *sys.argv[1:]]


def _session(plan, cluster):
    """psql on the cluster, its psqlrc opening gdb on the session's backend."""
    if not _in_tmux() and shutil.which("tmux") and sys.stdin.isatty() and sys.stdout.isatty():
        # start a tmux session running this same command: psql on the left, gdb on the right
        session = f"pglab-debug-{os.getpid()}"
        cmd = " ".join(shlex.quote(a) for a in _this_command())
        os.execvp("tmux", ["tmux", "new-session", "-s", session, "-c", os.getcwd(), cmd])
    plan_path = plan.save()
    go = Path(plan.workdir) / "go.sql"
    go.write_text("\\echo 'pglab: gdb was not started (see the lines above)'\n")
    rc = Path(plan.workdir) / "psqlrc"
    rc.write_text("\n".join([
        "\\set QUIET on",
        "SELECT pg_backend_pid() AS pglab_pid \\gset",
        "\\setenv PGLAB_DEBUG_PID :pglab_pid",
        f"\\! {shlex.quote(sys.executable)} -m pglab.debug.pane {shlex.quote(str(plan_path))}",
        "\\set QUIET off",
        f"\\i {psql_quote(str(go))}",
        "",
    ]))
    sys.stdout.flush()
    code = _run_psql(cluster, plan, {"PSQLRC": str(rc), "PGAPPNAME": "pglab-debug"})
    if code:
        raise SystemExit(code)      # psql's own exit status, as when it was the process itself


def _run_psql(cluster, plan, env):
    """psql in this terminal, with pglab waiting beside it instead of in its place: when psql ends,
    or pglab is told to (SIGTERM, SIGHUP: pglab.signals), the session's gdb detaches and quits
    and nothing is left stopped (end_session).  Ctrl-C belongs to psql meanwhile (a query's cancel)."""
    psql = str(cluster.build.bin("psql"))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    proc = None
    try:
        proc = subprocess.Popen([psql], env={**os.environ, **cluster.env, **env},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        return proc.wait()
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        end_session(plan.workdir)
        signal.signal(signal.SIGINT, previous)

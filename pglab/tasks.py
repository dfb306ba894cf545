"""pglab's commands: `invoke --list` in a clone, `pglab --list` from an installed pglab
(pglab.cli).  Each task parses its flags, calls one library function and turns a
PglabError into a one-line message and a non-zero exit.  Grouped by capability:
PostgreSQL builds and clusters, extensions, tracing, pglab's own tests."""

import math
import os
import unicodedata
from contextlib import contextmanager

from invoke import Collection, Exit, Program, Task
from invoke import task as invoke_task

from pglab import signals, ui
from pglab.config import IN_CLONE, PROJECT_ROOT, Settings, as_typed, via
from pglab.errors import ClusterError, PglabError
from pglab_tracing import targets as trace_targets

HELP_FLAGS = ("--help", "-h")


class HelpfulTask(Task):
    """A task whose required argument, given as --help or -h, shows the task's help: invoke's
    parser hands a missing positional argument whatever comes next, flags too, so that
    `invoke trace --help` would trace a function called --help.  `invoke` is invoke's own
    program, so this is where its command line reaches pglab; the `pglab` command sees it
    earlier, before any task runs (pglab.cli, with `help_asked`).  -h is never one of a
    task's own short flags (invoke would give it to the first option with an h in it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help_texts = dict(self.help)      # invoke's parser consumes self.help when it reads the flags

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, {*taken_names, "h"})

    def __call__(self, *args, **kwargs):
        if any(kwargs.get(name) in HELP_FLAGS for name in self.positional):
            with _errors():
                show_help(self.name)
            raise Exit(code=0)       # as invoke's own `TASK --help`: the tasks after it on the line do not run
        return super().__call__(*args, **kwargs)


def help_asked(contexts):
    """The name of the first task on a parsed command line whose required argument is --help
    or -h (`pglab trace --help`), else None."""
    for context in contexts:
        if any(arg.value in HELP_FLAGS for arg in context.positional_args):
            return context.name
    return None


def task(*args, **kwargs):
    return invoke_task(*args, klass=HelpfulTask, **kwargs)


def show_help(name):
    """`--help NAME` as the program the user runs prints it (`inv[oke]` or `pglab` in its usage line)."""
    binary = "pglab" if via() == "pglab" else "inv[oke]"
    for t in ns.tasks.values():
        t.help = dict(t.help_texts)
    Program(namespace=ns, binary=binary).run([binary, "--help", name], exit=False)


def _not_a_flag(value, task_name):
    """invoke hands a required positional argument whatever comes first, flags too (and an
    empty one, "", would mean every extension to the commands that take several)."""
    if value.startswith("-"):
        raise Exit(f"error: {task_name} needs its argument before any flag (got {one_line(value)}); "
                   f"for help: {via()} {task_name} --help", code=1)
    if not value.strip():
        raise Exit(f"error: {task_name} needs its argument, not {value!r}; for help: {via()} {task_name} --help",
                   code=1)


def _settings(c):
    return Settings.from_mapping(c.config.pglab)


def _whole(value, flag, what, least=0):
    """A flag's whole number (LEAST or more), or None when not given; else a one-line Exit."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < least:
        raise Exit(f"error: {flag} takes {what}, not {value!r}", code=1)
    return number


def _seconds(value, flag, default):
    """A flag's number of seconds, above 0 (DEFAULT when not given); else a one-line Exit."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise Exit(f"error: {flag} takes a number of seconds above 0, not {value!r}", code=1)
    return seconds


def _statement(sql, flag):
    """SQL a flag gives, refused in one line when there is nothing in it to run."""
    if sql is not None and not sql.replace(";", "").strip():
        raise Exit(f"error: {flag} needs a statement to run, not {sql!r}", code=1)
    return sql


def _cluster_name(name):
    """--name as a cluster's folder name, checked before anything is started or made."""
    from pglab.layout import check_name

    with _errors():
        return check_name(name, "cluster name", ClusterError)


def one_line(text):
    """TEXT with its control characters and line breaks escaped (\\r, \\n, \\x1b): a message that
    quotes what the user typed stays one line, and a terminal shows it as typed."""
    return "".join(ch.encode("unicode_escape").decode() if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                   for ch in text)


@contextmanager
def _errors():
    try:
        yield
    except PglabError as exc:
        raise Exit(as_typed(f"error: {one_line(str(exc))}"), code=1) from None
    except KeyboardInterrupt as exc:      # Ctrl-C, and SIGTERM/SIGHUP (pglab.signals): cleaned up on the way
        raise Exit("interrupted" if signals.exit_code(exc) == 130 else f"terminated ({exc})",
                   code=signals.exit_code(exc)) from None
    except BrokenPipeError:   # `invoke inspect t --all | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        raise Exit(code=141) from None


# ---- PostgreSQL: builds -------------------------------------------------------------------

@task(help={"install": "install missing Debian packages when root (default: yes)"})
def doctor(c, install=True):
    """Check the toolchain (gcc, bison, flex, ICU, gdb, ...) and install what is missing."""
    from pglab.pg import doctor as doctor_mod

    with _errors():
        doctor_mod.ensure(install=install)


@task(
    name="build-pg",
    iterable=["patch"],
    help={
        "version": "a major (16), a release (17.11, 19rc1) or 'latest'; default from invoke.yaml (16)",
        "source": "auto (default), a channel (cache, git, tarball, debian) or a path to your own tree",
        "patch": "a patch file to apply to a copy of the source (repeatable); makes a distinct build",
        "jobs": "parallel make jobs, 1 or more (default: one per core)",
        "flavour": "debug (-O0 -g3, cassert; default) or opt (-O2 -g)",
        "refresh": "ask the network channels again now (unreachable ones, Debian's release list)",
    },
)
def build_pg(c, version=None, source="auto", patch=None, jobs=None, flavour=None, refresh=False):
    """Build PostgreSQL from source as a debug build (cached; several side by side)."""
    from pglab import servers
    from pglab.pg import build, builds

    jobs = _whole(jobs, "--jobs", "a number of parallel jobs, 1 or more", least=1)
    with _errors():
        settings = _settings(c)
        b = build.build_pg(settings, in_use=servers.refuse_if_running, version=version, source=source,
                           patches=patch or [], jobs=jobs, flavour=flavour, refresh=refresh)
        ui.say(f"pg_config: {b.pg_config}")
        default = builds.default_build(settings)
        flag = "" if default and default.id == b.id else f" --version {b.id}"
        ui.say(f"open psql on it: {via()} psql{flag}")


@task(name="build-key", help={"version": "the major (default: the default one, 16)"})
def build_key(c, version=None):
    """Print the build cache's key for a major (for a CI cache step)."""
    from pglab.pg import build
    from pglab.pg.versions import VersionSpec

    with _errors():
        settings = _settings(c)
        VersionSpec.parse(version or settings.version)     # a key only for a version pglab could build
        print(build.cache_key(settings, version or settings.version))


@task(name="pg-list")
def pg_list(c):
    """List the builds: version, source channel, flags, size, path, default."""
    from pglab.pg import builds

    with _errors():
        settings = _settings(c)
        rows = builds.describe_builds(settings)
        if not rows:
            ui.say(f"no builds yet: run `{via()} build-pg`")
            return
        ui.table("PostgreSQL builds (★ = default)", ["", "build", "version", "source", "flags", "patches", "size", "path"], rows)
        ui.say(f"the build cache, shared by every clone on this machine: {settings.layout.cache} "
               f"(`{via()} pg-clean BUILD` deletes one build; deleting the folder clears it)")


@task(name="pg-clean", help={"build_id": "the build to delete, as `pg-list` names it"})
def pg_clean(c, build_id):
    """Delete one build (its prefix and build tree; sources and clusters stay)."""
    from pglab import servers
    from pglab.pg import build

    _not_a_flag(build_id, "pg-clean")
    with _errors():
        build.remove_build(_settings(c), build_id, in_use=servers.refuse_if_running)
        ui.say(f"removed {build_id}")


@task(name="pg-check", iterable=["test"],
      help={"version": "which build (default: the default build)",
            "test": "run only this regression test (repeatable), e.g. --test join --test select"})
def pg_check(c, version=None, test=None):
    """Run PostgreSQL's own regression suite against a build (throwaway cluster)."""
    from pglab import pgcheck as check
    from pglab.pg import builds

    with _errors():
        settings = _settings(c)
        b = builds.find_build(settings, version)
        result = check.run_check(settings, b, tests=test or [])
        if result.failed:
            ui.raw(result.diffs[:6000])
            raise Exit(f"{len(result.failed)} of {len(result.failed) + len(result.passed)} tests failed on {b.id}: "
                       f"{', '.join(result.failed)}; diffs: {result.diffs_path}", code=1)
        ui.say(f"all {len(result.passed)} tests passed on {b.id} (output in {result.output_dir})", style="green")


# ---- PostgreSQL: clusters ------------------------------------------------------------------

def _cluster(c, version, name="main", tcp=None, *, start=False):
    """The build's cluster NAME; start=True: started, made on first use (Cluster.open's policy for
    commands that start or use a server)."""
    from pglab.cluster import Cluster
    from pglab.pg.builds import find_build

    settings = _settings(c)
    build = find_build(settings, version)
    if start:
        return Cluster.open(settings, build, name, create=True, tcp=tcp)
    return Cluster.named(settings, build, name, tcp=tcp)


_CLUSTER_HELP = {"version": "which build: a major, a release or a build id (pg-list); default: the default build",
                 "name": "cluster name under the build (default: main)"}


@task(name="pg-start", help={**_CLUSTER_HELP, "tcp": "also listen on 127.0.0.1 (password auth; see the password file)"})
def pg_start(c, version=None, name="main", tcp=False):
    """Start a cluster on a build (initdb on first use; socket only, free port)."""
    _cluster_name(name)
    with _errors():
        cl = _cluster(c, version, name, tcp, start=True)
        if cl.remark:
            ui.note(cl.remark)
        ui.say(f"running: {cl!r}")
        flags = (f" --version {version}" if version else "") + (f" --name {name}" if name != "main" else "")
        ui.say(f"connect: {via()} psql{flags}   or   psql \"{cl.conninfo()}\"")
        if cl.tcp and (cl.base / "tcp").exists():
            ui.say(f"tcp: host=127.0.0.1 port={cl.port} user=postgres, password in {cl.base / 'password'}")


@task(name="pg-stop", help={**_CLUSTER_HELP, "all": "stop every pglab server, ext-test's warm ones included "
                                                       "(and its pre-started pytest)",
                             "immediate": "stop as a crash would: no shutdown checkpoint, so the next pg-start "
                                          "replays the WAL since the last one (crash recovery)"})
def pg_stop(c, version=None, name="main", all=False, immediate=False):
    """Stop a cluster (fast shutdown; no process is left behind)."""
    from pglab import servers
    from pglab.ext import prestart

    _cluster_name(name)
    if all and immediate:
        raise Exit("error: --immediate stops one cluster (--version, --name), not --all", code=1)
    with _errors():
        if immediate:
            from pglab.cluster import State, start_command

            cl = _cluster(c, version, name)
            if cl.state() is not State.RUNNING:
                raise Exit(f"error: {cl!r} is not running: nothing to stop "
                           f"(`{start_command(_settings(c), cl.build, name)}` starts it)", code=1)
            cl.stop(mode="immediate")
            ui.say(f"stopped at once, as in a crash: {cl!r}; the next `{via()} pg-start` recovers it "
                   f"(`{via()} pg-log` shows the redo)")
            return
        if all:
            settings = _settings(c)
            stopped = servers.stop_all(settings)     # a killed pglab's throwaway servers too
            prestart.stop(settings)
            ui.say(f"stopped {stopped} server(s)")
            return
        cl = _cluster(c, version, name)
        cl.stop()
        ui.say(f"stopped: {cl!r}")


@task(name="pg-log", help={**_CLUSTER_HELP, "lines": "how many of the last lines (default: 20)",
                            "all": "the whole log"})
def pg_log(c, version=None, name="main", lines=None, all=False):
    """Show a cluster's server log: its last lines, or all of it."""
    _cluster_name(name)
    count = _whole(lines, "--lines", "a whole number of lines above 0", least=1)
    with _errors():
        cl = _cluster(c, version, name)
        if not cl.log.is_file():
            from pglab.cluster import start_command

            raise Exit(f"error: {cl!r} has no server log yet: `{start_command(_settings(c), cl.build, name)}` "
                       f"starts it", code=1)
        ui.raw(cl.log_since(0).rstrip("\n") if all else cl.log_tail(count or 20))


@task(name="pg-status")
def pg_status(c):
    """Show every pglab cluster: build, state, port, pid, data directory."""
    from pglab import servers

    with _errors():
        rows = servers.describe_clusters(_settings(c))
        if not rows:
            ui.say(f"no clusters yet: `{via()} pg-start` makes one on the default build")
            return
        ui.table("pglab clusters", ["build", "name", "state", "port", "pid", "data"], rows)


@task(help={**_CLUSTER_HELP, "command": "run this SQL and exit (psql -c)"})
def psql(c, version=None, name="main", command=None):
    """Open psql on a debug server (starting it if needed)."""
    _cluster_name(name)
    _statement(command, "--command")
    with _errors():
        cl = _cluster(c, version, name, start=True)
        cl.exec_psql(["-c", command] if command else [])


# ---- extensions ---------------------------------------------------------------------------

@task(name="ext-test", positional=["what"], iterable=["break_"], optional=["accept"],
      help={"what": "an extension under extensions/ (several: a,b), 'all', the path of a PGXS extension's "
                    "folder (./my_ext, ~/src/pgvector), or a published one: debian:pgvector, pgxn:hypopg[@1.4.1]",
            "pg": "builds to test on: 17,15 or 'all' (default: the default build)",
            "suite": "only these suites: regress, isolation, tap, pytest, upgrade (comma-separated; default: all "
                     "but upgrade)",
            "upgrade": "also check the update paths: each version updated to the default, compared with a fresh "
                       "install of it object by object (the upgrade suite)",
            "k": "only pytest tests matching this expression; with --debug, the regress test to hold",
            "werror": "treat compiler warnings as errors",
            "idle_timeout": "seconds without a finished test before a suite counts as hung (default 300)",
            "fresh": "a fresh server for this run instead of the warm one",
            "debug": "hold the first test's backend before its first statement and open gdb on it "
                     "(regress and pytest suites; one extension, one build)",
            "break_": "with --debug: a function gdb stops in (repeat for several)",
            "before": "a command run once the test server is up, before the suites (as the suites run: in the "
                      "build copy, PGHOST/PGPORT set): what a project's CI does first, e.g. create tablespaces",
            "accept": "after the run, show each regress or isolation test whose expected file is missing or "
                      "differs and ask whether to write what it printed there (--accept=all: every one, unasked)"})
def ext_test(c, what, pg=None, suite=None, k=None, werror=False, idle_timeout=None, fresh=False, debug=False,
             break_=None, before=None, accept=None, upgrade=False):
    """Build C extensions with PGXS and run their suites as `make installcheck` would, plus pytest."""
    from pglab.ext import accept as accept_mod
    from pglab.ext import report, runner

    _not_a_flag(what, "ext-test")
    idle_timeout = _seconds(idle_timeout, "--idle-timeout", None)
    with _errors():
        if break_ and not debug:
            raise Exit("error: --break goes with --debug (ext-test NAME --debug --break FUNC)", code=1)
        how = accept_mod.mode(accept, what)
        settings = _settings(c)
        if upgrade:
            suite = ",".join(dict.fromkeys([*runner.parse_suites(suite), "upgrade"]))
        results = runner.ext_test(settings, what, pg=pg, k=k, werror=werror, suites=suite,
                                  idle_timeout=idle_timeout, fresh=fresh, debug=debug, breaks=break_ or [],
                                  before=before)
        report.table(results)
        report.details(results)
        if how:
            accept_mod.accept(settings, what, results, how)
        line, code = report.verdict(results)
        if code:
            raise Exit(line, code=code)
        ui.say(line, style="green")


@task(name="new-ext", positional=["name"], help={"name": "the new extension's name (a SQL identifier: my_ext)",
                                                 "template": "udf, type, bgworker or hook"})
def new_ext(c, name, template="udf"):
    """Scaffold a new extension under extensions/NAME that builds and passes its tests."""
    from pglab.errors import ExtensionError
    from pglab.ext import scaffold
    from pglab.layout import check_name

    _not_a_flag(name, "new-ext")
    with _errors():
        check_name(name, "extension name", ExtensionError)      # the folder it becomes, before the SQL rule
        dest = scaffold.scaffold(name, template)
        ui.say(f"created {dest} from the {template} template; next: {via()} ext-test {name}")


@task(help={"pg": "majors: 13,15,17,18 or 'all' (test_majors in invoke.yaml); one that cannot be obtained is "
                  "skipped with the reason",
            "ext": "extensions under extensions/ (a,b), 'all' (default), a folder's path or debian:NAME",
            "werror": "fail on any compiler warning",
            "suite": "only these suites: regress, isolation, tap, pytest (comma-separated; default: all of them)",
            "out": "the folder the reports go in (default: ci-results in the working area): matrix.md, "
                   "junit.xml, failures; a new or empty folder, or one pglab made (it replaces it whole)"})
def ci(c, pg=None, ext="all", werror=False, out=None, suite=None):
    """Build each major (cached) and ext-test every extension on it: a matrix, JUnit XML, failures kept."""
    from pglab import ci as ci_mod

    with _errors():
        result = ci_mod.run_ci(_settings(c), majors=pg, spec=ext, werror=werror, out=out, suites=suite)
        if not result.ok:
            raise Exit(code=1)


# ---- tracing -----------------------------------------------------------------------------

@task(positional=["target"],
      help={"target": f"{', '.join(trace_targets.names())}, or any function name",
            "sql": "the SQL the traced session runs",
            "pg": "which build (default: the default build)",
            "format": "text (default), json (JSON lines, schema pglab.trace/1), perfetto or svg",
            "out": "write the output to this file instead of the terminal",
            "bt": "record the full call stack at each event",
            "timeout": "seconds before the trace stops (default 60; covers --other too)",
            "other": "SQL a second session runs at the same time, once the traced one holds its locks "
                     "(its waits are recorded; any target)",
            "user_only": "locks only: hide lock events on catalogs and other databases"})
def trace(c, target, sql="SELECT 1", pg=None, format="text", out=None, bt=False, timeout=None, other=None,
          user_only=False):
    """Trace PostgreSQL internals with gdb while a session runs your SQL."""
    from pglab import out as out_mod
    from pglab.trace import render, trace_build

    _not_a_flag(target, "trace")
    timeout = _seconds(timeout, "--timeout", 60.0)
    _statement(sql, "--sql")
    _statement(other, "--other")
    with _errors():
        render.check_format(format)
        if out:
            out_mod.check_file(out)
        result = trace_build(_settings(c), target, sql, pg=pg, bt=bt, timeout=timeout, other=other,
                             user_only=user_only)
        text = render.render(result, format)
        if out:
            out_mod.write_file(out, text)
            ui.say(f"wrote {len(result.events)} events to {out}")
        else:
            ui.raw(text)
        if result.sql_error:
            ui.warn(f"the SQL failed: {result.sql_error}")
        if result.other_error:
            ui.warn(f"the other session's SQL failed: {result.other_error}")


# ---- debugging -----------------------------------------------------------------------------

@task(iterable=["break_"],
      help={"pg": "which build (default: the default build)",
            "name": "which cluster of the build (default: main)",
            "break_": "a function to stop in (--break heap_insert --break ExecInsert); repeat for several",
            "sql": "a statement psql runs once gdb is attached (it stops at the breakpoint)",
            "on_error": "stop where any ERROR is raised, showing the message and the stack",
            "backend": "attach to this backend PID instead of a new psql session's",
            "bgworker": "attach to the background worker of this name (pg_stat_activity's backend_type)",
            "new_backends": "attach to the postmaster and follow the processes it forks",
            "core": "open this core file with pglab's printers (no server needed)",
            "vscode": "write .vscode/launch.json and tasks.json in the repository you are in: VS Code's "
                      "debugger attaching with the build's gdb and pglab's printers (merged, never clobbered)"})
def debug(c, pg=None, name="main", break_=None, sql=None, on_error=False, backend=None, bgworker=None,
          new_backends=False, core=None, vscode=False):
    """Step through PostgreSQL in gdb: psql on the left, gdb on its backend on the right."""
    from pglab.debug import session

    _cluster_name(name)
    backend = _whole(backend, "--backend", "a process id (a number above 0)", least=1)
    _statement(sql, "--sql")
    if vscode:
        others = [f for f, on in (("--sql", sql), ("--backend", backend is not None), ("--bgworker", bgworker),
                                  ("--new-backends", new_backends), ("--core", core)) if on]
        if others:
            raise Exit(f"error: --vscode writes VS Code's files and starts nothing: drop {others[0]} "
                       f"(VS Code asks which process to attach to)", code=1)
        with _errors():
            _vscode(_settings(c), pg, break_ or [], on_error)
        return
    with _errors():
        session.run(_settings(c), pg=pg, name=name, breaks=break_ or [], sql=sql, on_error=on_error,
                    backend=backend, bgworker=bgworker, new_backends=new_backends, core=core)


def _vscode(settings, pg, breaks, on_error):
    from pglab import vscode

    (launch, tasks, setup), ext = vscode.run(settings, pg=pg, breaks=breaks, on_error=on_error, start=os.getcwd())
    ui.say(f"wrote {launch} and {tasks}")
    ui.say(f"gdb's set-up (the build's sources, pglab's printers and pg-* commands): {setup}")
    if ext is not None:
        ui.say(f"{ext.name}: stepping into it opens your own files ({ext.path}), once ext-test has built it")
    ui.say("In VS Code: Run and Debug, pick the pglab configuration, then the backend's process "
           "(SELECT pg_backend_pid() in your session)")


# ---- pages ---------------------------------------------------------------------------------

@task(positional=["relation"],
      help={"relation": "a heap table, or a B-tree, GIN, BRIN or hash index (schema.name allowed)",
            "block": "the block to decode (default: 0; a small index is shown whole)",
            "all": "decode every block",
            "pg": "which build (default: the default build)",
            "name": "which cluster of the build (default: main)",
            "db": "the database the relation is in (default: postgres)",
            "format": "text (default), json (pageinspect's column names), svg or html",
            "out": "write to this file instead of the terminal",
            "watch": "statements to run one by one (\"UPDATE ...; VACUUM t\"), showing the page after each",
            "fsm": "the free space map, block by block, beside each page's free space (with --vm: both)",
            "vm": "the visibility map's all-visible and all-frozen bits, block by block",
            "summary": "the whole table: live and dead tuples, their bytes, free space, bloat (pgstattuple's)",
            "buffers": "which of the relation's pages are in shared buffers: dirty, pinned, usage count"})
def inspect(c, relation, block=None, all=False, pg=None, name="main", db="postgres", format="text", out=None,
            watch=None, fsm=False, vm=False, summary=False, buffers=False):
    """Show a relation's pages as they are on disk, decoded with the build's own headers."""
    from pglab import inspect as inspect_mod
    from pglab.inspect import render

    _not_a_flag(relation, "inspect")
    _cluster_name(name)
    block = _whole(block, "--block", "a block number, 0 or more")
    _statement(watch, "--watch")
    views = tuple(v for v, on in (("fsm", fsm), ("vm", vm), ("summary", summary), ("buffers", buffers)) if on)
    with _errors():
        render.check_format(format)
        if block is not None and all:
            raise Exit("error: --block and --all pick different pages: give one", code=1)
        picked = [f"--{v}" for v in ("summary", "buffers") if v in views] + (["--fsm/--vm"] if fsm or vm else [])
        if len(picked) > 1:
            raise Exit(f"error: {' and '.join(picked)} are different views: give one", code=1)
        if views and (block is not None or all or watch is not None):
            which = "--block" if block is not None else "--all" if all else "--watch"
            raise Exit(f"error: {picked[0]} shows the whole relation: drop {which}", code=1)
        with inspect_mod.output(out) as stream:
            what = inspect_mod.write(_settings(c), relation, stream, fmt=format, block=block,
                                     all_blocks=all, pg=pg, name=name, db=db, watch_sql=watch, views=views,
                                     progress=lambda k, n, sql: ui.aside(f"step {k}/{n}: {sql}"))
        if out:
            ui.say(f"wrote {what} to {out}")


# ---- labs --------------------------------------------------------------------------------

@task(help={"status": "your plan, week by week: each item, what pglab offers for it, and how it stands",
            "json": "as JSON for editors and scripts: the labs (name, title, week, status); with --status, the plan"})
def labs(c, status=False, json=False):
    """The curriculum's labs and your progress in them; --status: your plan, week by week."""
    from pglab import lab as lab_mod
    from pglab.lab import plan, progress, show

    with _errors():
        settings = _settings(c)
        (found, problems), data = lab_mod.survey(), progress.load(settings)
        if status:
            mine = plan.load(settings)
            view = plan.view(mine, plan.standings(mine, plan.load_links(), found, data))
            if json:
                ui.raw(show.status_json(view))
            else:
                show.status(view)
        elif json:
            ui.raw(show.as_json(found, data))
        else:
            show.listing(found, data)
        show.problems(problems)


@task(positional=["name"],
      help={"name": "a lab (`labs` lists them), a week of your plan (week-3) or one of its items (3.2)",
            "check": "check your work: what passed, what is missing, the next hint (a week: each item's checks)",
            "start": "scaffold the code the lab asks for, with TODOs to fill in (never overwrites)",
            "tick": "tick an item of your plan that leaves no evidence (reading, reflection) as done",
            "undo": "with --tick: take the tick back",
            "pg": "which build the checks look at (default: the default build; a fork lab's: its fork's build)",
            "cluster": "which cluster of the build the checks query (default: main)"})
def lab(c, name, check=False, start=False, tick=False, undo=False, pg=None, cluster="main"):
    """Walk through a lab, a week or an item of your plan, start a lab's code (--start), check your work
    (--check) or tick an item (--tick)."""
    from pglab import lab as lab_mod
    from pglab.lab import plan, show
    from pglab.pg.builds import find_build

    _not_a_flag(name, "lab")
    _cluster_name(cluster)
    if sum((check, start, tick)) > 1:
        raise Exit(f"error: --start, --check and --tick are steps of their own: `{via()} lab {one_line(name)} "
                   f"--start` first, --check once you have done the TODOs, --tick for what leaves no evidence",
                   code=1)
    if undo and not tick:
        raise Exit(f"error: --undo takes back a tick: `{via()} lab {one_line(name)} --tick --undo`", code=1)
    if plan.is_week(name) or plan.is_item(name):
        with _errors():
            _plan_step(_settings(c), name, check=check, start=start, tick=tick, undo=undo, pg=pg, cluster=cluster)
        return
    if tick:
        raise Exit(f"error: --tick ticks an item of your plan (`{via()} lab 3.1 --tick`), not a lab: a lab is "
                   f"done when its checks pass (`{via()} lab {one_line(name)} --check`)", code=1)
    with _errors():
        settings = _settings(c)
        chosen = lab_mod.find(name)
        if pg is not None:       # a --pg that names no build is said once, not by every check
            find_build(settings, pg)
        if start:
            show.started(chosen, lab_mod.start(settings, chosen, pg=pg))
            return
        if not check:
            show.walk_lab(settings, chosen, pg=pg)
            return
        results = lab_mod.check(settings, chosen, pg=pg, cluster=cluster)
        show.results(chosen, results)
        if not all(r.ok for r in results):
            raise Exit(code=1)


def _plan_step(settings, name, *, check, start, tick, undo, pg, cluster):
    """`lab week-3` / `lab 3.2` [--check | --tick [--undo]]: a week or an item of the learner's plan."""
    from pglab import lab as lab_mod
    from pglab.lab import plan, progress, show
    from pglab.pg.builds import find_build

    mine = plan.load(settings)
    if plan.is_week(name):
        week = plan.find_week(mine, name)
        ids, title, kind = {i.id for i in week.items}, f"week {week.number}", "a week"
    else:
        item = plan.find_item(mine, name)
        ids, title, kind = {item.id}, f"item {item.id}", "an item"
    if start:
        raise Exit(f"error: --start scaffolds a lab's code, and {name} is {kind} of your plan (`{via()} lab {name}` "
                   f"shows what it needs)", code=1)
    found = [s for s in plan.standings(mine, plan.load_links(), lab_mod.load(), progress.load(settings))
             if s.item.id in ids]
    if tick:
        if len(found) != 1:
            raise Exit(f"error: --tick ticks one item (`{via()} lab {found[0].item.id} --tick`), not a week", code=1)
        show.ticked(found[0], *plan.tick(settings, found[0], undo=undo), undo)
        return
    if not check:
        show.items(mine, found, title.capitalize())
        return
    if pg is not None:
        find_build(settings, pg)
    done = plan.check(settings, found, pg=pg, cluster=cluster)
    show.checked(title, done, found)
    if not all(r.ok for c in done for r in c.results):
        raise Exit(code=1)


# ---- pglab's own tests ------------------------------------------------------------------

# Two workers on two cores: the suite's one process keeps about one core busy (measured on
# 4 December: 689 s alone, 404 s on two workers); four workers on two cores were no faster.
TEST_WORKERS = 2


def _test_workers(jobs):
    if jobs is None:
        return min(TEST_WORKERS, len(os.sched_getaffinity(0)))
    try:
        workers = int(jobs)
    except ValueError:
        workers = 0
    if workers < 1:
        raise Exit(f"error: --jobs {one_line(jobs)}: give a number of workers, 1 or more (1 runs the tests in this process)",
                   code=1)
    return workers


@task(help={"majors": "majors to build and test on (default: test_majors in invoke.yaml; unreachable ones are skipped)",
            "k": "only tests matching this pytest -k expression",
            "quick": "skip the slow tests (full regression suite, killed and incremental builds)",
            "jobs": f"pytest-xdist workers (default {TEST_WORKERS}, or 1 on one core; 1 runs in this process)"})
def test(c, majors=None, k=None, quick=False, jobs=None):
    """Set up (toolchain, builds) and run pglab's own test suite."""
    import importlib.util

    import pytest

    from pglab import servers
    from pglab.pg import build, doctor as doctor_mod

    workers = _test_workers(jobs)
    if not IN_CLONE:
        raise Exit("error: pglab's own test suite comes with a clone of pglab: run `./lab test` there", code=1)
    if workers > 1 and importlib.util.find_spec("xdist") is None:
        raise Exit(f"error: the test suite's own packages (pytest-xdist, hypothesis) are not installed: `./lab test` "
                   f"installs them (or pip install -e '{PROJECT_ROOT}[test]')", code=1)

    with _errors():
        settings = _settings(c)
        doctor_mod.ensure()
        build.build_pg(settings, in_use=servers.refuse_if_running)
        built, skipped = build.ensure_builds(settings, majors or settings.test_majors,
                                             in_use=servers.refuse_if_running)
        for major, why in skipped:
            ui.note(f"not testing on {major}: {why}")
        ui.say(f"testing on: {', '.join(b.id for b in built)}")
    args = [str(PROJECT_ROOT / "tests")] + (["-k", k] if k else []) + (["-m", "not slow"] if quick else [])
    if workers > 1:   # a module whole on one worker, in the order tests/conftest.py gives
        args += ["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder"]
    code = pytest.main(args)
    if code != 0:
        raise Exit(code=int(code))


# ---- publishing (PGXN) --------------------------------------------------------------------

@task(name="ext-meta", positional=["what"],
      help={"what": "an extension under extensions/ or a folder's path (several: a,b; or 'all'); with --check, "
                    "a META.json file (or the extension whose META.json to check)",
            "check": "only validate against the PGXN Meta Spec 1.0.0; every problem by its JSON path"})
def ext_meta(c, what, check=False):
    """Write or complete META.json from the control file and Makefile (never replacing what you wrote)."""
    from pglab.ext import pgxn_meta

    _not_a_flag(what, "ext-meta")
    with _errors():
        if check:
            path = pgxn_meta.shown(pgxn_meta.meta_path(what))
            problems = pgxn_meta.load(path)[1]
            for problem in problems:
                ui.say(str(problem))
            if problems:
                raise Exit(f"{path}: {len(problems)} problem(s) against the PGXN Meta Spec 1.0.0", code=1)
            ui.say(f"{path}: valid (PGXN Meta Spec 1.0.0)", style="green")
            return
        invalid = 0
        for result in pgxn_meta.update_all(what):
            for line in pgxn_meta.describe(result):
                ui.say(line)
            invalid += bool(result.problems)
        if invalid:
            raise Exit(f"{invalid} META.json still invalid: fill in what the lines above name", code=1)


@task(name="ext-bundle", positional=["what"],
      help={"what": "an extension under extensions/ or a folder's path",
            "allow_dirty": "bundle the working tree even with uncommitted changes (tracked and new files)",
            "out": "the folder to write NAME-VERSION.zip in (default: pg_source/dist)"})
def ext_bundle(c, what, allow_dirty=False, out=None):
    """Validate META.json and write NAME-VERSION.zip as PGXN expects (one top folder, no build products)."""
    from pglab import out as out_mod
    from pglab.ext import discover, pgxn, pgxn_meta

    _not_a_flag(what, "ext-bundle")
    with _errors():
        if out is not None:
            out_mod.check_into(out)
        for ext in discover.resolve(what):
            made = pgxn.bundle(_settings(c), ext, allow_dirty=allow_dirty, out=out)
            ui.say(f"bundled {made.name} {made.version}: {pgxn_meta.shown(made.path)} ({len(made.files)} entries, "
                   f"{ui.human_size(made.size)}; from {made.how})", style="green")


@task(name="ext-install", positional=["spec"],
      help={"spec": "a distribution: a zip or folder (pg_source/dist/NAME-VERSION.zip; a path holds a /), "
                    "or a name on PGXN",
            "pg": "which build to install into (default: the default build)",
            "name": "the cluster of that build to load it on (default: main; started if stopped)",
            "check": "also run its tests (pgxn check) on a throwaway cluster with the settings they name"})
def ext_install(c, spec, pg=None, name="main", check=False):
    """Install a distribution into a pglab build with pgxnclient and load it (CREATE EXTENSION) on a cluster."""
    from pglab.ext import pgxn
    from pglab.pg.builds import find_build

    _not_a_flag(spec, "ext-install")
    _cluster_name(name)
    with _errors():
        settings = _settings(c)
        build = find_build(settings, pg)
        done = pgxn.install(settings, spec, build, cluster_name=name, check=check)
        if done.check:
            ui.say(f"pgxn check passed on {build.id}: {len(done.check.passed)} test(s) "
                   f"({', '.join(done.check.passed) or 'none in the Makefile'})", style="green")
        ui.say(f"open psql on it: {via()} psql --version {build.id}" + (f" --name {name}" if name != "main" else ""))


@task(name="ext-release", positional=["what"],
      help={"what": "an extension under extensions/ or a folder's path",
            "upload": "send it to PGXN Manager (default: a dry run that shows what would be sent)"})
def ext_release(c, what, upload=False):
    """Bundle and show what would be sent to PGXN Manager; --upload sends it (PGXN_USER, PGXN_PASSWORD)."""
    from pglab.ext import discover, pgxn, pgxn_meta

    _not_a_flag(what, "ext-release")
    with _errors():
        exts = discover.resolve(what)
        if len(exts) != 1:
            raise Exit(f"error: ext-release releases one extension at a time, not {len(exts)}", code=1)
        ext = exts[0]
        made, url, creds, status = pgxn.release(_settings(c), ext, send=upload)
        ui.say(f"bundled {made.name} {made.version}: {pgxn_meta.shown(made.path)} (from {made.how})")
        ui.say("sent to PGXN Manager:" if upload else "would send to PGXN Manager (dry run, nothing sent):")
        ui.say(f"  url:    {url}")
        ui.say(f"  user:   {creds.describe()}")
        ui.say(f"  file:   {made.path.name}")
        ui.say(f"  size:   {made.size} bytes")
        ui.say(f"  sha256: {made.sha256}")
        if upload:
            ui.say(f"released {made.name} {made.version} (HTTP {status})", style="green")
        else:
            ui.say(f"to release it: {via()} ext-release {what} --upload")


ns = Collection(doctor, build_pg, build_key, pg_list, pg_clean, pg_check, pg_start, pg_stop, pg_log, pg_status, psql,
                ext_test, new_ext, ci, ext_meta, ext_bundle, ext_install, ext_release, trace, debug, inspect,
                labs, lab, test)
ns.configure({"pglab": Settings.defaults()})
signals.install()

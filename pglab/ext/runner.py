"""ext-test: every selected extension on every selected build, suite by suite.

For one extension on one build: the build copy mirrored, configured (when the
project has a configure step) and built with make and make install; the folders
`make installcheck` runs tests in found (the top, and those a recursive Makefile
enters: pglab.ext.shape) and each one's Makefile variables read; the server
settings the tests ask for; a server (warm when safe, pglab.ext.server); then
each suite that applies, folder by folder.  A project whose tests pglab cannot
reach says so and fails; one that declares none says so, and is not a pass.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import accounts, boundary, locks, ui
from ..debug.pause import TestPause
from ..errors import BuildError, ClusterError, ExtensionError, PglabError
from ..pg.builds import resolve_builds
from . import discover, published, shape
from .pgxs import BuildResult, build_copy, compile_ext, makefile_vars, sync_copy, temp_config
from .report import SuiteResult
from .server import server, stamp_for
from .suites import (DEFAULT_SUITES, KINDS, SUITES, Run, announce, finish_pytest, run_before, run_suite,
                     skip_reason, start_pytest)

DEBUG_IDLE_TIMEOUT = 24 * 3600.0    # ext-test --debug: a person may stay in gdb as long as they like


def parse_suites(text):
    """`--suite regress,tap` → ("regress", "tap"); None → every suite but upgrade (asked for by name)."""
    if not text:
        return DEFAULT_SUITES
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        # the default suites named (upgrade is in --suite's help and has its own flag, --upgrade)
        raise PglabError(f"unknown suite {', '.join(unknown)}: choose from {', '.join(DEFAULT_SUITES)}")
    return chosen


def test_extension(settings, ext, build, **how):
    """Build, install and test one extension on one build; returns [SuiteResult].
    One run at a time per extension name and build, from any working area on the machine:
    `make install` puts every extension of that name in the same place of the build (see
    _test_extension)."""
    with locks.exclusive(settings.layout.install_lock(build.id, ext.name),
                         f"another ext-test of {ext.name} on {build.id} is running: waiting for it"):
        return _test_extension(settings, ext, build, **how)


def _test_extension(settings, ext, build, *, werror=False, k=None, idle_timeout=None, suites=DEFAULT_SUITES,
                    fresh=False, debug=None, before=None):
    """test_extension, under its lock.

    pytest starts at once (its start-up and collection overlap the build) and runs
    beside the other suites on the same server.  When a backend crashes or a suite
    hangs that way, the suites run again one after the other on a fresh server, so
    that each report is about one suite."""
    idle_timeout = idle_timeout or settings.ext_idle_timeout
    together = debug is None
    if debug is not None:
        idle_timeout = DEBUG_IDLE_TIMEOUT   # a person is in gdb: no hang verdict
    while True:
        results, troubled = _attempt(settings, ext, build, werror=werror, k=k, idle_timeout=idle_timeout,
                                     suites=suites, fresh=fresh, debug=debug, together=together, before=before)
        if not (together and troubled):
            return results
        together, fresh = False, True


@dataclass
class _Copy:
    """The extension's build copy for one build, and who works in it."""

    builddir: Path
    tag: str
    srcdir: Path
    account: object
    home: Path

    def env(self):
        """What make sees, in the copy: the user's environment less root's secrets (as the account)."""
        return boundary.account_env(self.account, home=self.home)


def _copy(settings, ext, build):
    builddir, tag = build_copy(settings, ext, build)
    account = accounts.ensure(settings.account)
    _root_folder(builddir)
    return _Copy(builddir, tag, builddir / "src", account, boundary.account_home(settings, account))


def _prepare(copy, ext, build, *, werror, synced):
    """Configure (when the project has a configure step), make and make install: a BuildResult."""
    start = time.monotonic()
    try:
        configured = shape.configure(build, copy.srcdir, copy.account, copy.builddir / "configure.log",
                                     env=copy.env())
    except BuildError as exc:
        return BuildResult(False, time.monotonic() - start, diagnostics=exc.tail, step=exc.step)
    built = compile_ext(ext, build, copy.srcdir, copy.builddir / "build.log", werror=werror, account=copy.account,
                        synced=synced, home=copy.home)
    built.configured = configured
    return built


def _attempt(settings, ext, build, *, werror, k, idle_timeout, suites, fresh, debug, together, before):
    """One go at the extension: ([SuiteResult], whether a suite crashed or hung the server)."""
    copy = _copy(settings, ext, build)
    synced = sync_copy(ext, copy.srcdir, copy.account, keep=shape.configured_files(copy.builddir))
    run = Run(ext=ext, build=build, cluster=None, srcdir=copy.srcdir, values={}, idle_timeout=idle_timeout, k=k,
              settings=None if debug is not None else settings, account=copy.account, home=copy.home)
    early = by_job = None
    if together and "pytest" in suites and skip_reason("pytest", run) is None:
        server_file = copy.builddir / "server.json"
        server_file.unlink(missing_ok=True)
        early = start_pytest(run, server_file)      # collecting the copy's tests/ while the build runs
    try:
        built = _prepare(copy, ext, build, werror=werror, synced=synced)
        if not built.ok:
            return [SuiteResult(ext.name, build.id, "build", "fail", built.seconds, f"{built.step} failed",
                                built.diagnostics)], False
        detail = "; ".join(filter(None, [f"{built.configured} first" if built.configured else "",
                                         f"{len(built.warnings)} warning(s)" if built.warnings else ""]))
        results = [SuiteResult(ext.name, build.id, "build", "pass", built.seconds, detail,
                               "\n".join(built.warnings))]
        plan = _plan(settings, ext, build, copy, run, suites)
        if not plan.jobs:
            return results + plan.rows, False
        by_job, troubled = _serve_and_run(settings, ext, build, copy, run, plan, early, fresh=fresh, debug=debug,
                                          results=results, before=before)
        early = None
    finally:
        if early is not None:
            early.cancel()
    if by_job is None:
        return results, False
    return results + _ordered([*by_job, *plan.rows], plan), troubled


@dataclass
class _Plan:
    """What to run: (suite, Run of its folder) jobs; the rows to show for what will not run; and
    the server settings the tests ask for (with the files they come from)."""

    folders: list
    jobs: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    conf: dict = field(default_factory=dict)
    conf_files: list = field(default_factory=list)


def _plan(settings, ext, build, copy, run, suites):
    """Where the suites are (pglab.ext.shape) and which of SUITES apply in each folder."""
    found = shape.find(build, copy.srcdir, copy.account, env=copy.env(), state=copy.builddir / "shape.json")
    plan = _Plan(found.folders)
    extensions = []                 # what the Makefiles say CREATE EXTENSION installs (the upgrade suite's)
    for rel in found.folders:
        folder = copy.srcdir / rel
        values = makefile_vars(build, folder, account=copy.account, state=copy.builddir / "vars" / _slug(rel))
        extensions += values.get("EXTENSION", "").split()
        frun = replace(run, srcdir=folder, values=values, folder=shape.suite_folder(rel))
        if rel == ".":
            run.values = values
        for kind in ("regress", "isolation", "tap"):
            if kind in suites and skip_reason(kind, frun) is None:
                plan.jobs.append((kind, frun))
        if any(kind for kind, r in plan.jobs if r is frun):
            conf, files = temp_config(ext.name if rel == "." else "", values, folder)
            plan.conf.update(conf)
            plan.conf_files += files
    if "pytest" in suites and skip_reason("pytest", run) is None:
        plan.jobs.append(("pytest", run))
    recursive = len(found.folders) > 1
    for kind in (s for s in suites if s != "upgrade" and not any(j[0] == s for j in plan.jobs)):
        why = skip_reason(kind, run) if kind == "pytest" or not recursive else (
            f"no {KINDS[kind]} in any Makefile `make installcheck` reaches")
        plan.rows.append(run.result(kind, "skip", detail=why or f"no {KINDS.get(kind, kind)} here"))
    unreached = found.unreached()
    if not any(s != "upgrade" for s in suites):
        pass                    # --suite upgrade alone: what the project's tests look like is not asked
    elif not plan.jobs and not found.declared and found.commands:
        # no test tool's variables anywhere, yet installcheck does something: its own commands
        plan.rows.append(run.result("tests", "fail", detail=shape.refuse_custom(found, ext)))
    elif unreached and not plan.jobs:
        plan.rows.append(run.result("tests", "fail", detail=shape.refuse_unreachable(found, ext)))
    elif unreached:
        for rel in unreached:
            plan.rows.append(replace(run, folder=shape.suite_folder(rel)).result(
                "tests", "skip", detail=f"declared, but `make installcheck` at the top does not run them (by hand: "
                                        f"make -C {rel} installcheck)"))
    elif not plan.jobs and not found.declared and skip_reason("pytest", run) is not None:
        plan.rows.append(run.result("tests", "none", detail="the project declares no tests: no REGRESS, ISOLATION "
                                                            "or TAP_TESTS in any Makefile, no tests/test_*.py"))
    if "upgrade" in suites:     # on the server, after the others (the server says whether it applies)
        if "." not in found.folders:
            top = makefile_vars(build, copy.srcdir, account=copy.account, state=copy.builddir / "vars" / "top")
            extensions = top.get("EXTENSION", "").split() + extensions
        names = " ".join(dict.fromkeys(extensions))
        plan.jobs.append(("upgrade", replace(run, values={**run.values, "EXTENSION": names})))
    return plan


def _slug(rel):
    return "top" if rel == "." else rel.replace("/", "+")


def _serve_and_run(settings, ext, build, copy, run, plan, early, *, fresh, debug, results, before):
    """The server (warm when safe) and every job on it: ([SuiteResult] or None when the server did not
    start, whether a job crashed or hung it).  The server's row goes into RESULTS."""
    start = time.monotonic()
    try:
        with server(settings, build, copy.tag, plan.conf, stamp=stamp_for(build, plan.conf, copy.srcdir, ext.name),
                    fresh=fresh) as warm:
            cl = warm.cluster
            for _kind, job_run in plan.jobs:
                job_run.cluster = cl
            run.cluster = cl
            settings_note = f"settings from {', '.join(p.name for p in plan.conf_files)}; " if plan.conf_files else ""
            results.append(SuiteResult(ext.name, build.id, "server", "pass", time.monotonic() - start,
                                       settings_note + warm.remark))
            if before:
                done = run_before(run, before)
                results.append(done)
                if not done.ok:
                    warm.keep = False
                    return [], False
            if debug is not None:
                with TestPause(debug, cl, skip=_held_position(run, plan.jobs)) as pause:
                    for _kind, job_run in plan.jobs:
                        job_run.pause = pause
                    by_job = _run_suites(run, plan.jobs, early, copy.builddir)
                if pause.held is None:
                    ui.warn("no test backend connected: nothing was held for gdb")
            else:
                by_job = _run_suites(run, plan.jobs, early, copy.builddir)
            troubled = any(r.status in ("crash", "hang") for r in by_job)
            warm.keep = not troubled
    except ClusterError as exc:  # e.g. a preloaded library whose _PG_init fails: a result, not the end of the run
        results.append(SuiteResult(ext.name, build.id, "server", "fail", time.monotonic() - start,
                                   "the server did not start", str(exc)))
        return None, False
    return by_job, troubled


def _ordered(rows, plan):
    """Rows folder by folder (the top first, in the order make enters them), suites in SUITES' order."""
    folders = [shape.suite_folder(f) for f in plan.folders]
    kinds = [*SUITES, "tests"]
    return sorted(rows, key=lambda r: (folders.index(r.folder) if r.folder in folders else len(folders),
                                       kinds.index(r.suite)))


def _root_folder(path):
    """The folder around a build copy is root's (an earlier pglab gave it to the account whole:
    then it is made afresh)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or (path.exists() and path.lstat().st_uid != os.geteuid()):
        boundary.remove(path)
    path.mkdir(exist_ok=True)


def _held_position(run, jobs):
    """ext-test --debug --k TEST: how many regress tests run before TEST (each is one backend)."""
    if not run.k or not any(kind == "regress" for kind, _r in jobs):
        return 0
    names = run.values.get("REGRESS", "").split()
    if run.k not in names:
        raise ExtensionError(f"--k {run.k}: no such regress test in {run.ext.name} (REGRESS = {' '.join(names)})")
    return names.index(run.k)


def _run_suites(run, jobs, early, builddir):
    """[SuiteResult] of every job: pytest (started early) beside the others, or all in turn."""
    if early is None:
        return [run_suite(kind, job_run) for kind, job_run in jobs]
    announce(builddir / "server.json", run.cluster)
    with ThreadPoolExecutor(1) as pool:
        watching = pool.submit(finish_pytest, run, early)
        try:
            done = [run_suite(kind, job_run) for kind, job_run in jobs if kind != "pytest"]
            done.append(watching.result())
        except BaseException:       # Ctrl-C, SIGTERM: the watching thread returns once pytest is gone
            early.kill()
            raise
    return done


def ext_test(settings, spec="all", *, pg=None, k=None, werror=False, idle_timeout=None, suites=None, fresh=False,
             debug=False, breaks=(), before=None):
    """ext-test over extensions × builds; prints progress and returns [SuiteResult].

    debug: hold the first test backend for gdb (pglab.debug.pause); one extension on one build.
    before: a shell command run on each extension's server before its suites (Run.before)."""
    extensions = published.resolve(settings, spec) if published.is_published(spec) else discover.resolve(spec)
    builds = resolve_builds(settings, pg)
    chosen = parse_suites(suites) if isinstance(suites, (str, type(None))) else tuple(suites)
    plan = None
    if debug:
        if len(extensions) != 1 or len(builds) != 1:
            raise ExtensionError(f"--debug holds one test for gdb: name one extension and one build "
                                 f"(got {len(extensions)} extension(s) on {len(builds)} build(s))")
        from ..debug.session import make_plan

        chosen = tuple(s for s in chosen if s in ("regress", "pytest"))
        if not chosen:
            raise ExtensionError("--debug holds a regress or pytest test's backend: --suite regress or pytest")
        plan = make_plan(settings, builds[0], breaks=breaks)
    results = []
    for b in builds:
        for ext in extensions:
            with ui.phase(f"{ext.name} on {b.id}") as p:
                got = test_extension(settings, ext, b, werror=werror, k=k, idle_timeout=idle_timeout,
                                     suites=chosen, fresh=fresh, debug=plan, before=before)
                p.detail = ", ".join(f"{r.suite} {r.status}" for r in got if r.suite != "server")
            results.extend(got)
    return results

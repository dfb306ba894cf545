"""ext-test: every selected extension on every selected build, suite by suite.

For one extension on one build: make and make install in the build copy, read
the Makefile's variables, find the server settings its tests ask for, get a
server (warm when safe, pglab.ext.server), then run each suite that applies.
"""

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

from .. import accounts, boundary, locks, ui
from ..debug.pause import TestPause
from ..errors import ClusterError, ExtensionError, PglabError
from ..pg.builds import resolve_builds
from . import discover, published
from .pgxs import compile_ext, makefile_vars, sync_copy, temp_config
from .report import SuiteResult
from .server import server, stamp_for
from .suites import SUITES, Run, announce, finish_pytest, run_suite, skip_reason, start_pytest

DEBUG_IDLE_TIMEOUT = 24 * 3600.0    # ext-test --debug: a person may stay in gdb as long as they like


def parse_suites(text):
    """`--suite regress,tap` → ("regress", "tap"); None → every suite."""
    if not text:
        return SUITES
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise PglabError(f"unknown suite {', '.join(unknown)}: choose from {', '.join(SUITES)}")
    return chosen


def build_copy(settings, ext, build):
    """The folder ext-test builds and tests `ext` in, for `build`; keyed by the
    extension's folder too, so two extensions of one name never share objects."""
    tag = hashlib.sha256(str(ext.path).encode()).hexdigest()[:6]
    return settings.layout.ext_build(build.id, f"{ext.name}-{tag}"), f"{ext.name}-{tag}"


def test_extension(settings, ext, build, **how):
    """Build, install and test one extension on one build; returns [SuiteResult].
    One run at a time per extension name and build: `make install` puts every
    extension of that name in the same place of the build (see _test_extension)."""
    with locks.exclusive(settings.layout.ext_build(build.id, f".{ext.name}.lock"),
                         f"another ext-test of {ext.name} on {build.id} is running: waiting for it"):
        return _test_extension(settings, ext, build, **how)


def _test_extension(settings, ext, build, *, werror=False, k=None, idle_timeout=None, suites=SUITES, fresh=False,
                    together=True, debug=None):
    """test_extension, under its lock.

    together: start pytest at once (its start-up and collection overlap the
    build) and let it run beside the other suites on the same server.  When a
    backend crashes or a suite hangs that way, the suites run again one after
    the other on a fresh server, so that each report is about one suite."""
    idle_timeout = idle_timeout or settings.ext_idle_timeout
    if debug is not None:
        # a person is in gdb: no hang verdict, suites one after the other, a fresh interpreter for pytest
        idle_timeout, together = DEBUG_IDLE_TIMEOUT, False
    builddir, tag = build_copy(settings, ext, build)
    srcdir = builddir / "src"
    account = accounts.ensure(settings.account)
    _root_folder(builddir)
    synced = sync_copy(ext, srcdir, account)
    run = Run(ext, build, None, srcdir, {}, idle_timeout, k, None if debug is not None else settings,
              account=account)
    early = None
    if together and "pytest" in suites and skip_reason("pytest", run) is None:
        server_file = builddir / "server.json"
        server_file.unlink(missing_ok=True)
        early = start_pytest(run, server_file)
    try:
        built = compile_ext(ext, build, srcdir, builddir / "build.log", werror=werror, account=account,
                            synced=synced, home=boundary.account_home(settings, account))
        warnings = f"{len(built.warnings)} warning(s)" if built.warnings else ""
        if not built.ok:
            return [SuiteResult(ext.name, build.id, "build", "fail", built.seconds, f"{built.step} failed",
                                built.diagnostics)]
        results = [SuiteResult(ext.name, build.id, "build", "pass", built.seconds, warnings,
                               "\n".join(built.warnings))]
        run.values = makefile_vars(build, srcdir, account=account)
        conf, conf_files = temp_config(ext.name, run.values, srcdir)
        wanted = [s for s in suites if skip_reason(s, run) is None]
        skipped = [run.result(s, "skip", detail=skip_reason(s, run)) for s in suites if s not in wanted]
        if not wanted:
            return results + skipped
        start = time.monotonic()
        try:
            with server(settings, build, tag, conf, stamp=stamp_for(build, conf, srcdir, ext.name),
                        fresh=fresh) as warm:
                cl = run.cluster = warm.cluster
                settings_note = f"settings from {', '.join(p.name for p in conf_files)}; " if conf_files else ""
                results.append(SuiteResult(ext.name, build.id, "server", "pass", time.monotonic() - start,
                                           settings_note + warm.remark))
                side_by_side = early is not None and len(wanted) > 1
                if debug is not None:
                    with TestPause(debug, cl, skip=_held_position(run, wanted)) as run.pause:
                        by_suite = _run_suites(run, wanted, early, builddir)
                    if run.pause.held is None:
                        ui.warn("no test backend connected: nothing was held for gdb")
                else:
                    by_suite = _run_suites(run, wanted, early, builddir)
                early = None
                troubled = any(r.status in ("crash", "hang") for r in by_suite.values())
                warm.keep = not troubled
        except ClusterError as exc:  # e.g. a preloaded library whose _PG_init fails: a result, not the end of the run
            return results + [SuiteResult(ext.name, build.id, "server", "fail", time.monotonic() - start,
                                          "the server did not start", str(exc))]
    finally:
        if early is not None:
            early.cancel()
    if side_by_side and troubled:
        return _test_extension(settings, ext, build, werror=werror, k=k, idle_timeout=idle_timeout, suites=suites,
                               fresh=True, together=False)
    order = {s: i for i, s in enumerate(SUITES)}
    return results + sorted([*by_suite.values(), *skipped], key=lambda r: order[r.suite])


def _root_folder(path):
    """The folder around a build copy is root's (an earlier pglab gave it to the account whole:
    then it is made afresh)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or (path.exists() and path.lstat().st_uid != os.geteuid()):
        boundary.remove(path)
    path.mkdir(exist_ok=True)


def _held_position(run, wanted):
    """ext-test --debug --k TEST: how many regress tests run before TEST (each is one backend)."""
    if not run.k or "regress" not in wanted:
        return 0
    names = run.values.get("REGRESS", "").split()
    if run.k not in names:
        raise ExtensionError(f"--k {run.k}: no such regress test in {run.ext.name} (REGRESS = {' '.join(names)})")
    return names.index(run.k)


def _run_suites(run, wanted, early, builddir):
    """{suite: SuiteResult}: pytest (started early) beside the others, or all in turn."""
    if early is None:
        return {s: run_suite(s, run) for s in wanted}
    announce(builddir / "server.json", run.cluster)
    with ThreadPoolExecutor(1) as pool:
        watching = pool.submit(finish_pytest, run, early)
        try:
            by_suite = {s: run_suite(s, run) for s in wanted if s != "pytest"}
            by_suite["pytest"] = watching.result()
        except BaseException:       # Ctrl-C, SIGTERM: the watching thread returns once pytest is gone
            early.kill()
            raise
    return by_suite


def ext_test(settings, spec="all", *, pg=None, k=None, werror=False, idle_timeout=None, suites=None, fresh=False,
             debug=False, breaks=()):
    """ext-test over extensions × builds; prints progress and returns [SuiteResult].

    debug: hold the first test backend for gdb (pglab.debug.pause); one extension on one build."""
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
                                     suites=chosen, fresh=fresh, debug=plan)
                p.detail = ", ".join(f"{r.suite} {r.status}" for r in got if r.suite != "server")
            results.extend(got)
    return results

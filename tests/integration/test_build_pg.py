"""build-pg end to end on real sources: the default debug build, re-runs, contrib,
bad input, patches, a killed build, a user's own tree rebuilt incrementally."""

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pglab.cluster import Cluster
from pglab.config import PROJECT_ROOT, Settings
from pglab.pg import build as build_mod
from pglab.servers import refuse_if_running
from pglab.pg import builds as builds_mod
from pglab import pgcheck as check
from pglab.pg.builds import META

from ..conftest import invoke, stable_path
from .test_debug import Tmux


def pg_config(b, *flags):
    return subprocess.run([str(b.pg_config), *flags], capture_output=True, text=True, check=True).stdout.strip()


def test_default_build_is_a_debug_build(default_build):
    configure = pg_config(default_build, "--configure")
    assert "--enable-debug" in configure and "--enable-cassert" in configure
    assert "-O0" in pg_config(default_build, "--cflags").split()
    assert "-g3" in pg_config(default_build, "--cflags").split()
    meta = default_build.meta
    assert meta["flavour"] == "debug"
    if default_build.major != 16:  # 16 is not reachable everywhere: the stand-in is recorded
        assert meta["substituted_for"] == "16"
    else:
        assert meta["requested"] == "16"
    assert builds_mod.find_build(Settings.load()).id == default_build.id   # what commands without --version use
    assert pg_config(default_build, "--version") == f"PostgreSQL {default_build.release}"


def test_contrib_and_tools_are_installed(default_build):
    share = Path(pg_config(default_build, "--sharedir")) / "extension"
    for ext in ("pageinspect", "pg_stat_statements", "pg_trgm"):
        assert (share / f"{ext}.control").is_file(), ext
    for tool in ("pg_waldump", "pg_regress", "psql", "initdb"):
        if tool == "pg_regress":
            tool_path = Path(pg_config(default_build, "--pgxs")).parent.parent / "test" / "regress" / "pg_regress"
        else:
            tool_path = default_build.bin(tool)
        assert tool_path.exists(), tool


def test_rerun_with_nothing_changed_does_nothing(default_build):
    meta_file = default_build.prefix / META
    before = (meta_file.stat().st_mtime_ns, default_build.prefix.stat().st_ino)
    done = invoke("build-pg")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout
    assert "▸ make" not in done.stdout and "▸ configure" not in done.stdout
    assert (meta_file.stat().st_mtime_ns, default_build.prefix.stat().st_ino) == before
    assert re.search(r"open psql on it: (invoke|\./lab) psql$", done.stdout, re.M)  # how to get in


def _untouched(b):
    return (b.prefix / META).stat().st_mtime_ns, sorted(p.name for p in b.prefix.iterdir())


@pytest.mark.parametrize("args,message", [
    (["--version", "99"], r"^error: PostgreSQL 99 cannot be obtained.*reachable: .*\d"),
    (["--version", "abc"], r"^error: 'abc' is not a PostgreSQL version: use a major \(16\)"),
    (["--version", "12"], r"^error: version '12': pglab builds PostgreSQL 13 and newer"),
    (["--source", "/etc"], r"^error: --source /etc is not a PostgreSQL source tree"),
    (["--source", "/nonexistent/pg"], r"^error: --source /nonexistent/pg: no such directory"),
    (["--patch", "/nonexistent.patch"], r"^error: --patch /nonexistent.patch: no such file"),
    (["--flavour", "turbo"], r"^error: unknown flavour 'turbo'"),
])
def test_bad_input_is_one_clear_line_and_touches_nothing(default_build, args, message):
    before = _untouched(default_build)
    done = invoke("build-pg", *args)
    assert done.returncode != 0
    errors = [l for l in done.stderr.splitlines() if l.strip()]
    assert len(errors) == 1, done.stderr
    assert re.search(message, errors[0]), errors[0]
    assert "Traceback" not in done.stderr
    assert _untouched(default_build) == before


def test_patch_that_does_not_apply_fails_cleanly(settings, default_build, tmp_path):
    patch = tmp_path / "broken.patch"
    patch.write_text("--- a/src/backend/no_such_file.c\n+++ b/src/backend/no_such_file.c\n@@ -1,1 +1,1 @@\n-old\n+new\n")
    source_before = sorted(p.name for p in default_build.source_dir.iterdir())
    ident = dict(default_build.meta["identity"], patches=[hashlib.sha256(patch.read_bytes()).hexdigest()])
    would_be = build_mod.build_id(ident)
    done = invoke("build-pg", "--version", str(default_build.release), "--patch", str(patch))
    assert done.returncode != 0
    assert re.match(r"error: patch broken.patch does not apply to PostgreSQL", done.stderr.strip()), done.stderr
    assert sorted(p.name for p in default_build.source_dir.iterdir()) == source_before
    assert not list((default_build.source_dir).rglob("*.rej"))
    # no half-made build left behind (other runs on the machine may be making builds of their own)
    assert not settings.layout.build_dir(would_be).exists() and not settings.layout.prefix(would_be).exists()


def _version_patch(source_dir, marker):
    """A patch (made from the real file, so it fits any release) that makes
    version() say `marker`."""
    import difflib

    rel = "src/backend/utils/adt/version.c"
    old = (source_dir / rel).read_text().splitlines(keepends=True)
    new = [l.replace("PG_VERSION_STR)", f'PG_VERSION_STR " {marker}")') for l in old]
    assert new != old
    return "".join(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}"))


def _wait_for_compiles(log, count, proc, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("build-pg finished before it could be interrupted")
        if log.exists() and len(re.findall(r"\s-c\s", log.read_text(errors="replace"))) >= count:
            return
        time.sleep(0.5)
    raise AssertionError("make never got going")


@pytest.mark.slow
def test_patched_build_killed_mid_compile_then_rerun_is_complete(settings, default_build, tmp_path):
    with stable_path("pglab-test-patched", tmp_path / "patch") as (folder, stable):
        _killed_then_rerun(settings, default_build, folder, stable)


def _killed_then_rerun(settings, default_build, folder, stable):
    # The same patch on every run, so ccache serves the build that is killed and
    # resumed (another run holding the folder gets a patch and so a build of its own).
    marker = "(pglab-patched)" if stable else f"(pglab-patched-{os.getpid()})"
    patch = folder / "version-marker.patch"
    patch.write_text(_version_patch(default_build.source_dir, marker))
    ident = dict(default_build.meta["identity"], patches=[hashlib.sha256(patch.read_bytes()).hexdigest()])
    expected = build_mod.build_id(ident)
    for leftover in (settings.layout.build_dir(expected), settings.layout.prefix(expected)):
        shutil.rmtree(leftover, ignore_errors=True)   # from a run killed before its clean-up
    args = ["build-pg", "--version", str(default_build.release), "--patch", str(patch)]
    before = {p for p in settings.layout.builds.iterdir() if p.is_dir()}
    proc = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        new = set()
        while not new and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            new = {p for p in settings.layout.builds.iterdir() if p.is_dir()} - before
        assert len(new) == 1, f"expected one new build directory, saw {new}"
        bdir = new.pop()
        assert bdir.name == expected
        _wait_for_compiles(bdir / "logs" / "make.log", 100, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    prefix = settings.layout.prefix(bdir.name)
    assert not (prefix / META).exists(), "a killed build must not look complete"

    done = invoke(*args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "interrupted" in done.stdout
    patched = builds_mod.Build.load(prefix)
    assert patched.id != default_build.id and patched.meta["patches"][0]["file"] == str(patch)
    with Cluster.throwaway(settings, patched) as cl:
        assert cl.sql("select version()")[0][0].endswith(marker)
        cl.sql("create extension pageinspect")  # contrib came along with the patched build
        assert cl.sql("select count(*) from pg_extension")[0][0] == "2"
    # the unpatched build is another build and stays as it was
    with Cluster.throwaway(settings, default_build) as cl:
        assert marker not in cl.sql("select version()")[0][0]

    # the patch lab (week 14), in a working area of its own: built, not yet checked; then pg-check passes
    from pglab import lab

    # (this is also the suite's one run of PostgreSQL's whole regression suite: `invoke pg-check`)
    area = Settings.load(root=folder / "area")
    patch_lab = lab.find("patch")
    # (its with-tests check looks at every patched build pglab has, the other tests' too: tests/unit/test_lab.py)
    assert [r.ok for r in lab.check(area, patch_lab, only={"patched-and-checked"})] == [False]
    checked = invoke("pg-check", "--version", patched.id, env={"INVOKE_PGLAB_ROOT": str(area.root)})
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr
    whole = check.schedule_tests(patched.source_dir / "src" / "test" / "regress" / "parallel_schedule")
    assert f"all {len(whole)} tests passed on {patched.id}" in checked.stdout
    assert [(r.ok, r.detail) for r in lab.check(area, patch_lab, only={"patched-and-checked"})] == [
        (True, f"{patched.id} (1 patch(es)): pg-check passed")]
    build_mod.remove_build(settings, patched.id, in_use=refuse_if_running)


_PLAN_TESTS = ("select", "join")


@pytest.mark.slow
def test_local_tree_is_rebuilt_incrementally(settings, default_build, tmp_path):
    """The curriculum's week 15 as the planner-fork lab runs it: `lab --start` forks the
    build's source, build-pg --source builds it and rebuilds only what changed, the lab's
    checks fail on the untouched fork and pass once the change is built and gdb stopped in it."""
    # the fork keeps its path from run to run, so ccache serves its first build
    with stable_path("pglab-test-fork", tmp_path / "fork") as (folder, _):
        _fork_rebuilt(settings, default_build, folder, tmp_path)


def _fork_rebuilt(settings, default_build, folder, tmp_path):
    from pglab import lab

    area, env = Settings.load(root=folder), {"INVOKE_PGLAB_ROOT": str(folder)}
    fork = area.layout.lab_fork("planner-fork")
    expected = build_mod.build_id(default_build.meta["identity"], local_path=fork)
    for leftover in (settings.layout.build_dir(expected), settings.layout.prefix(expected)):
        shutil.rmtree(leftover, ignore_errors=True)   # from a run killed before its clean-up
    started = invoke("lab", "planner-fork", "--start", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    done = invoke("build-pg", "--source", str(fork), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    local = [b for b in builds_mod.list_builds(settings) if b.meta["source_dir"] == str(fork)][0]
    assert local.meta["channel"] == "local" and local.id == expected
    again = invoke("build-pg", "--source", str(fork), env=env)
    assert "up to date" in again.stdout
    planner_fork = lab.find("planner-fork")
    assert [r.ok for r in lab.check(area, planner_fork, pg=local.id)] == [True, False, False]

    # the lab's exercise, "modify the planner in a fork": every seq scan now starts at cost 42
    costsize = fork / "src/backend/optimizer/path/costsize.c"
    text = costsize.read_text()
    at = text.index("\ncost_seqscan(")
    body = text[at:].replace("startup_cost = 0;", "startup_cost = 42;", 1)
    costsize.write_text(text[:at] + body)
    done = invoke("build-pg", "--source", str(fork), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    compiled = re.findall(r"-o (\S+\.o) ", (local.build_dir / "logs" / "make.log").read_text())
    assert compiled == ["costsize.o"], compiled  # only what changed recompiles
    with Cluster.throwaway(settings, builds_mod.Build.load(local.prefix)) as cl:
        plan = cl.sql("explain select * from pg_class")[0][0]
        assert re.match(r"Seq Scan on pg_class\s+\(cost=42\.00\.\.", plan), plan
    assert not (fork / "config.status").exists()  # pglab never writes into a user's tree

    # the lab's checks: the plan passes; stopping in cost_seqscan with `invoke debug` passes the last
    assert [r.ok for r in lab.check(area, planner_fork, pg=local.id)] == [True, True, False]
    tmux = Tmux(tmp_path)
    try:
        tmux.start(f"INVOKE_PGLAB_ROOT={shlex.quote(str(folder))} {shlex.quote(sys.executable)} -m invoke debug "
                   f"--pg {local.id} --break cost_seqscan --sql \"EXPLAIN SELECT * FROM pg_class\"")
        psql, gdb = tmux.wait_panes(2)
        tmux.wait_for(gdb, r"Breakpoint 1, cost_seqscan \(")
        tmux.type(gdb, "quit")
        tmux.wait_for(psql, r"Seq Scan on pg_class  \(cost=42\.00\.\.")
    finally:
        tmux.kill()
        Cluster.named(area, builds_mod.Build.load(local.prefix)).destroy()   # the session's cluster
    assert [r.ok for r in lab.check(area, planner_fork, pg=local.id)] == [True, True, True]

    # ... and pg-check shows the learner what the planner change broke: plans lost seq scans
    # (the tests whose plans read small tables; the whole suite runs once, on the patched build)
    result = check.run_check(settings, builds_mod.Build.load(local.prefix), tests=_PLAN_TESTS)
    assert not result.ok and result.failed and result.passed
    assert re.search(r"^-.*Seq Scan", result.diffs, re.M), result.diffs[:3000]

    # a server running on the install: build-pg refuses to replace it under the server
    rebuilt = builds_mod.Build.load(local.prefix)
    with Cluster.throwaway(settings, rebuilt, template=True) as cl:   # also makes the build's template
        costsize.write_text(costsize.read_text() + "\n/* touched */\n")
        done = invoke("build-pg", "--source", str(fork))
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [
            f"error: cannot replace {local.id}: a server runs on it (throwaway {cl.base.name}); "
            f"wait for the test run using it to finish"]
        assert builds_mod.Build.load(local.prefix).meta["built_at"] == rebuilt.meta["built_at"]
        assert cl.sql("select 1") == [["1"]]

    # the catalog version changes in the fork: the template made above is stale,
    # and a throwaway cluster (ext-test's too) must still start
    catversion = fork / "src/include/catalog/catversion.h"
    text = catversion.read_text()
    number = re.search(r"#define CATALOG_VERSION_NO\s+(\d+)", text).group(1)
    catversion.write_text(text.replace(number, str(int(number) + 1)))
    done = invoke("build-pg", "--source", str(fork))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    bumped = builds_mod.Build.load(local.prefix)
    with Cluster.throwaway(settings, bumped, template=True) as cl:
        assert cl.sql("select catalog_version_no from pg_control_system()") == [[str(int(number) + 1)]]
    build_mod.remove_build(settings, local.id, in_use=refuse_if_running)


def test_a_killed_build_is_resumed_wherever_the_project_lives(tmp_path):
    """The newest outputs of a killed make are removed, also when the path has /logs in it."""
    builddir = tmp_path / "logs" / "builds" / "17.11-debug"
    (builddir / "logs").mkdir(parents=True)
    (builddir / "src").mkdir()
    old, newer, log = builddir / "src" / "old.o", builddir / "src" / "half.o", builddir / "logs" / "make.log"
    for path in (old, newer, log):
        path.write_text("x")
    os.utime(old, (1000, 1000))
    build_mod._discard_interrupted_outputs(builddir, since=2000, count=4)
    assert old.exists() and log.exists() and not newer.exists()

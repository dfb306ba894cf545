"""ext-test on real builds: the worked examples on every built major, crashes,
hangs, compile errors, bad names, scaffolding, extensions from outside the repo,
and the warm server between runs."""

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from pglab.cluster import Cluster, State
from pglab.config import Settings
from pglab.errors import ExtensionError
from pglab.ext import runner, scaffold
from pglab.ext.discover import Extension, discover
from pglab.servers import stop_warm

from ..conftest import invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"
SUITES = ("build", "server", "regress", "isolation", "tap", "pytest")


def _processes_under(root, name=None):
    """PIDs of processes whose working directory is under root (optionally named `name`)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
            comm = Path(f"/proc/{entry.name}/comm").read_text().strip()
        except OSError:
            continue
        if cwd.startswith(str(root)) and (name is None or comm == name):
            pids.append(int(entry.name))
    return pids


def _by_suite(results):
    return {r.suite: r for r in results}


def _warm_base(settings, build, path):
    _dir, tag = runner.build_copy(settings, Extension(Path(path).name, Path(path)), build)
    return settings.layout.warm_server(build.id, tag)


def test_every_example_passes_on_the_quick_starts_build(settings, default_build, examples_only):
    """Every example, every suite, no warning (on every major: `invoke ci`'s matrix, which .ci/run runs)."""
    b = default_build
    results = runner.ext_test(settings, "all", pg=b.id)
    table = {(r.extension, r.build, r.suite): r for r in results}
    names = set(discover())
    assert names == {"pgl_funcs", "pgl_rational", "pgl_worker", "pgl_planlog"}
    for name in names:
        for suite in ("build", "server", "regress", "pytest"):
            r = table[(name, b.id, suite)]
            assert r.status == "pass", f"{name} {suite} on {b.id}: {r.detail}\n{r.output[-3000:]}"
        assert table[(name, b.id, "build")].output == "", f"{name} warns on {b.id}"
        assert table[(name, b.id, "isolation")].detail == "no ISOLATION in the Makefile"
    worker = table[("pgl_worker", b.id, "server")]
    assert worker.detail.startswith("settings from pgl_worker.conf; ")     # the preload, named in the report


def test_ext_test_task_prints_a_table_with_counts_and_exits_zero(default_build):
    done = invoke("ext-test", "pgl_funcs")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    rows = [l for l in done.stdout.splitlines() if l.startswith("│ pgl_funcs")]
    assert [r.split("│")[3].strip() for r in rows] == list(SUITES)
    assert rows[2].split("│")[5].strip() == "2/2"        # regress: upgrade, pgl_funcs
    assert rows[5].split("│")[5].strip() == "10/10"      # pytest
    assert done.stdout.strip().endswith("all 4 suites passed (12 tests)")


def test_the_server_stays_warm_and_is_restarted_when_its_settings_change(settings, default_build, tmp_path):
    ext = tmp_path / "pgl_worker"
    shutil.copytree(Path(__file__).resolve().parents[2] / "extensions" / "pgl_worker", ext)
    first = _by_suite(runner.ext_test(settings, str(ext), suites="regress"))
    assert first["server"].detail.endswith("started a server") and first["regress"].status == "pass"
    second = _by_suite(runner.ext_test(settings, str(ext), suites="regress"))
    assert second["server"].detail.endswith("reused the warm server") and second["regress"].status == "pass"
    conf = ext / "pgl_worker.conf"
    conf.write_text(conf.read_text().replace("'200ms'", "'300ms'"))
    third = _by_suite(runner.ext_test(settings, str(ext), suites="regress"))
    assert third["server"].detail.endswith(
        "restarted the server: its settings, build, control file or preloaded library changed")
    fresh = _by_suite(runner.ext_test(settings, str(ext), suites="regress", fresh=True))
    assert fresh["server"].detail.endswith("started a server")
    assert not _warm_base(settings, default_build, ext).exists()   # --fresh keeps nothing running


@pytest.mark.parametrize("fixture,function", [("crash_segv", "crash_segv_deref"), ("crash_assert", "crash_assert")])
def test_crash_yields_backtrace_naming_the_c_function(settings, default_build, fixture, function):
    path = FIXTURES / fixture
    results = _by_suite(runner.ext_test(settings, str(path)))
    regress = results["regress"]
    assert regress.status == "crash"
    assert regress.crash.test == f"regress/{fixture}"
    frames = regress.crash.backtrace.splitlines()
    assert any(f" in {function} (" in f for f in frames[:6]), frames[:6]
    assert "terminated by signal" in regress.crash.log
    assert not _warm_base(settings, default_build, path).exists()   # a crashed server is never kept warm
    done = invoke("ext-test", str(path))
    assert done.returncode == 1
    assert f"server crash in {fixture} on {default_build.id}, triggered by regress/{fixture}" in done.stdout
    assert f" in {function} (" in done.stdout


def test_hang_is_stopped_with_a_backtrace_and_nothing_it_started_survives(settings, default_build):
    path = FIXTURES / "hangs"
    results = _by_suite(runner.ext_test(settings, str(path), idle_timeout=5))
    regress = results["regress"]
    assert regress.status == "hang"
    assert regress.detail == "hangs: no test finished in 5 s"
    assert "backend " in regress.hang and "running: SELECT hangs();" in regress.hang
    assert " in hangs (" in regress.hang  # gdb's frame of the looping C function
    copy, _tag = runner.build_copy(settings, Extension("hangs", path), default_build)
    assert _processes_under(copy) == [], "pg_regress or its psql were left running"
    assert not _warm_base(settings, default_build, path).exists()


def test_a_long_suite_that_makes_progress_is_not_a_hang(settings, default_build, tmp_path):
    ext = tmp_path / "slow_but_steady"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "pgxs" / "pgxs_schedule", ext)
    for name in ("one", "two", "last"):     # each test takes 2 s; the suite 6 s; no test more than 3 s
        sql = ext / "sql" / f"{name}.sql"
        sql.write_text("SELECT pg_sleep(2) IS NULL AS slept;\n" + sql.read_text())
        out = ext / "expected" / f"{name}.out"
        out.write_text("SELECT pg_sleep(2) IS NULL AS slept;\n slept \n-------\n f\n(1 row)\n\n" + out.read_text())
    results = _by_suite(runner.ext_test(settings, str(ext), idle_timeout=3, suites="regress"))
    assert results["regress"].status == "pass", results["regress"].detail
    assert (results["regress"].passed, results["regress"].failed) == (4, 0)


def test_compile_error_shows_the_compiler_diagnostic(settings, default_build):
    results = runner.ext_test(settings, str(FIXTURES / "compile_error"))
    assert [r.suite for r in results] == ["build"] and results[0].status == "fail"
    assert results[0].detail == "make failed"
    assert f"{FIXTURES / 'compile_error'}/compile_error.c:" in results[0].output  # the user's file, not the copy
    assert "error: incompatible types" in results[0].output


def test_unknown_name_lists_known_ones_and_missing_build_names_the_command(default_build, examples_only):
    done = invoke("ext-test", "no_such_ext")
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: unknown extension no_such_ext; known: pgl_funcs, pgl_planlog, "
                                   "pgl_rational, pgl_worker (or give a folder's path, e.g. ./my_ext)")
    done = invoke("ext-test", "pgl_funcs", "--pg", "30")
    assert done.returncode == 1
    assert done.stderr.strip().endswith("run `invoke build-pg --version 30`")
    done = invoke("ext-test", "pgl_funcs", "--suite", "unit")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: unknown suite unit: choose from regress, isolation, tap, pytest"


@pytest.mark.parametrize("template", ["udf", "type", "bgworker", "hook"])
def test_scaffold_builds_and_passes(settings, default_build, tmp_path, template):
    dest = scaffold.scaffold(f"demo_{template}", template, root=tmp_path)
    assert (dest / f"demo_{template}.control").is_file() and not list(dest.rglob("*__EXT__*"))
    results = runner.ext_test(settings, str(dest))
    assert [(r.suite, r.status) for r in results] == [
        ("build", "pass"), ("server", "pass"), ("regress", "pass"), ("isolation", "skip"), ("tap", "skip"),
        ("pytest", "pass")], [(r.suite, r.detail, r.output[-2000:]) for r in results]


def test_scaffold_refuses_bad_names_and_never_overwrites(tmp_path):
    with pytest.raises(ExtensionError, match="^'1bad-name' is not a valid extension name"):
        scaffold.scaffold("1bad-name", "udf", root=tmp_path)
    with pytest.raises(ExtensionError, match="^unknown template 'nope': use one of bgworker, hook, type, udf$"):
        scaffold.scaffold("fine", "nope", root=tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mine.c").write_text("/* my work */")
    with pytest.raises(ExtensionError, match="already exists; pglab never overwrites an extension"):
        scaffold.scaffold("mine", "udf", root=tmp_path)
    assert (tmp_path / "mine" / "mine.c").read_text() == "/* my work */"
    done = invoke("new-ext", "pgl_funcs", "--template", "udf")
    assert done.returncode == 1 and "already exists; pglab never overwrites an extension" in done.stderr


def test_contrib_module_copied_out_of_the_source_tree(settings, default_build, tmp_path):
    module = tmp_path / "tsm_system_rows"
    shutil.copytree(default_build.source_dir / "contrib" / "tsm_system_rows", module)
    before = sorted(p.name for p in module.rglob("*"))
    results = _by_suite(runner.ext_test(settings, str(module)))
    assert results["build"].status == "pass" and results["regress"].status == "pass"
    assert sorted(p.name for p in module.rglob("*")) == before  # nothing written into the user's folder


def table_rows(text):
    """A rich table's rows as lists of cells; a line whose first cell is empty continues the row
    above (a cell wrapped over several lines, joined with spaces)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if rows and not cells[0]:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    return rows


def test_warm_servers_are_listed_and_stopped_with_pg_stop_all(settings, default_build):
    assert invoke("ext-test", "pgl_funcs", "--suite", "regress").returncode == 0   # any suite leaves it warm
    status = invoke("pg-status")
    rows = [r for r in table_rows(status.stdout) if r[1].startswith("ext-test pgl_funcs-")]
    assert len(rows) == 1, status.stdout
    assert rows[0][2] == ("running (kept warm for ext-test, used 0 min ago; stops 30 min unused (1 of at most 3))")
    done = invoke("pg-stop", "--all")
    assert done.returncode == 0 and done.stdout.startswith("stopped ")
    base = _warm_base(settings, default_build, Path(__file__).resolve().parents[2] / "extensions" / "pgl_funcs")
    assert not base.exists()
    assert Cluster(default_build, base).state() is State.ABSENT


def test_pytest_runs_in_a_pre_started_interpreter_with_the_same_verdict(settings, default_build, monkeypatch):
    from pglab.ext import prestart

    # a run gives it 0.3 s to answer, then goes the usual way; beside the other
    # worker's builds the freshly started one can take longer to be scheduled
    monkeypatch.setattr(prestart, "HANDSHAKE", 10.0)
    prestart.stop(settings)
    first = _by_suite(runner.ext_test(settings, "pgl_funcs", suites="pytest"))
    path = prestart.socket_path(settings)
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:   # started for the next run
        time.sleep(0.1)
    assert path.exists()
    started = prestart.run(settings, ["--version"], env=dict(os.environ), cwd=Path.cwd())
    assert started is not None and started.wait(30) == 0
    assert b"pytest" in started.stdout.read()
    second = _by_suite(runner.ext_test(settings, "pgl_funcs", suites="pytest"))
    assert (first["pytest"].status, first["pytest"].passed) == (second["pytest"].status, second["pytest"].passed) \
        == ("pass", 10)
    assert prestart.stop(settings) is True
    deadline = time.monotonic() + 10
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not path.exists()


def test_an_isolation_suite_that_hangs_shows_who_waits_for_whom(settings, default_build):
    results = _by_suite(runner.ext_test(settings, str(FIXTURES / "isolation_hang"), idle_timeout=5))
    iso = results["isolation"]
    assert (iso.status, iso.detail) == ("hang", "stuck: no test finished in 5 s")
    sleeper, waiter = iso.hang.split("\nbackend ")
    sleeper_pid = sleeper.split()[1]
    assert sleeper.startswith(f"backend {sleeper_pid} running: SELECT pg_sleep(3600);")
    assert waiter.splitlines()[:3] == [
        waiter.splitlines()[0], "  waiting on Lock/transactionid for transactionid ShareLock",
        f"  blocked by backend(s) {sleeper_pid}"]
    assert waiter.splitlines()[0].endswith("running: UPDATE accounts SET balance = 1 WHERE id = 1;")
    assert "#0 " in waiter          # a backtrace of the waiting backend too


def test_a_tap_node_that_crashes_is_backtraced_from_its_core(settings, default_build):
    results = _by_suite(runner.ext_test(settings, str(FIXTURES / "tap_crash")))
    tap = results["tap"]
    assert tap.status == "crash" and tap.crash.test == "tap/t/001_crash.pl"
    assert tap.crash.signal == "core file t_001_crash_main_data/pgdata/core"
    assert " in tap_crash_deref (p=0x0) at tap_crash.c:" in tap.crash.backtrace.splitlines()[0]
    assert tap.logs.endswith("/tmp_check/log")


def _warm_area():
    path = Path(tempfile.mkdtemp(prefix="pglab-test-warm-"))
    path.chmod(0o755)        # the servers' account reaches it (pytest's own folders are 0700)
    return path


def test_warm_servers_are_bounded_the_least_recently_used_stopped_first(default_build):
    from pglab import servers

    area = _warm_area()
    settings = Settings.load(root=area, warm_servers=2)
    try:
        for name in ("pgl_funcs", "pgl_rational", "pgl_planlog"):
            regress = _by_suite(runner.ext_test(settings, name, suites="regress"))["regress"]
            assert (regress.status, regress.failed) == ("pass", 0), name
        kept = [base.name.rsplit("-", 1)[0] for base, _used in servers.running_warm(settings)]
        assert kept == ["pgl_planlog", "pgl_rational"]          # most recently used first; pgl_funcs stopped
        status = invoke("pg-status", env={"INVOKE_PGLAB_ROOT": str(area)})
        states = {r[1].rsplit("-", 1)[0]: r[2] for r in table_rows(status.stdout) if r[1].startswith("ext-test ")}
        assert states == {
            "ext-test pgl_planlog": "running (kept warm for ext-test, used 0 min ago; stops 30 min unused "
                                    "(1 of at most 3))",
            "ext-test pgl_rational": "running (kept warm for ext-test, used 0 min ago; stops 30 min unused "
                                     "(2 of at most 3))"}      # pg-status runs with the default bound
    finally:
        stop_warm(settings)
        shutil.rmtree(area, ignore_errors=True)


def test_a_warm_server_left_unused_stops_by_itself(default_build):
    from pglab import servers
    from pglab.cluster import owner_alive

    area = _warm_area()
    settings = Settings.load(root=area, warm_idle_minutes=2 / 60)
    try:
        regress = _by_suite(runner.ext_test(settings, "pgl_funcs", suites="regress"))["regress"]
        assert regress.status == "pass"
        assert [b.name.rsplit("-", 1)[0] for b, _ in servers.running_warm(settings)] == ["pgl_funcs"]
        watcher = settings.layout.warm_servers
        deadline = time.monotonic() + 30
        while servers.running_warm(settings) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert servers.running_warm(settings) == []
        while owner_alive(watcher, name="watcher.pid") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not owner_alive(watcher, name="watcher.pid")     # nothing left to watch: it is gone too
        again = _by_suite(runner.ext_test(settings, "pgl_funcs", suites="regress"))
        assert again["server"].detail == "restarted the server: it had stopped"
    finally:
        stop_warm(settings)
        shutil.rmtree(area, ignore_errors=True)

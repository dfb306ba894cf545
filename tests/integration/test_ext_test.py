"""ext-test on real builds: the worked examples on every built major, crashes,
hangs, compile errors, bad names, scaffolding, extensions from outside the repo."""

import os
import shutil
from pathlib import Path

import pytest

from pglab import build as build_mod
from pglab import extensions

from ..conftest import invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"


def _throwaways(settings):
    tmp = settings.clusters / ".tmp"
    return set(tmp.iterdir()) if tmp.exists() else set()


def _postgres_under(root):
    """PIDs of processes whose working directory is (or was, if deleted) under root."""
    pids = []
    for entry in os.scandir("/proc"):
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd") if entry.name.isdigit() else ""
        except OSError:
            continue
        if cwd.startswith(str(root)):
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def no_cluster_left(settings):
    """After the test: no throwaway cluster it made is left, on disk or running."""
    before_dirs, before_pids = _throwaways(settings), set(_postgres_under(settings.clusters / ".tmp"))
    yield
    assert _throwaways(settings) - before_dirs == set(), "a throwaway cluster's directory was left behind"
    assert set(_postgres_under(settings.clusters / ".tmp")) - before_pids == set(), "a postgres process was left"


def _by_suite(results):
    return {r.suite: r for r in results}


def test_every_example_passes_on_every_built_major(settings, default_build, no_cluster_left):
    builds = build_mod.resolve_builds(settings, "all")
    assert default_build.major in [b.major for b in builds]
    results = extensions.ext_test(settings, pg=",".join(b.id for b in builds))
    table = {(r.extension, r.build, r.suite): r for r in results}
    names = set(extensions.discover())
    assert {"pgl_funcs", "pgl_rational", "pgl_worker", "pgl_planlog"} <= names
    for b in builds:
        for name in names:
            for suite in ("build", "regress", "pytest"):
                r = table[(name, b.id, suite)]
                assert r.status == "pass", f"{name} {suite} on {b.id}: {r.detail}\n{r.output[-3000:]}"
            assert table[(name, b.id, "build")].output == "", f"{name} warns on {b.id}"


def test_ext_test_task_prints_a_table_and_exits_zero(default_build):
    done = invoke("ext-test", "pgl_funcs")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "pgl_funcs" in done.stdout and "regress" in done.stdout and "pytest" in done.stdout


@pytest.mark.parametrize("fixture,function", [("crash_segv", "crash_segv_deref"), ("crash_assert", "crash_assert")])
def test_crash_yields_backtrace_naming_the_c_function(settings, default_build, fixture, function, no_cluster_left):
    results = _by_suite(extensions.ext_test(settings, path=FIXTURES / fixture, timeout=60))
    regress = results["regress"]
    assert regress.status == "crash"
    assert regress.crash.test == f"regress/{fixture}"
    assert function in regress.crash.backtrace.splitlines()[0] or function in regress.crash.backtrace
    assert "terminated by signal" in regress.crash.log
    done = invoke("ext-test", "--path", str(FIXTURES / fixture), "--timeout", "60")
    assert done.returncode == 1 and "server crash" in done.stdout and function in done.stdout


def test_hang_is_stopped_with_a_backtrace(settings, default_build, no_cluster_left):
    results = _by_suite(extensions.ext_test(settings, path=FIXTURES / "hangs", timeout=5))
    regress = results["regress"]
    assert regress.status == "hang" and "did not finish in 5 s" in regress.detail
    assert "in hangs (" in regress.output  # gdb's frame of the looping C function


def test_compile_error_shows_the_compiler_diagnostic(settings, default_build):
    results = extensions.ext_test(settings, path=FIXTURES / "compile_error")
    assert [r.suite for r in results] == ["build"] and results[0].status == "fail"
    assert "compile_error.c:" in results[0].output and "error:" in results[0].output
    assert str(FIXTURES / "compile_error") in results[0].output  # points at the user's file, not pglab's mirror


def test_unknown_name_lists_known_ones_and_missing_build_names_the_command(default_build):
    done = invoke("ext-test", "no_such_ext")
    assert done.returncode == 1
    assert "unknown extension no_such_ext; known: " in done.stderr and "pgl_funcs" in done.stderr
    done = invoke("ext-test", "pgl_funcs", "--pg", "14")
    assert done.returncode == 1 and "run `invoke build-pg --version 14`" in done.stderr


@pytest.mark.parametrize("template", ["udf", "type", "bgworker", "hook"])
def test_scaffold_builds_and_passes(settings, default_build, tmp_path, template):
    dest = extensions.scaffold(f"demo_{template}", template, root=tmp_path)
    assert (dest / f"demo_{template}.control").is_file() and not list(dest.rglob("*__EXT__*"))
    results = extensions.ext_test(settings, path=dest)
    assert [r.status for r in results] == ["pass", "pass", "pass"], [(r.suite, r.detail, r.output[-2000:]) for r in results]


def test_scaffold_refuses_bad_names_and_never_overwrites(tmp_path):
    with pytest.raises(Exception, match="not a valid extension name"):
        extensions.scaffold("1bad-name", "udf", root=tmp_path)
    with pytest.raises(Exception, match="unknown template"):
        extensions.scaffold("fine", "nope", root=tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mine.c").write_text("/* my work */")
    with pytest.raises(Exception, match="already exists"):
        extensions.scaffold("mine", "udf", root=tmp_path)
    assert (tmp_path / "mine" / "mine.c").read_text() == "/* my work */"
    done = invoke("new-ext", "pgl_funcs", "--template", "udf")
    assert done.returncode == 1 and "already exists" in done.stderr


def test_contrib_module_copied_out_of_the_source_tree(settings, default_build, tmp_path):
    module = tmp_path / "tsm_system_rows"
    shutil.copytree(default_build.source_dir / "contrib" / "tsm_system_rows", module)
    before = sorted(p.name for p in module.rglob("*"))
    results = _by_suite(extensions.ext_test(settings, path=module))
    assert results["build"].status == "pass" and results["regress"].status == "pass"
    assert sorted(p.name for p in module.rglob("*")) == before  # nothing written into the user's folder

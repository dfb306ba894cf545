"""./lab on a fresh clone: one line per set-up step, pip's output kept in a log
(shown when a step fails), a build without deprecation warnings, and nothing
printed once everything is set up; `./lab test` adds the test suite's packages.
Every task's --help.  pglab as a wheel, installed in a venv of its own: every module
imports, the `pglab` command has the same tasks and help, and ext-test passes from it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pglab.config import PROJECT_ROOT
from pglab.tasks import ns
from tests.conftest import invoke

from .conftest import from_wheel as _from_wheel

TASKS = sorted(ns.task_names)
TEST_PACKAGES = ("pytest-xdist", "check-jsonschema", "hypothesis")


def _lab(clone, *args):
    return subprocess.run([str(clone / "lab"), *args], cwd=clone, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    path = tmp_path_factory.mktemp("front-door") / "pglab"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(path)], check=True)
    return path


@pytest.mark.slow
def test_first_run_prints_one_line_per_step_and_keeps_pip_in_a_log(clone):
    done = _lab(clone, "--version")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    python = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert [re.sub(r"\d+ s$", "N s", l) for l in lines[:4]] == [      # Debian's own python3, whatever PATH says
        f"▸ create .venv (Python {python}, /usr/bin/python3)",
        f"  ✓ create .venv (Python {python}, /usr/bin/python3) done in N s",
        "▸ install pglab and its Python dependencies into .venv",
        "  ✓ install pglab and its Python dependencies into .venv done in N s"]
    assert re.fullmatch(r"Invoke \d+\.\d+\.\d+", lines[4]) and len(lines) == 5
    log = (clone / ".venv-setup.log").read_text()
    assert "Successfully installed" in log and "pglab" in log
    assert "deprecat" not in log.lower()          # the build itself warns about nothing deprecated
    again = _lab(clone, "--version")
    assert again.stdout.splitlines() == lines[4:] and again.stderr == ""


def _installed(clone, package):
    done = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-m", "pip", "show", "-q", package],
                          capture_output=True, text=True)
    return done.returncode == 0


@pytest.mark.slow
def test_lab_test_adds_the_test_packages_with_one_line(clone):
    _lab(clone, "--version")                          # set up as the first ./lab does, whatever it printed
    assert [p for p in TEST_PACKAGES if _installed(clone, p)] == []
    done = _lab(clone, "test", "--help")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [re.sub(r"\d+ s$", "N s", l) for l in lines[:3]] == [
        "▸ install the test suite's packages into .venv",
        "  ✓ install the test suite's packages into .venv done in N s",
        "Usage: inv[oke] [--core-opts] test [--options] [other tasks here ...]"]
    assert [p for p in TEST_PACKAGES if _installed(clone, p)] == list(TEST_PACKAGES)
    again = _lab(clone, "test", "--help")
    assert again.stdout.splitlines() == lines[2:] and again.stderr == ""


@pytest.mark.slow
def test_a_failing_step_says_which_and_shows_the_log(clone):
    pyproject = clone / "pyproject.toml"
    good = pyproject.read_text()
    try:
        pyproject.write_text(good.replace('dependencies = [\n', 'dependencies = [\n  "pglab-no-such-package-zz9==1.0",\n'))
        done = _lab(clone, "--version")
        assert done.returncode == 1
        assert done.stdout.splitlines() == ["▸ install pglab and its Python dependencies into .venv"]
        err = done.stderr.splitlines()
        assert err[0] == (f"! install pglab and its Python dependencies into .venv failed; "
                          f"the last lines of {clone / '.venv-setup.log'}:")
        assert any("pglab-no-such-package-zz9" in l for l in err[1:])
    finally:
        pyproject.write_text(good)


@pytest.mark.parametrize("jobs", ["0", "two"])
def test_test_jobs_must_be_a_number_of_workers(jobs):
    done = invoke("test", "--jobs", jobs, timeout=60)
    assert (done.returncode, done.stdout, done.stderr.strip()) == (
        1, "", f"error: --jobs {jobs}: give a number of workers, 1 or more (1 runs the tests in this process)")


def _accepted_pythons():
    """{version tuple: path} of every python3 and python3.N in PATH, /usr/local/bin and /usr/bin
    that pyproject's requires-python accepts."""
    floor = re.search(r'^requires-python = ">=([\d.]+)"', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M).group(1)
    want = tuple(int(p) for p in floor.split("."))
    found = {}
    for folder in os.environ.get("PATH", "").split(":") + ["/usr/local/bin", "/usr/bin"]:
        for path in sorted(Path(folder or ".").glob("python3*")):
            if not re.fullmatch(r"python3(\.\d+)?", path.name) or not os.access(path, os.X_OK):
                continue
            done = subprocess.run([str(path), "-c", "import sys; print(*sys.version_info[:3])"],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                version = tuple(int(p) for p in done.stdout.split())
                if version[:len(want)] >= want:
                    found.setdefault(version, str(path))
    return found


@pytest.mark.slow
def test_the_unit_tests_pass_on_the_oldest_python_pglab_accepts_here(tmp_path):
    """pyproject's requires-python and what the code needs cannot drift apart: the unit tests
    run on the oldest accepted interpreter on this machine (Debian's own 3.11.2 here, which
    is also what ./lab makes .venv with, so the whole suite runs on it too)."""
    pythons = _accepted_pythons()
    oldest = min(pythons)
    if oldest == tuple(sys.version_info[:3]):
        return     # this run is on it: its unit tests are the proof
    venv = tmp_path / "venv"
    subprocess.run([pythons[oldest], "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-compile", "-e", f"{PROJECT_ROOT}[test]"],
                   check=True, capture_output=True, timeout=600)
    done = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(PROJECT_ROOT / "tests" / "unit")], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600)
    ran = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True, text=True)
    assert tuple(int(p) for p in ran.stdout.split()) == oldest
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"^\d+ passed", done.stdout.splitlines()[-1]), done.stdout[-500:]


@pytest.mark.parametrize("name", TASKS)
def test_every_task_shows_its_help_after_its_name(name):
    """`TASK --help` is what `--help TASK` prints, for tasks with a required argument too
    (which invoke would otherwise hand --help to)."""
    done = invoke(name, "--help", timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == invoke("--help", name, timeout=60).stdout
    assert done.stdout.startswith(f"Usage: inv[oke] [--core-opts] {name} ")


@pytest.mark.slow
def test_every_module_of_the_wheel_imports_and_it_ships_its_data(wheel_venv):
    walk = ("import importlib, pkgutil, pglab\n"
            "names = [m.name for m in pkgutil.walk_packages(pglab.__path__, 'pglab.') if m.name != 'pglab.__main__']\n"
            "for name in names: importlib.import_module(name)\n"
            "print(len(names), pglab.__file__)")
    done = _from_wheel(wheel_venv, "python", "-c", walk)
    assert done.returncode == 0, done.stderr
    count, where = done.stdout.split()
    site = Path(where).parent.parent
    assert site.name == "site-packages" and site.is_relative_to(wheel_venv / "venv")
    src = wheel_venv / "src" / "pglab"
    in_tree = [p for p in src.rglob("*.py") if "templates" not in p.parts and p.name != "__main__.py"]
    assert int(count) == len(in_tree) - 1           # every module but pglab itself and __main__
    shipped = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    tracked = subprocess.run(["git", "ls-files", "tracing", "pglab/ext/templates", "pglab/inspect/page.c", "labs"],
                             cwd=wheel_venv / "src", capture_output=True, text=True, check=True).stdout.split()
    as_installed = {t.replace("tracing/", "pglab_tracing/", 1).replace("labs/", "pglab_labs/", 1) for t in tracked}
    assert as_installed - shipped == set()


@pytest.mark.slow
def test_an_installed_pglab_keeps_its_work_out_of_site_packages(wheel_venv):
    where = ("from pglab.config import IN_CLONE, PROJECT_ROOT, Settings\n"
             "s = Settings.load()\nprint(IN_CLONE, PROJECT_ROOT, s.root, s.cache, sep='\\n')")
    done = _from_wheel(wheel_venv, "python", "-c", where)
    assert done.returncode == 0, done.stderr
    state = (Path("/var/lib/pglab") if os.geteuid() == 0 else
             Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "pglab")
    cache = (Path("/var/cache/pglab") if os.geteuid() == 0 else
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pglab")
    assert done.stdout.splitlines() == ["False", str(wheel_venv / "elsewhere"), str(state), str(cache)]


@pytest.mark.slow
def test_the_pglab_command_has_every_task_with_the_same_help(wheel_venv):
    listed = _from_wheel(wheel_venv, "pglab", "--list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[2:] == invoke("--list").stdout.splitlines()[2:]
    for name in TASKS:
        done = _from_wheel(wheel_venv, "pglab", name, "--help")
        assert (done.returncode, done.stderr) == (0, ""), name
        ours = invoke(name, "--help").stdout
        assert done.stdout == ours.replace("Usage: inv[oke] ", "Usage: pglab ", 1), name


@pytest.mark.slow
def test_errors_from_the_pglab_command_name_it(wheel_venv, tmp_path):
    done = _from_wheel(wheel_venv, "pglab", "pg-clean", "../x", area=tmp_path / "area")
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "error: '../x' is not a build id (`pglab pg-list` shows the builds): a name is letters, digits, '.', "
               "'_' and '-' (not . or ..)\n")
    assert not (tmp_path / "area").exists()
    done = _from_wheel(wheel_venv, "pglab", "test", area=tmp_path / "area")
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "error: pglab's own test suite comes with a clone of pglab: run `./lab test` there\n")


@pytest.mark.slow
def test_the_labs_and_the_plan_come_with_the_wheel(wheel_venv, tmp_path):
    """An installed pglab has the labs: listed, walked with the commands as the learner types them
    there (pglab, and the working area where a clone's labs say pg_source/), the plan ticked."""
    area = tmp_path / "area"
    listed = _from_wheel(wheel_venv, "pglab", "labs", area=area)
    assert listed.returncode == 0, listed.stderr
    assert re.findall(r"^│ (\d+) +│ ([a-z-]+) +│", listed.stdout, re.M) == [
        ("10", "build"), ("10", "trace-query"), ("11", "planner"), ("11", "mvcc"), ("11", "heap-insert"),
        ("11", "buffers"), ("12", "wal"), ("12", "recovery"), ("12", "locks"), ("13", "memctx"), ("14", "call-stack"), ("15", "c-udf"),
        ("15", "bgworker"), ("16", "patch"), ("17", "trigrams"), ("17", "hooks"), ("18", "type"),
        ("19", "planner-fork"), ("20", "publish")]
    walked = _from_wheel(wheel_venv, "pglab", "lab", "mvcc", area=area)
    assert walked.returncode == 0, walked.stderr
    run = walked.stdout.split("\nRun:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert run[1] == "    pglab inspect lab_mvcc"
    assert run[3].endswith(f"--format html --out {area}/labs/mvcc.html")
    ticked = _from_wheel(wheel_venv, "pglab", "lab", "10.1", "--tick", area=area)
    assert ticked.returncode == 0, ticked.stderr
    status = _from_wheel(wheel_venv, "pglab", "labs", "--status", area=area)
    assert status.returncode == 0, status.stderr
    site = next((wheel_venv / "venv" / "lib").glob("python3*/site-packages"))
    assert status.stdout.splitlines()[1] == f"your plan: {site}/pglab_labs/plan/20-week-plan.md"
    assert re.search(r"^  ✓ 10\.1 +Read Ch\. 1 of \*The Internals of PostgreSQL\*\s+pglab inspect +ticked "
                     r"\d{4}-\d\d-\d\d$", status.stdout, re.M), status.stdout


@pytest.mark.slow
def test_ext_test_passes_from_the_wheel(wheel_venv, tmp_path):
    area = tmp_path / "area"
    try:
        done = _from_wheel(wheel_venv, "pglab", "ext-test", str(PROJECT_ROOT / "extensions" / "pgl_funcs"),
                           "--pg", "17", area=area, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        assert done.stdout.splitlines()[-1] == "all 4 suites passed (12 tests)"
        assert re.search(r"│ pgl_funcs │ 17\.\d+-debug │ pytest +│ pass +│ 10/10 │", done.stdout)
    finally:
        _from_wheel(wheel_venv, "pglab", "pg-stop", "--all", area=area)


@pytest.mark.slow
def test_inspect_and_trace_from_the_wheel_in_any_folder(wheel_venv, tmp_path, default_build):
    """The installed pglab's page decoder (page.c, compiled against the build's headers) and its gdb
    scripts (pglab_tracing) are found from the wheel, in a folder that is not a clone."""
    area = tmp_path / "area"
    try:
        for argv in (("pg-start", "--version", default_build.id),
                     ("psql", "-c", "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")):
            done = _from_wheel(wheel_venv, "pglab", *argv, area=area)
            assert done.returncode == 0, done.stderr
        page = _from_wheel(wheel_venv, "pglab", "inspect", "t", "--pg", default_build.id, area=area, timeout=600)
        assert page.returncode == 0, page.stderr
        assert page.stdout.splitlines()[0] == f"public.t  block 0 of 1  (heap, {default_build.id})"
        assert len(re.findall(r"^ +[12] normal +\d+ +28 ", page.stdout, re.M)) == 2, page.stdout
        traced = _from_wheel(wheel_venv, "pglab", "trace", "query", "--sql", "SELECT * FROM t", "--pg",
                             default_build.id, area=area, timeout=600)
        assert traced.returncode == 0, traced.stderr
        assert re.search(r"^exec_simple_query [\d.]+ ms query_string=SELECT \* FROM t$", traced.stdout, re.M)
        assert traced.stdout.rstrip().splitlines()[-1].startswith("  Seq Scan on t  (cost=")
    finally:
        _from_wheel(wheel_venv, "pglab", "pg-stop", "--all", area=area)

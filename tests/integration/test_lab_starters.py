"""The labs that ask for code, from `invoke lab NAME --start` on: the untouched starter builds and
passes its own tests but fails the lab's exercise checks; the reference solution (tests/lab_solutions/LAB/,
copied over the starter: it lives here, never in a learner's starter) makes every check pass.  On a
working area of the test's own, with extensions/ as a learner's (a learner's own lab_X is left alone)."""

import fcntl
import shlex
import shutil
import time
from pathlib import Path

import psycopg
import pytest

from pglab.servers import stop_warm
from tests.conftest import invoke, shared_tmp
from tests.integration.test_lab import area, marks, sql  # noqa: F401  (area: the working-area fixture)

SOLUTIONS = Path(__file__).resolve().parent.parent / "lab_solutions"


def _learner_extension(name):
    from pglab.ext.discover import EXTENSIONS_DIR

    path = EXTENSIONS_DIR / name
    if path.exists():
        pytest.skip(f"{path} exists: a learner's work, left alone")
    return path


def _extension_fixture(area, name):
    # extensions/NAME is one folder for every test run in this project (`invoke test`'s
    # workers, test_lab_walk): one test at a time has it
    with open(shared_tmp(f"pglab-test-{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = _learner_extension(name)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
            stop_warm(area[0])          # ext-test's warm servers of the test's working area


@pytest.fixture
def lab_udf(area):
    yield from _extension_fixture(area, "lab_udf")


@pytest.fixture
def lab_pair(area):
    yield from _extension_fixture(area, "lab_pair")


@pytest.fixture
def lab_worker(area):
    yield from _extension_fixture(area, "lab_worker")


@pytest.fixture
def lab_hook(area):
    yield from _extension_fixture(area, "lab_hook")


def start(env, name, ext):
    """`invoke lab NAME --start`; the TODO lines it printed, as "extensions/EXT/FILE:LINE"."""
    done = invoke("lab", name, "--start", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"created extensions/{ext}: new-ext's {_template(ext)} template, with the lab's TODOs:"
    assert lines[-1] == (f"next: invoke ext-test {ext}, then do the TODOs (grep -rn 'TODO(lab {name})' "
                         f"extensions/{ext}) and check them with `invoke lab {name} --check`")
    return [line.strip() for line in lines[1:-1]]


def _template(ext):
    return {"lab_udf": "udf", "lab_pair": "type", "lab_worker": "bgworker", "lab_hook": "hook"}[ext]


def solve(name, path):
    """The reference solution over the learner's starter, as a learner's edits: written now (copy2 would keep
    the solution files' older times, and make would see nothing to rebuild)."""
    shutil.copytree(SOLUTIONS / name, path, dirs_exist_ok=True, copy_function=shutil.copy)


def next_hint(stdout):
    """The last line of `lab NAME --check`: the hint of the first check that failed."""
    return stdout.rstrip().splitlines()[-1]


def test_c_udf_lab_fails_on_the_starter_and_passes_with_the_solution_then_publishes(area, lab_udf):
    settings, env, cl = area
    before = invoke("lab", "c-udf", "--check", env=env)
    assert [m for m, _ in marks(before.stdout)] == ["✗"] * 5
    assert "no extension at" in before.stdout
    todos = start(env, "c-udf", "lab_udf")
    assert [t.rsplit(":", 1)[0] for t in todos] == ["extensions/lab_udf/lab_udf.c", "extensions/lab_udf/lab_udf--1.0.sql",
                                                    "extensions/lab_udf/sql/lab_udf.sql",
                                                    "extensions/lab_udf/expected/lab_udf.out"]
    starter = invoke("lab", "c-udf", "--check", env=env)
    assert starter.returncode == 1
    assert [m for m, _ in marks(starter.stdout)] == ["✓", "✗", "✗", "✗", "✗"]
    assert next_hint(starter.stdout) == ("next: write it at the TODO at the end of lab_udf.c with PG_FUNCTION_INFO_V1, "
                                         "as lab_udf_add is, and uncomment its declaration at the end of "
                                         "lab_udf--1.0.sql")
    assert starter.stdout.count("does not exist") == 3        # the three calls of lab_udf_clamp
    solve("c-udf", lab_udf)
    solved = invoke("lab", "c-udf", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 5
    publish_before = invoke("lab", "publish", "--check", env=env)
    assert [m for m, _ in marks(publish_before.stdout)] == ["✗"]
    for step in (["ext-meta", "lab_udf"], ["ext-bundle", "lab_udf", "--allow-dirty"]):
        done = invoke(*step, env=env)
        assert done.returncode == 0, done.stderr
    published = invoke("lab", "publish", "--check", env=env)
    assert (published.returncode, marks(published.stdout)) == (
        0, [("✓", "a PGXN distribution lab_udf-VERSION.zip with a valid META.json")])


def test_start_twice_refuses_and_keeps_the_learners_work(area, lab_udf):
    settings, env, cl = area
    start(env, "c-udf", "lab_udf")
    solve("c-udf", lab_udf)
    work = {p: p.read_bytes() for p in lab_udf.rglob("*") if p.is_file()}
    again = invoke("lab", "c-udf", "--start", env=env)
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr.splitlines() == [
        f"error: {lab_udf} exists (your work, left as it is): to start over, move it away (mv {lab_udf} "
        f"{lab_udf}.old) and run `invoke lab c-udf --start` again"]
    assert {p: p.read_bytes() for p in lab_udf.rglob("*") if p.is_file()} == work


def test_type_lab_fails_on_the_starter_and_passes_with_the_solution(area, lab_pair):
    settings, env, cl = area
    start(env, "type", "lab_pair")
    starter = invoke("lab", "type", "--check", env=env)
    assert starter.returncode == 1
    assert [m for m, _ in marks(starter.stdout)] == ["✓", "✓", "✗", "✗"]
    assert next_hint(starter.stdout) == ("next: write lab_pair_add at the TODO at the end of lab_pair.c, then "
                                         "uncomment its function and CREATE OPERATOR + at the end of lab_pair--1.0.sql")
    solve("type", lab_pair)
    solved = invoke("lab", "type", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 4


def wait_for_rows(cl, table, count, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            if c.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0] and \
                    c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] >= count:
                return
        assert time.monotonic() < deadline, f"{table} has not {count} rows after {timeout} s"
        time.sleep(0.2)


def test_bgworker_lab_fails_on_the_starters_worker_and_passes_with_the_solutions(area, lab_worker):
    settings, env, cl = area
    cl.start()
    start(env, "bgworker", "lab_worker")
    installed = invoke("lab", "bgworker", "--check", env=env)
    assert [m for m, _ in marks(installed.stdout)] == ["✓", "✗", "✗", "✗", "✗"]
    sql(cl, "ALTER SYSTEM SET shared_preload_libraries = 'lab_worker'")       # the learner's work
    cl.stop()
    cl.start()
    running = invoke("lab", "bgworker", "--check", env=env)
    assert running.returncode == 1
    assert [m for m, _ in marks(running.stdout)] == ["✓", "✓", "✓", "✗", "✗"]
    assert 'relation "lab_worker_beats" does not exist' in running.stdout
    assert next_hint(running.stdout) == (
        "next: do the TODO in lab_worker_main (create lab_worker_beats once, INSERT a row in each round), then "
        "`invoke ext-test lab_worker` installs it and a restart (invoke pg-stop, invoke pg-start) runs the new worker")
    solve("bgworker", lab_worker)
    # installs the new worker; ext-test's warm server, which preloads the starter's library, sees the
    # reinstalled library and restarts on it
    tested = invoke("ext-test", "lab_worker", "--werror", env=env)
    assert tested.returncode == 0, tested.stdout
    cl.stop()
    cl.start()
    wait_for_rows(cl, "lab_worker_beats", 2)
    solved = invoke("lab", "bgworker", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 5


def test_hooks_lab_passes_with_the_pgss_trace_and_the_solutions_hook(area, lab_hook):
    from pglab import lab

    settings, env, cl = area
    cl.start()
    for cmd in lab.find("hooks").commands:                  # preload pg_stat_statements, save the trace
        words = shlex.split(cmd.replace("pg_source/labs/", f"{settings.layout.lab_work}/"))
        if words[1] in ("psql", "pg-stop", "pg-start", "trace"):
            done = invoke(*words[1:], env=env)
            assert done.returncode == 0, f"{cmd}: {done.stderr}"
    start(env, "hooks", "lab_hook")
    starter = invoke("lab", "hooks", "--check", env=env)
    assert starter.returncode == 1
    assert [m for m, _ in marks(starter.stdout)] == ["✓", "✓", "✓", "✗", "✗", "✗"]
    assert next_hint(starter.stdout) == ("next: do the TODO at the end of lab_hook.c (the hook, installed in _PG_init, "
                                         "and lab_hook_started), then uncomment its declaration at the end of "
                                         "lab_hook--1.0.sql")
    assert "function lab_hook_started() does not exist" in starter.stdout
    solve("hooks", lab_hook)
    solved = invoke("lab", "hooks", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 6


def test_the_fork_check_on_a_build_not_made_from_the_fork_says_there_is_none(area, default_build):
    """What the lead's slow test calls on its fork's build: pglab.lab.check(settings, lab, pg=BUILD)."""
    from pglab import lab

    settings, env, cl = area
    fork = settings.layout.lab_fork("planner-fork")
    results = lab.check(settings, lab.find("planner-fork"), pg=default_build.id)
    assert [r.ok for r in results] == [False, False, False]
    assert results[0].detail == (f"no build made from {fork} yet: `invoke lab planner-fork --start` makes the "
                                 f"fork, then `invoke build-pg --source {fork}`")
    assert results[1].detail.startswith(f"EXPLAIN SELECT * FROM pg_class on {default_build.id} gave "
                                        f"'Seq Scan on pg_class  (cost=0.00..")
    assert results[2].detail == (f"no debug session on {default_build.id} has had gdb attached with "
                                 f"--break cost_seqscan")

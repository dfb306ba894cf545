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
from tests.conftest import extensions_folder, invoke, shared_tmp
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
    # workers, test_lab_walk): one test at a time has it, and none that lists extensions/
    with extensions_folder(alone=False), open(shared_tmp(f"pglab-test-{name}.lock"), "w") as lock:
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
    from pglab import lab

    settings, env, cl = area
    before = invoke("lab", "c-udf", "--check", env=env)
    assert [m for m, _ in marks(before.stdout)] == ["✗"] * 4
    assert "no extension at" in before.stdout
    todos = start(env, "c-udf", "lab_udf")
    assert [t.rsplit(":", 1)[0] for t in todos] == ["extensions/lab_udf/lab_udf.c", "extensions/lab_udf/lab_udf--1.0.sql",
                                                    "extensions/lab_udf/sql/lab_udf.sql",
                                                    "extensions/lab_udf/expected/lab_udf.out"]
    starter = invoke("lab", "c-udf", "--check", env=env)
    assert starter.returncode == 1
    assert [m for m, _ in marks(starter.stdout)] == ["✗", "✗", "✗", "✗"]   # its tests pass, none calls the clamp
    assert next_hint(starter.stdout) == ("next: at the TODO in sql/lab_udf.sql, call lab_udf_clamp, and put what it "
                                         "prints in expected/lab_udf.out; `invoke ext-test lab_udf --werror` shows "
                                         "what fails")
    assert starter.stdout.count("does not exist") == 2        # the two calls of lab_udf_clamp
    solve("c-udf", lab_udf)
    solved = invoke("lab", "c-udf", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 4
    publish_before = invoke("lab", "publish", "--check", env=env)
    assert [m for m, _ in marks(publish_before.stdout)] == ["✗"] * 3
    for step in (["ext-meta", "lab_udf"], ["ext-bundle", "lab_udf", "--allow-dirty"]):
        done = invoke(*step, env=env)
        assert done.returncode == 0, done.stderr
    zipped = settings.layout.dist / "lab_udf-1.0.0.zip"
    bundled = invoke("lab", "publish", "--check", env=env)
    assert bundled.returncode == 1
    assert [m for m, _ in marks(bundled.stdout)] == ["✓", "✗", "✗"]  # the starter's README knows add and hello
    [undocumented] = lab.check(settings, lab.find("publish"), only={"documented"})
    assert undocumented.detail == "lab_udf-1.0.0/README.md in lab_udf-1.0.0.zip does not document lab_udf_clamp"
    assert next_hint(bundled.stdout) == ("next: a user reads the README before the code: say what each function "
                                         "does, its arguments, what NULL gives; then bundle again")
    solve("publish", lab_udf)                         # the README the learner writes
    again = invoke("ext-bundle", "lab_udf", "--allow-dirty", env=env)
    assert again.returncode == 0, again.stderr
    documented = invoke("lab", "publish", "--check", env=env)
    assert documented.returncode == 1
    assert [m for m, _ in marks(documented.stdout)] == ["✓", "✓", "✗"]
    assert next_hint(documented.stdout) == (
        f"next: `invoke ext-install {settings.layout.root}/dist/lab_udf-VERSION.zip --check` installs the zip with "
        f"pgxnclient, creates the extension on your cluster and runs its tests")
    installed = invoke("ext-install", str(zipped), "--check", env=env)   # the lab's ./pg_source/dist/ here
    assert installed.returncode == 0, installed.stdout + installed.stderr
    published = invoke("lab", "publish", "--check", env=env)
    assert (published.returncode, [m for m, _ in marks(published.stdout)]) == (0, ["✓"] * 3), published.stdout
    assert next_hint(published.stdout) == "lab publish done: every check passed"


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
    from pglab import lab

    settings, env, cl = area
    start(env, "type", "lab_pair")
    starter = invoke("lab", "type", "--check", env=env)
    assert starter.returncode == 1
    assert [m for m, _ in marks(starter.stdout)] == ["✗", "✗", "✗"]    # its tests pass, none adds pairs
    assert next_hint(starter.stdout) == ("next: at the TODO in sql/lab_pair.sql, add two lab_pair values with +, and "
                                         "put what it prints in expected/lab_pair.out; `invoke ext-test lab_pair "
                                         "--werror` shows what fails")
    results = {r.check.id: r.detail for r in lab.check(settings, lab.find("type"))}
    assert results["tested"] == ("sql/lab_pair.sql passes, but it does not test that: SELECT coalesce(sum(calls), 0) "
                                 "> 0 FROM pg_stat_user_functions WHERE funcname = 'lab_pair_add' gave False")
    assert results["plus"] == ("SELECT ('(1,2)'::lab_pair + '(10,20)'::lab_pair)::text: operator does not exist: "
                               "lab_pair + lab_pair")
    solve("type", lab_pair)
    solved = invoke("lab", "type", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 3


def wait_for_rows(cl, table, count, where="true", timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(cl.conninfo(), autocommit=True) as c:
            if c.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0] and \
                    c.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0] >= count:
                return
        assert time.monotonic() < deadline, f"{table} has not {count} rows where {where} after {timeout} s"
        time.sleep(0.2)


def test_bgworker_lab_fails_on_the_starters_worker_and_passes_with_the_solutions(area, lab_worker):
    from pglab import lab

    settings, env, cl = area
    cl.start()
    start(env, "bgworker", "lab_worker")
    installed = invoke("lab", "bgworker", "--check", env=env)
    assert installed.returncode == 1
    assert [m for m, _ in marks(installed.stdout)] == ["✗", "✗", "✗"]   # its tests pass, none reads the beats
    assert next_hint(installed.stdout) == (
        "next: at the TODO in sql/lab_worker.sql, wait (CALL wait_until(...)) until the launched worker has made "
        "lab_worker_beats and written two rows into it, then update expected/lab_worker.out; `invoke ext-test "
        "lab_worker --werror` shows what fails")
    found = {r.check.id: r.detail for r in lab.check(settings, lab.find("bgworker"))}
    assert found == {
        "tested": "sql/lab_worker.sql passes, but it does not test that: SELECT coalesce(sum(seq_scan), 0) > 0 FROM "
                  "pg_stat_user_tables WHERE relname = 'lab_worker_beats' gave False",
        "beats": "shared_preload_libraries is '': lab_worker is not in it",
        "reloaded": "shared_preload_libraries is '': lab_worker is not in it"}
    sql(cl, "ALTER SYSTEM SET shared_preload_libraries = 'lab_worker'")       # the learner's work
    cl.stop()
    cl.start()
    [running] = lab.check(settings, lab.find("bgworker"), only={"beats"})
    assert (running.ok, running.detail) == (
        False, "lab_worker runs, but there is no table lab_worker_beats in postgres: it runs the starter's code, or "
               "does not make the table")
    solve("bgworker", lab_worker)
    # installs the new worker; ext-test's warm server, which preloads the starter's library, sees the
    # reinstalled library and restarts on it
    tested = invoke("ext-test", "lab_worker", "--werror", env=env)
    assert tested.returncode == 0, tested.stdout
    cl.stop()
    cl.start()
    wait_for_rows(cl, "lab_worker_beats", 2)
    beating = invoke("lab", "bgworker", "--check", env=env)
    assert beating.returncode == 1
    assert [m for m, _ in marks(beating.stdout)] == ["✓", "✓", "✗"]
    assert next_hint(beating.stdout) == (
        "next: lab_worker.naptime is a PGC_SIGHUP setting: ALTER SYSTEM SET it to a few hundred milliseconds, then "
        "SELECT pg_reload_conf(), and watch the rows come faster")
    [default] = lab.check(settings, lab.find("bgworker"), only={"reloaded"})
    assert default.detail == "lab_worker.naptime is its default, 1 s: set another (ALTER SYSTEM), then reload"
    sql(cl, "ALTER SYSTEM SET lab_worker.naptime = '200ms'")                # the lab's Then:
    cl.stop()                                                                # a restart is not a reload
    cl.start()
    [restarted] = lab.check(settings, lab.find("bgworker"), only={"reloaded"})
    assert restarted.detail == ("the worker started after the last reload: make the new naptime reach the running "
                                "worker with a reload (SELECT pg_reload_conf()), not a restart")
    sql(cl, "ALTER SYSTEM SET lab_worker.naptime = '1s'")
    cl.stop()
    cl.start()
    sql(cl, "ALTER SYSTEM SET lab_worker.naptime = '200ms'", "SELECT pg_reload_conf()")
    wait_for_rows(cl, "lab_worker_beats", 5, "at > pg_conf_load_time()")   # a few rounds since the reload
    solved = invoke("lab", "bgworker", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 3


def test_hooks_lab_passes_with_the_pgss_trace_and_the_solutions_hook(area, lab_hook, default_build):
    from pglab import lab

    settings, env, cl = area
    hooks = lab.find("hooks")
    cl.start()
    worker = (Path(default_build.pkglibdir()) / "lab_worker.so").is_file()
    for cmd in hooks.commands:                              # preload pg_stat_statements, save the trace
        if not worker:                                      # as the lab says, when the bgworker lab was never done
            cmd = cmd.replace("'lab_worker', ", "")
        words = shlex.split(cmd.replace("pg_source/labs/", f"{settings.layout.lab_work}/"))
        if words[1] in ("psql", "pg-stop", "pg-start", "trace"):
            done = invoke(*words[1:], env=env)
            assert done.returncode == 0, f"{cmd}: {done.stderr}"
    start(env, "hooks", "lab_hook")
    starter = invoke("lab", "hooks", "--check", env=env)
    assert starter.returncode == 1
    assert [m for m, _ in marks(starter.stdout)] == ["✓", "✓", "✗", "✗", "✗", "✗"]   # its tests pass, none starts
    assert next_hint(starter.stdout) == ("next: at the TODO in sql/lab_hook.sql, read lab_hook_started() before and "
                                         "after a query, and put the output in expected/lab_hook.out; `invoke "
                                         "ext-test lab_hook --werror` shows what fails")
    both = settings.layout.lab_work / "hooks-both.jsonl"
    found = {r.check.id: r.detail for r in lab.check(settings, hooks, only={"started", "chained", "first"})}
    assert found == {
        "started": "SELECT lab_hook_started(): function lab_hook_started() does not exist",
        "chained": "function lab_hook_started() does not exist",
        "first": f"no answer 'first' in {settings.layout.lab_work / 'hooks.answers'}: write what you found there, "
                 f"as a line `first: ...`"}
    solve("hooks", lab_hook)
    solved = invoke("lab", "hooks", "--check", env=env)
    assert solved.returncode == 1
    assert [m for m, _ in marks(solved.stdout)] == ["✓", "✓", "✓", "✓", "✓", "✗"]
    assert next_hint(solved.stdout) == (      # first's graded hints: the first points into execMain.c and miscinit.c
        f"next: ExecutorStart (execMain.c) calls the one function ExecutorStart_hook holds: which library's _PG_init "
        f"set it last, in the order process_shared_preload_libraries (miscinit.c) loads them? Save a hooks trace "
        f"with both preloaded as {both} and write the function into {settings.layout.lab_work / 'hooks.answers'} "
        f"as a line `first: FUNCTION` (hint 1 of 2)")
    preload = "'lab_worker', 'pg_stat_statements', 'lab_hook'" if worker else "'pg_stat_statements', 'lab_hook'"
    for words in (["psql", "-c", f"ALTER SYSTEM SET shared_preload_libraries = {preload}"], ["pg-stop"], ["pg-start"],
                  ["trace", "hooks", "--sql", "SELECT 1", "--format", "json", "--out", str(both)]):
        done = invoke(*words, env=env)
        assert done.returncode == 0, f"{words}: {done.stderr}"
    answers = settings.layout.lab_work / "hooks.answers"
    answers.write_text("first: pgss_ExecutorStart\n")      # the one installed first runs last
    [wrong] = lab.check(settings, hooks, only={"first"})
    assert (wrong.ok, wrong.detail) == (False, "your first, pgss_ExecutorStart, is not what hooks-both.jsonl shows: "
                                               "look again")
    answers.write_text("first: lab_hook_ExecutorStart\n")
    done = invoke("lab", "hooks", "--check", env=env)
    assert done.returncode == 0, done.stdout
    assert [m for m, _ in marks(done.stdout)] == ["✓"] * 6


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

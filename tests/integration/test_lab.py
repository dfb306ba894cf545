"""Labs checked as a learner's work is: each lab's checks fail before the work and
pass after the reference solution (here, not in the learner's starter), on a
working area of the test's own so a learner's clusters are never touched."""

import json
import re
import shlex
import shutil
import sys

import psycopg
import pytest

from pglab.cluster import Cluster
from pglab.config import Settings
from tests.conftest import invoke
from tests.integration.test_debug import Tmux


@pytest.fixture
def area(tmp_path, default_build):
    """A working area of its own: (settings, env for invoke, the main cluster there, not started)."""
    root = tmp_path / "area"
    settings = Settings.load(root=root)
    cl = Cluster.named(settings, default_build, "main")
    yield settings, {"INVOKE_PGLAB_ROOT": str(root)}, cl
    cl.stop()


def marks(stdout):
    """[(mark, check)] from the table `invoke lab NAME --check` prints."""
    return [(m.group(1), m.group(2).strip()) for m in re.finditer(r"^│ ([✓✗]) │ (.+?) │", stdout, re.M)]


def sql(cl, *statements):
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        for s in statements:
            c.execute(s)


def test_mvcc_lab_checks_fail_before_and_pass_after_the_work(area):
    settings, env, cl = area
    before = invoke("lab", "mvcc", "--check", env=env)
    assert before.returncode == 1
    assert [m for m, _ in marks(before.stdout)] == ["✗", "✗", "✗"]
    assert "no cluster 'main' on" in before.stdout
    cl.start()
    sql(cl, "CREATE TABLE lab_mvcc (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off)",
        "INSERT INTO lab_mvcc SELECT g, g FROM generate_series(1, 5) g")
    halfway = invoke("lab", "mvcc", "--check", env=env)
    assert [m for m, _ in marks(halfway.stdout)] == ["✓", "✗", "✗"]
    assert halfway.stdout.rstrip().splitlines()[-1].startswith("next: update a column no index covers")
    sql(cl, "UPDATE lab_mvcc SET v = v + 1 WHERE id = 1", "VACUUM lab_mvcc")     # the reference solution
    done = invoke("lab", "mvcc", "--check", env=env)
    assert done.returncode == 0, done.stdout
    assert [m for m, _ in marks(done.stdout)] == ["✓", "✓", "✓"]
    assert done.stdout.rstrip().splitlines()[-1] == "lab mvcc done: every check passed"
    listed = {l["name"]: l["status"] for l in json.loads(invoke("labs", "--json", env=env).stdout)}
    from pglab import lab

    assert listed == {**{other.name: "not started" for other in lab.load()}, "mvcc": "done"}


def test_build_lab_sees_the_debug_build_then_the_cluster(area, default_build):
    settings, env, cl = area
    before = invoke("lab", "build", "--check", env=env)
    assert marks(before.stdout)[0] == ("✓", "a build made for reading in a debugger (-O0, debug symbols, "
                                              "assertions on)")
    assert marks(before.stdout)[1][0] == "✗"
    cl.start()
    after = invoke("lab", "build", "--check", env=env)
    assert (after.returncode, [m for m, _ in marks(after.stdout)]) == (0, ["✓", "✓"])
    status = invoke("labs", "--status", env=env).stdout
    assert re.search(r"│ 1 +│ build +│ ✓ +│", status) and re.search(r"│ 6 +│ mvcc +│ not started +│", status)


def test_heap_insert_lab_passes_once_gdb_stopped_there(area, tmp_path):
    settings, env, cl = area
    cl.start()
    sql(cl, "CREATE TABLE lab_insert (id int, note text)")
    before = invoke("lab", "heap-insert", "--check", env=env)
    assert [m for m, _ in marks(before.stdout)] == ["✓", "✗", "✗"]
    tmux = Tmux(tmp_path)
    try:
        tmux.start(f"INVOKE_PGLAB_ROOT={shlex.quote(env['INVOKE_PGLAB_ROOT'])} {shlex.quote(sys.executable)} -m invoke "
                   f"debug --break heap_insert --sql \"INSERT INTO lab_insert VALUES (1, 'one')\"")
        psql, gdb = tmux.wait_panes(2)
        tmux.wait_for(gdb, r"Breakpoint 1, heap_insert \(")
        tmux.type(gdb, "quit")
        tmux.wait_for(psql, r"INSERT 0 1")
    finally:
        tmux.kill()
    after = invoke("lab", "heap-insert", "--check", env=env)
    assert (after.returncode, [m for m, _ in marks(after.stdout)]) == (0, ["✓", "✓", "✓"])


TRACE_LABS = ["trace-query", "planner", "wal", "locks", "memctx", "call-stack", "hooks"]


@pytest.mark.parametrize("name", TRACE_LABS)
def test_a_trace_lab_passes_once_its_own_commands_ran(area, name):
    """The lab's checks fail before, then its commands, run as shown (the trace saved in this test's
    working area instead of pg_source/), make them pass."""
    from pglab import lab

    settings, env, cl = area
    cl.start()
    before = invoke("lab", name, "--check", env=env)
    assert before.returncode == 1 and {m for m, _ in marks(before.stdout)} == {"✗"}
    for cmd in lab.find(name).commands:
        words = shlex.split(cmd.replace("pg_source/labs/", f"{settings.layout.lab_work}/"))
        if "--out" in words and not words[words.index("--out") + 1].startswith(str(settings.layout.lab_work)):
            continue                      # a picture for the learner's eyes (query.svg): not evidence
        done = invoke(*words[1:], env=env)
        assert done.returncode == 0, f"{cmd}: {done.stderr}"
    after = invoke("lab", name, "--check", env=env)
    assert after.returncode == 0, after.stdout
    assert {m for m, _ in marks(after.stdout)} == {"✓"}


# The reference solution of the c-udf lab: it lives here, not in the learner's starter.
CLAMP_C = """
PG_FUNCTION_INFO_V1(lab_udf_clamp);
Datum
lab_udf_clamp(PG_FUNCTION_ARGS)
{
	int32		v = PG_GETARG_INT32(0);
	int32		lo = PG_GETARG_INT32(1);
	int32		hi = PG_GETARG_INT32(2);

	PG_RETURN_INT32(v < lo ? lo : (v > hi ? hi : v));
}
"""
CLAMP_SQL = """
CREATE FUNCTION lab_udf_clamp(v int4, lo int4, hi int4)
RETURNS int4
AS 'MODULE_PATHNAME', 'lab_udf_clamp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
"""
CLAMP_TEST = "SELECT lab_udf_clamp(15, 0, 10) AS clamped;\n"
CLAMP_OUT = "SELECT lab_udf_clamp(15, 0, 10) AS clamped;\n clamped \n---------\n      10\n(1 row)\n\n"


def _learner_extension(name):
    from pglab.ext.discover import EXTENSIONS_DIR

    path = EXTENSIONS_DIR / name
    if path.exists():
        pytest.skip(f"{path} exists: a learner's work, left alone")
    return path


@pytest.fixture
def lab_udf(area):
    path = _learner_extension("lab_udf")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lab_pair(area):
    path = _learner_extension("lab_pair")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lab_worker(area):
    path = _learner_extension("lab_worker")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_c_udf_lab_fails_on_the_starter_and_passes_with_the_solution_then_publishes(area, lab_udf):
    settings, env, cl = area
    before = invoke("lab", "c-udf", "--check", env=env)
    assert [m for m, _ in marks(before.stdout)] == ["✗"] * 5
    assert "no extension at" in before.stdout
    scaffold = invoke("new-ext", "lab_udf", "--template", "udf", env=env)
    assert scaffold.returncode == 0, scaffold.stderr
    starter = invoke("lab", "c-udf", "--check", env=env)
    assert [m for m, _ in marks(starter.stdout)] == ["✓", "✗", "✗", "✗", "✗"]
    assert starter.stdout.count("does not exist") == 3        # the three calls of lab_udf_clamp
    with open(lab_udf / "lab_udf.c", "a") as f:
        f.write(CLAMP_C)
    with open(lab_udf / "lab_udf--1.0.sql", "a") as f:
        f.write(CLAMP_SQL)
    for rel, addition in (("sql/lab_udf.sql", CLAMP_TEST), ("expected/lab_udf.out", CLAMP_OUT)):
        text = (lab_udf / rel).read_text()          # the test's last statement drops the extension
        (lab_udf / rel).write_text(text.replace("DROP EXTENSION lab_udf;", addition + "DROP EXTENSION lab_udf;"))
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


# The reference solution of the type lab.
PAIR_ADD_C = """
PG_FUNCTION_INFO_V1(lab_pair_add);
Datum
lab_pair_add(PG_FUNCTION_ARGS)
{
	Pair	   *x = PG_GETARG_PAIR_P(0);
	Pair	   *y = PG_GETARG_PAIR_P(1);
	Pair	   *result = (Pair *) palloc(sizeof(Pair));

	result->a = x->a + y->a;
	result->b = x->b + y->b;
	PG_RETURN_POINTER(result);
}
"""
PAIR_ADD_SQL = """
CREATE FUNCTION lab_pair_add(lab_pair, lab_pair) RETURNS lab_pair
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR + (LEFTARG = lab_pair, RIGHTARG = lab_pair, FUNCTION = lab_pair_add, COMMUTATOR = +);
"""
PAIR_TEST = "SELECT '(1,2)'::lab_pair + '(10,20)'::lab_pair AS sum;\n"
PAIR_OUT = "SELECT '(1,2)'::lab_pair + '(10,20)'::lab_pair AS sum;\n   sum   \n---------\n (11,22)\n(1 row)\n\n"


def test_type_lab_fails_on_the_starter_and_passes_with_the_solution(area, lab_pair):
    settings, env, cl = area
    assert invoke("new-ext", "lab_pair", "--template", "type", env=env).returncode == 0
    starter = invoke("lab", "type", "--check", env=env)
    assert [m for m, _ in marks(starter.stdout)] == ["✓", "✓", "✗", "✗"]
    with open(lab_pair / "lab_pair.c", "a") as f:
        f.write(PAIR_ADD_C)
    with open(lab_pair / "lab_pair--1.0.sql", "a") as f:
        f.write(PAIR_ADD_SQL)
    for rel, addition in (("sql/lab_pair.sql", PAIR_TEST), ("expected/lab_pair.out", PAIR_OUT)):
        text = (lab_pair / rel).read_text()
        (lab_pair / rel).write_text(text.replace("DROP TABLE t;", addition + "DROP TABLE t;"))
    solved = invoke("lab", "type", "--check", env=env)
    assert solved.returncode == 0, solved.stdout
    assert [m for m, _ in marks(solved.stdout)] == ["✓"] * 4


def test_bgworker_lab_passes_once_the_worker_runs_in_the_learners_cluster(area, lab_worker):
    settings, env, cl = area
    cl.start()
    assert invoke("new-ext", "lab_worker", "--template", "bgworker", env=env).returncode == 0
    installed = invoke("lab", "bgworker", "--check", env=env)
    assert [m for m, _ in marks(installed.stdout)] == ["✓", "✗", "✗"]
    sql(cl, "ALTER SYSTEM SET shared_preload_libraries = 'lab_worker'")       # the learner's work
    cl.stop()
    cl.start()
    running = invoke("lab", "bgworker", "--check", env=env)
    assert running.returncode == 0, running.stdout
    assert [m for m, _ in marks(running.stdout)] == ["✓"] * 3

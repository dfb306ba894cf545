"""Labs checked as a learner's work is: each lab's checks fail before the work and
pass after the reference solution (here, not in the learner's starter), on a
working area of the test's own so a learner's clusters are never touched."""

import json
import re
import shlex
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
    assert re.search(r"│ 10 +│ build +│ ✓ +│", status) and re.search(r"│ 11 +│ mvcc +│ not started +│", status)


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


TRACE_LABS = ["trace-query", "planner", "wal", "locks", "memctx", "call-stack"]   # hooks: test_lab_starters


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

"""Labs checked as a learner's work is: each lab's commands, run as the lab shows them, pass the
checks that ask for what they make; the exercise's checks fail until the learner's own work
(the reference solution in tests/lab_solutions/LAB/: the commands a learner would type and the
answers they would write) is done, and a wrong answer fails without giving the right one away.
On a working area of the test's own, so a learner's clusters are never touched."""

import re
import shlex
import sys
from pathlib import Path

import psycopg
import pytest

from pglab.cluster import Cluster
from pglab.config import Settings
from tests.conftest import invoke
from tests.integration.test_debug import Tmux

SOLUTIONS = Path(__file__).resolve().parent.parent / "lab_solutions"


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


def as_read(settings, text):
    """A lab's TEXT (a command, a hint) as the learner reads it, with the working area where it says pg_source/
    (in a clone the working area is pg_source/; here it is the test's own, an absolute path)."""
    root = str(settings.layout.root)
    return text.replace("./pg_source/", f"{root}/").replace("pg_source/", f"{root}/")


def typed(settings, command):
    """The words of COMMAND as a lab shows it (as_read)."""
    return shlex.split(as_read(settings, command))


def run_as_shown(env, settings, commands):
    """Run each `invoke ...` command as shown; each must succeed."""
    for command in commands:
        words = typed(settings, command)
        assert words[0] == "invoke", command
        done = invoke(*words[1:], env=env)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def check(env, name):
    """`invoke lab NAME --check`: (exit status, the marks in the order of the lab's checks, the last line)."""
    done = invoke("lab", name, "--check", env=env)
    return done.returncode, [m for m, _ in marks(done.stdout)], done.stdout.rstrip().splitlines()[-1]


def expected_marks(lab, passing):
    return ["✓" if c.id in passing else "✗" for c in lab.checks]


def solution(name):
    """The reference solution of an observation lab: (its commands, {answers file: text})."""
    folder = SOLUTIONS / name
    commands = (folder / "commands").read_text().splitlines() if (folder / "commands").is_file() else []
    return commands, {p.name: p.read_text() for p in folder.glob("*.answers")}


# Each observation lab's exercise: the checks its commands alone do not pass.
EXERCISES = {
    "trace-query": {"operator", "unplanned"},
    "planner": {"bitmap-plan"},
    "mvcc": {"pruned"},
    "wal": {"full-page-image", "not-logged"},
    "locks": {"ddl-lock", "every-index", "tuple-lock", "deadlock-traced"},
    "memctx": {"agg-context"},
    "call-stack": {"parse-path", "plan-path", "parts"},
    "trigrams": {"false-positive", "gin-key"},
}


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_an_observation_lab_passes_with_its_commands_then_the_learners_own_exercise(area, name):
    """Before: every check fails.  The lab's commands, as shown: all but the exercise's checks pass.
    A wrong answer: its check fails, not naming the right one.  The exercise done: every check passes."""
    from pglab import lab as lab_mod

    settings, env, cl = area
    lab = lab_mod.find(name)
    cl.start()
    status, before, _ = check(env, name)
    assert (status, before) == (1, ["✗"] * len(lab.checks))
    run_as_shown(env, settings, lab.commands)
    status, shown, last = check(env, name)
    exercise = EXERCISES[name]
    assert (status, shown) == (1, expected_marks(lab, {c.id for c in lab.checks} - exercise))
    first = next(c for c in lab.checks if c.id in exercise)
    if first.hints:       # graded: the first hint points
        assert last == f"next: {as_read(settings, first.hints[0])} (hint 1 of {len(first.hints)})"
    else:
        assert last == f"next: {as_read(settings, first.hint)}"
    commands, answers = solution(name)
    settings.layout.lab_work.mkdir(parents=True, exist_ok=True)
    for file, text in answers.items():
        key, right = text.split(":", 1)
        (settings.layout.lab_work / file).write_text(f"{key}: wrong{right.strip()}\n")
    run_as_shown(env, settings, commands)
    if answers:
        results = {r.check.id: r for r in lab_mod.check(settings, lab)}
        asked = [c for c in lab.checks if c.evidence and c.evidence.startswith("answer ")]
        for c in asked:
            _answer, _lab, key, kind, *args = shlex.split(c.evidence)
            wrong = next(t.split(":", 1)[1].strip() for t in answers.values() if t.startswith(f"{key}:"))
            # what shows the truth: the cluster for an sql answer, else the saved traces named
            source = "your cluster" if kind == "sql" else r"\S+( and \S+)*"
            assert results[c.id].ok is False
            assert re.fullmatch(rf"your {key}, wrong{re.escape(wrong)}, is not what {source} shows: look again",
                                results[c.id].detail), results[c.id].detail
    for file, text in answers.items():
        (settings.layout.lab_work / file).write_text(text)
    status, done, last = check(env, name)
    assert (status, done, last) == (0, ["✓"] * len(lab.checks), f"lab {name} done: every check passed")


def test_the_planner_lab_checks_the_scan_of_its_own_table_not_a_node_name(area):
    """A Bitmap Index Scan is not an Index Scan, and a plan of another table is not lab_plan's."""
    from pglab import lab as lab_mod

    settings, env, cl = area
    cl.start()
    sql(cl, "CREATE TABLE lab_plan (id int PRIMARY KEY, v int)",
        "INSERT INTO lab_plan SELECT g, g % 10 FROM generate_series(1, 10000) g", "CREATE INDEX ON lab_plan (v)",
        "ANALYZE lab_plan", "CREATE TABLE other_plan (id int PRIMARY KEY)", "ANALYZE other_plan")
    run_as_shown(env, settings, [
        'invoke trace query --sql "SELECT * FROM lab_plan WHERE v = 3" --format json '
        '--out pg_source/labs/plan-index.jsonl',
        'invoke trace query --sql "SELECT * FROM other_plan WHERE id = 42" --format json '
        '--out pg_source/labs/plan-seq.jsonl'])
    planner = lab_mod.find("planner")
    results = {r.check.id: (r.ok, r.detail) for r in lab_mod.check(settings, planner, only={"index-plan", "seq-plan"})}
    assert results == {
        "index-plan": (False, "the plan in plan-index.jsonl is Bitmap Heap Scan on lab_plan → Bitmap Index Scan on "
                              "lab_plan: no Index Scan on lab_plan"),
        "seq-plan": (False, "the plan in plan-seq.jsonl is Seq Scan on other_plan: no Seq Scan on lab_plan")}


def test_vacuum_of_a_table_never_updated_is_not_the_mvcc_lab_done(area):
    """all-visible alone passed on a table never updated; now the pruned HOT chain must be there."""
    from pglab import lab as lab_mod

    settings, env, cl = area
    cl.start()
    sql(cl, "CREATE TABLE lab_mvcc (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off)",
        "INSERT INTO lab_mvcc SELECT g, g FROM generate_series(1, 5) g", "VACUUM lab_mvcc")
    [result] = lab_mod.check(settings, lab_mod.find("mvcc"), only={"vacuumed"})
    assert (result.ok, result.detail) == (
        False, "no redirect on lab_mvcc's block 0: no HOT chain has been pruned there (UPDATE a row first)")
    sql(cl, "UPDATE lab_mvcc SET v = v + 1 WHERE id = 1", "VACUUM lab_mvcc")
    [result] = lab_mod.check(settings, lab_mod.find("mvcc"), only={"vacuumed"})
    assert (result.ok, result.detail) == (True, "redirect at lp 1, block 0 all-visible")


def test_a_page_pruned_by_vacuum_is_not_one_a_reader_pruned(area):
    from pglab import lab as lab_mod

    settings, env, cl = area
    cl.start()
    commands, _ = solution("mvcc")
    run_as_shown(env, settings, commands[:2])
    sql(cl, "VACUUM lab_prune")
    [result] = lab_mod.check(settings, lab_mod.find("mvcc"), only={"pruned"})
    assert (result.ok, result.detail) == (
        False, "lab_prune has been vacuumed (1 time(s)): the point is a page pruned without VACUUM: make the table "
               "again WITH (autovacuum_enabled = off)")


def test_build_lab_sees_the_debug_build_then_the_cluster(area, default_build):
    settings, env, cl = area
    before = invoke("lab", "build", "--check", env=env)
    assert marks(before.stdout)[0] == ("✓", "a build made for reading in a debugger (-O0, debug symbols, "
                                              "assertions on)")
    assert marks(before.stdout)[1][0] == "✗"
    cl.start()
    after = invoke("lab", "build", "--check", env=env)
    assert (after.returncode, [m for m, _ in marks(after.stdout)]) == (0, ["✓", "✓"])


def test_heap_insert_lab_passes_once_gdb_stopped_there_and_the_learner_wrote_where_the_row_went(area, tmp_path):
    """The lab's own debug command, typed as shown, in a terminal; then the t_self the learner read."""
    from pglab import lab as lab_mod

    settings, env, cl = area
    lab = lab_mod.find("heap-insert")
    run_as_shown(env, settings, lab.commands[:1])
    assert check(env, "heap-insert")[1] == ["✓", "✗", "✗", "✗"]
    tmux = Tmux(tmp_path)
    try:
        tmux.start(f"INVOKE_PGLAB_ROOT={shlex.quote(env['INVOKE_PGLAB_ROOT'])} {shlex.quote(sys.executable)} -m "
                   f"{shlex.join(typed(settings, lab.commands[1]))}")
        psql, gdb = tmux.wait_panes(2)
        tmux.wait_for(gdb, r"Breakpoint 1, heap_insert \(")
        mark = len(tmux.screen(gdb))
        tmux.type(gdb, "finish")
        tmux.wait_for(gdb, r"Run till exit from #0 .*heap_insert[\s\S]*heapam_tuple_insert \(", after=mark)
        tmux.wait_for(gdb, r"\(gdb\)$", after=mark)
        tmux.type(gdb, "p tuple->t_self")
        screen, m = tmux.wait_for(gdb, r"\$\d+ = (\(\d+,\d+\))", after=mark)
        printed = m.group(1)
        tmux.type(gdb, "quit")
        tmux.wait_for(psql, r"INSERT 0 1")
    finally:
        tmux.kill()
    status, shown, last = check(env, "heap-insert")
    assert (status, shown) == (1, ["✓", "✓", "✓", "✗"])
    answers = settings.layout.lab_work / "heap-insert.answers"
    assert lab.checks[3].hints[0] == lab.checks[3].hint     # graded: the first failed check shows the one that points
    assert last == f"next: {as_read(settings, lab.checks[3].hints[0])} (hint 1 of {len(lab.checks[3].hints)})"
    answers.parent.mkdir(parents=True, exist_ok=True)
    answers.write_text("t_self: (0,2)\n")
    [wrong] = lab_mod.check(settings, lab, only={"t-self"})
    assert (wrong.ok, wrong.detail) == (False, "your t_self, (0,2), is not what your cluster shows: look again")
    answers.write_text(f"# what gdb printed\nt_self: {printed}\n")
    assert printed == (SOLUTIONS / "heap-insert" / "heap-insert.answers").read_text().split(":")[1].strip()
    status, shown, last = check(env, "heap-insert")
    assert (status, shown) == (0, ["✓", "✓", "✓", "✓"])


def test_an_answer_not_written_yet_says_where_to_write_it(area):
    from pglab import lab as lab_mod

    settings, env, cl = area
    [result] = lab_mod.check(settings, lab_mod.find("call-stack"), only={"parts"})
    answers = settings.layout.lab_work / "call-stack.answers"
    assert (result.ok, result.detail) == (
        False, f"no answer 'parts' in {answers}: write what you found there, as a line `parts: ...`")

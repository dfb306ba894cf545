"""The buffer-manager lab (week 11) as a learner works it: its commands as shown, a restart
emptying shared buffers, two reads raising every page's usage count to 2, and the exercise: a
table bigger than a quarter of shared buffers read through a ring, the learner's count of what
the scan left in shared buffers checked against pg_buffercache, a wrong count refused without
the right one.  On a working area of the test's own."""

import psycopg

from pglab import lab as lab_mod
from tests.conftest import invoke
from tests.integration.test_lab import area, check, run_as_shown, sql  # noqa: F401  (area: the fixture)

BIG = ("CREATE TABLE lab_big (id int, pad text) WITH (autovacuum_enabled = off); "
       "INSERT INTO lab_big SELECT g, repeat('x', 100) FROM generate_series(1, 300000) g; CHECKPOINT")


def _in_buffers(cl, table):
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        return c.execute("SELECT count(*), min(usagecount), max(usagecount) FROM pg_buffercache "
                         "WHERE relfilenode = pg_relation_filenode(%s) AND relforknumber = 0", (table,)).fetchone()


def test_the_buffers_lab_from_its_commands_to_the_ring_the_learner_counted(area):
    settings, env, cl = area
    lab = lab_mod.find("buffers")
    assert [c.id for c in lab.checks] == ["buffercache", "read-twice", "big", "ring"]
    cl.start()
    assert check(env, "buffers")[:2] == (1, ["✗", "✗", "✗", "✗"])
    run_as_shown(env, settings, lab.commands)          # ends with one read of lab_buf after a restart
    blocks = _in_buffers(cl, "lab_buf")
    assert blocks[1:] == (1, 1) and blocks[0] > 40
    status, got, last = check(env, "buffers")
    assert (status, got) == (1, ["✓", "✗", "✗", "✗"])
    assert last.startswith("next: the INSERT left every page at the highest count; after pg-stop and pg-start")
    assert last.endswith("what does PinBuffer do to usage_count? (hint 1 of 2)")
    done = invoke("psql", "-c", "SELECT count(*) FROM lab_buf", env=env)      # the second read
    assert done.returncode == 0, done.stderr
    assert _in_buffers(cl, "lab_buf") == (blocks[0], 2, 2)
    assert check(env, "buffers")[:2] == (1, ["✓", "✓", "✗", "✗"])

    sql(cl, BIG)                                       # the exercise: lab_big, restarted, read once
    for step in (["pg-stop"], ["pg-start"], ["psql", "-c", "SELECT count(*) FROM lab_big"]):
        done = invoke(*step, env=env)
        assert done.returncode == 0, done.stderr
    ring, _low, high = _in_buffers(cl, "lab_big")
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        size = c.execute("SELECT pg_relation_size('lab_big') / 8192").fetchone()[0]
    assert 0 < ring < size / 2 and high == 1           # a ring, not the table
    answers = settings.layout.lab_work / "buffers.answers"
    answers.parent.mkdir(parents=True, exist_ok=True)
    answers.write_text(f"ring: {ring + 1}\n")
    status, got, last = check(env, "buffers")
    assert (status, got) == (1, ["✓", "✗", "✓", "✗"])          # the restart emptied lab_buf's buffers too
    assert last.endswith("(hint 1 of 2)")      # read-twice failing again since it passed: graded from the first
    for _ in range(2):                          # asked again without doing it: the hint that shows, and it stays
        status, got, last = check(env, "buffers")
        assert last == ("next: PinBuffer raises usage_count by one each time a backend pins the buffer, up to "
                        "BM_MAX_USAGE_COUNT: after the restart (after the exercise's too), run SELECT count(*) FROM "
                        "lab_buf two times and look again (hint 2 of 2)")
    [wrong] = lab_mod.check(settings, lab, only={"ring"})
    assert (wrong.ok, wrong.detail) == (False, f"your ring, {ring + 1}, is not what your cluster shows: look again")
    answers.write_text(f"# what the scan left\nring: {ring}\n")
    for _ in range(2):                                 # lab_buf read twice again, beside lab_big's ring
        done = invoke("psql", "-c", "SELECT count(*) FROM lab_buf", env=env)
        assert done.returncode == 0, done.stderr
    assert _in_buffers(cl, "lab_big")[0] == ring
    assert check(env, "buffers") == (0, ["✓"] * 4, "lab buffers done: every check passed")

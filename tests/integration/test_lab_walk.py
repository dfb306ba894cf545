"""Three labs walked in a terminal as a learner walks them: `invoke lab NAME` read on the
screen, the commands it shows typed as it shows them, `invoke lab NAME --check` read on
the screen.  A shell in tmux (its own server), in the project with .venv's invoke on PATH
and a working area of the test's own; what is asserted is what the pane shows."""

import re
import shlex
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_debug import Tmux, pytestmark  # noqa: F401  (tmux and gdb installed)
from tests.integration.test_lab import area  # noqa: F401  (the working-area fixture)
from tests.integration.test_lab_starters import lab_udf, solve  # noqa: F401  (extensions/lab_udf, cleared)

SOLUTIONS = Path(__file__).resolve().parents[1] / "lab_solutions"


@pytest.fixture
def shell(area, tmp_path):
    """(tmux, pane, settings): a learner's shell; `invoke` is .venv's, the working area the test's."""
    settings, env, cl = area
    tmux = Tmux(tmp_path)
    venv_bin = Path(sys.executable).parent
    tmux.start(f"export INVOKE_PGLAB_ROOT={shlex.quote(env['INVOKE_PGLAB_ROOT'])} "
               f"PATH={shlex.quote(str(venv_bin))}:$PATH PS1='learner$ ' && exec bash --norc --noprofile")
    [pane] = tmux.wait_panes(1)
    tmux.wait_for(pane, r"learner\$$")
    yield tmux, pane, settings
    tmux.kill()


class Learner:
    """Types a command on a cleared screen and waits for the prompt after it."""

    def __init__(self, tmux, pane):
        self.tmux, self.pane = tmux, pane

    def run(self, command, timeout=180.0):
        """What COMMAND printed on the screen (wrapped lines joined): the lines between the
        prompt it was typed at and the prompt after it.

        The screen is cleared first (C-l, and the history, where tmux keeps what a clear
        scrolled away) so that a capture holds this command only; but a prompt already alone
        on the screen passes that look before bash has read the C-l, and the clear then
        pushes that prompt into the history: what counts starts at the typed line."""
        self.tmux.key(self.pane, "C-l")
        deadline = time.monotonic() + 10
        while self.tmux.screen(self.pane) != "learner$":
            assert time.monotonic() < deadline, self.tmux.screen(self.pane)
            self.tmux.run("clear-history", "-t", self.pane)
            time.sleep(0.05)
        self.tmux.type(self.pane, command)
        typed = f"learner$ {command}"
        text, m = self.tmux.wait_for(self.pane, rf"(?:^|\n){re.escape(typed)}\n(?:([\s\S]*)\n)?learner\$$",
                                     timeout=timeout)
        assert text[:m.start()].strip("\n") in ("", "learner$"), text[:m.start()]
        return m.group(1) or ""

    def status(self):
        """The exit status of the command before."""
        return int(self.run("echo $?"))

    @staticmethod
    def commands(walk):
        """The commands `invoke lab NAME` showed under Run:, as the learner reads them."""
        block = walk.split("\nRun:\n", 1)[1].split("\n\n", 1)[0]
        return [line.strip() for line in block.splitlines()]


def check_marks(screen):
    return re.findall(r"^│ ([✓✗]) │", screen, re.M)


def test_build_lab_walked_in_a_terminal(shell, default_build):
    tmux, pane, settings = shell
    me = Learner(tmux, pane)
    walk = me.run("invoke lab build")
    assert walk.splitlines()[0] == "week 10 · Build PostgreSQL from source, for a debugger"
    assert me.commands(walk) == ["invoke build-pg", "invoke pg-list", "invoke pg-start",
                                 'invoke psql -c "SELECT version()"']
    assert re.search(r"^    PostgresMain\s+src/backend/tcop/postgres\.c:\d+$", walk, re.M), walk
    assert "    [ ] a cluster of that build answering queries, with assertions compiled in" in walk
    first = me.run("invoke lab build --check")
    assert check_marks(first) == ["✓", "✗"]
    for command in me.commands(walk):
        out = me.run(command)
        assert me.status() == 0, f"{command}: {out}"
    assert re.search(rf"PostgreSQL {re.escape(str(default_build.release))} on", out), out   # SELECT version()
    done = me.run("invoke lab build --check")
    assert check_marks(done) == ["✓", "✓"]
    assert done.rstrip().splitlines()[-1] == "lab build done: every check passed"
    status = me.run("invoke labs --status")
    # the plan's item 10.2 (one line on the pane's 200 columns), checked by this lab today
    assert re.search(r"^  ✓ 10\.2  Build PostgreSQL from source +invoke lab build +checked \d{4}-\d\d-\d\d$",
                     status, re.M), status
    me.run("invoke pg-stop")


def test_mvcc_lab_walked_in_a_terminal(shell, default_build):
    tmux, pane, settings = shell
    me = Learner(tmux, pane)
    walk = me.run("invoke lab mvcc")
    commands = me.commands(walk)
    assert commands[0].startswith("invoke psql -c \"CREATE TABLE lab_mvcc")
    me.run("invoke pg-start")
    created = me.run(commands[0])
    assert created.strip().splitlines()[-1] == "INSERT 0 5"
    page = me.run(commands[1])                       # invoke inspect lab_mvcc: five tuples on block 0
    assert len(re.findall(r"^ +[1-5] normal +\d+ +32 ", page, re.M)) == 5, page
    halfway = me.run("invoke lab mvcc --check")
    assert check_marks(halfway) == ["✓", "✗", "✗", "✗"]
    assert halfway.rstrip().splitlines()[-1] == (   # hot-chain's graded hints: the first points into heap_update
        "next: when does heap_update (heapam.c) set use_hot_update? It compares the columns the UPDATE changed "
        "(HeapDetermineColumnsInfo) with the ones an index covers (RelationGetIndexAttrBitmap), and wants room on "
        "the same page: which of lab_mvcc's columns may an UPDATE change, then? (hint 1 of 2)")
    watched = me.run(commands[2])                    # the UPDATE, the SELECT, the VACUUM, page after each
    assert re.search(r"^• lp 6: new normal tuple xmin \d+ \(heap-only\)$", watched, re.M), watched
    assert re.search(r"^• lp 1: normal tuple xmin \d+, xmax \d+ → redirect → lp 6$", watched, re.M), watched
    walked = me.run("invoke lab mvcc --check")
    assert check_marks(walked) == ["✓", "✓", "✓", "✗"]  # the exercise is left: a page pruned by a reader
    assert walked.rstrip().splitlines()[-1] == (
        "next: read heap_page_prune_opt: when does a reader prune? Make lab_prune WITH (autovacuum_enabled = off), "
        "fill its first page until that condition holds, update a row, read the table, then `invoke inspect "
        "lab_prune`")
    for command in (SOLUTIONS / "mvcc" / "commands").read_text().splitlines():
        me.run(command)
        assert me.status() == 0, command
    done = me.run("invoke lab mvcc --check")
    assert check_marks(done) == ["✓", "✓", "✓", "✓"]
    assert done.rstrip().splitlines()[-1] == "lab mvcc done: every check passed"
    me.run("invoke pg-stop")


def test_c_udf_lab_walked_in_a_terminal(shell, default_build, lab_udf):
    tmux, pane, settings = shell
    me = Learner(tmux, pane)
    walk = me.run("invoke lab c-udf")
    assert me.commands(walk)[0] == "invoke lab c-udf --start"
    started = me.run("invoke lab c-udf --start")
    assert started.splitlines()[0] == "created extensions/lab_udf: new-ext's udf template, with the lab's TODOs:"
    tested = me.run("invoke ext-test lab_udf")       # the starter builds and passes its own tests
    assert re.search(r"│ lab_udf +│ [^│]+│ regress +│ pass +│", tested), tested
    assert tested.splitlines()[-1].startswith("all ") and me.status() == 0
    todo = me.run("grep -rn 'TODO(lab c-udf)' extensions/lab_udf")
    assert len(todo.strip().splitlines()) == 4, todo
    red = me.run("invoke lab c-udf --check")
    assert check_marks(red) == ["✗", "✗", "✗", "✗"]  # its test passes, but does not call lab_udf_clamp yet
    assert red.rstrip().splitlines()[-1] == (
        "next: at the TODO in sql/lab_udf.sql, call lab_udf_clamp, and put what it prints in expected/lab_udf.out; "
        "`invoke ext-test lab_udf --werror` shows what fails")
    solve("c-udf", lab_udf)                          # the learner's edits
    green = me.run("invoke lab c-udf --check")
    assert check_marks(green) == ["✓"] * 4
    assert green.rstrip().splitlines()[-1] == "lab c-udf done: every check passed"


def test_buffers_lab_walked_in_a_terminal(shell, default_build):
    tmux, pane, settings = shell
    me = Learner(tmux, pane)
    walk = me.run("invoke lab buffers")
    assert walk.splitlines()[:2] == ["week 11 · The buffer manager - shared buffers, usage counts and a big scan's ring",
                                     "about 2 sessions of 30 minutes, at the plan's pace"]
    commands = me.commands(walk)
    assert commands[2:4] == ["invoke pg-stop", "invoke pg-start"]
    me.run("invoke pg-start")
    shown = []
    for command in commands:
        shown.append(me.run(command))
        assert me.status() == 0, f"{command}: {shown[-1]}"
    after_restart, after_read = shown[4], shown[6]               # inspect lab_buf --buffers, each time
    assert "  none of its pages is in shared buffers" in after_restart.splitlines(), after_restart
    usage = re.findall(r"^  main \d+(?:–\d+)? +\d+(?:–\d+)? +(yes|no) +(\d+) +(\d+)$", after_read, re.M)
    # read once, unpinned, and dirty: that first read set the rows' hint bits (the INSERT's CHECKPOINT
    # wrote the pages before its transaction committed)
    assert usage and set(usage) == {("yes", "0", "1")}, after_read
    rows = re.findall(r"^ +(\d+) \| (\w) +\| +(\d+) \| +(\d+)$", shown[7], re.M)
    assert rows == [(str(b), "t", "1", "0") for b in range(5)], shown[7]        # pg_buffercache says the same
    checked = me.run("invoke lab buffers --check")
    assert check_marks(checked) == ["✓", "✗", "✗", "✗"]
    assert checked.rstrip().splitlines()[-1].endswith("what does PinBuffer do to usage_count? (hint 1 of 2)")
    me.run('invoke psql -c "SELECT count(*) FROM lab_buf"')                       # the second read
    again = me.run("invoke lab buffers --check")
    assert check_marks(again) == ["✓", "✓", "✗", "✗"]
    assert again.rstrip().splitlines()[-1].startswith("next: make lab_big bigger than a quarter of shared_buffers")
    me.run("invoke pg-stop")


def test_week_3_of_the_plan_walked_in_a_terminal(shell, default_build):
    """A week of the learner's plan, not a lab: what `invoke lab week-3` says to do, the learner's own
    SQL typed in psql -c, each item's checks passing as its evidence appears, the by-hand items
    ticked, and the week done in `invoke labs --status`."""
    tmux, pane, settings = shell
    me = Learner(tmux, pane)
    week = me.run("invoke lab week-3")
    assert week.splitlines()[0] == "Week 3 of your plan (labs/plan/20-week-plan.md)"
    assert re.findall(r"^  · (3\.\d)  .+\n +with: .+ · open \((tick|check)\)$", week, re.M) == [
        ("3.1", "tick"), ("3.2", "check"), ("3.3", "check"), ("3.4", "check"), ("3.5", "tick")]
    me.run("invoke pg-start")
    assert me.status() == 0
    checked = me.run("invoke lab week-3 --check")
    assert check_marks(checked) == ["✗"] * 5
    assert checked.rstrip().splitlines()[-1] == ("next: ALTER TABLE products ADD COLUMN attrs jsonb, then UPDATE "
                                                 "products SET attrs = '{\"color\": \"red\"}'")
    me.run('invoke psql -c "CREATE TABLE products (id int PRIMARY KEY, name text, status text, '
           "created_at timestamptz DEFAULT now(), attrs jsonb); INSERT INTO products (id, name, status, attrs) "
           "SELECT g, 'item ' || g, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END, "
           "jsonb_build_object('color', CASE WHEN g % 2 = 0 THEN 'red' ELSE 'blue' END) "
           'FROM generate_series(1, 100) g"')
    assert me.status() == 0
    checked = me.run("invoke lab week-3 --check")
    assert check_marks(checked) == ["✓", "✗", "✗", "✗", "✗"]
    assert checked.rstrip().splitlines()[-1] == "next: CREATE INDEX ON products USING gin (attrs)"
    for sql in ("CREATE INDEX ON products USING gin (attrs)", "CREATE INDEX ON products (status, created_at)",
                "CREATE INDEX ON products (created_at) WHERE status = 'open'",
                "ALTER TABLE products ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                "(to_tsvector('english', name)) STORED"):
        me.run(f'invoke psql -c "{sql}"')
        assert me.status() == 0, sql
    found = me.run("invoke psql -c \"SELECT count(*) FROM products WHERE attrs @> '{\\\"color\\\": "
                   "\\\"red\\\"}'\"")
    assert re.search(r"^ +50$", found, re.M), found                  # the JSONB query the week asks for
    checked = me.run("invoke lab week-3 --check")
    assert check_marks(checked) == ["✓"] * 5
    assert checked.rstrip().splitlines()[-2:] == [
        "by hand: 3.1, 3.5 (`invoke lab 3.1 --tick` when you have done it)", "week 3: every check passed"]
    for item in ("3.1", "3.5"):
        me.run(f"invoke lab {item} --tick")
        assert me.status() == 0
    status = me.run("invoke labs --status")
    assert "Week 3 · 5 of 5 done" in status.splitlines(), status
    today = time.strftime("%Y-%m-%d")
    assert re.findall(r"^  ✓ (3\.\d) .+ (checked|ticked) (\S+)$", status, re.M) == [
        ("3.1", "ticked", today), ("3.2", "checked", today), ("3.3", "checked", today), ("3.4", "checked", today),
        ("3.5", "ticked", today)]
    me.run("invoke pg-stop")

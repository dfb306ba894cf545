"""The learner's plan as data: the repository's copy parses into the plan's 20 weeks and 90
items in their words; every link names a lab or a command that exists today (and the lab
checks it counts); how each item stands follows from recorded progress; a malformed plan
is refused in one line naming the file and the line; the status reads on 80 columns."""

import re
import shlex
from pathlib import Path

import pytest
from rich.cells import cell_len

import tasks
from pglab import lab
from pglab.config import PROJECT_ROOT, Settings
from pglab.errors import LabError
from pglab.lab import checks, plan, plan_checks, show

PLAN_FILE = PROJECT_ROOT / "labs" / "plan" / "20-week-plan.md"
TODAYS_LABS = ["build", "trace-query", "planner", "wal", "locks", "mvcc", "memctx", "call-stack", "c-udf", "type",
               "heap-insert", "bgworker", "hooks", "patch", "planner-fork", "publish", "buffers", "trigrams",
               "recovery"]


def items_in_file(path):
    """[(week, words)] of each '- [ ] ' line, read without pglab's parser."""
    week, out = None, []
    for line in Path(path).read_text().splitlines():
        if line.startswith("### Week "):
            week = int(line.removeprefix("### Week "))
        elif line.startswith("- [ ] "):
            out.append((week, line.removeprefix("- [ ] ")))
    return out


def test_the_repositorys_plan_is_the_learners_twenty_weeks_in_their_words():
    mine = plan.parse(PLAN_FILE)
    assert Settings.load().lab_plan == PLAN_FILE
    assert mine.title == "PostgreSQL Mastery Tracker – 20 Week Plan (30 min/day, 5 days/week)"
    assert [len(w.items) for w in mine.weeks] == [5] * 12 + [3, 3, 4, 5, 3, 4, 4, 4]
    assert [(i.week, i.text) for i in mine.items] == items_in_file(PLAN_FILE)
    assert len(mine.items) == 90
    assert [i.id for i in mine.weeks[2].items] == ["3.1", "3.2", "3.3", "3.4", "3.5"]
    assert plan.find_item(mine, "3.2").text == "Add JSONB fields and run queries"
    assert [w.stage for w in mine.weeks[4:6]] == ["📦 Stage 1: Foundations (Weeks 1–5)",
                                                  "⚙️ Stage 2: Performance & Tuning (Weeks 6–9)"]


def test_items_and_weeks_that_are_not_there_are_named_in_one_line():
    mine = plan.parse(PLAN_FILE)
    with pytest.raises(LabError, match=r"^no item 1\.9 in labs/plan/20-week-plan\.md: week 1 has 5 items \(1\.1 to "
                                       r"1\.5\)$"):
        plan.find_item(mine, "1.9")
    with pytest.raises(LabError, match=r"^no item 21\.1 in labs/plan/20-week-plan\.md: it has weeks 1 to 20$"):
        plan.find_item(mine, "21.1")
    with pytest.raises(LabError, match=r"^no week-0 in labs/plan/20-week-plan\.md: it has weeks 1 to 20 "):
        plan.find_week(mine, "week-0")


@pytest.mark.parametrize("text, line, why", [
    ("# P\n### Week 1\n- [ ] a\n### Week 3\n- [ ] b\n", 4,
     "'### Week 3': weeks are numbered 1, 2, 3... in order (this one should be week 2)"),
    ("# P\n- [ ] a\n### Week 1\n- [ ] b\n", 2, "an item before any '### Week N' heading"),
    ("# P\n### Week 1\n- [] a typo\n", 3, "'- [] a typo' is not an item: an item is '- [ ] what to do'"),
    ("# P\n### Week 1\n- [ ] a\n### Week 2\n\n## Stage 2\n", 4, "week 2 has no items (- [ ] ...)"),
    ("# P\n### Week 1\n- [ ]   \n", 3, "an item without words"),
    ("# P\n### Week one\n- [ ] a\n", 2,
     "'### Week one': weeks are numbered 1, 2, 3... in order (this one should be week 1)"),
])
def test_a_malformed_plan_is_one_line_naming_the_file_and_the_line(tmp_path, text, line, why):
    bad = tmp_path / "my-plan.md"
    bad.write_text(text)
    with pytest.raises(LabError) as err:
        plan.parse(bad)
    assert str(err.value) == f"{bad}:{line}: {why}"


def test_a_plan_without_weeks_or_unreadable_is_one_line(tmp_path):
    empty = tmp_path / "empty.md"
    empty.write_text("# Just a title\n\nsome prose\n")
    with pytest.raises(LabError) as err:
        plan.parse(empty)
    assert str(err.value) == f"{empty}: no weeks in it: a plan is '### Week 1' headings, each with '- [ ] ...' items"
    with pytest.raises(LabError) as err:
        plan.parse(tmp_path / "missing.md")
    assert str(err.value) == f"{tmp_path / 'missing.md'}: cannot read the plan: No such file or directory " \
                             f"(the lab_plan setting names it)"


def test_a_learners_own_plan_gets_the_links_of_the_items_it_shares_wherever_they_sit(tmp_path):
    own = tmp_path / "own.md"
    own.write_text("# Mine\n\nA plan of my own.\n\n### Week 1\n- [x] Build PostgreSQL from source\n"
                   "  - a note under it\n- [ ] Read the release notes\n\n### Week 2\n- [ ]   Add roles and "
                   "permissions\n")
    mine = plan.parse(own)
    found = plan.standings(mine, plan.load_links(), lab.load(), {})
    assert [(s.item.id, s.item.text, s.link_data, bool(s.evidence)) for s in found] == [
        ("1.1", "Build PostgreSQL from source", {"lab": "build", "exists": True}, True),
        ("1.2", "Read the release notes", None, False),
        ("2.1", "Add roles and permissions", {"command": "invoke psql"}, True)]


# ---- links ------------------------------------------------------------------------------------

def _task_flags(name):
    task = tasks.ns.tasks[name]
    return {f"--{a.name.replace('_', '-').strip('-')}" for a in task.get_arguments()}


def test_every_link_names_a_lab_or_a_command_that_exists_today_for_the_item_of_its_id():
    mine = plan.parse(PLAN_FILE)
    links = plan.load_links()
    labs = {l.name: l for l in lab.load()}
    assert sorted(labs) == sorted(TODAYS_LABS)
    for link in links.values():
        assert plan.find_item(mine, link.key).text == link.item, link.key
        if link.lab:
            assert link.lab in TODAYS_LABS, link.key
            assert set(link.lab_checks) <= {c.id for c in labs[link.lab].checks}, link.key
        if link.command:
            words = shlex.split(link.command)
            assert words[0] == "invoke" and words[1] in tasks.ns.tasks, link.key
            assert {w for w in words[2:] if w.startswith("-")} <= _task_flags(words[1]), link.key
        for c in link.checks:
            if c.evidence:
                name = shlex.split(c.evidence)[0]
                assert name in plan_checks.EVIDENCE or name in checks.EVIDENCE, link.key
    assert {link.lab for link in links.values() if link.lab} == set(TODAYS_LABS)    # every lab serves an item


def test_what_pglab_offers_across_the_plan_with_todays_labs():
    found = plan.standings(plan.parse(PLAN_FILE), plan.load_links(), lab.load(), {})
    assert plan.counts(found) == {"items": 90, "served": 64, "checkable": 49, "by_hand": 41, "checked": 0,
                                  "ticked": 0}
    assert [s.item.id for s in found if s.evidence and s.item.week <= 9] == [
        "1.2", "1.4", "2.2", "2.4", "2.5", "3.2", "3.3", "3.4", "4.3", "4.4", "4.5", "5.3", "5.4", "6.2", "6.5",
        "7.3", "7.5", "8.2", "9.2", "9.3", "9.5"]


@pytest.mark.parametrize("entry, why", [
    ("'1.1': {item: x, lab: build, command: invoke psql}", "'1.1': a lab or a command, not both"),
    ("'1.1': {item: x, command: psql}", "'1.1': command: a pglab command as the learner types it (invoke ...), "
                                         "not 'psql'"),
    ("'1.1': {item: x, lab_checks: [a]}", "'1.1': lab_checks: the ids of the lab's checks that count, with a lab"),
    ("'1.1': {item: x, command: invoke psql, by: hand}",
     "'1.1': by: hand goes with a lab (an item with only a command is ticked anyway)"),
    ("'1.1': {item: x, lab: build, wk: 3}", "'1.1': unknown keys wk (a link has item, lab, command, lab_checks, by, "
                                           "checks)"),
    ("'1.1': {lab: build}", "'1.1': item: must be the item's words, not null"),
    ("'1.1': {item: x, checks: [{id: a, says: s, hint: h}]}",
     "'1.1': checks[0]: each check needs id, says, hint and one of sql or evidence (got {'id': 'a', 'says': 's', "
     "'hint': 'h'})"),
])
def test_a_malformed_link_is_one_line_naming_the_file_and_the_item(tmp_path, entry, why):
    bad = tmp_path / "links.yaml"
    bad.write_text(entry + "\n")
    with pytest.raises(LabError) as err:
        plan.load_links(bad)
    assert str(err.value) == f"{bad}: {why.replace(chr(39) + '1.1' + chr(39), '1.1')}"


def test_a_link_to_a_lab_to_come_is_shown_as_such_and_its_item_is_ticked_until_then(tmp_path):
    links = tmp_path / "links.yaml"
    links.write_text("'11.1':\n  item: Explore `src/backend/parser/`\n  lab: parser\n")
    mine = plan.parse(PLAN_FILE)
    found = plan.standings(mine, plan.load_links(links), lab.load(), {})
    parser = found[[s.item.id for s in found].index("11.1")]
    assert (parser.missing_lab, parser.served, parser.evidence, parser.link_data) == \
           (True, False, (), {"lab": "parser", "exists": False})
    lines = [t.plain for t in show.status_lines(plan.view(mine, found), 160)]
    widest = max(len(i.text) for i in mine.items)       # 17.1's words
    assert f"  · 11.1  {'Explore `src/backend/parser/`':<{widest}}  invoke lab parser (to come)  open (tick)" in lines


# ---- how items stand ----------------------------------------------------------------------------

def test_an_item_linked_to_a_lab_is_checked_when_the_lab_checks_it_counts_have_passed():
    mine = plan.parse(PLAN_FILE)
    data = {"trace-query": {"logged-plan": "2025-03-02T10:00:00+00:00", "planned": "2025-03-03T09:00:00+00:00"},
            "build": {"debug-build": "2025-03-01T08:00:00+00:00", "cluster": "2025-03-01T08:05:00+00:00"},
            "@plan": {"Add JSONB fields and run queries": {"checks": {"jsonb": "2025-03-04T12:00:00+00:00"}},
                      "Create GIN, composite, and partial indexes": {"checks": {"gin": "2025-03-04T12:00:00+00:00"}},
                      "Benchmark JSONB queries": {"ticked": "2025-03-05T18:00:00+00:00"}}}
    by_id = {s.item.id: s for s in plan.standings(mine, plan.load_links(), lab.load(), data)}
    assert [(i, str(by_id[i].state), by_id[i].when) for i in ("10.2", "10.4", "14.2", "3.2", "3.3", "3.5", "3.1")] \
        == [("10.2", "checked", "2025-03-01T08:05:00+00:00"),     # all of the build lab's checks: the later one
            ("10.4", "checked", "2025-03-02T10:00:00+00:00"),     # trace-query's logged-plan alone
            ("14.2", "open", None),                               # planned and plan-tree: one is missing
            ("3.2", "checked", "2025-03-04T12:00:00+00:00"),
            ("3.3", "open", None),
            ("3.5", "ticked", "2025-03-05T18:00:00+00:00"),
            ("3.1", "open", None)]
    assert by_id["3.3"].passed == {"gin"}


def test_the_status_reads_on_80_columns_one_item_per_line_on_160():
    mine = plan.parse(PLAN_FILE)
    view = plan.view(mine, plan.standings(mine, plan.load_links(), lab.load(), {}))
    narrow = [t.plain for t in show.status_lines(view, 80)]
    wide = [t.plain for t in show.status_lines(view, 160)]
    assert max(cell_len(line) for line in narrow) <= 80
    assert max(cell_len(line) for line in wide) <= 160
    assert narrow[narrow.index("Week 10 · 0 of 5 done") + 3:][:2] == ["  · 10.2  Build PostgreSQL from source",
                                                                      "          invoke lab build · open (check)"]
    row = wide[wide.index("Week 10 · 0 of 5 done") + 2]
    assert re.fullmatch(r"  · 10\.2  Build PostgreSQL from source +invoke lab build +open \(check\)", row)
    assert len(wide) == len(narrow) - 90

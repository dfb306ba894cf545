"""The labs as data: every lab file parses, names commands that exist with flags
they take, and functions that the built source defines; the evidence that needs
no server; progress kept as passed."""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

import tasks
from pglab import lab, ui
from pglab.errors import LabError
from pglab.lab import checks, progress, source


def test_every_lab_parses_in_the_week_the_learners_plan_asks_for_it():
    labs = lab.load()
    assert [(l.week, l.name) for l in labs] == [
        (10, "build"), (10, "trace-query"), (11, "planner"), (11, "mvcc"), (11, "heap-insert"), (11, "buffers"),
        (12, "wal"), (12, "recovery"),
        (12, "locks"), (13, "memctx"), (14, "call-stack"), (15, "c-udf"), (15, "bgworker"), (16, "patch"),
        (17, "trigrams"), (17, "hooks"), (18, "type"), (19, "planner-fork"), (20, "publish")]
    assert all(1 <= l.week <= lab.WEEKS and l.checks and l.body for l in labs)


def test_every_lab_says_how_many_sessions_of_the_plan_it_takes_and_fits_a_week():
    """The plan's pace is 30 minutes a day, five days a week: each lab is estimated in those sessions."""
    from pglab.lab import show

    labs = lab.load()
    assert {l.name: l.sessions for l in labs} == {
        "build": 2, "trace-query": 2, "planner": 2, "mvcc": 2, "heap-insert": 1, "buffers": 2, "wal": 2, "recovery": 2, "locks": 3,
        "memctx": 2, "call-stack": 2, "c-udf": 3, "bgworker": 3, "patch": 4, "trigrams": 2, "hooks": 3, "type": 4,
        "planner-fork": 4, "publish": 2}
    ui.console.begin_capture()
    show.walk(lab.find("heap-insert"), {})
    show.walk(lab.find("type"), {})
    shown = ui.console.end_capture().splitlines()
    assert shown[1] == "about 1 session of 30 minutes, at the plan's pace"
    assert "about 4 sessions of 30 minutes, at the plan's pace" in shown


def _task_flags(name):
    task = tasks.ns.tasks[name]
    return {f"--{a.name.replace('_', '-').strip('-')}" for a in task.get_arguments()} | \
           {f"-{a.name[0]}" for a in task.get_arguments()}


@pytest.mark.parametrize("labfile", sorted(p.name for p in lab.LABS_DIR.glob("*.md")))
def test_the_commands_a_lab_shows_exist_and_take_those_flags(labfile):
    for cmd in lab.parse(lab.LABS_DIR / labfile).commands:
        words = shlex.split(cmd)
        assert words[0] == "invoke", cmd
        assert words[1] in tasks.ns.tasks, f"{cmd}: no task {words[1]}"
        flags = [w.split("=", 1)[0] for w in words[2:] if w.startswith("-")]
        assert set(flags) <= _task_flags(words[1]), f"{cmd}: flags {set(flags) - _task_flags(words[1])}"


@pytest.mark.parametrize("labfile", sorted(p.name for p in lab.LABS_DIR.glob("*.md")))
def test_every_evidence_a_lab_names_exists(labfile):
    for c in lab.parse(lab.LABS_DIR / labfile).checks:
        if c.evidence:
            assert shlex.split(c.evidence)[0] in checks.EVIDENCE, c.evidence


def test_a_malformed_lab_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "x.md"
    bad.write_text("---\nname: x\ntitle: X\nweek: 3\nchecks:\n  - id: a\n    says: s\n    hint: h\n---\ntext\n")
    with pytest.raises(LabError, match=rf"^{re.escape(str(bad))}: checks\[0\]: each check needs id, says, hint and "
                                      rf"one of sql or evidence"):
        lab.parse(bad)
    bad.write_text("no front matter\n")
    with pytest.raises(LabError, match=r"a lab starts with a YAML front matter"):
        lab.parse(bad)


def test_source_pointers_come_from_the_tree(tmp_path):
    (tmp_path / "src/backend/access").mkdir(parents=True)
    (tmp_path / "src/backend/access/heapam.c").write_text(
        "static void helper(void);\n\nvoid\nheap_insert(Relation rel)\n{\n\theap_insert_inner(rel);\n}\n")
    assert source.locate(tmp_path, ["heap_insert", "heap_insert_inner", "nowhere"]) == {
        "heap_insert": "src/backend/access/heapam.c:4"}


def test_source_pointers_reach_pg_regress_and_the_flex_files():
    """The patch lab points at regression_main (src/test/regress), the bgworker lab at ProcessConfigFile
    (guc-file.l from 16 on): in the builds' own trees, both are found where they are defined."""
    tree = Path("/var/cache/pglab/src/17.11")
    if not (tree / "src/test/regress/pg_regress.c").is_file():
        pytest.skip(f"no source tree of 17.11 at {tree}")
    found = source.locate(tree, ["regression_main", "psql_start_test", "ProcessConfigFile"])
    assert found == {"regression_main": "src/test/regress/pg_regress.c:2064",
                     "psql_start_test": "src/test/regress/pg_regress_main.c:29",
                     "ProcessConfigFile": "src/backend/utils/misc/guc-file.l:119"}


@pytest.mark.parametrize("labfile", sorted(p.name for p in lab.LABS_DIR.glob("*.md")))
def test_every_function_a_lab_points_at_is_in_the_default_builds_source(labfile):
    """A pointer the learner's tree does not define shows "(not in this major)": on 17.11, none may."""
    tree = Path("/var/cache/pglab/src/17.11")
    if not (tree / "src/backend").is_dir():
        pytest.skip(f"no source tree of 17.11 at {tree}")
    names = lab.parse(lab.LABS_DIR / labfile).source
    assert sorted(set(names) - set(source.locate(tree, names))) == []


def FakeBuild(id="15.18-opt", meta=None, source_dir=Path("/nonexistent")):
    """A Build as build-pg's record describes one (nothing on disk)."""
    from pglab.pg.builds import Build
    from pglab.pg.versions import Release

    record = meta if meta is not None else {"configure_args": ["--enable-debug"], "cflags": "-O2 -g"}
    return Build(id, Release.parse(id.split("-")[0]), Path("/nowhere") / id, {"source_dir": str(source_dir), **record})


class FakeContext:
    def __init__(self, build):
        self.build = build


def test_debug_build_evidence_names_what_an_optimized_build_lacks():
    ok, detail = checks.debug_build(FakeContext(FakeBuild()))
    assert (ok, detail) == (False, "15.18-opt lacks --enable-cassert, -O0: build with `invoke build-pg` "
                                   "(the debug flavour)")
    debug = FakeBuild(id="15.18-debug", meta={"configure_args": ["--enable-debug", "--enable-cassert"],
                                              "cflags": "-O0 -g3 -fno-omit-frame-pointer"})
    assert checks.debug_build(FakeContext(debug)) == (True, "15.18-debug: -O0 -g3 -fno-omit-frame-pointer, "
                                                            "assertions on")


@dataclass
class FakeSettings:
    root: Path

    @property
    def layout(self):
        return self


def test_progress_keeps_what_passed_once(tmp_path):
    settings = FakeSettings(tmp_path)
    mvcc = lab.find("mvcc")
    by_id = {c.id: c for c in mvcc.checks}
    progress.record(settings, mvcc, [checks.Result(by_id["table"], True, "yes"),
                                     checks.Result(by_id["hot-chain"], False, "no")])
    progress.record(settings, mvcc, [checks.Result(by_id["table"], False, "dropped since")])
    assert progress.passed(progress.load(settings), mvcc) == {"table"}


def test_a_patched_build_counts_once_its_regression_suite_passed(tmp_path, monkeypatch):
    from pglab.pg import builds

    @dataclass
    class Layout:
        root: Path

        def check(self, build_id):
            return self.root / "check" / build_id

    @dataclass
    class Settings:
        layout: Layout

    class Ctx:
        settings = Settings(Layout(tmp_path))

    plain = FakeBuild(id="15.18-debug", meta={"patches": []})
    source = tmp_path / "src"
    (source / "src/test/regress").mkdir(parents=True)
    (source / "src/test/regress/parallel_schedule").write_text("test: test_setup\n# a comment\ntest: int2 int4\n")
    patched = FakeBuild(id="15.18-debug-p1a2b3", meta={"patches": [{"file": "/work/notice.patch"}]},
                        source_dir=source)
    monkeypatch.setattr(builds, "list_builds", lambda settings: [plain])
    assert checks.patched_build_checked(Ctx()) == (False, "no build made with --patch yet: `invoke build-pg "
                                                          "--patch FILE` makes one")
    monkeypatch.setattr(builds, "list_builds", lambda settings: [plain, patched])
    assert checks.patched_build_checked(Ctx())[0] is False
    out = tmp_path / "check" / patched.id
    out.mkdir(parents=True)
    (out / "pg_regress.out").write_text("1 of 215 tests failed.\n")
    assert checks.patched_build_checked(Ctx()) == (False, "pg-check has not passed on 15.18-debug-p1a2b3: "
                                                          "`invoke pg-check --version 15.18-debug-p1a2b3`")
    (out / "pg_regress.out").write_text("=======================\n All 2 tests passed. \n")   # pg-check --test int2
    assert checks.patched_build_checked(Ctx()) == (
        False, "15.18-debug-p1a2b3 passed 2 of the schedule's 3 tests (--test runs a part): run them all: "
               "`invoke pg-check --version 15.18-debug-p1a2b3`")
    (out / "pg_regress.out").write_text("=======================\n All 3 tests passed. \n")
    assert checks.patched_build_checked(Ctx()) == (True, "15.18-debug-p1a2b3 (1 patch(es)): pg-check passed")


def _patched_build(settings, build_id, patch, built_at):
    prefix = settings.layout.prefix(build_id)
    prefix.mkdir(parents=True)
    import hashlib
    import json

    (prefix / "pglab-build.json").write_text(json.dumps(
        {"id": build_id, "release": "17.11", "flavour": "debug", "channel": "debian", "built_at": built_at,
         "patches": [{"file": str(patch), "sha256": hashlib.sha256(patch.read_bytes()).hexdigest()}],
         "source_dir": "/nonexistent"}))


def test_pg_check_version_a_patch_file_is_the_build_made_with_that_patch_as_it_is_now(tmp_path, monkeypatch):
    """The patch lab's `pg-check --version pg_source/labs/my-change.patch`: the build of the patch, never the
    plain build of the same release, and not a build of an older state of the file."""
    from pglab.config import Settings
    from pglab.errors import BuildMissing
    from pglab.pg.builds import find_build

    settings = Settings(root=tmp_path / "area", cache=tmp_path / "cache")
    plain = settings.layout.prefix("17.11-debug")
    plain.mkdir(parents=True)
    (plain / "pglab-build.json").write_text('{"id": "17.11-debug", "release": "17.11", "flavour": "debug", '
                                            '"channel": "debian", "patches": [], "requested": "16", '
                                            '"substituted_for": "16", "source_dir": "/nonexistent"}')
    patch = tmp_path / "my-change.patch"
    patch.write_text("--- a/src/backend/tcop/utility.c\n+++ b/src/backend/tcop/utility.c\n")
    with pytest.raises(BuildMissing) as err:
        find_build(settings, str(patch))
    assert str(err.value) == (f"no build made with {patch} as it is now (none is): run "
                              f"`invoke build-pg --patch {patch}`")
    _patched_build(settings, "17.11-debug-p111111", patch, "2026-12-01T10:00:00+0000")
    assert find_build(settings, str(patch)).id == "17.11-debug-p111111"
    patch.write_text(patch.read_text() + "@@ -1 +1 @@\n")          # edited since: that build is of the old text
    with pytest.raises(BuildMissing) as err:
        find_build(settings, str(patch))
    assert str(err.value) == (f"no build made with {patch} as it is now (the builds made with it "
                              f"(17.11-debug-p111111) are of an older state of it): run "
                              f"`invoke build-pg --patch {patch}`")
    _patched_build(settings, "17.11-debug-p222222", patch, "2026-12-02T10:00:00+0000")
    assert find_build(settings, str(patch)).id == "17.11-debug-p222222"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")                         # a name, the file elsewhere: by its name
    assert find_build(settings, "my-change.patch").id == "17.11-debug-p222222"
    assert find_build(settings).id == "17.11-debug"


def test_a_patch_counts_for_the_lab_when_it_changes_code_and_expected_output(tmp_path, monkeypatch):
    from pglab.pg import builds

    code_only = tmp_path / "notice.patch"
    code_only.write_text("--- a/src/backend/tcop/utility.c\n+++ b/src/backend/tcop/utility.c\n@@ -1 +1 @@\n")
    with_tests = tmp_path / "notice-tested.patch"
    with_tests.write_text(code_only.read_text() + "--- a/src/test/regress/expected/stats.out\n"
                          "+++ b/src/test/regress/expected/stats.out\n@@ -1 +1 @@\n")

    class Ctx:
        settings = None

    def patched(*patches):
        return [FakeBuild(id=f"17.11-debug-p{i}", meta={"patches": [{"file": str(p)}], "built_at": str(i)})
                for i, p in enumerate(patches)]

    monkeypatch.setattr(builds, "list_builds", lambda settings: patched(code_only))
    assert checks.patch_updates_tests(Ctx()) == (
        False, "notice.patch changes src/backend/tcop/utility.c and no expected output of src/test/regress")
    monkeypatch.setattr(builds, "list_builds", lambda settings: patched(code_only, with_tests))
    assert checks.patch_updates_tests(Ctx()) == (
        True, "notice-tested.patch changes src/backend/tcop/utility.c and 1 expected output(s): stats.out")
    solution = Path(__file__).resolve().parent.parent / "lab_solutions" / "patch" / "my-change.patch"
    monkeypatch.setattr(builds, "list_builds", lambda settings: patched(solution))
    assert checks.patch_updates_tests(Ctx())[0] is True


def test_shared_preload_libraries_is_read_as_the_server_reads_the_list():
    assert checks._libraries("lab_worker, pg_stat_statements") == ["lab_worker", "pg_stat_statements"]
    assert checks._libraries('"lab_worker",$libdir/lab_hook.so') == ["lab_worker", "lab_hook"]
    assert checks._libraries("") == []


def test_answers_are_read_from_the_learners_file_whatever_the_spacing(tmp_path):
    from pglab.config import Settings

    class Ctx:
        settings = Settings(root=tmp_path)

    (tmp_path / "labs").mkdir()
    (tmp_path / "labs" / "heap-insert.answers").write_text("# from gdb\nt_self : ( 0, 1 )\nnote: x: y\n")
    path, answers = checks._answers(Ctx(), "heap-insert")
    assert answers == {"t_self": "( 0, 1 )", "note": "x: y"}
    assert checks._same(answers["t_self"], "(0,1)") and not checks._same(answers["t_self"], "(0,10)")


def test_graded_hints_count_the_check_shown_and_survive_a_damaged_count(tmp_path):
    """Each --check that shows the same failing check counts once for it (the others failing behind
    it are not counted); a pass starts it again; a count the learner's file mangled is read as none."""
    from types import SimpleNamespace

    settings = SimpleNamespace(layout=SimpleNamespace(root=tmp_path))
    one = lab.Check("one", "x", "h1", sql="SELECT 1", hints=("h1", "h2"))
    two = lab.Check("two", "y", "g1", sql="SELECT 1", hints=("g1", "g2"))
    the_lab = SimpleNamespace(name="fine", checks=(one, two))

    def run(ok_one, ok_two):
        return progress.record(settings, the_lab, [checks.Result(one, ok_one, ""), checks.Result(two, ok_two, "")])

    assert run(False, False) == {"one": 1, "two": 0}
    assert run(False, False) == {"one": 2, "two": 0}
    assert run(True, False) == {"two": 1}
    assert run(False, False) == {"one": 1, "two": 1}
    progress.path(settings).write_text('{"@tries": {"fine": {"one": "many", "two": true}}}')
    assert run(False, False) == {"one": 1, "two": 0}
    progress.path(settings).write_text('{"@tries": ["not", "a", "mapping"]}')
    assert run(False, True) == {"one": 1}

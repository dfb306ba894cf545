"""Lab starters as data: every starter parses and lands its TODOs where the lab says; `--start`
never changes what is already there; the planner fork is a clean copy with its TODO in cost_seqscan."""

import json
import os
import subprocess
import sys

import pytest

from pglab import lab
from pglab.config import PROJECT_ROOT, Settings
from pglab.errors import LabError
from pglab.ext import scaffold
from pglab.lab import starter

EXTENSION_LABS = {"c-udf": ("lab_udf", "udf"), "type": ("lab_pair", "type"), "bgworker": ("lab_worker", "bgworker"),
                  "hooks": ("lab_hook", "hook")}


def snapshot(folder):
    """{relative path: bytes} of every file under FOLDER."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_labs_with_a_starter_are_the_ones_that_ask_for_code():
    with_starter = {l.name: l.starter for l in lab.load() if l.starter is not None}
    assert set(with_starter) == {*EXTENSION_LABS, "planner-fork"}
    assert {n: (s.extension, s.template) for n, s in with_starter.items() if not s.fork} == EXTENSION_LABS
    assert with_starter["planner-fork"].fork and with_starter["planner-fork"].files == (
        ("src/backend/optimizer/path/costsize.c", "in cost_seqscan"),)


@pytest.mark.parametrize("name", sorted(EXTENSION_LABS))
def test_an_extension_starter_is_the_template_plus_the_labs_todos_at_their_places(tmp_path, name):
    """Without a build the {{function}} pointers are plain names; every TODO is where the front matter says."""
    chosen = lab.find(name)
    ext, template = EXTENSION_LABS[name]
    scaffold.scaffold(ext, template, root=tmp_path / "template")
    plain = snapshot(tmp_path / "template" / ext)
    done = starter.start(Settings(root=tmp_path / "area"), chosen, extensions=tmp_path / "extensions")
    assert done.path == tmp_path / "extensions" / ext
    assert not (tmp_path / "extensions" / f".start-{ext}").exists()
    got = snapshot(done.path)
    assert set(got) == set(plain)
    placed = dict(chosen.starter.files)
    for rel, line in done.todos:
        text = got[rel].decode()
        overlay = chosen.starter.overlay(rel).replace("{{", "").replace("}}", "")
        assert overlay in text and text.replace(overlay, "", 1) == plain[rel].decode(), rel
        assert f"TODO(lab {name})" in text.splitlines()[line - 1]
        if placed[rel] == "append":
            assert text.endswith(overlay)
        else:
            after = text[text.index(overlay) + len(overlay):]
            assert after.splitlines()[0].strip() == placed[rel].removeprefix("before ")
    assert {rel for rel, _ in done.todos} == set(placed)
    assert [rel for rel in got if got[rel] != plain[rel]] == sorted(placed, key=list(got).index)


def test_a_starter_the_lab_describes_wrongly_is_refused_naming_the_file(tmp_path):
    (tmp_path / "starters" / "x").mkdir(parents=True)
    bad = tmp_path / "x.md"
    bad.write_text("---\nname: x\ntitle: X\nweek: 9\nchecks:\n  - id: a\n    says: s\n    hint: h\n    sql: SELECT true\n"
                   "starter:\n  extension: lab_x\n  template: udf\n  next: invoke ext-test lab_x\n"
                   "  files:\n    lab_x.c: append\n---\ntext\n")
    with pytest.raises(LabError) as err:
        lab.parse(bad)
    assert str(err.value) == f"{bad}: starter: lab_x.c: no overlay {tmp_path}/starters/x/lab_x.c"
    (tmp_path / "starters" / "x" / "lab_x.c").write_text("/* TODO(lab x) */\n")
    bad.write_text(bad.read_text().replace("lab_x.c: append", "lab_x.c: after the end"))
    with pytest.raises(LabError) as err:
        lab.parse(bad)
    assert str(err.value) == f"{bad}: starter: lab_x.c: 'after the end' is not append, before LINE or in FUNCTION"


def test_start_refuses_an_existing_extension_without_changing_a_byte(tmp_path):
    ext = tmp_path / "extensions" / "lab_udf"
    (ext / "sql").mkdir(parents=True)
    (ext / "lab_udf.c").write_text("/* the learner's half-done clamp */\n")
    (ext / "sql" / "lab_udf.sql").write_text("SELECT 1;\n")
    before = snapshot(tmp_path)
    with pytest.raises(LabError) as err:
        starter.start(Settings(root=tmp_path / "area"), lab.find("c-udf"), extensions=tmp_path / "extensions")
    assert str(err.value) == (f"{ext} exists (your work, left as it is): to start over, move it away "
                              f"(mv {ext} {ext}.old) and run `invoke lab c-udf --start` again")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "extensions").iterdir()) == ["lab_udf"]


def test_invoke_lab_start_refuses_an_existing_fork_in_one_line_and_changes_nothing(tmp_path):
    fork = tmp_path / "area" / "labs" / "planner-fork"
    (fork / "src").mkdir(parents=True)
    (fork / "src" / "edited.c").write_text("int startup_cost = 42;\n")
    before = snapshot(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PGLAB_VIA"}
    done = subprocess.run([sys.executable, "-m", "invoke", "lab", "planner-fork", "--start"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, env={**env, "INVOKE_PGLAB_ROOT": str(tmp_path / "area")})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"error: {fork} exists (your work, left as it is): to start over, move it away (mv {fork} {fork}.old) "
        f"and run `invoke lab planner-fork --start` again"]
    assert snapshot(tmp_path) == before


COSTSIZE = """/* costsize.c (a small stand-in) */
void
cost_seqscan_helper(void)
{
}

void
cost_seqscan(Path *path, PlannerInfo *root,
\t\t\t RelOptInfo *baserel, ParamPathInfo *param_info)
{
\tCost\t\tstartup_cost = 0;
}
"""


def fake_build(tmp_path, source_dir, build_id="15.18-debug"):
    """Settings whose build cache holds one installed build of SOURCE_DIR (only its metadata)."""
    settings = Settings(root=tmp_path / "area", cache=tmp_path / "cache")
    prefix = settings.layout.prefix(build_id)
    prefix.mkdir(parents=True)
    (prefix / "pglab-build.json").write_text(json.dumps(
        {"id": build_id, "release": "15.18", "flavour": "debug", "channel": "debian", "patches": [],
         "source_dir": str(source_dir)}))
    return settings


@pytest.fixture
def small_tree(tmp_path):
    """A source tree as a build may leave it: sources, and products of an in-place build or a checkout."""
    src = tmp_path / "src-15.18"
    files = {
        "configure": "PACKAGE_VERSION='15.18'\n",
        "src/Makefile.global.in": "# template\n",
        "src/test/regress/GNUmakefile": "# a source file, not configure's\n",
        "src/backend/optimizer/path/costsize.c": COSTSIZE,
        "src/backend/optimizer/util/pathnode.c": "void\nadd_path(RelOptInfo *parent_rel, Path *new_path)\n{\n}\n"
                                                 "\nPath *\ncreate_seqscan_path(PlannerInfo *root)\n{\n}\n",
        # build products: none of these may reach the fork
        "src/backend/optimizer/path/costsize.o": "\x7fELF",
        "src/backend/optimizer/path/.deps/costsize.Po": "deps\n",
        "src/backend/postgres.bc": "bitcode",
        "src/port/libpgport.a": "!<arch>",
        "src/Makefile.global": "# configured\n",
        "src/include/pg_config.h": "#define PG_VERSION \"15.18\"\n",
        "config.status": "#! /bin/sh\n",
        "config.log": "log\n",
        "GNUmakefile": "all:\n",
        ".git/HEAD": "ref: refs/heads/master\n",
        "src/test/regress/results/select.out": "out\n",
        "src/test/regress/regression.diffs": "diff\n",
    }
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def test_the_planner_fork_is_a_clean_copy_with_the_todo_in_cost_seqscan(tmp_path, small_tree):
    settings = fake_build(tmp_path, small_tree)
    original = snapshot(small_tree)
    done = starter.start(settings, lab.find("planner-fork"), pg="15.18-debug")
    fork = tmp_path / "area" / "labs" / "planner-fork"
    assert done.path == fork and done.next == f"invoke build-pg --source {fork}"
    assert sorted(snapshot(fork)) == ["configure", "src/Makefile.global.in",
                                      "src/backend/optimizer/path/costsize.c",
                                      "src/backend/optimizer/util/pathnode.c", "src/test/regress/GNUmakefile"]
    todo = chr(10).join([
        "\t/*",
        "\t * TODO(lab planner-fork): make every sequential scan start at cost 42:",
        "\t * startup_cost, declared just below, starts at 0; make that 42.  Then",
        "\t * `invoke build-pg --source pg_source/labs/planner-fork` (only this file",
        "\t * recompiles) and EXPLAIN SELECT * FROM pg_class on that build shows",
        "\t * \"Seq Scan on pg_class  (cost=42.00..\".",
        "\t *",
        "\t * In this tree:",
        "\t *   create_seqscan_path (src/backend/optimizer/util/pathnode.c:7)",
        "\t *     calls this function for every table;",
        "\t *   add_path (src/backend/optimizer/util/pathnode.c:2)",
        "\t *     drops a path another one beats on both costs, sort order,",
        "\t *     parameterisation and rows (compare_path_costs_fuzzily).",
        "\t */", ""])
    at = COSTSIZE.index("{\n\tCost") + 2
    assert (fork / "src/backend/optimizer/path/costsize.c").read_text() == COSTSIZE[:at] + todo + COSTSIZE[at:]
    assert done.todos == (("src/backend/optimizer/path/costsize.c", 12),)
    assert snapshot(small_tree) == original               # the build's own source is never written to
    assert sorted(p.name for p in fork.parent.iterdir()) == ["planner-fork"]


def test_a_tree_without_cost_seqscan_leaves_no_fork_behind(tmp_path, small_tree):
    (small_tree / "src/backend/optimizer/path/costsize.c").write_text("void\ncost_index(void)\n{\n}\n")
    settings = fake_build(tmp_path, small_tree)
    with pytest.raises(LabError) as err:
        starter.start(settings, lab.find("planner-fork"), pg="15.18-debug")
    assert str(err.value) == ("src/backend/optimizer/path/costsize.c has no definition of cost_seqscan (a function "
                              "name at the start of a line, then its opening brace)")
    assert list((tmp_path / "area" / "labs").iterdir()) == []


def test_a_fork_labs_checks_default_to_the_build_made_from_the_fork(tmp_path, small_tree):
    settings = fake_build(tmp_path, small_tree)
    fork = settings.layout.lab_fork("planner-fork")
    assert starter.fork_builds(settings, "planner-fork") == []
    other = settings.layout.prefix("15.18-debug-local-planner-fork-abc123")
    other.mkdir(parents=True)
    (other / "pglab-build.json").write_text(json.dumps(
        {"id": other.name, "release": "15.18", "flavour": "debug", "channel": "local", "patches": [],
         "source_dir": str(fork)}))
    assert [b.id for b in starter.fork_builds(settings, "planner-fork")] == ["15.18-debug-local-planner-fork-abc123"]

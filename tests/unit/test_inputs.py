"""What users type, checked before it is used: names that become folders, lab files'
fields, SQL handed to psql and paths handed to gdb; and where an installed pglab (not a
clone) keeps its working area."""

import subprocess
from pathlib import Path

import pytest

from pglab import config, lab
from pglab.config import Settings
from pglab.debug import gdb_quote, gdb_script
from pglab.debug.pane import go_script, psql_quote
from pglab.errors import BuildMissing, ClusterError, LabError, VersionError
from pglab.layout import Layout

NAME_RULE = "a name is letters, digits, '.', '_' and '-' (not . or ..)"


@pytest.mark.parametrize("name", ["..", ".", "../..", "a/b", "", "x y", "ü", "a\nb"])
def test_a_cluster_name_that_is_not_one_path_component_is_refused(tmp_path, name):
    with pytest.raises(ClusterError) as err:
        Layout(tmp_path, tmp_path).cluster("17.11-debug", name)
    assert str(err.value) == f"{name!r} is not a cluster name: {NAME_RULE}"


@pytest.mark.parametrize("name", ["main", "debug-test-12", "a.b_c-1"])
def test_cluster_names_of_letters_digits_dots_dashes_and_underscores_are_folders(tmp_path, name):
    assert Layout(tmp_path, tmp_path).cluster("17.11-debug", name) == tmp_path / "clusters" / "17.11-debug" / name


def test_a_build_id_is_checked_wherever_it_becomes_a_folder(tmp_path):
    layout = Layout(tmp_path, tmp_path)
    for where in (layout.prefix, layout.build_dir, layout.template, layout.check, layout.inspect_modules):
        with pytest.raises(BuildMissing) as err:
            where("../17.11-debug")
        assert str(err.value) == (f"'../17.11-debug' is not a build id (`invoke pg-list` shows the builds): "
                                  f"{NAME_RULE}")


def test_an_installed_pglab_keeps_its_working_area_in_the_users_state_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)           # outside any git repository (in one, the area is its .pglab/)
    monkeypatch.setattr(config, "IN_CLONE", False)
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path / "here")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(config.os, "geteuid", lambda: 1000)
    assert Settings.from_mapping(Settings.defaults()).root == tmp_path / "state" / "pglab"
    assert Settings.from_mapping({**Settings.defaults(), "root": "work"}).root == tmp_path / "here" / "work"
    monkeypatch.setattr(config.os, "geteuid", lambda: 0)
    assert Settings.from_mapping(Settings.defaults()).root == Path("/var/lib/pglab")
    assert Settings.from_mapping(Settings.defaults()).cache == Path("/var/cache/pglab")


def test_an_installed_pglab_in_a_git_repository_works_in_its_pglab_folder_which_git_ignores(monkeypatch, tmp_path):
    (tmp_path / "my ext" / ".git").mkdir(parents=True)
    (tmp_path / "my ext" / "sql").mkdir()
    monkeypatch.chdir(tmp_path / "my ext" / "sql")
    monkeypatch.setattr(config, "IN_CLONE", False)
    assert Settings.from_mapping(Settings.defaults()).root == tmp_path / "my ext" / ".pglab"
    assert (tmp_path / "my ext" / ".pglab" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_in_a_clone_the_working_area_is_its_pg_source():
    assert config.IN_CLONE
    assert Settings.from_mapping(Settings.defaults()).root == config.PROJECT_ROOT / "pg_source"


def test_a_setting_of_the_wrong_kind_is_one_line():
    with pytest.raises(config.PglabError) as err:
        Settings.from_mapping({**Settings.defaults(), "jobs": "two"})
    assert str(err.value) == "setting jobs: 'two' is not a whole number (set in invoke.yaml or as INVOKE_PGLAB_JOBS)"


# ---- lab files ------------------------------------------------------------------------------

GOOD = """---
name: fine
title: A fine lab
week: 3
checks:
  - id: one
    says: something
    hint: do it
    sql: SELECT true
---
Text.
"""


@pytest.mark.parametrize("before, after, message", [
    ("week: 3", "week: six", "week: must be a whole number from 1 to 20, not the text 'six'"),
    ("week: 3", "week: true", "week: must be a whole number from 1 to 20, not true (true/false)"),
    ("week: 3", "week: 21", "week: must be a whole number from 1 to 20, not the number 21"),
    ("checks:\n  - id: one\n    says: something\n    hint: do it\n    sql: SELECT true\n", "checks: null\n",
     "checks: must be a list of checks (id, says, hint, sql or evidence), not null"),
    ("title: A fine lab", "title: [a, b]", "title: must be non-empty text, not a list"),
    ("name: fine", "name: ../up", "name: '../up' is not a lab name: " + NAME_RULE),
    ("says: something", "says: 42", "checks[0].says: must be non-empty text, not the number 42"),
    ("id: one", "id: [1]", "checks[0].id: must be text (progress is kept by it), not a list"),
    ("week: 3", "week: 3\ncommands: invoke pg-start", "commands: must be a list of text, not the text "
                                                       "'invoke pg-start'"),
    ("week: 3", "week: 3\nsource: [heap_insert, 7]", "source[1]: must be non-empty text, not the number 7"),
    ("week: 3", "week: 3\nweeks: 4", "unknown fields weeks (a lab has name, title, week, sessions, commands, source, "
                                     "checks, starter)"),
    ("week: 3", "week: 3\nsessions: 0", "sessions: must be a whole number from 1 to 20 (sessions of 30 minutes), "
                                        "not the number 0"),
    ("week: 3", "week: 3\nsessions: an hour", "sessions: must be a whole number from 1 to 20 (sessions of 30 "
                                              "minutes), not the text 'an hour'"),
    ("---\nname: fine\n", "---\n- one\n- two\n---\n", "the front matter must be a mapping of fields (name, title, week, sessions, "
                                 "commands, source, checks, starter), not a list"),
])
def test_a_lab_field_of_the_wrong_kind_is_named_with_the_file(tmp_path, before, after, message):
    path = tmp_path / "x.md"
    assert before in GOOD
    path.write_text(GOOD.replace(before, after, 1))
    with pytest.raises(LabError) as err:
        lab.parse(path)
    assert str(err.value) == f"{path}: {message}"


def test_one_bad_lab_file_leaves_the_others_usable(tmp_path):
    (tmp_path / "01-fine.md").write_text(GOOD)
    (tmp_path / "02-other.md").write_text(GOOD.replace("name: fine", "name: other"))
    bad = tmp_path / "03-bad.md"
    bad.write_text(GOOD.replace("name: fine", "name: bad").replace("week: 3", "week: six"))
    labs, problems = lab.survey(tmp_path)
    assert [l.name for l in labs] == ["fine", "other"]
    assert [(p.path, p.name, str(p)) for p in problems] == [
        (bad, "bad", f"{bad}: week: must be a whole number from 1 to 20, not the text 'six'")]
    assert lab.find("other", tmp_path).name == "other"
    with pytest.raises(LabError) as err:
        lab.find("bad", tmp_path)
    assert str(err.value) == f"{bad}: week: must be a whole number from 1 to 20, not the text 'six'"


def test_two_labs_of_one_name_are_both_left_out_and_said(tmp_path):
    (tmp_path / "01-a.md").write_text(GOOD)
    (tmp_path / "02-b.md").write_text(GOOD)
    labs, problems = lab.survey(tmp_path)
    assert labs == [] and [str(p) for p in problems] == [
        f"two labs are called fine: {tmp_path}/01-a.md, {tmp_path}/02-b.md"] * 2


def test_a_starter_file_outside_the_starter_is_refused(tmp_path):
    path = tmp_path / "x.md"
    path.write_text(GOOD.replace("week: 3", "week: 3\nstarter:\n  extension: lab_x\n  template: udf\n"
                                            "  next: invoke ext-test lab_x\n  files:\n    ../../etc/x: append"))
    with pytest.raises(LabError) as err:
        lab.parse(path)
    assert str(err.value) == (f"{path}: starter: files: '../../etc/x' is not a path inside the starter "
                              f"(relative, without ..)")


# ---- SQL for psql, paths for gdb ----------------------------------------------------------------

def test_multi_line_sql_is_echoed_on_one_line_and_run_as_given():
    assert go_script("INSERT INTO t\nVALUES (1, 'it''s')  -- the row\n;;") == (
        "\\echo 'pglab: running: INSERT INTO t\\nVALUES (1, ''it''''s'')  -- the row'\n"
        "INSERT INTO t\nVALUES (1, 'it''s')  -- the row\n;\n")


def test_psql_quote_doubles_quotes_and_backslashes():
    assert psql_quote("/tmp/a b/it's\\x") == "'/tmp/a b/it''s\\\\x'"


def test_gdb_takes_a_folder_with_spaces_quotes_and_non_ascii_as_one(tmp_path):
    from pglab.debugger import find_gdb

    folder = tmp_path / 'pg source ü "17"'
    folder.mkdir()
    script = tmp_path / "s.gdb"
    script.write_text(f"directory {gdb_quote(str(folder))}\nshow directories\n")
    done = subprocess.run([find_gdb(), "-nx", "-batch", "-x", str(script)], capture_output=True, text=True)
    assert done.stdout == f"Source directories searched: {folder}:$cdir:$cwd\n"


def test_the_session_script_names_the_build_folders_quoted():
    from pglab.debug import Plan

    plan = Plan(build_id="17.11-debug", gdb="gdb", postgres="/p/bin/postgres", source_dir="/src/my tree",
                build_dir="/b/my build", loader="/l/loader.py", error_level=21, workdir="/w")
    lines = gdb_script(plan).splitlines()
    assert lines[4:6] == ['directory "/src/my tree"', 'directory "/b/my build"']


@pytest.mark.parametrize("empty", ["", ".", " "])
def test_an_empty_working_area_setting_means_the_default_not_the_clone(monkeypatch, empty):
    from pglab.config import PROJECT_ROOT, Settings

    monkeypatch.setenv("INVOKE_PGLAB_ROOT", empty)
    assert Settings.load().root == PROJECT_ROOT / "pg_source"


def test_graded_hints_are_a_list_the_first_pointing_the_last_showing(tmp_path):
    from pglab.lab import Check, parse

    path = tmp_path / "x.md"
    path.write_text(GOOD.replace("    hint: do it\n", "    hint: [look at X, read Y in Z, do W]\n"))
    [check] = parse(path).checks
    assert (check.hint, check.hints) == ("look at X", ("look at X", "read Y in Z", "do W"))
    assert [check.hint_after(n) for n in (0, 1, 2, 3, 9)] == ["look at X", "look at X", "read Y in Z", "do W", "do W"]
    assert Check("a", "b", "only").hint_after(5) == "only"
    path.write_text(GOOD.replace("    hint: do it\n", "    hint: []\n"))
    with pytest.raises(LabError) as err:
        parse(path)
    assert str(err.value) == (f"{path}: checks[0].hint: must be text, or a list of hints (the first points, the "
                              f"last shows), not an empty list")


@pytest.mark.parametrize("version, error, message", [
    ("~0", VersionError, "'~0' is not a PostgreSQL version: use a major (16), a release (17.11, 19beta2) or 'latest'"),
    ("~nosuchuser/x.patch", BuildMissing, "no build made with a patch called x.patch (and no file "
                                          "~nosuchuser/x.patch here): run `invoke build-pg --patch "
                                          "~nosuchuser/x.patch`")])
def test_a_version_naming_an_unknown_users_home_is_refused_in_one_line(version, error, message, tmp_path):
    """'~0' reads as user 0's home, who has none: refused as what it is, never a traceback."""
    from pglab.pg.builds import find_build

    with pytest.raises(error) as err:
        find_build(Settings.load(root=tmp_path / "area"), version)
    assert str(err.value) == message

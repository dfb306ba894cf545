"""Every task's inputs, fuzzed: malformed names, versions, paths, SQL, numbers and lab
files.  For each, the task exits non-zero with one line (no traceback) and changes
nothing on disk: neither the working area nor the clone it runs from (nor the folder
the paths point into).

The tasks run as `invoke TASK ...` in a clone of the committed tree, through
task_runner.py, which forks a child per run from a process that has already imported
everything (a run takes milliseconds, not the half second of a new interpreter).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from pglab.config import PROJECT_ROOT, Settings
from pglab.errors import VersionError
from pglab.pg.builds import list_builds
from pglab.pg.versions import VersionSpec
from tests.conftest import shared_tmp

# hypothesis keeps its caches out of the clone the suite runs in
set_hypothesis_home_dir(shared_tmp("pglab-hypothesis"))

RUNNER = Path(__file__).resolve().parent / "task_runner.py"
NAME = re.compile(r"[A-Za-z0-9_.-]+")
FUZZ = settings(max_examples=20, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Runner:
    """`invoke ARGV` in the clone, answered by task_runner.py: (code, stdout, stderr)."""

    def __init__(self, clone, area):
        env = {k: v for k, v in os.environ.items() if k not in ("PGLAB_VIA", "TMUX")}
        env.update(INVOKE_PGLAB_ROOT=str(area), PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen([sys.executable, str(RUNNER)], cwd=clone, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def __call__(self, *argv):
        self.proc.stdin.write(json.dumps(list(argv)) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return answer["code"], answer["stdout"], answer["stderr"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def snapshot(*roots):
    """Everything under ROOTS as the disk shows it: kind, size, mode, owner, times, link targets."""
    seen = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                path = os.path.join(folder, name)
                st_ = os.lstat(path)
                seen[path] = (st_.st_mode, st_.st_size, st_.st_uid, st_.st_gid, st_.st_mtime_ns,
                              os.readlink(path) if os.path.islink(path) else None)
            seen[folder] = os.lstat(folder).st_mtime_ns
    return seen


@pytest.fixture(scope="module")
def world(tmp_path_factory, default_build):
    """(run, roots, inputs): the runner, what must not change, and a folder of things to point at."""
    top = tmp_path_factory.mktemp("fuzz")
    clone = top / "pglab"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
    area = top / "area"
    area.mkdir()
    inputs = top / "inputs"
    (inputs / "empty folder").mkdir(parents=True)
    (inputs / "full folder ü").mkdir()
    (inputs / "full folder ü" / "mine.txt").write_text("mine\n")
    (inputs / "a file.txt").write_text("not what anything wants\n")
    run = Runner(clone, area)
    yield run, (clone, area, inputs), inputs
    run("pg-stop", "--all")     # were a malformed input to start a server, its test failed: the server stops here
    run.close()


def refused(world, *argv):
    """ARGV fails with one line on stderr, nothing on stdout, and nothing changed on disk."""
    run, roots, _ = world
    before = snapshot(*roots)
    code, out, err = run(*argv)
    assert code not in (0, None), (argv, code, out, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1 and out == "", (argv, out, err)
    assert snapshot(*roots) == before, argv
    return err.rstrip("\n")


# ---- strategies ------------------------------------------------------------------------------

# text as a shell can pass it (no NUL) and invoke's parser reads it as a value (not a flag)
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
VALUE = TEXT.filter(lambda s: not s.startswith("-"))


def _bad_name(text):
    return not NAME.fullmatch(text) or text in (".", "..")


BAD_NAMES = st.one_of(st.sampled_from(["..", ".", "../..", "a/b", "/etc", "x y", "ü", "main/../..", " "]),
                      VALUE.filter(_bad_name))


def _build_ids():
    return {b.id for b in list_builds(Settings.load())}


def _bad_version(text, builds=frozenset()):
    """Text naming no version (and no build): every part of `a,b` that is not empty must fail."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or text.strip() in ("all", "latest") or any(p in builds for p in parts):
        return False
    for part in parts:
        try:
            VersionSpec.parse(part)
        except VersionError:
            return True
    return False


BAD_VERSIONS = st.one_of(st.sampled_from(["abc", "16.x", "../17", "17/..", "1x", "17.11-debug/..", "99999999999"]),
                         VALUE).filter(lambda s: _bad_version(s, _build_ids()))


def _not_whole(text, least):
    try:
        return int(text) < least
    except ValueError:
        return True


def _not_seconds(text):
    try:
        value = float(text)
    except ValueError:
        return True
    return not (value == value and abs(value) != float("inf") and value > 0)


def bad_whole(least):
    return st.one_of(st.integers(max_value=least - 1).map(str), st.sampled_from(["two", "1.5", "0x10", "", "1e3"]),
                     VALUE).filter(lambda s: _not_whole(s, least) and (not s.startswith("-") or s[1:].isdigit()))


BAD_SECONDS = st.one_of(st.sampled_from(["nan", "inf", "-inf", "0", "-1", "x", "", "1e999"]),
                        st.floats(max_value=0).map(repr), VALUE).filter(_not_seconds)
BLANK_SQL = st.text(st.sampled_from([" ", "\t", "\n", ";"]), max_size=8)


# ---- the tasks ------------------------------------------------------------------------------------

NAMED = [("pg-start", "--name"), ("pg-stop", "--name"), ("pg-log", "--name"), ("psql", "--name"), ("debug", "--name"),
         ("inspect", "t", "--name"), ("ext-install", "pgl_funcs-1.0.0.zip", "--name"), ("lab", "build", "--cluster")]


@FUZZ
@given(name=BAD_NAMES, where=st.sampled_from(NAMED))
def test_a_malformed_cluster_name(world, name, where):
    assert refused(world, *where, name) == (
        f"error: {name!r} is not a cluster name: a name is letters, digits, '.', '_' and '-' (not . or ..)")


@FUZZ
@given(name=BAD_NAMES)
def test_a_malformed_build_id(world, name):
    assert refused(world, "pg-clean", name) == (
        f"error: {name!r} is not a build id (`invoke pg-list` shows the builds): a name is letters, digits, '.', '_' "
        f"and '-' (not . or ..)" if name.strip() else
        f"error: pg-clean needs its argument, not {name!r}; for help: invoke pg-clean --help")


@FUZZ
@given(version=BAD_VERSIONS, where=st.sampled_from([
    ("build-pg", "--version"), ("build-key", "--version"), ("pg-check", "--version"), ("pg-start", "--version"),
    ("psql", "--version"), ("ext-test", "pgl_funcs", "--pg"), ("trace", "heap_insert", "--pg"), ("debug", "--pg"),
    ("inspect", "t", "--pg"), ("ext-install", "pgl_funcs-1.0.0.zip", "--pg"), ("lab", "build", "--check", "--pg")]))
def test_a_malformed_version(world, version, where):
    assert refused(world, *where, version).startswith("error: ")


def test_ci_with_a_malformed_major_writes_no_report(world):
    _, _, inputs = world
    assert refused(world, "ci", "--pg", "abc", "--ext", "pgl_funcs", "--out", str(inputs / "new results")) == (
        "error: 'abc' is not a PostgreSQL version: use a major (16), a release (17.11, 19beta2) or 'latest'")


PATHS = ["nowhere/x y ü", "a file.txt", "empty folder", "a file.txt/under", "full folder ü"]
TAKES_A_FOLDER = {  # the task and flag, and which of PATHS each one refuses
    ("build-pg", "--source"): PATHS,
    ("build-pg", "--version", "17", "--patch"): ["nowhere/x y ü", "empty folder", "a file.txt/under"],
    ("debug", "--core"): PATHS,
    ("ext-test",): PATHS, ("ext-meta",): PATHS, ("ext-bundle",): PATHS, ("ext-release",): PATHS,
    ("ext-install",): PATHS,
    ("trace", "heap_insert", "--out"): ["empty folder", "a file.txt/under", "full folder ü"],
    ("inspect", "t", "--out"): ["empty folder", "a file.txt/under", "full folder ü"],
    ("ci", "--ext", "pgl_funcs", "--out"): ["a file.txt", "a file.txt/under", "full folder ü"],
    ("ext-bundle", "pgl_funcs", "--out"): ["a file.txt", "a file.txt/under"],
}
PATH_CASES = [(where, path) for where, paths in TAKES_A_FOLDER.items() for path in paths]


@FUZZ
@given(case=st.sampled_from(PATH_CASES))
def test_a_path_to_the_wrong_thing(world, case):
    where, path = case
    assert refused(world, *where, str(world[2] / path)).startswith("error: ")


@FUZZ
@given(sql=BLANK_SQL, where=st.sampled_from([("trace", "heap_insert", "--sql"), ("trace", "locks", "--other"),
                                              ("debug", "--sql"), ("inspect", "t", "--watch"), ("psql", "--command")]))
def test_sql_with_nothing_to_run(world, sql, where):
    assert refused(world, *where, sql) == f"error: {where[-1]} needs a statement to run, not {sql!r}"


@FUZZ
@given(data=st.data())
def test_a_malformed_number(world, data):
    where, strategy = data.draw(st.sampled_from([
        (("build-pg", "--jobs"), bad_whole(1)), (("test", "--jobs"), bad_whole(1)),
        (("inspect", "t", "--block"), bad_whole(0)), (("debug", "--backend"), bad_whole(1)),
        (("pg-log", "--lines"), bad_whole(1)),
        (("ext-test", "pgl_funcs", "--idle-timeout"), BAD_SECONDS), (("trace", "heap_insert", "--timeout"), BAD_SECONDS)]))
    value = data.draw(strategy)
    assert refused(world, *where, value).startswith(f"error: {where[-1]} ")


EXTENSION = re.compile(r"[a-z_][a-z0-9_]{0,62}")          # new-ext's rule for a name
CHOICES = [  # a flag that takes one of a few words: the task and flag, and the words
    (("trace", "heap_insert", "--format"), {"text", "json", "perfetto", "svg"}),
    (("inspect", "t", "--format"), {"text", "json", "svg", "html"}),
    (("build-pg", "--flavour"), {"debug", "opt"}),
    (("new-ext", "my_ext", "--template"), {"udf", "type", "bgworker", "hook"}),
    (("ext-test", "pgl_funcs", "--suite"), {"regress", "isolation", "tap", "pytest"}),
]


@FUZZ
@given(data=st.data())
def test_a_word_that_is_not_one_of_the_choices(world, data):
    where, words = data.draw(st.sampled_from(CHOICES))
    value = data.draw(VALUE.filter(lambda v: v.strip() and not {p.strip() for p in v.split(",")} & words))
    assert refused(world, *where, value).startswith("error: ")


@FUZZ
@given(name=VALUE.filter(lambda v: v.strip() and not EXTENSION.fullmatch(v)))
def test_new_ext_with_a_name_that_is_not_an_identifier(world, name):
    assert refused(world, "new-ext", name).startswith(f"error: {name!r} is not ")


@pytest.mark.parametrize("task", ["ext-test", "ext-meta", "ext-bundle", "ext-release", "ext-install", "trace",
                                  "inspect", "lab", "new-ext", "pg-clean"])
def test_an_empty_argument(world, task):
    assert refused(world, task, "") == f"error: {task} needs its argument, not ''; for help: invoke {task} --help"


# ---- lab files ------------------------------------------------------------------------------------

GOOD_LAB = {"name": "fuzzed", "title": "A lab being fuzzed", "week": 4,
            "commands": ["invoke pg-start"], "source": ["heap_insert"],
            "checks": [{"id": "one", "says": "a thing", "hint": "do it", "sql": "SELECT true"}]}
NOT_TEXT = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
BAD_FIELDS = {
    "title": st.one_of(NOT_TEXT, st.sampled_from(["", "  "])),
    "week": st.one_of(NOT_TEXT.filter(lambda v: isinstance(v, bool) or not isinstance(v, int)),
                      st.integers().filter(lambda n: not 1 <= n <= 20), TEXT),
    "commands": st.one_of(st.booleans(), st.integers(), TEXT, st.lists(NOT_TEXT.filter(lambda v: v is not None),
                                                                       min_size=1, max_size=2)),
    "source": st.one_of(st.booleans(), st.integers(), TEXT.filter(bool)),
    "checks": st.one_of(NOT_TEXT.filter(lambda v: not isinstance(v, list)), st.just([]),
                        st.lists(NOT_TEXT, min_size=1, max_size=2),
                        st.fixed_dictionaries({"id": st.just("x"), "says": NOT_TEXT, "hint": st.just("h"),
                                               "sql": st.just("SELECT 1")}).map(lambda c: [c])),
    "starter": st.one_of(NOT_TEXT.filter(lambda v: not isinstance(v, dict)), st.just({"fork": "yes"})),
}


@pytest.fixture(scope="module")
def good_labs():
    from pglab import lab

    return [l.name for l in lab.load()]


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_lab_file_with_a_field_of_the_wrong_kind(world, good_labs, data):
    run, roots, _ = world
    field = data.draw(st.sampled_from(sorted(BAD_FIELDS)))
    lab = {**GOOD_LAB, field: data.draw(BAD_FIELDS[field])}
    path = roots[0] / "labs" / "99-fuzzed.md"
    path.write_text("---\n" + yaml.safe_dump(lab, allow_unicode=True) + "---\nText.\n")
    try:
        line = refused(world, "lab", "fuzzed")
        assert line.startswith(f"error: {path}: {field}"), line
        before = snapshot(*roots)
        for argv in (["labs"], ["labs", "--status"], ["labs", "--json"]):
            code, out, err = run(*argv)
            assert (code, err) == (0, f"! {line.removeprefix('error: ')} (the other labs are listed)\n"), argv
            if argv == ["labs", "--json"]:
                assert [l["name"] for l in json.loads(out)] == good_labs
            else:
                assert all(f" {name} " in out for name in good_labs) and " fuzzed " not in out
        assert snapshot(*roots) == before
    finally:
        path.unlink()

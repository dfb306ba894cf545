"""`TASK --help` and `TASK -h` print the task's help (invoke's own: its usage line, docstring and
flags) and exit 0 for every task, those with a required argument too (which invoke's parser
would hand --help to), through `invoke`, `pglab` and `./lab`; nothing else is done: no working
area made, no extension scaffolded, no task after it on the line run.

Every task's help is asked of invoke's program in this process (some 70 runs, a second or two);
a few tasks with a required argument go through the three front doors as subprocesses."""

import inspect
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import invoke
import pytest
from invoke import Program

from pglab.config import PROJECT_ROOT
from pglab.tasks import ns

TASKS = sorted(ns.task_names)
WITH_ARGUMENT = ["inspect", "new-ext", "trace"]       # a few of those with a required (positional) argument
DOORS = {"invoke": [sys.executable, "-m", "invoke"],
         "pglab": [str(Path(sys.executable).parent / "pglab")],
         "./lab": [str(PROJECT_ROOT / "lab")]}


def usage(name, binary="inv[oke]"):
    options = "[--options] " if len(inspect.signature(ns[name].body).parameters) > 1 else ""
    return f"Usage: {binary} [--core-opts] {name} {options}[other tasks here ...]"


def as_pglab(text):
    return text.replace("Usage: inv[oke] ", "Usage: pglab ", 1)


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    """The working area and build cache pglab is pointed at: neither may come to exist."""
    top = tmp_path_factory.mktemp("help")
    return top / "area", top / "cache"


@pytest.fixture
def in_process(area, monkeypatch, capsys):
    """invoke(*ARGS) -> (exit code, stdout, stderr): `invoke ARGS` run by invoke's own program
    (as its console script builds it) in this process, from the clone."""
    root, cache = area
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.delenv("PGLAB_VIA", raising=False)
    monkeypatch.setenv("INVOKE_PGLAB_ROOT", str(root))
    monkeypatch.setenv("INVOKE_PGLAB_CACHE", str(cache))

    def run(*args):
        for t in ns.tasks.values():        # as a new process has them: invoke's parser consumes their help texts
            t.help = dict(t.help_texts)
        program = Program(name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"],
                          version=invoke.__version__)
        capsys.readouterr()
        try:
            program.run(["invoke", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _help(run, *args):
    code, out, err = run(*args)
    assert (code, err) == (0, ""), (args, out, err)
    return out


@pytest.mark.parametrize("name", TASKS)
def test_every_task_shows_its_own_help_after_its_name(in_process, name):
    shown = _help(in_process, name, "--help")
    lines = shown.splitlines()
    assert lines[0] == usage(name)
    assert lines[1:3] == ["", "Docstring:"]
    assert lines[3] == "  " + inspect.getdoc(ns[name]).splitlines()[0]
    assert shown == _help(in_process, "--help", name)      # exactly what invoke prints for `--help TASK`
    assert _help(in_process, name, "-h") == shown
    assert not re.search(r"^\s+-h[ ,]", shown, re.M)        # -h is never a task's own flag


def test_a_task_whose_argument_is_help_runs_nothing_after_it(in_process):
    assert _help(in_process, "trace", "--help", "pg-list") == _help(in_process, "--help", "trace")
    assert _help(in_process, "pg-clean", "-h", "pg-list") == _help(in_process, "--help", "pg-clean")


@pytest.fixture(scope="module")
def doors(area):
    """{(door, args): CompletedProcess} for the commands run through the front doors, side by
    side (./lab's set-up done first, so that what it prints is the task's own output alone)."""
    root, cache = area
    env = {k: v for k, v in os.environ.items() if k != "PGLAB_VIA"}
    env.update(INVOKE_PGLAB_ROOT=str(root), INVOKE_PGLAB_CACHE=str(cache))
    setup = subprocess.run([*DOORS["./lab"], "--version"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           env=env, timeout=900)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    commands = [(door, (name, "--help")) for door in DOORS for name in WITH_ARGUMENT]
    commands += [(door, ("trace", "-h")) for door in DOORS]
    commands += [(door, ("trace", "--help", "pg-list")) for door in DOORS]
    commands += [(door, ("new-ext", "--template", "type", "--help")) for door in DOORS]
    commands += [(door, ("pg-list", "trace", "--help")) for door in DOORS]

    def run(command):
        door, args = command
        return subprocess.run([*DOORS[door], *args], cwd=PROJECT_ROOT, capture_output=True, text=True, env=env,
                              timeout=120)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(commands, pool.map(run, commands)))


def _door(doors, door, *args):
    done = doors[(door, args)]
    assert (done.returncode, done.stderr) == (0, ""), (door, args, done.stdout, done.stderr)
    return done.stdout


@pytest.mark.parametrize("door", list(DOORS))
def test_tasks_with_an_argument_show_their_help_through_each_door(doors, in_process, door):
    for name in WITH_ARGUMENT:
        ours = _help(in_process, "--help", name)
        assert _door(doors, door, name, "--help") == (as_pglab(ours) if door == "pglab" else ours)
    trace = _help(in_process, "--help", "trace")
    trace = as_pglab(trace) if door == "pglab" else trace
    assert _door(doors, door, "trace", "-h") == trace                 # -h was trace's --other
    assert _door(doors, door, "trace", "--help", "pg-list") == trace  # pg-list does not run
    new_ext = _help(in_process, "--help", "new-ext")
    assert _door(doors, door, "new-ext", "--template", "type", "--help") == (
        as_pglab(new_ext) if door == "pglab" else new_ext)


@pytest.mark.parametrize("door", list(DOORS))
def test_the_whole_line_is_read_before_anything_runs(doors, in_process, door):
    """pg-list, before `trace --help` on the line, does not run (pglab reads the line before any task
    runs; invoke and ./lab through the clone's invoke.yaml: pglab.cli.HelpFirstExecutor)."""
    trace = _help(in_process, "--help", "trace")
    assert _door(doors, door, "pg-list", "trace", "--help") == (as_pglab(trace) if door == "pglab" else trace)
    assert _help(in_process, "pg-list", "trace", "--help") == trace


def test_help_makes_no_working_area_and_no_extension(doors, in_process, area):
    for name in TASKS:
        _help(in_process, name, "--help")
    root, cache = area
    assert (root.exists(), cache.exists()) == (False, False)
    assert [p.name for p in (PROJECT_ROOT / "extensions").iterdir() if p.name.startswith("-")] == []

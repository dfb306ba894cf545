"""ci/github-actions.yml: valid against GitHub's workflow schema (check-jsonschema's
copy, offline), and every command it runs is one pglab has."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from pglab.config import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / "ci" / "github-actions.yml"
KNOWN_ACTIONS = {"actions/checkout@v4", "actions/cache@v4", "actions/upload-artifact@v4"}


def _tasks():
    sys.path.insert(0, str(PROJECT_ROOT))
    import tasks

    return set(tasks.ns.task_names)


def test_the_workflow_is_valid_for_github():
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok -- validation done"


def test_every_command_it_runs_exists():
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["ci"]["steps"]
    assert {s["uses"] for s in steps if "uses" in s} <= KNOWN_ACTIONS
    runs = [s["run"] for s in steps if "run" in s]
    called = [m.group(1) for run in runs for m in re.finditer(r"\./lab (\S+)", run)]
    assert called == ["doctor", "build-key", "ci"]
    assert set(called) <= _tasks()
    ci_line = next(run for run in runs if "./lab ci" in run)
    assert "--werror" in ci_line and "--out ci-results" in ci_line


def test_the_matrix_is_13_to_18_and_the_pre_release_may_fail():
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["ci"]
    assert job["strategy"]["matrix"]["major"] == ["13", "14", "15", "16", "17", "18"]
    assert job["strategy"]["matrix"]["include"] == [{"major": "19", "prerelease": True}]
    assert job["continue-on-error"] == "${{ matrix.prerelease }}"

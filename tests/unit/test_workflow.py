"""ci/github-actions.yml (for a clone of pglab), ci/extension-workflow.yml (for an
extension's own repository) and action.yml (pglab's GitHub Action): valid against
GitHub's workflow and action schemas (check-jsonschema's copies, offline), and every
command they run is one pglab has."""

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


ACTION = PROJECT_ROOT / "action.yml"
TEMPLATE = PROJECT_ROOT / "ci" / "extension-workflow.yml"


def _check(schema, path):
    checker = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(checker), "--builtin-schema", schema, str(path)], capture_output=True, text=True)


def test_the_action_and_the_template_are_valid_for_github():
    for schema, path in (("vendor.github-actions", ACTION), ("vendor.github-workflows", TEMPLATE)):
        done = _check(schema, path)
        assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done"), done.stdout + done.stderr


def test_the_action_runs_pglab_commands_that_exist_with_its_inputs():
    action = yaml.safe_load(ACTION.read_text())
    assert set(action["inputs"]) == {"pg", "flavour", "path", "suites", "werror"}
    steps = action["runs"]["steps"]
    assert [s["uses"] for s in steps if "uses" in s] == ["actions/cache@v4", "actions/upload-artifact@v4"]
    called = [m.group(1) for s in steps if "run" in s for m in re.finditer(r'"\$PGLAB" (\S+)', s["run"])]
    assert called == ["doctor", "build-key", "ci"] and set(called) <= _tasks()
    template = yaml.safe_load(TEMPLATE.read_text())
    job = template["jobs"]["pglab"]
    assert job["strategy"]["matrix"]["pg"] == ["13", "14", "15", "16", "17", "18"]
    assert job["strategy"]["matrix"]["include"] == [{"pg": "19", "prerelease": True}]
    assert job["continue-on-error"] == "${{ matrix.prerelease }}"
    [uses] = [s for s in job["steps"] if s.get("uses", "").endswith("/pglab@main")]
    assert set(uses["with"]) <= set(action["inputs"])

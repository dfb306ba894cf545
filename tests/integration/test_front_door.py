"""./lab on a fresh clone: one line per set-up step, pip's output kept in a log
(shown when a step fails), a build without deprecation warnings, and nothing
printed once everything is set up."""

import re
import subprocess

import pytest

from pglab.config import PROJECT_ROOT
from tests.conftest import invoke


def _lab(clone, *args):
    return subprocess.run([str(clone / "lab"), *args], cwd=clone, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    path = tmp_path_factory.mktemp("front-door") / "pglab"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(path)], check=True)
    return path


@pytest.mark.slow
def test_first_run_prints_one_line_per_step_and_keeps_pip_in_a_log(clone):
    done = _lab(clone, "--version")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [re.sub(r"\d+ s$", "N s", l) for l in lines[:4]] == [
        "▸ create .venv", "  ✓ create .venv done in N s",
        "▸ install pglab and its Python dependencies into .venv",
        "  ✓ install pglab and its Python dependencies into .venv done in N s"]
    assert re.fullmatch(r"Invoke \d+\.\d+\.\d+", lines[4]) and len(lines) == 5
    log = (clone / ".venv-setup.log").read_text()
    assert "Successfully installed" in log and "pglab" in log
    assert "deprecat" not in log.lower()          # the build itself warns about nothing deprecated
    again = _lab(clone, "--version")
    assert again.stdout.splitlines() == lines[4:] and again.stderr == ""


@pytest.mark.slow
def test_a_failing_step_says_which_and_shows_the_log(clone):
    pyproject = clone / "pyproject.toml"
    good = pyproject.read_text()
    try:
        pyproject.write_text(good.replace('dependencies = [\n', 'dependencies = [\n  "pglab-no-such-package-zz9==1.0",\n'))
        done = _lab(clone, "--version")
        assert done.returncode == 1
        assert done.stdout.splitlines() == ["▸ install pglab and its Python dependencies into .venv"]
        err = done.stderr.splitlines()
        assert err[0] == (f"! install pglab and its Python dependencies into .venv failed; "
                          f"the last lines of {clone / '.venv-setup.log'}:")
        assert any("pglab-no-such-package-zz9" in l for l in err[1:])
    finally:
        pyproject.write_text(good)


@pytest.mark.parametrize("jobs", ["0", "two"])
def test_test_jobs_must_be_a_number_of_workers(jobs):
    done = invoke("test", "--jobs", jobs, timeout=60)
    assert (done.returncode, done.stdout, done.stderr.strip()) == (
        1, "", f"error: --jobs {jobs}: give a number of workers, 1 or more (1 runs the tests in this process)")

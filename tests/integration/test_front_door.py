"""./lab on a fresh clone: one line per set-up step, pip's output kept in a log
(shown when a step fails), a build without deprecation warnings, and nothing
printed once everything is set up."""

import os
import re
import subprocess
import sys
from pathlib import Path

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
    python = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert [re.sub(r"\d+ s$", "N s", l) for l in lines[:4]] == [      # Debian's own python3, whatever PATH says
        f"▸ create .venv (Python {python}, /usr/bin/python3)",
        f"  ✓ create .venv (Python {python}, /usr/bin/python3) done in N s",
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


def _accepted_pythons():
    """{version tuple: path} of every python3 and python3.N in PATH, /usr/local/bin and /usr/bin
    that pyproject's requires-python accepts."""
    floor = re.search(r'^requires-python = ">=([\d.]+)"', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M).group(1)
    want = tuple(int(p) for p in floor.split("."))
    found = {}
    for folder in os.environ.get("PATH", "").split(":") + ["/usr/local/bin", "/usr/bin"]:
        for path in sorted(Path(folder or ".").glob("python3*")):
            if not re.fullmatch(r"python3(\.\d+)?", path.name) or not os.access(path, os.X_OK):
                continue
            done = subprocess.run([str(path), "-c", "import sys; print(*sys.version_info[:3])"],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                version = tuple(int(p) for p in done.stdout.split())
                if version[:len(want)] >= want:
                    found.setdefault(version, str(path))
    return found


@pytest.mark.slow
def test_the_unit_tests_pass_on_the_oldest_python_pglab_accepts_here(tmp_path):
    """pyproject's requires-python and what the code needs cannot drift apart: the unit tests
    run on the oldest accepted interpreter on this machine (Debian's own 3.11.2 here, which
    is also what ./lab makes .venv with, so the whole suite runs on it too)."""
    pythons = _accepted_pythons()
    oldest = min(pythons)
    if oldest == tuple(sys.version_info[:3]):
        return     # this run is on it: its unit tests are the proof
    venv = tmp_path / "venv"
    subprocess.run([pythons[oldest], "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-compile", "-e", str(PROJECT_ROOT)],
                   check=True, capture_output=True, timeout=600)
    done = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(PROJECT_ROOT / "tests" / "unit")], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600)
    ran = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True, text=True)
    assert tuple(int(p) for p in ran.stdout.split()) == oldest
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"^\d+ passed", done.stdout.splitlines()[-1]), done.stdout[-500:]

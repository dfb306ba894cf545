"""ext-test --upgrade on real builds: pgl_funcs' update from 1.0 gives what a fresh 1.1 gives, and
each fixture's planted bug (a volatility, a GRANT, a function left out, a version with no path to
the default) is reported as a user reads it, the object named.  One ext-test run per extension."""

import itertools
import re
from pathlib import Path

import pytest

from ..conftest import invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"


def _upgrade_row(stdout, name):
    """The upgrade row's cells (suite, result, tests, time, detail) of the table ext-test printed."""
    rows = [line.split("│")[3:8] for line in stdout.splitlines() if line.startswith(f"│ {name} ")]
    found = [[cell.strip() for cell in row] for row in rows if row[0].strip() == "upgrade"]
    assert found, stdout
    return found[0]


def test_pgl_funcs_update_from_1_0_is_a_fresh_1_1(default_build):
    done = invoke("ext-test", "pgl_funcs", "--upgrade", "--suite", "regress")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    suite, result, tests, _time, detail = _upgrade_row(done.stdout, "pgl_funcs")
    assert (result, tests, detail) == (
        "pass", "1/1", "1.0 → 1.1: same as a fresh 1.1 (which is itself made by updating: no pgl_funcs--1.1.sql)")
    assert done.stdout.strip().endswith("all 4 suites passed (3 tests)")


@pytest.mark.parametrize("fixture, detail, lines", [
    ("upgrade_volatility", "1.0 → 1.1: 1 difference from a fresh 1.1",
     ["1.0 → 1.1: 1 difference from a fresh 1.1:",
      "  function uv_add(integer,integer): volatility STABLE after update, IMMUTABLE when installed fresh"]),
    ("upgrade_grant", "1.0 → 1.1: 1 difference from a fresh 1.1",
     ["1.0 → 1.1: 1 difference from a fresh 1.1:",
      "  table ug_notes: grants: SELECT to PUBLIC when installed fresh, not after update"]),
    ("upgrade_missing", "1.0 → 1.1: 1 difference from a fresh 1.1",
     ["1.0 → 1.1: 1 difference from a fresh 1.1:",
      "  function um_shout(text): missing after update (a fresh 1.1 has it)"]),
    ("upgrade_nopath", "0.9: no update path to 1.0 (the default version)",
     ["0.9: no update path to 1.0 (the default version)"]),
])
def test_a_planted_bug_is_reported_with_its_object(default_build, fixture, detail, lines):
    done = invoke("ext-test", str(FIXTURES / fixture), "--suite", "upgrade", env={"COLUMNS": "250"})
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    _suite, result, tests, _time, shown = _upgrade_row(done.stdout, fixture)
    assert (result, tests, shown) == ("FAIL", "0/1", detail)
    out = done.stdout.splitlines()
    head = out.index(f"{fixture} upgrade on {default_build.id}: {detail}")
    assert out[head + 1:head + 1 + len(lines)] == lines, "\n".join(out[head:])
    assert out[head + 1 + len(lines):] == []           # nothing more to read
    assert done.stderr.strip().endswith("1 of 3 suites did not pass")     # build, server, upgrade


def test_update_scripts_with_no_version_to_start_from_are_said_not_passed(default_build):
    """pgvector's way: one install script, update scripts from releases no longer shipped: a skip that
    says why, never a pass."""
    done = invoke("ext-test", str(FIXTURES / "upgrade_scripts_only"), "--suite", "upgrade", env={"COLUMNS": "250"})
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(r"│ upgrade_scripts_only +│ [^│]+│ upgrade ", line))
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines[at:]]
    wrapped = [cells[0]] + list(itertools.takewhile(lambda c: len(c) > 6 and c[0] == "", cells[1:]))
    assert cells[0][3:5] == ["skip", ""]
    assert " ".join(c[6] for c in wrapped) == ("only 1.1 can be installed: its 1 update script(s) start from versions "
                                               "with no install script here (the oldest 1.0)")

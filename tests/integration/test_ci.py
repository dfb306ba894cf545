"""invoke ci on two majors (and one that cannot be obtained) with one passing,
one failing and one warning-only extension: the matrix on the terminal and in
matrix.md, the JUnit XML, the failures kept, GITHUB_STEP_SUMMARY, the exit status."""

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pglab.pg.builds import find_build

from ..conftest import invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """passes (pgxs_altout), fails (pgxs_inputdir expecting 41, and dividing by zero), warns (compiles
    with a warning)."""
    root = tmp_path_factory.mktemp("ci")
    shutil.copytree(FIXTURES / "pgxs" / "pgxs_altout", root / "passes")
    shutil.copytree(FIXTURES / "pgxs" / "pgxs_inputdir", root / "fails")
    expected = root / "fails" / "expected" / "inputdir.out"
    expected.write_text(expected.read_text().replace("                   42", "                   41"))
    with open(root / "fails" / "test" / "sql" / "inputdir.sql", "a") as sql:    # and an error the server logs
        sql.write("SELECT 1 / 0 AS pgxs_inputdir_error;\n")
    shutil.copytree(FIXTURES / "extensions" / "warns", root / "warns")
    return root


# a major no channel offers anywhere, networked or not (14 was used here, but the git and tarball
# channels offer it where they are reachable)
NO_SUCH_MAJOR = "30"


def _majors(settings):
    """Two majors built here, and one that no channel can offer."""
    return [str(find_build(settings, m).major) for m in ("13", "15")] + [NO_SUCH_MAJOR]


def test_the_matrix_reports_and_exit_status(settings, default_build, three, tmp_path):
    majors = _majors(settings)
    out, summary = tmp_path / "results", tmp_path / "summary.md"
    spec = ",".join(str(three / n) for n in ("passes", "fails", "warns"))
    done = invoke("ci", "--pg", ",".join(majors), "--ext", spec, "--out", str(out),
                  env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr

    md = (out / "matrix.md").read_text().splitlines()
    assert md[0] == f"| extension | {' | '.join(majors)} |"
    rows = [line.strip("|").split(" | ") for line in md[2:]]
    assert [r[0].strip() for r in rows] == ["pgxs_altout", "pgxs_inputdir", "warns"]
    passes, fails, warns = rows
    for row, expected in ((passes, r"pass \d+ s"), (warns, r"pass \d+ s")):
        assert all(re.fullmatch(expected, c.strip()) for c in row[1:3]), row
    assert all(re.fullmatch(r"FAIL \(regress fail\) \d+ s", c.strip()) for c in fails[1:3]), fails
    for row in rows:
        assert row[3].strip() == f"skipped: PostgreSQL {NO_SUCH_MAJOR} cannot be obtained here"

    suites = ET.parse(out / "junit.xml").getroot()
    assert suites.tag == "testsuites" and len(suites) == 3 * 3
    failing = [(s.get("name"), c.get("name")) for s in suites for c in s if c.find("failure") is not None]
    builds = [find_build(settings, m).id for m in majors[:2]]
    assert failing == [(f"pgxs_inputdir on {b}", "inputdir") for b in builds]
    skipped_builds = [c for s in suites for c in s if c.get("name") == "build" and c.find("skipped") is not None]
    assert len(skipped_builds) == 3

    for b in builds:
        diffs = (out / "pgxs_inputdir" / b / "regress" / "regression.diffs").read_text()
        assert "-                   41\n+                   42\n" in diffs
        # the server's own lines of the failed run, for a diff too (not only for a crash)
        log = (out / "pgxs_inputdir" / b / "regress" / "server-log.txt").read_text().splitlines()
        error = next(i for i, line in enumerate(log) if line.endswith("ERROR:  division by zero"))
        assert log[error + 1].endswith("STATEMENT:  SELECT 1 / 0 AS pgxs_inputdir_error;"), log
    assert not (out / "warns").exists() and not (out / "pgxs_altout").exists()   # nothing failed there

    text = summary.read_text()
    assert text.startswith("## pglab ci\n\n| extension | ")
    assert text.count("### pgxs_inputdir regress on ") == 2 and "-                   41" in text
    assert "2 of 9 extension × major cells failed; reports in " in done.stdout


def test_werror_fails_the_warning_only_extension(settings, default_build, three, tmp_path):
    out = tmp_path / "results"
    done = invoke("ci", "--pg", str(default_build.major), "--ext", str(three / "warns"), "--werror", "--out", str(out))
    assert done.returncode == 1
    row = (out / "matrix.md").read_text().splitlines()[2]
    assert re.fullmatch(r"\| warns \| FAIL \(build fail\) \d+ s \|", row), row
    case = ET.parse(out / "junit.xml").getroot().find("testsuite/testcase")
    assert case.get("name") == "build" and "warns.c:" in case.find("failure").text
    assert "error: unused variable" in case.find("failure").text


def test_out_at_a_folder_pglab_did_not_make_is_refused_before_any_build(tmp_path):
    """`ci --out .` or `--out ~` must never empty the clone or the home folder."""
    home = tmp_path / "home"
    (home / "src").mkdir(parents=True)
    (home / "notes.txt").write_text("mine\n")
    (home / "src" / "a.c").write_text("int a;\n")
    done = invoke("ci", "--pg", "17", "--ext", "pgl_funcs", "--out", str(home), timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", f"error: {home} holds 2 entries pglab did not write (notes.txt, src): pglab replaces only a folder "
               f"it made; give a new or an empty folder\n")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "home", "home/notes.txt", "home/src", "home/src/a.c"]
    assert (home / "notes.txt").read_text() == "mine\n" and (home / "src" / "a.c").read_text() == "int a;\n"

"""ext-test gives `make installcheck`'s verdict: each fixture under
tests/fixtures/pgxs uses one PGXS feature that a harness running pg_regress its
own way gets wrong (an --inputdir with expected/ beside the Makefile, a relative
results/ path, an alternative expected file, a schedule, input/ and output/
templates, an isolation spec, a TAP test starting its own node, a --temp-config
named in EXTRA_REGRESS_OPTS; a top-level Makefile recursing into the folder its tests
are in; a configure script writing the Makefile; pg_regress's own --temp-instance).
Each runs twice: bare PGXS against a server
configured by hand, and through ext-test; verdicts and counts must agree.

The bare side (bare_pgxs.py) counts from the tools' own summary lines, not
from pglab's parsers, and its verdict is kept from run to run by what it
depends on (the fixture's files, the build, the settings, the code running it),
as for the published extensions; ext-test runs every time."""

import shutil
from pathlib import Path

import pytest

from pglab.ext import runner
from pglab.ext.pgxs import parse_conf

from ..conftest import invoke
from .bare_pgxs import bare_installcheck, ext_test_counts, remembered_bare_installcheck
from .test_ext_test import table_rows

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PARITY = ["pgxs_inputdir", "pgxs_results", "pgxs_altout", "pgxs_schedule", "pgxs_template", "pgxs_isolation",
          "pgxs_tap", "pgxs_tempconf", "pgxs_recursive", "pgxs_configure", "pgxs_tempinstance"]
# the server settings each fixture's tests need, as a person would set them by hand
HAND_CONF = {"pgxs_tempconf": "pgxs_tempconf.conf"}


@pytest.mark.parametrize("name", PARITY)
def test_fixture_has_the_same_verdict_and_counts_both_ways(settings, default_build, tmp_path, name):
    fixture = FIXTURES / "pgxs" / name
    if name == "pgxs_tap" and "tap-tests" not in default_build.features:
        pytest.fail(f"{default_build.id} has no TAP support; `invoke doctor` installs IPC::Run, then build-pg")
    conf = parse_conf((fixture / HAND_CONF[name]).read_text()) if name in HAND_CONF else {}
    bare_ok, bare_counts, bare_out, _seconds, _kept = remembered_bare_installcheck(
        default_build, settings, fixture, tmp_path, conf)
    assert bare_ok, f"the fixture must pass under bare PGXS:\n{bare_out[-3000:]}"
    results = runner.ext_test(settings, str(fixture), suites=("regress", "isolation", "tap"), fresh=True)
    statuses = {r.suite: r.status for r in results}
    assert all(r.ok for r in results), [(r.suite, r.status, r.detail, r.output[-2000:]) for r in results]
    assert ext_test_counts(results) == bare_counts
    assert sum(p for p, _f in bare_counts.values()) >= 1
    kind = {"pgxs_isolation": "isolation", "pgxs_tap": "tap"}.get(name, "regress")
    assert statuses[kind] == "pass"
    folder = {"pgxs_recursive": "regress/"}.get(name, "")
    assert [r.folder for r in results if r.suite == kind] == [folder]   # the subfolder the recursion ran it in


def test_a_failing_test_fails_both_ways_and_the_report_shows_the_diff(settings, default_build, tmp_path):
    fixture = tmp_path / "src" / "pgxs_altout"
    shutil.copytree(FIXTURES / "pgxs" / "pgxs_altout", fixture)
    (fixture / "expected" / "altout_1.out").unlink()   # only the wrong expected file is left
    bare_ok, bare_counts, _out, _seconds = bare_installcheck(default_build, settings, fixture, tmp_path / "bare")
    results = {r.suite: r for r in runner.ext_test(settings, str(fixture), suites=("regress",))}
    assert bare_ok is False and results["regress"].status == "fail"
    assert ext_test_counts(results.values()) == bare_counts == {"regress": (0, 1)}
    assert results["regress"].detail == "failed: altout"
    diffs = Path(results["regress"].diffs)
    assert diffs.name == "regression.diffs" and diffs.parent.name == "src"   # where PGXS leaves it
    assert "-     41\n+     42\n" in diffs.read_text()


def test_a_project_without_tests_is_nothing_tested_not_a_pass(settings, default_build):
    done = invoke("ext-test", str(FIXTURES / "pgxs" / "pgxs_notests"), "--pg", default_build.id)
    line = ("nothing tested: the project declares no tests: no REGRESS, ISOLATION or TAP_TESTS in any Makefile, "
            "no tests/test_*.py")
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (5, line), done.stdout[-2000:] + done.stderr
    assert "suites passed" not in done.stdout + done.stderr
    rows = [r for r in table_rows(done.stdout) if r[0] == "pgxs_notests"]
    assert [(r[2], r[3]) for r in rows] == [("build", "pass"), ("regress", "skip"), ("isolation", "skip"),
                                            ("tap", "skip"), ("pytest", "skip"), ("tests", "NO TESTS")]


def test_tests_the_top_level_makefile_never_reaches_fail_with_the_command(settings, default_build):
    done = invoke("ext-test", str(FIXTURES / "pgxs" / "pgxs_unreached"), "--pg", default_build.id)
    line = ("pgxs_unreached tests on {b}: pgxs_unreached's top-level Makefile has no installcheck target; tests are "
            "declared in monitor/: run them by hand with `make -C monitor installcheck` (after `make install` at the "
            "top)").format(b=default_build.id)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    assert line in done.stdout.splitlines()
    assert done.stderr.strip().splitlines()[-1] == "1 of 2 suites did not pass"


def test_suites_all_skipped_are_nothing_tested_not_a_pass(settings, default_build):
    """Asked only for suites the extension does not have: no path says "passed" with zero tests."""
    done = invoke("ext-test", "pgl_funcs", "--suite", "isolation,tap", "--pg", default_build.id)
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (5, "nothing tested: every suite was skipped")
    assert "suites passed" not in done.stdout + done.stderr

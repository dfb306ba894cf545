"""ext-test gives `make installcheck`'s verdict: each fixture under
tests/fixtures/pgxs uses one PGXS feature that a harness running pg_regress its
own way gets wrong (an --inputdir with expected/ beside the Makefile, a relative
results/ path, an alternative expected file, a schedule, input/ and output/
templates, an isolation spec, a TAP test starting its own node, a --temp-config
named in EXTRA_REGRESS_OPTS).  Each runs twice: bare PGXS against a server
configured by hand, and through ext-test; verdicts and counts must agree.

The bare side counts from the tools' own summary lines ("All 4 tests passed.",
"1 of 2 tests failed.", prove's "Files=1, Tests=2" and "Result: PASS"), not
from pglab's parsers."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pglab.cluster import Cluster
from pglab.ext import runner
from pglab.ext.pgxs import parse_conf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PARITY = ["pgxs_inputdir", "pgxs_results", "pgxs_altout", "pgxs_schedule", "pgxs_template", "pgxs_isolation",
          "pgxs_tap", "pgxs_tempconf"]
# the server settings each fixture's tests need, as a person would set them by hand
HAND_CONF = {"pgxs_tempconf": "pgxs_tempconf.conf"}


def bare_installcheck(build, settings, fixture, tmp_path):
    """`make install && make installcheck` in a copy, as the server's account,
    against a server started with the settings the fixture's README-equivalent asks for."""
    copy = tmp_path / fixture.name
    shutil.copytree(fixture, copy)
    os.chmod(tmp_path, 0o755)
    make = ["make", "--no-print-directory", "USE_PGXS=1", f"PG_CONFIG={build.pg_config}"]
    subprocess.run([*make, "install"], cwd=copy, check=True, capture_output=True)
    conf = parse_conf((copy / HAND_CONF[fixture.name]).read_text()) if fixture.name in HAND_CONF else {}
    with Cluster.throwaway(build, settings, conf=conf) as cl:
        cl.ensure_reachable(copy)
        cl.account.give(copy)
        done = subprocess.run([*make, "installcheck"], cwd=copy, capture_output=True, text=True,
                              env={**os.environ, **cl.env, "PATH": f"{build.bindir}:{os.environ['PATH']}"},
                              **cl.account.subprocess_kwargs())
    return done.returncode == 0, summary_counts(done.stdout + done.stderr), done.stdout + done.stderr


def summary_counts(output):
    """{kind: (passed, failed)} from the tools' own summary lines."""
    counts = {}
    for m in re.finditer(r"^\s*(?:# )?All (\d+) tests passed", output, re.M):
        _add(counts, "regress", int(m.group(1)), 0)
    for m in re.finditer(r"^\s*(?:# )?(\d+) of (\d+) tests failed", output, re.M):
        _add(counts, "regress", int(m.group(2)) - int(m.group(1)), int(m.group(1)))
    for m in re.finditer(r"^Files=\d+, Tests=(\d+)", output, re.M):
        ok = re.search(r"^Result: PASS", output, re.M) is not None
        failed = sum(int(x) for x in re.findall(r"Failed (\d+)/\d+ subtests", output))
        _add(counts, "tap", int(m.group(1)) - failed, failed if not ok else 0)
    return counts


def _add(counts, kind, passed, failed):
    p, f = counts.get(kind, (0, 0))
    counts[kind] = (p + passed, f + failed)


def ext_test_counts(results):
    """The same shape from ext-test's results (regress and isolation both print
    pg_regress summaries, so they add up as the bare side's do)."""
    counts = {}
    for r in results:
        if r.suite in ("regress", "isolation") and r.status != "skip":
            _add(counts, "regress", r.passed, r.failed)
        elif r.suite == "tap" and r.status != "skip":
            _add(counts, "tap", r.passed, r.failed)
    return counts


@pytest.mark.parametrize("name", PARITY)
def test_fixture_has_the_same_verdict_and_counts_both_ways(settings, default_build, tmp_path, name):
    fixture = FIXTURES / "pgxs" / name
    if name == "pgxs_tap" and "tap-tests" not in default_build.features:
        pytest.fail(f"{default_build.id} has no TAP support; `invoke doctor` installs IPC::Run, then build-pg")
    bare_ok, bare_counts, bare_out = bare_installcheck(default_build, settings, fixture, tmp_path)
    assert bare_ok, f"the fixture must pass under bare PGXS:\n{bare_out[-3000:]}"
    results = runner.ext_test(settings, str(fixture), suites=("regress", "isolation", "tap"), fresh=True)
    statuses = {r.suite: r.status for r in results}
    assert all(r.ok for r in results), [(r.suite, r.status, r.detail, r.output[-2000:]) for r in results]
    assert ext_test_counts(results) == bare_counts
    assert sum(p for p, _f in bare_counts.values()) >= 1
    kind = {"pgxs_isolation": "isolation", "pgxs_tap": "tap"}.get(name, "regress")
    assert statuses[kind] == "pass"


def test_a_failing_test_fails_both_ways_and_the_report_shows_the_diff(settings, default_build, tmp_path):
    fixture = tmp_path / "src" / "pgxs_altout"
    shutil.copytree(FIXTURES / "pgxs" / "pgxs_altout", fixture)
    (fixture / "expected" / "altout_1.out").unlink()   # only the wrong expected file is left
    bare_ok, bare_counts, _ = bare_installcheck(default_build, settings, fixture, tmp_path / "bare")
    results = {r.suite: r for r in runner.ext_test(settings, str(fixture), suites=("regress",))}
    assert bare_ok is False and results["regress"].status == "fail"
    assert ext_test_counts(results.values()) == bare_counts == {"regress": (0, 1)}
    assert results["regress"].detail == "failed: altout"
    diffs = Path(results["regress"].diffs)
    assert diffs.name == "regression.diffs" and diffs.parent.name == "src"   # where PGXS leaves it
    assert "-     41\n+     42\n" in diffs.read_text()

"""Bare PGXS, as a person runs it, for comparing ext-test's verdicts with:
`make install && make installcheck` in a copy of the extension, as the server's
account, against a server started with the settings the extension's docs ask
for.  Counts come from the tools' own summary lines, not from pglab's parsers."""

import os
import re
import shutil
import subprocess
import time

from pglab.cluster import Cluster


def bare_installcheck(build, settings, source, tmp_path, conf=None):
    """(passed?, counts, output, seconds of installcheck) of bare PGXS on a copy of `source`."""
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    os.chmod(tmp_path, 0o755)
    make = ["make", "--no-print-directory", "USE_PGXS=1", f"PG_CONFIG={build.pg_config}"]
    subprocess.run([*make, "install"], cwd=copy, check=True, capture_output=True)
    with Cluster.throwaway(build, settings, conf=conf or {}) as cl:
        cl.ensure_reachable(copy)
        cl.account.give(copy)
        start = time.monotonic()
        done = subprocess.run([*make, "installcheck"], cwd=copy, capture_output=True, text=True,
                              env={**os.environ, **cl.env, "PATH": f"{build.bindir}:{os.environ['PATH']}"},
                              **cl.account.subprocess_kwargs())
        seconds = time.monotonic() - start
    output = done.stdout + done.stderr
    return done.returncode == 0, summary_counts(output), output, seconds


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

"""pg-check: PostgreSQL's own regression suite against a build, on a throwaway cluster.

It runs what `make installcheck-parallel` runs, but as the server's account and
with its output in pg_source/check/<build>/, so it works as root and never writes
into the source tree.  A learner who changed the planner sees which tests broke
and the diff of each.

check/<build>/ is root's: input/ (a copy of the tests) and pglab's own reports;
pg_regress writes into run/ (results/, regression.diffs), a folder of the account's.
"""

import os
import shutil
from dataclasses import dataclass, field

from . import boundary, locks, ui
from .cluster import Cluster
from .errors import PglabError
from .postmortem import RegressTally, supervise


@dataclass
class CheckResult:
    build_id: str
    passed: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    diffs: str = ""
    diffs_path: str = ""
    output_dir: str = ""

    @property
    def ok(self):
        return not self.failed and bool(self.passed)


def schedule_tests(schedule):
    return [t for line in schedule.read_text().splitlines() if line.startswith("test:")
            for t in line.split(":", 1)[1].split()]


def run_check(settings, build, *, tests=(), idle_timeout=600):
    """Run the regression suite; returns CheckResult (check .ok)."""
    src = build.source_dir / "src" / "test" / "regress"
    regress_build = build.build_dir / "src" / "test" / "regress"
    pg_regress = regress_build / "pg_regress"
    if not pg_regress.exists():
        raise PglabError(f"{pg_regress} is missing: rebuild with `{build.rebuild_command()}`")
    schedule = src / "parallel_schedule"
    everything = schedule_tests(schedule)
    if tests and "test_setup" in everything and "test_setup" not in tests:
        tests = ["test_setup", *tests]  # 15+: creates the tables most tests read
    names = list(tests) or everything
    out = settings.layout.check(build.id)
    result = CheckResult(build.id, output_dir=str(out))
    with locks.exclusive(out.with_name(f".{build.id}.lock"),
                         f"another pg-check on {build.id} is running (its results go to {out} too): waiting for it"), \
            Cluster.throwaway(settings, build) as cl:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        os.chmod(out, 0o755)
        cl.ensure_reachable(regress_build / "pg_regress")
        # the server reads test data from the input directory: a copy in pglab's own area
        # means a learner's tree (perhaps in a private home) is read only by pglab itself
        inputs = out / "input"
        shutil.copytree(src, inputs, ignore=shutil.ignore_patterns("results", "regression.*", "log", "tmp_check"))
        run = cl.account_dir(out / "run", 0o755)
        # 13 and 14 write converted .source files there (made by the account: the folder is its)
        cl.run(["mkdir", "-p", *(run / sub for sub in ("testtablespace", "sql", "expected"))], check=True)
        cmd = [pg_regress, f"--inputdir={inputs}", f"--bindir={build.bindir}", f"--dlpath={regress_build}",
               f"--outputdir={run}", "--max-concurrent-tests=20", f"--host={cl.socket_dir}", f"--port={cl.port}"]
        cmd += list(tests) if tests else [f"--schedule={inputs / 'parallel_schedule'}"]
        tally = RegressTally(names)
        tally.current = names[0]
        with ui.phase(f"regression suite on {build.id}", total=len(names)) as p:
            outcome = supervise(cmd, tally=tally, cwd=run, env={**cl.server_env(), **cl.env}, account=cl.account,
                                cluster=cl, idle_timeout=idle_timeout,
                                on_progress=lambda t: p.update(completed=t.finished))
            p.detail = f"{len(tally.passed)} passed, {len(tally.failed)} failed"
        result.passed = tally.passed + tally.skipped   # "ignored" tests do not fail the suite
        result.failed = tally.failed
        if outcome.hung:
            (out / "hang.txt").write_text(outcome.hang_report + "\n")
            raise PglabError(f"the regression suite stalled: no test finished in {idle_timeout:.0f} s while "
                             f"{outcome.stalled} ran; backtraces in {out / 'hang.txt'}")
        if outcome.crash:
            (out / "crash.txt").write_text(f"{outcome.crash.log}\n\n{outcome.crash.backtrace}\n")
            result.failed = result.failed or ["(server crash)"]
            ui.warn(f"a backend crashed ({outcome.crash.signal}); log lines and backtrace in {out / 'crash.txt'}")
        (out / "pg_regress.out").write_text(outcome.output)
        diffs = run / "regression.diffs"
        text = boundary.read_file(diffs)
        if text:
            result.diffs, result.diffs_path = text, str(diffs)
        if not result.passed and not result.failed:
            last = " | ".join(outcome.output.strip().splitlines()[-3:])
            raise PglabError(f"pg_regress ran no test: {last} (output: {out})")
    return result

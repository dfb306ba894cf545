"""pg-check: PostgreSQL's own regression suite against a build, on a throwaway cluster.

It runs what `make installcheck-parallel` runs, but as the server's account and
with its output in pg_source/check/<build>/, so it works as root and never writes
into the source tree.  A learner who changed the planner sees which tests broke
and the diff of each.
"""

import re
import shutil
import threading
from dataclasses import dataclass, field

from . import ui
from .cluster import Cluster
from .errors import PglabError

# pg_regress prints "ok 12  - join  345 ms" (TAP, 16+) or "test join ... ok  345 ms" (older);
# in a parallel group older releases print "     join ... FAILED".
_RESULT_RES = (
    re.compile(r"^(not ok|ok)\s+\d+\s+[-+]\s+(\S+)"),
    re.compile(r"^(?:test\s+)?\s*(\S+)\s+\.\.\.\s+(ok|FAILED|failed|ignored)"),
)


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


def parse_line(line):
    """(test, passed) for a result line of pg_regress, else None."""
    m = _RESULT_RES[0].match(line)
    if m:
        return m.group(2), m.group(1) == "ok"
    m = _RESULT_RES[1].match(line.replace("# ", "", 1) if line.startswith("# ") else line)
    if m:
        return m.group(1), m.group(2) in ("ok", "ignored")
    return None


def schedule_tests(schedule):
    return [t for line in schedule.read_text().splitlines() if line.startswith("test:")
            for t in line.split(":", 1)[1].split()]


def run_check(settings, build, *, tests=(), timeout=1800):
    """Run the regression suite; returns CheckResult (check .ok)."""
    src = build.source_dir / "src" / "test" / "regress"
    regress_build = build.build_dir / "src" / "test" / "regress"
    pg_regress = regress_build / "pg_regress"
    if not pg_regress.exists():
        raise PglabError(f"{pg_regress} is missing: rebuild with `invoke build-pg --version {build.release}`")
    schedule = src / "parallel_schedule"
    everything = schedule_tests(schedule)
    if tests and "test_setup" in everything and "test_setup" not in tests:
        tests = ["test_setup", *tests]  # 16+: creates the tables most tests read
    names = list(tests) or everything
    out = settings.root / "check" / build.id
    result = CheckResult(build.id, output_dir=str(out))
    with Cluster.throwaway(build, settings) as cl:
        shutil.rmtree(out, ignore_errors=True)
        cl.ensure_reachable(regress_build / "pg_regress")
        cl.own_dir(out, 0o755)
        # the server reads test data from the input directory: a copy in pglab's own area
        # means a learner's tree (perhaps in a private home) is read only by pglab itself
        inputs = out / "input"
        shutil.copytree(src, inputs, ignore=shutil.ignore_patterns("results", "regression.*", "log", "tmp_check"))
        for sub in ("testtablespace", "sql", "expected"):  # 13 and 14 write converted .source files there
            cl.own_dir(out / sub)
        cmd = [pg_regress, f"--inputdir={inputs}", f"--bindir={build.bindir}", f"--dlpath={regress_build}",
               f"--outputdir={out}", "--max-concurrent-tests=20", f"--host={cl.socket_dir}", f"--port={cl.port}"]
        cmd += list(tests) if tests else [f"--schedule={inputs / 'parallel_schedule'}"]
        with ui.phase(f"regression suite on {build.id}", total=len(names)) as p:
            proc = cl.popen(cmd, cwd=out)
            log = []
            watchdog = threading.Timer(timeout, proc.kill)  # reading output blocks; the timer ends a hung run
            watchdog.start()
            try:
                for line in proc.stdout:
                    log.append(line)
                    parsed = parse_line(line.strip())
                    if parsed:
                        (result.passed if parsed[1] else result.failed).append(parsed[0])
                        p.update(completed=len(result.passed) + len(result.failed))
                proc.wait()
            finally:
                watchdog.cancel()
            if proc.returncode == -9:
                raise PglabError(f"the regression suite did not finish in {timeout} s; output in {out}")
            p.detail = f"{len(result.passed)} passed, {len(result.failed)} failed"
        (out / "pg_regress.out").write_text("".join(log))
        diffs = out / "regression.diffs"
        if diffs.exists() and diffs.stat().st_size:
            result.diffs, result.diffs_path = diffs.read_text(errors="replace"), str(diffs)
        if not result.passed and not result.failed:
            raise PglabError(f"pg_regress ran no test: {''.join(log[-5:]).strip()} (output: {out})")
    return result

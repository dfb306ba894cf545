"""ext-test's results: one SuiteResult per extension × build × suite, the table,
and for each problem what a learner needs to see (the diff's first lines, the
compiler's diagnostics, the crash's log lines and backtrace, the hang's stacks)."""

from dataclasses import dataclass, field

from rich.text import Text

from .. import boundary, ui

DIFF_LINES = 60


@dataclass
class SuiteResult:
    extension: str
    build: str
    suite: str               # build, server, regress, isolation, tap, pytest; "tests" for the project as a whole
    status: str              # pass, fail, crash, hang, skip; "none": the project declares no tests
    seconds: float = 0.0
    detail: str = ""
    output: str = ""         # the tool's own output (compiler, pg_regress, prove, pytest)
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    diffs: str = ""          # regression.diffs, where PGXS leaves it
    logs: str = ""           # a TAP suite's node logs
    hang: str = ""           # backtraces of the busy backends
    server_log: str = ""     # what the server logged while a suite that did not pass ran (its last lines)
    crash: object = None     # postmortem.Crash
    tests: list = field(default_factory=list)   # (test, "pass"|"fail"|"skip") as they finished
    folder: str = ""         # where a recursive project's suite ran ("regress/"), "" for the top

    @property
    def ok(self):
        return self.status in ("pass", "skip")

    @property
    def label(self):
        """The suite as the table names it: "regress", or "regress (regress/)" in a subfolder."""
        return f"{self.suite} ({self.folder})" if self.folder else self.suite

    @property
    def counts(self):
        if self.suite in ("build", "server", "before", "tests") or self.status == "skip":
            return ""
        text = f"{self.passed}/{self.passed + self.failed}"
        return text + (f" ({self.skipped} skipped)" if self.skipped else "")


_MARKS = {"pass": ("pass", "green"), "skip": ("skip", "dim"), "fail": ("FAIL", "red"),
          "crash": ("CRASH", "red"), "hang": ("HANG", "red"), "none": ("NO TESTS", "yellow")}


def mark(status):
    label, style = _MARKS[status]
    return Text(label, style=style)


def first_lines(path, n=DIFF_LINES):
    """The first `n` lines of a file (a regression.diffs, in the account's folder: read without
    following a link), saying where the rest is."""
    lines = boundary.read_file(path).splitlines(keepends=True)
    rest = f"... ({len(lines) - n} more lines in {path})\n" if len(lines) > n else ""
    return "".join(lines[:n]) + rest


def table(results):
    ui.table("ext-test", ["extension", "build", "suite", "result", "tests", "time", "detail"],
             [(r.extension, r.build, r.label, mark(r.status), r.counts, f"{r.seconds:.1f} s", r.detail)
              for r in results])


def details(results):
    """What to look at, for each result that needs it."""
    for r in results:
        where = f"{r.extension} {r.label} on {r.build}"
        if r.suite == "build" and r.status == "pass" and r.output:
            ui.say(f"compiler warnings in {r.extension} on {r.build}:", style="yellow")
            ui.raw(r.output)
        elif r.status == "fail":
            ui.say(f"{where}: {r.detail}", style="bold")
            if r.diffs:
                ui.say(f"first lines of {r.diffs}:")
                ui.raw(first_lines(r.diffs).rstrip("\n"))
            else:
                ui.raw(_tail(r.output))
        elif r.status == "hang":
            ui.say(f"{where} hung: {r.detail}", style="red bold")
            ui.raw(r.hang or _tail(r.output))
        if r.crash:
            c = r.crash
            ui.say(f"server crash in {r.extension} on {r.build}, triggered by {c.test} ({c.signal})", style="red bold")
            if c.log:
                ui.say("server log:", style="bold")
                ui.raw(c.log)
            ui.say("backtrace:", style="bold")
            ui.raw(c.backtrace)
        if r.logs and r.status != "pass":
            ui.say(f"the TAP nodes' logs: {r.logs}")


def _tail(text, lines=40):
    return "\n".join(text.rstrip().splitlines()[-lines:])


NOTHING_TESTED = 5     # ext-test's exit code when nothing failed and no test ran (pytest's, for the same)


def summary(results):
    """One line: how many suites passed, failed, were skipped."""
    return verdict(results)[0]


def verdict(results):
    """(one line, exit code): 1 when anything did not pass; NOTHING_TESTED when nothing failed but
    no test ran (a project that declares none, or suites all skipped); 0 when tests ran and passed."""
    bad = [r for r in results if not r.ok and r.status != "none"]
    ran = [r for r in results if r.status != "skip" and r.status != "none"]
    tested = [r for r in ran if r.suite not in ("build", "server", "before")]
    if bad:
        return f"{len(bad)} of {len(ran)} suites did not pass", 1
    if not tested:
        why = next((r.detail for r in results if r.status == "none"), "every suite was skipped")
        return f"nothing tested: {why}", NOTHING_TESTED
    tests = sum(r.passed + r.failed for r in tested)
    return f"all {len(ran)} suites passed ({tests} test{'s' if tests != 1 else ''})", 0

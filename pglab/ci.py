"""ci: extensions × PostgreSQL majors, as a pipeline would run them.

    result = run_ci(settings, majors="13,15,17,18", spec="all", werror=True, out=Path("ci-results"))

For each major: obtain and build it (cached; one that cannot be obtained is
"skipped: why", never a pass), then ext-test every selected extension on it.
Writes, under `out` (a folder pglab makes, or replaces only if it made it:
pglab.out; a folder of anything else is refused before any build):

    matrix.md             the matrix (extension × major), the same as on the terminal
    junit.xml             one testcase per extension × major × test (build included)
    EXT/BUILD/            for each suite that did not pass: its output, regression.diffs,
                          the server log's lines and the crash backtrace or the hang's stacks

and, when GITHUB_STEP_SUMMARY names a file, appends the matrix and the first
lines of each failure's diff to it.
"""

import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from . import boundary, ui
from . import out as out_mod
from .ext import discover, published, report
from .ext.runner import parse_suites, test_extension
from .pg.build import ensure_builds
from .servers import refuse_if_running


@dataclass
class Cell:
    """One extension on one major."""

    extension: str
    major: str
    build: str = ""
    status: str = "pass"        # pass, fail, skip
    why: str = ""               # the skip's reason, or the suites that did not pass
    seconds: float = 0.0
    results: list = field(default_factory=list)   # [SuiteResult]


@dataclass
class CiResult:
    cells: list
    out: Path
    ours: bool = False          # out is the working area's ci-results: replaced, marked or not

    @property
    def ok(self):
        return all(c.status != "fail" for c in self.cells)


def parse_majors(text, settings):
    """`13,15` → ["13", "15"]; `all` → the test majors of the settings."""
    text = settings.test_majors if text in (None, "", "all") else text
    return [m.strip() for m in str(text).split(",") if m.strip()]


def run_ci(settings, *, majors=None, spec="all", werror=False, out=None, suites=None):
    """The matrix; prints progress and the matrix, writes the reports; returns CiResult."""
    chosen = parse_suites(suites)
    ours = out is None or Path(out) == settings.layout.ci_results
    out = out_mod.check_folder(out or settings.layout.ci_results, ours=ours)
    extensions = published.resolve(settings, spec) if published.is_published(spec) else discover.resolve(spec)
    wanted = parse_majors(majors, settings)
    cells = []
    for major in wanted:
        built, skipped = ensure_builds(settings, major, in_use=refuse_if_running)
        if skipped:
            cells += [Cell(ext.name, major, status="skip", why=skipped[0][1]) for ext in extensions]
            continue
        build = built[0]
        for ext in extensions:
            with ui.phase(f"{ext.name} on {build.id}") as p:
                start = time.monotonic()
                results = test_extension(settings, ext, build, werror=werror, suites=chosen)
                bad = [r for r in results if not r.ok]
                _line, code = report.verdict(results)       # nothing tested is not a pass either
                why = ", ".join(f"{r.label} {r.status}" for r in bad) or (_line if code else "")
                cell = Cell(ext.name, major, build.id, "fail" if code else "pass", why, time.monotonic() - start,
                            results)
                p.detail = cell.status if not bad else f"FAIL: {cell.why}"
            cells.append(cell)
    result = CiResult(cells, out, ours)
    write_reports(result, wanted)
    show(result, wanted)
    return result


# ---- reports --------------------------------------------------------------------------------

def _cell_text(cell):
    if cell is None:
        return ""
    if cell.status == "skip":
        return f"skipped: {cell.why}"
    if cell.status == "fail":
        return f"FAIL ({cell.why}) {cell.seconds:.0f} s"
    return f"pass {cell.seconds:.0f} s"


def _grid(result, majors):
    names = list(dict.fromkeys(c.extension for c in result.cells))
    by = {(c.extension, c.major): c for c in result.cells}
    return names, [[name, *(_cell_text(by.get((name, m))) for m in majors)] for name in names]


def matrix_markdown(result, majors):
    _names, rows = _grid(result, majors)
    lines = ["| extension | " + " | ".join(majors) + " |", "|---" * (len(majors) + 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def show(result, majors):
    _names, rows = _grid(result, majors)
    ui.table("ci: extensions × PostgreSQL majors", ["extension", *majors],
             [[row[0], *(_styled(text) for text in row[1:])] for row in rows])
    for cell in result.cells:
        if cell.status == "fail":
            report.details([r for r in cell.results if not r.ok])
    failed = [c for c in result.cells if c.status == "fail"]
    line = (f"{len(failed)} of {len(result.cells)} extension × major cells failed" if failed else
            "every extension passed on every major it could be tested on")
    ui.say(f"{line}; reports in {result.out}", style="red" if failed else "green")


def _styled(text):
    from rich.text import Text

    style = "green" if text.startswith("pass") else "red" if text.startswith("FAIL") else "dim"
    return Text(text, style=style)


def write_reports(result, majors):
    with out_mod.folder(result.out, ours=result.ours) as out:
        _write_reports(out, result, majors)
    _step_summary(result, majors)


def _write_reports(out, result, majors):
    (out / "matrix.md").write_text(matrix_markdown(result, majors))
    (out / "junit.xml").write_text(junit_xml(result))
    for cell in result.cells:
        for r in cell.results:
            if not r.ok:
                where = r.suite + (f"-{r.folder.strip('/').replace('/', '+')}" if r.folder else "")   # regress-sub
                _keep_failure(out / cell.extension / cell.build / where, r)


def _step_summary(result, majors):
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write("## pglab ci\n\n" + matrix_markdown(result, majors) + "\n")
            for cell in result.cells:
                for r in cell.results:
                    if r.status == "fail" and r.diffs:
                        f.write(f"### {cell.extension} {r.label} on {cell.build}\n\n```diff\n"
                                f"{report.first_lines(r.diffs, 40)}```\n\n")


def _keep_failure(folder, r):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "output.txt").write_text(r.output)
    diffs = boundary.read_bytes(r.diffs) if r.diffs else b""     # the account's folder: no link followed
    if diffs:
        (folder / "regression.diffs").write_bytes(diffs)
    # what the server logged while the suite ran (a diff's errors, a hang's waits), and a crash's own lines
    log = [r.crash.log] if r.crash and r.crash.log not in r.server_log else []
    log += [r.server_log] if r.server_log else []
    if log:
        (folder / "server-log.txt").write_text("\n…\n".join(log) + "\n")
    if r.crash:
        (folder / "backtrace.txt").write_text(r.crash.backtrace + "\n")
    if r.hang:
        (folder / "hang.txt").write_text(r.hang + "\n")


def junit_xml(result):
    """One testcase per extension × major × test; the build is a testcase too."""
    suites = ET.Element("testsuites", name="pglab ci")
    for cell in result.cells:
        suite = ET.SubElement(suites, "testsuite", name=f"{cell.extension} on {cell.build or cell.major}")
        cases = []
        if cell.status == "skip":
            case = ET.SubElement(suite, "testcase", classname=f"{cell.extension}.{cell.major}", name="build")
            ET.SubElement(case, "skipped", message=cell.why)
            cases.append(case)
        for r in cell.results:
            classname = f"{cell.extension}.{cell.build}.{r.suite}" + (f".{r.folder.rstrip('/')}" if r.folder else "")
            if r.suite in ("build", "server") or not r.tests:
                case = ET.SubElement(suite, "testcase", classname=classname, name=r.label, time=f"{r.seconds:.3f}")
                _outcome(case, r.status, r.detail, r.output)
                cases.append(case)
                continue
            for name, status in r.tests:
                case = ET.SubElement(suite, "testcase", classname=classname, name=name)
                _outcome(case, status, f"{r.suite} test {name} failed", "")
                cases.append(case)
            if r.status in ("crash", "hang"):
                case = ET.SubElement(suite, "testcase", classname=classname, name=f"{r.label} ({r.status})")
                _outcome(case, "fail", r.detail, r.hang or (r.crash.backtrace if r.crash else ""))
                cases.append(case)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _outcome(case, status, message, text):
    if status == "skip":
        ET.SubElement(case, "skipped", message=message or "skipped")
    elif status not in ("pass",):
        failure = ET.SubElement(case, "failure", message=message or status)
        failure.text = text[-4000:] if text else None

"""What `invoke lab` prints: the list, one lab, check results, the 20-week tracker."""

import json
import sys

from rich.markdown import Markdown

from .. import ui
from ..config import as_typed
from . import WEEKS, progress, source


def status_of(lab, data):
    done = progress.passed(data, lab)
    if len(done) == len(lab.checks):
        return "done"
    return f"{len(done)}/{len(lab.checks)}" if done else "not started"


def listing(labs, data):
    ui.table("labs", ["week", "lab", "title", "progress"],
             [(lab.week, lab.name, lab.title, status_of(lab, data)) for lab in labs])
    ui.say(as_typed("`invoke lab NAME` walks through one; `invoke lab NAME --check` checks your work; "
                    "`invoke labs --status` shows the 20 weeks"))


def as_json(labs, data):
    return json.dumps([{"name": lab.name, "title": lab.title, "week": lab.week, "status": status_of(lab, data),
                        "checks": [{"id": c.id, "says": c.says, "passed": c.id in progress.passed(data, lab)}
                                   for c in lab.checks]} for lab in labs], indent=1)


def problems(found):
    """One line on stderr for each lab file that cannot be used (lab.Problem); the others are listed."""
    for problem in found:
        sys.stdout.flush()
        print(f"! {problem} (the other labs are listed)", file=sys.stderr)


def walk(lab, data, build=None, fork_build=None):
    """One lab in the terminal: the commands (FORK_BUILD: the build of the lab's fork, once there is
    one) first, as the text and the hints speak of "the commands above"; the text; the source; the checks."""
    ui.say(f"week {lab.week} · {lab.title}", style="bold")
    if lab.commands:
        ui.say("\nRun:", style="bold")
        for cmd in lab.commands:
            ui.raw(f"    {cmd.replace('FORK_BUILD', fork_build) if fork_build else cmd}")
    ui.raw("")
    ui.console.print(Markdown(lab.body))
    if lab.source and build is not None:
        found = source.locate(build.source_dir, lab.source)
        ui.say(f"\nIn the source you built ({build.source_dir}):", style="bold")
        for name in lab.source:
            ui.raw(f"    {name:28} {found.get(name, '(not in this major)')}")
    done = progress.passed(data, lab)
    ui.say(as_typed(f"\nChecks (`invoke lab {lab.name} --check`):"), style="bold")
    for c in lab.checks:
        ui.raw(f"    [{'x' if c.id in done else ' '}] {c.says}")


def started(lab, done):
    """What `invoke lab NAME --start` made, where its TODOs are, and what to run next."""
    from ..config import PROJECT_ROOT

    where = done.path.relative_to(PROJECT_ROOT) if done.path.is_relative_to(PROJECT_ROOT) else done.path
    ui.say(f"created {where}: {done.made}, with the lab's TODOs:")
    for rel, line in done.todos:
        ui.raw(f"    {where}/{rel}:{line}")
    ui.say(as_typed(f"next: {done.next}, then do the TODOs (grep -rn 'TODO(lab {lab.name})' {where}) and check "
                    f"them with `invoke lab {lab.name} --check`"))


def results(lab, got):
    ui.table(f"lab {lab.name}: checks", ["", "check", "found"],
             [("✓" if r.ok else "✗", r.check.says, r.detail) for r in got])
    failed = [r for r in got if not r.ok]
    if failed:
        ui.say(f"next: {failed[0].check.hint}")
    else:
        ui.say(f"lab {lab.name} done: every check passed", style="green")


def tracker(labs, data):
    """The 20 weeks, each with its labs and how far the learner got."""
    by_week = {w: [lab for lab in labs if lab.week == w] for w in range(1, WEEKS + 1)}
    rows = []
    for week, there in by_week.items():
        if not there:
            rows.append((week, "-", ""))
            continue
        for lab in there:
            mark = "✓" if status_of(lab, data) == "done" else status_of(lab, data)
            rows.append((week, lab.name, mark))
    ui.table("the 20 weeks", ["week", "lab", "progress"], rows)

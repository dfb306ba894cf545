"""What `invoke lab` prints: the list, one lab, check results; the learner's plan (labs --status),
some of its items in full, their checks, a tick."""

import functools
import json
import re
import sys
from pathlib import Path

from rich.markdown import Markdown
from rich.text import Text

from .. import ui
from ..config import as_typed, via
from . import SESSION_MINUTES, progress, source

_TASK = re.compile(r"(?<![\w./-])invoke(?=\s+[a-z][a-z-]*)")
_AREA = re.compile(r"(?<![\w./-])(\./)?pg_source/")


def typed(text):
    """A lab's TEXT (its commands, its explanation, a hint) as the learner types it where they are:
    with the command they run pglab with (the labs say `invoke TASK`), and their working area where
    the labs say pg_source/ (a clone's; an installed pglab's is .pglab/ or the user's own)."""
    front = via()
    if front != "invoke":
        text = _TASK.sub(front, text)
    area = _area_shown()
    if area == "pg_source":
        return text
    return _AREA.sub(lambda m: f"{area}/" if area.startswith("/") else f"{m[1] or ''}{area}/", text)


@functools.cache
def _area_shown():
    from ..config import Settings

    root = Settings.load().layout.root
    return str(root.relative_to(Path.cwd())) if root.is_relative_to(Path.cwd()) else str(root)


def _next_hint(result):
    """A failed check's hint as the learner reads it: the graded one its tries have reached, and which."""
    graded, hint = result.check.hints, result.hint or result.check.hint
    step = f" (hint {graded.index(hint) + 1} of {len(graded)})" if hint in graded else ""
    return typed(hint) + step


def status_of(lab, data):
    done = progress.passed(data, lab)
    if len(done) == len(lab.checks):
        return "done"
    return f"{len(done)}/{len(lab.checks)}" if done else "not started"


def listing(labs, data):
    ui.table("labs", ["week", "lab", "title", "sessions", "progress"],
             [(lab.week, lab.name, lab.title, lab.sessions or "", status_of(lab, data)) for lab in labs])
    ui.say(as_typed("`invoke lab NAME` walks through one; `invoke lab NAME --check` checks your work; "
                    "`invoke labs --status` shows your plan, week by week; sessions: about how many of "
                    f"{SESSION_MINUTES} minutes each takes"))


def as_json(labs, data):
    return json.dumps([{"name": lab.name, "title": lab.title, "week": lab.week, "sessions": lab.sessions,
                        "status": status_of(lab, data),
                        "checks": [{"id": c.id, "says": c.says, "passed": c.id in progress.passed(data, lab)}
                                   for c in lab.checks]} for lab in labs], indent=1)


def problems(found):
    """One line on stderr for each lab file that cannot be used (lab.Problem); the others are listed."""
    for problem in found:
        sys.stdout.flush()
        print(f"! {problem} (the other labs are listed)", file=sys.stderr)


def walk_lab(settings, lab, *, pg=None):
    """Print LAB for the learner (`invoke lab NAME`), with source pointers into their build when there is
    one: the build of the lab's fork once it has one, unless PG names another."""
    from ..errors import PglabError
    from ..pg.builds import find_build
    from . import starter

    fork = starter.fork_builds(settings, lab.name) if lab.starter is not None and lab.starter.fork else []
    try:
        build = fork[0] if fork and pg is None else find_build(settings, pg)
    except PglabError:
        build = None          # no build yet: the first lab makes one
    walk(lab, progress.load(settings), build, fork_build=fork[0].id if fork else None)


def walk(lab, data, build=None, fork_build=None):
    """One lab in the terminal: the commands (FORK_BUILD: the build of the lab's fork, once there is
    one) first, as the text and the hints speak of "the commands above"; the text; the source; the checks."""
    ui.say(f"week {lab.week} · {lab.title}", style="bold")
    if lab.sessions:
        ui.raw(f"about {lab.sessions} session{'s' if lab.sessions > 1 else ''} of {SESSION_MINUTES} minutes, "
               f"at the plan's pace")
    if lab.commands:
        ui.say("\nRun:", style="bold")
        for cmd in lab.commands:
            ui.raw(f"    {typed(cmd.replace('FORK_BUILD', fork_build) if fork_build else cmd)}")
    ui.raw("")
    ui.console.print(Markdown(typed(lab.body)))
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
        ui.say(f"next: {_next_hint(failed[0])}")
    else:
        ui.say(f"lab {lab.name} done: every check passed", style="green")


# ---- the learner's plan ----------------------------------------------------------------------

MARKS = {"checked": "✓", "ticked": "✓", "open": "·"}


def _command(text):
    """A command as the user's own front door names it (invoke, ./lab or pglab)."""
    from ..config import via

    return f"{via()} {text.removeprefix('invoke ')}"


def _link(link):
    """How an item's link reads: the command to type, a lab to come, or — where pglab offers nothing."""
    if link is None:
        return "—"
    if "lab" in link:
        shown = _command(f"invoke lab {link['lab']}")
        return shown if link["exists"] else f"{shown} (to come)"
    return _command(link["command"])


def _state(item):
    if item["state"] == "open":
        return "open (check)" if item["how"] == "evidence" else "open (tick)"
    return f"{item['state']} {item['when'][:10]}"


def _done(week):
    return sum(i["state"] != "open" for i in week["items"])


def status_lines(v, width):
    """The plan as `labs --status` prints it, from view() or its JSON: lines of rich Text, one week
    per block, one line per item when WIDTH columns hold it (else the link and state go below)."""
    items = [i for w in v["weeks"] for i in w["items"]]
    tw = max(len(i["text"]) for i in items)
    lw = max(len(_link(i["link"])) for i in items)
    iw = max(len(i["id"]) for i in items)
    one_line = 2 + 2 + iw + 2 + tw + 2 + lw + 2 + len("checked 2000-01-01") <= width
    lines = [Text(v["title"], style="bold"), Text(f"your plan: {v['plan']}")]
    stage = None
    for week in v["weeks"]:
        if week["stage"] and week["stage"] != stage:
            stage = week["stage"]
            lines += [Text(""), Text(stage, style="bold")]
        heading = f"Week {week['week']}" + (f" · {week['heading']}" if week["heading"] else "")
        lines += [Text(""), Text(f"{heading} · {_done(week)} of {len(week['items'])} done", style="bold")]
        for i in week["items"]:
            mark = Text(MARKS[i["state"]], style="green" if i["state"] != "open" else "dim")
            link = Text(_link(i["link"]), style="dim" if i["link"] is None else "")
            state = Text(_state(i), style="green" if i["state"] != "open" else "")
            head = Text("  ") + mark + Text(f" {i['id']:<{iw}}  {i['text']}")
            if one_line:
                link.pad_right(lw - len(link))
                lines.append(head + Text(" " * (tw - len(i["text"]) + 2)) + link + Text("  ") + state)
            else:
                lines += [head, Text(" " * (4 + iw + 2)) + link + Text(" · ") + state]
    c = v["counts"]
    lines += [Text(""),
              Text(f"{c['served']} of {c['items']} items served by a lab or a command"),
              Text(f"{c['checkable']} checked from evidence (check), {c['by_hand']} ticked by hand (tick)"),
              Text(f"done: {c['checked']} checked, {c['ticked']} ticked, {c['items'] - c['checked'] - c['ticked']} "
                   f"open"),
              Text(as_typed("`invoke lab week-N --check` checks a week's items from evidence")),
              Text(as_typed("`invoke lab WEEK.N --tick` ticks one you did by hand")),
              Text(as_typed("`invoke lab week-N` shows what each item needs"))]
    return lines


def status(v):
    for line in status_lines(v, ui.console.width):
        ui.console.print(line)


def status_json(v):
    return json.dumps(v, indent=1, ensure_ascii=False)


def _evidence_lines(s):
    """An item's checks with [x]/[ ] (the hint under each one still open), or how it is ticked."""
    out = []
    if not s.evidence:
        if s.missing_lab:
            out.append(f"the lab {s.link.lab} is to come; until then: tick it by hand "
                       f"(`invoke lab {s.item.id} --tick`)")
        else:
            out.append(f"by hand: `invoke lab {s.item.id} --tick` when done (nothing it leaves can be checked)")
        return out
    if s.own:
        out.append(f"checked from evidence (`invoke lab {s.item.id} --check`):")
    else:
        out.append(f"checked by lab {s.lab.name}'s checks (`invoke lab {s.lab.name}` walks through it; "
                   f"`invoke lab {s.item.id} --check`):")
    for c in s.evidence:
        done = c.id in s.passed
        out.append(f"  [{'x' if done else ' '}] {c.says}")
        if not done:
            out.append(f"      hint: {typed(c.hint)}")
    return out


def items(plan, found, title):
    """Some items of the plan in full (`invoke lab week-3`, `invoke lab 3.2`): each with its link, its
    state, and what decides it: the checks (and hints for those still open), or the tick."""
    ui.say(f"{title} of your plan ({plan.shown_path})", style="bold")
    for s in found:
        v = {"state": str(s.state), "when": s.when, "how": "evidence" if s.evidence else "hand"}
        ui.raw("")
        ui.console.print(Text("  ") + Text(MARKS[v["state"]], style="green" if v["state"] != "open" else "dim")
                         + Text(f" {s.item.id}  {s.item.text}"))
        ui.raw(f"        with: {_link(s.link_data)} · {_state(v)}")
        for line in _evidence_lines(s):
            ui.raw(f"        {as_typed(line)}")


def checked(title, done, found):
    """What `invoke lab week-3 --check` (or `lab 3.2 --check`) found: each check of each item, the
    items ticked by hand, and the next hint."""
    rows = [("✓" if r.ok else "✗", c.standing.item.id, r.check.says, r.detail) for c in done for r in c.results]
    if rows:
        ui.table(f"{title}: checks", ["", "item", "check", "found"], rows)
    if not rows:
        ui.say(as_typed(f"{title}: nothing it leaves can be checked: tick it by hand when done (`invoke lab "
                        f"{found[0].item.id} --tick`)"))
        return
    hand = [s for s in found if not s.evidence and s.state.value == "open"]
    if hand:
        ui.say(as_typed(f"by hand: {', '.join(s.item.id for s in hand)} (`invoke lab {hand[0].item.id} --tick` "
                        f"when you have done it)"))
    failed = [(c.standing, r) for c in done for r in c.results if not r.ok]
    if not failed:
        ui.say(f"{title}: every check passed", style="green")
    elif failed[0][0].own:
        ui.say(f"next: {_next_hint(failed[0][1])}")
    else:       # a lab's hint speaks of the commands the lab shows
        name = failed[0][0].lab.name
        ui.say(typed(f"next, in lab {name} (`invoke lab {name}` shows its commands): ") + _next_hint(failed[0][1]))


def ticked(s, changed, when, undo):
    item = f"{s.item.id} {s.item.text}"
    if undo:
        ui.say(f"unticked {item} (ticked {when[:10]})" if changed else f"{item} was not ticked")
    else:
        ui.say(f"ticked {item}" if changed else f"{item} was ticked already, on {when[:10]}")

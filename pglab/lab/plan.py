"""plan: the learner's own plan, its weeks and items in their words, and what pglab offers for each item.

The plan is a Markdown file (labs/plan/20-week-plan.md, or the learner's own: the `lab_plan` setting):

    # PostgreSQL Mastery Tracker          the title
    ## Stage 1: Foundations               a stage (optional): the weeks under it
    ### Week 3                            weeks numbered 1, 2, 3... in order
    - [ ] Add JSONB fields and run queries   an item, in the learner's words

Items are numbered WEEK.N in their order (3.2: week 3's second item).  Any other line is
the learner's prose and left alone (indented lines too: notes under an item); a list line
in a week that is not an item is refused, so that a mistyped item is not lost.

labs/plan/links.yaml says what pglab offers for an item, matched by the item's words (so a
learner's own plan gets the links of the items it shares, wherever they sit): a lab, by its
name, or a command; and what decides that the item is done: checks of its own (SQL on the
learner's cluster, or named evidence: plan_checks.py), the lab's checks (all, or the ones
named), or the learner's tick (`invoke lab 3.1 --tick`) for reading and reflection that leave
no evidence.  A link to a lab that does not exist (yet) is shown as such: its item is ticked
by hand until the lab comes.
"""

import enum
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import PROJECT_ROOT
from ..errors import LabError
from . import LABS_DIR, _check, _kind

LINKS_FILE = LABS_DIR / "plan" / "links.yaml"
LINK_FIELDS = ("item", "lab", "command", "lab_checks", "by", "checks")

_WEEK = re.compile(r"#{1,6}\s+week\s+(\S+)(.*)", re.I)
_ITEM = re.compile(r"[-*+]\s+\[([ xX])\](?:\s+(.*))?")
_LIST = re.compile(r"[-*+]\s|\d+[.)]\s")
_ITEM_ID = re.compile(r"(\d+)\.(\d+)")
_WEEK_NAME = re.compile(r"week-(\d+)")


@dataclass(frozen=True)
class Item:
    id: str              # WEEK.N
    week: int
    text: str            # the learner's words, as written
    line: int


@dataclass(frozen=True)
class Week:
    number: int
    heading: str         # the heading's words after "Week N", often empty
    stage: str | None    # the stage heading it sits under
    items: tuple


@dataclass(frozen=True)
class Plan:
    path: Path
    title: str
    weeks: tuple

    @property
    def items(self):
        return [item for week in self.weeks for item in week.items]

    @property
    def shown_path(self):
        return self.path.relative_to(PROJECT_ROOT) if self.path.is_relative_to(PROJECT_ROOT) else self.path


def words(text):
    """An item's words with its spacing evened out: what links and progress are matched by."""
    return " ".join(text.split())


def parse(path):
    """The Plan in PATH; a LabError naming the file and the line for anything malformed."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise LabError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise LabError(f"{path}: cannot read the plan: {exc.strerror} (the lab_plan setting names it)") from None
    title, stage, weeks, current = None, None, [], None     # current: the week being read, as a dict

    def close():
        if current is not None:
            if not current["items"]:
                raise LabError(f"{path}:{current['line']}: week {current['number']} has no items (- [ ] ...)")
            weeks.append(Week(current["number"], current["heading"], current["stage"], tuple(current["items"])))

    for n, line in enumerate(text.splitlines(), 1):
        bare = line.strip()
        week = _WEEK.fullmatch(bare)
        if week:
            close()
            number = week.group(1)
            if not number.isdigit() or int(number) != len(weeks) + 1:
                raise LabError(f"{path}:{n}: {bare!r}: weeks are numbered 1, 2, 3... in order "
                               f"(this one should be week {len(weeks) + 1})")
            current = {"number": int(number), "heading": week.group(2).strip(" \t–—-:"), "line": n, "stage": stage,
                       "items": []}
            continue
        if bare.startswith("#"):
            level = len(bare) - len(bare.lstrip("#"))
            heading = bare[level:].strip()
            if level == 1 and title is None and not weeks and current is None:
                title = heading
            elif level <= 2:           # a stage: the weeks under it, until the next
                close()
                current, stage = None, heading
            continue
        if line[:1].isspace():
            continue            # indented: a note under an item, the learner's own
        item = _ITEM.fullmatch(bare)
        if item:
            if current is None:
                raise LabError(f"{path}:{n}: an item before any '### Week N' heading")
            if not (item.group(2) or "").strip():
                raise LabError(f"{path}:{n}: an item without words")
            items = current["items"]
            items.append(Item(f"{current['number']}.{len(items) + 1}", current["number"], item.group(2).strip(), n))
        elif current is not None and _LIST.match(bare) and not re.fullmatch(r"[-*_ ]{3,}", bare):
            raise LabError(f"{path}:{n}: {bare[:40]!r} is not an item: an item is '- [ ] what to do'")
    close()
    if not weeks:
        raise LabError(f"{path}: no weeks in it: a plan is '### Week 1' headings, each with '- [ ] ...' items")
    return Plan(path=path, title=title or path.stem, weeks=tuple(weeks))


def load(settings):
    """The learner's plan: the file the lab_plan setting names (the repository's copy by default)."""
    return parse(settings.lab_plan)


def find_week(plan, name):
    """The Week that NAME (week-3) names; a LabError naming the plan's weeks when there is none."""
    m = _WEEK_NAME.fullmatch(name)
    number = int(m.group(1)) if m else None
    for week in plan.weeks:
        if week.number == number:
            return week
    raise LabError(f"no {name} in {plan.shown_path}: it has weeks 1 to {len(plan.weeks)} (week-1 ... "
                   f"week-{len(plan.weeks)})")


def find_item(plan, ident):
    """The Item IDENT (3.2) names; a LabError saying what the week holds when there is none."""
    m = _ITEM_ID.fullmatch(ident)
    week = int(m.group(1)) if m else 0
    if not 1 <= week <= len(plan.weeks):
        raise LabError(f"no item {ident} in {plan.shown_path}: it has weeks 1 to {len(plan.weeks)}")
    items = plan.weeks[week - 1].items
    n = int(m.group(2))
    if not 1 <= n <= len(items):
        raise LabError(f"no item {ident} in {plan.shown_path}: week {week} has {len(items)} items "
                       f"({items[0].id} to {items[-1].id})")
    return items[n - 1]


def is_week(name):
    return _WEEK_NAME.fullmatch(name) is not None


def is_item(name):
    return _ITEM_ID.fullmatch(name) is not None


# ---- links ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    key: str             # the id it is written for in the repository's plan (links.yaml's key)
    item: str            # the item's words it applies to
    lab: str | None = None
    command: str | None = None
    lab_checks: tuple = ()      # the lab's checks that count for the item; () = all of them
    by_hand: bool = False       # the lab or command goes with the item; the item itself is ticked
    checks: tuple = ()          # the item's own checks (lab.Check)

    @property
    def shown(self):
        return f"invoke lab {self.lab}" if self.lab else self.command


def load_links(path=LINKS_FILE):
    """{item's words: Link} from PATH; a LabError naming the file and the item for anything malformed."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise LabError(f"{path}: cannot read the plan's links: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise LabError(f"{path}: not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise LabError(f"{path}: must map item ids (3.2) to links, not {_kind(data)}")
    links = {}
    for key, entry in data.items():
        where = f"{path}: {key}"
        if not isinstance(entry, dict):
            raise LabError(f"{where}: must be a mapping ({', '.join(LINK_FIELDS)}), not {_kind(entry)}")
        unknown = sorted(str(k) for k in entry if k not in LINK_FIELDS)
        if unknown:
            raise LabError(f"{where}: unknown keys {', '.join(unknown)} (a link has {', '.join(LINK_FIELDS)})")
        if not isinstance(entry.get("item"), str) or not entry["item"].strip():
            raise LabError(f"{where}: item: must be the item's words, not {_kind(entry.get('item'))}")
        if "lab" in entry and "command" in entry:
            raise LabError(f"{where}: a lab or a command, not both")
        for field in ("lab", "command"):
            if field in entry and (not isinstance(entry[field], str) or not entry[field].strip()):
                raise LabError(f"{where}: {field}: must be text, not {_kind(entry[field])}")
        if "command" in entry and not entry["command"].startswith("invoke "):
            raise LabError(f"{where}: command: a pglab command as the learner types it (invoke ...), "
                           f"not {entry['command']!r}")
        lab_checks = entry.get("lab_checks", [])
        if "lab_checks" in entry and ("lab" not in entry or not isinstance(lab_checks, list) or not lab_checks
                                      or not all(isinstance(c, str) for c in lab_checks)):
            raise LabError(f"{where}: lab_checks: the ids of the lab's checks that count, with a lab")
        if entry.get("by", "hand") != "hand":
            raise LabError(f"{where}: by: only 'hand' (the item is ticked), not {_kind(entry['by'])}")
        if "by" in entry and "lab" not in entry:
            raise LabError(f"{where}: by: hand goes with a lab (an item with only a command is ticked anyway)")
        own = entry.get("checks", [])
        if not isinstance(own, list) or ("checks" in entry and not own):
            raise LabError(f"{where}: checks: must be a list of checks (id, says, hint, sql or evidence), "
                           f"not {_kind(own)}")
        checks = tuple(_check(where, i, c) for i, c in enumerate(own))
        if len({c.id for c in checks}) != len(checks):
            raise LabError(f"{where}: two checks share an id")
        if "by" in entry and (checks or lab_checks):
            raise LabError(f"{where}: by: hand, and checks that decide it too: one or the other")
        link = Link(key=str(key), item=words(entry["item"]), lab=entry.get("lab"), command=entry.get("command"),
                    lab_checks=tuple(lab_checks), by_hand="by" in entry, checks=checks)
        if link.item in links:
            raise LabError(f"{where}: a second link for {entry['item']!r} (the first is {links[link.item].key})")
        links[link.item] = link
    return links


# ---- how each item stands -------------------------------------------------------------------

class State(enum.Enum):
    CHECKED = "checked"      # its evidence passed
    TICKED = "ticked"        # the learner said so
    OPEN = "open"

    def __str__(self):
        return self.value


@dataclass(frozen=True)
class Standing:
    item: Item
    link: Link | None
    lab: object              # the linked lab (lab.Lab) when it exists
    evidence: tuple          # the checks that decide the item: its own, or its lab's; () = ticked by hand
    state: State
    when: str | None         # when it was checked or ticked (ISO, UTC)
    passed: frozenset = frozenset()     # the ids of its evidence's checks that have passed

    @property
    def own(self):
        """The item's evidence is its own checks (not its lab's)."""
        return bool(self.link and self.link.checks)

    @property
    def served(self):
        """A lab that exists or a command goes with the item."""
        return bool(self.link and (self.link.command or self.lab is not None))

    @property
    def link_data(self):
        """The link as plain data: {"lab": NAME, "exists": bool}, {"command": "invoke ..."}, or None."""
        if self.link is None or not (self.link.lab or self.link.command):
            return None
        if self.link.lab:
            return {"lab": self.link.lab, "exists": self.lab is not None}
        return {"command": self.link.command}

    @property
    def missing_lab(self):
        return bool(self.link and self.link.lab and self.lab is None)


def _lab_evidence(link, lab):
    """The checks of LAB that count for LINK's item: the ones it names, or all of them (also when a
    named one is gone: the lab was rewritten, and the whole lab is the closest it can be judged by)."""
    by_id = {c.id: c for c in lab.checks}
    if link.lab_checks and all(c in by_id for c in link.lab_checks):
        return tuple(by_id[c] for c in link.lab_checks)
    return lab.checks


def standings(plan, links, labs, data):
    """[Standing] for each item of PLAN, in its order, from the recorded progress DATA (nothing is run)."""
    from . import progress

    by_name = {lab.name: lab for lab in labs}
    out = []
    for item in plan.items:
        link = links.get(words(item.text))
        lab = by_name.get(link.lab) if link and link.lab else None
        if link is None or link.by_hand:
            evidence = ()
        elif link.checks:
            evidence = link.checks
        else:
            evidence = _lab_evidence(link, lab) if lab is not None else ()
        record = progress.item(data, item.text)
        passed = (record.get("checks", {}) if link.checks else data.get(lab.name, {})) if evidence else {}
        times = [passed.get(c.id) for c in evidence]
        checked = max(times) if evidence and all(times) else None
        if checked:
            state, when = State.CHECKED, checked
        elif record.get("ticked"):
            state, when = State.TICKED, record["ticked"]
        else:
            state, when = State.OPEN, None
        out.append(Standing(item, link, lab, evidence, state, when,
                            frozenset(c.id for c, t in zip(evidence, times) if t)))
    return out


def counts(found):
    """What pglab offers across the plan, and how far the learner got (from a list of Standing)."""
    return {"items": len(found), "served": sum(s.served for s in found),
            "checkable": sum(bool(s.evidence) for s in found), "by_hand": sum(not s.evidence for s in found),
            "checked": sum(s.state is State.CHECKED for s in found),
            "ticked": sum(s.state is State.TICKED for s in found)}


def view(plan, found):
    """The plan's weeks with each item's link and state, as plain data: what `labs --status` prints
    and `labs --status --json` writes (show.status renders it from this, and from the JSON alike)."""
    by_id = {s.item.id: s for s in found}
    return {"plan": str(plan.shown_path), "title": plan.title,
            "weeks": [{"week": w.number, "heading": w.heading, "stage": w.stage,
                       "items": [{"id": i.id, "text": i.text, "link": by_id[i.id].link_data,
                                  "how": "evidence" if by_id[i.id].evidence else "hand",
                                  "checks": [c.says for c in by_id[i.id].evidence],
                                  "state": str(by_id[i.id].state), "when": by_id[i.id].when}
                                 for i in w.items]}
                      for w in plan.weeks],
            "counts": counts(found)}


# ---- ticking and checking -------------------------------------------------------------------

def tick(settings, standing, *, undo=False):
    """Tick STANDING's item by hand (UNDO: untick it); (changed, when it was ticked).  An item whose
    evidence decides it is refused: its check says whether it is done."""
    from . import progress

    item = standing.item
    if standing.evidence and not undo:
        raise LabError(f"{item.id} is checked from evidence, not ticked: `invoke lab {item.id} --check` "
                       f"(or `invoke lab week-{item.week} --check`) checks it")
    if undo:
        return progress.untick(settings, item.text)
    return progress.tick(settings, item.text)


@dataclass
class Checked:
    """One item's checks as they ran: the standing they were for and checks.Result for each."""

    standing: Standing
    results: list


def check(settings, found, *, pg=None, cluster="main"):
    """Run the checks of each Standing in FOUND that has evidence (its own, or its lab's: each lab's
    checks run once for all of them), keep what passed; [Checked] in their order."""
    from . import check as check_lab, plan_checks, progress

    own = [s for s in found if s.evidence and s.own]
    by_lab = {}
    for s in found:
        if s.evidence and not s.own:
            by_lab.setdefault(s.lab.name, (s.lab, set()))[1].update(c.id for c in s.evidence)
    lab_results = {}
    for name, (lab, ids) in by_lab.items():
        lab_results[name] = {r.check.id: r for r in check_lab(settings, lab, pg=pg, cluster=cluster, only=ids)}
    done = []
    ctx = plan_checks.Context(settings, pg=pg, name=cluster)
    try:
        for s in found:
            if not s.evidence:
                continue
            if s in own:
                results = [plan_checks.run(c, ctx) for c in s.evidence]
                progress.record_item(settings, s.item.text, results)
            else:
                results = [lab_results[s.lab.name][c.id] for c in s.evidence]
            done.append(Checked(s, results))
    finally:
        ctx.close()
    return done

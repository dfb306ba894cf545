"""lab: the curriculum as guided labs that check the learner's own work.

A lab is one Markdown file under labs/ with a YAML front matter:

    ---
    name: mvcc                 # what `invoke lab NAME` takes
    title: MVCC, HOT and VACUUM on a page
    week: 6                    # the week of the learner's plan it goes with (labs/plan/)
    commands:                  # pglab commands, as the learner types them
      - invoke inspect lab_mvcc --watch "UPDATE ...; VACUUM lab_mvcc"
    source: [heap_page_prune_opt, heap_update]   # shown as file:line of the learner's build
    checks:
      - id: hot                # stable: progress is kept by it
        says: a HOT chain on lab_mvcc's first page
        evidence: hot_chain lab_mvcc          # or  sql: SELECT <a boolean>
        hint: UPDATE a column no index covers, then look again
    starter: ...               # optional: what `invoke lab NAME --start` scaffolds (starter.py)
    ---
    The text the learner reads (Markdown).

checks.py runs the checks against real evidence (the learner's cluster, builds,
debug sessions, pages); progress.py keeps what passed in the working area;
source.py finds functions in the build's own source tree; starter.py scaffolds
the code a lab asks for, with TODOs, from labs/starters/NAME/.  plan.py reads the
learner's own plan (labs/plan/) and links its items to the labs and commands;
plan_checks.py checks the items that leave evidence on the learner's cluster.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config import LABS_HOME
from ..errors import LabError

LABS_DIR = LABS_HOME
WEEKS = 20
FIELDS = ("name", "title", "week", "sessions", "commands", "source", "checks", "starter")
SESSION_MINUTES = 30        # the learners' plan: 30 minutes a day, 5 days a week
CHECK_FIELDS = ("id", "says", "hint", "sql", "evidence")


@dataclass(frozen=True)
class Check:
    id: str
    says: str
    hint: str                   # the first hint (the only one, or the one that points)
    sql: str | None = None
    evidence: str | None = None
    hints: tuple = ()           # graded hints, a list in the lab file: the first points, the last shows

    def hint_after(self, tries):
        """The hint for the TRIES-th failed check in a row (1: the first), the last one from then on."""
        graded = self.hints or (self.hint,)
        return graded[min(max(tries, 1), len(graded)) - 1]


@dataclass(frozen=True)
class Lab:
    name: str
    title: str
    week: int
    path: Path
    body: str
    sessions: int | None = None   # about how many sessions of SESSION_MINUTES it takes (None: not said)
    commands: tuple = ()
    source: tuple = ()
    checks: tuple = field(default_factory=tuple)
    starter: object = None     # starter.Starter


@dataclass(frozen=True)
class Problem:
    """A lab file that cannot be used: its path, the lab's name when the file gives one, why."""

    path: Path
    name: str | None
    error: LabError

    def __str__(self):
        return str(self.error)


def _kind(value):
    """VALUE's YAML kind, as a lab's author wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r} ({type(value).__name__})"


def _text(path, where, value, *, empty=False):
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise LabError(f"{path}: {where}: must be {'' if empty else 'non-empty '}text, not {_kind(value)}")
    return value


def _texts(path, where, value):
    """An optional list of text (commands, source)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise LabError(f"{path}: {where}: must be a list of text, not {_kind(value)}")
    return tuple(_text(path, f"{where}[{i}]", v) for i, v in enumerate(value))


def _check(path, i, c):
    where = f"checks[{i}]"
    if not isinstance(c, dict):
        raise LabError(f"{path}: {where}: each check needs id, says, hint and one of sql or evidence "
                       f"(got {_kind(c)})")
    missing = [k for k in ("id", "says", "hint") if k not in c]
    if missing or ("sql" in c) == ("evidence" in c):
        raise LabError(f"{path}: {where}: each check needs id, says, hint and one of sql or evidence (got {c!r})")
    unknown = sorted(str(k) for k in c if k not in CHECK_FIELDS)
    if unknown:
        raise LabError(f"{path}: {where}: unknown keys {', '.join(unknown)} (a check has {', '.join(CHECK_FIELDS)})")
    ident = c["id"]
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or not str(ident).strip():
        raise LabError(f"{path}: {where}.id: must be text (progress is kept by it), not {_kind(ident)}")
    kind = "sql" if "sql" in c else "evidence"
    if isinstance(c["hint"], list):         # graded: the first points, the last shows
        if not c["hint"]:
            raise LabError(f"{path}: {where}.hint: must be text, or a list of hints (the first points, the "
                           f"last shows), not an empty list")
        hints = tuple(_text(path, f"{where}.hint[{i}]", h) for i, h in enumerate(c["hint"]))
    else:
        hints = (_text(path, f"{where}.hint", c["hint"]),)
    return Check(id=str(ident), says=_text(path, f"{where}.says", c["says"]), hint=hints[0],
                 hints=hints if len(hints) > 1 else (), **{kind: _text(path, f"{where}.{kind}", c[kind])})


def _front_matter(path):
    """(meta, body) of the lab file PATH; a LabError naming the file when it cannot be read as one."""
    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise LabError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise LabError(f"{path}: cannot read it: {exc.strerror}") from None
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise LabError(f"{path}: a lab starts with a YAML front matter between two --- lines")
    head, body = text[4:].split("\n---\n", 1)
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        raise LabError(f"{path}: the front matter is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise LabError(f"{path}: the front matter must be a mapping of fields ({', '.join(FIELDS)}), "
                       f"not {_kind(meta)}")
    return meta, body


def parse(path):
    """The Lab in PATH; a LabError naming the file and the field for anything malformed."""
    from ..layout import check_name

    meta, body = _front_matter(path)
    missing = [k for k in ("name", "title", "week", "checks") if k not in meta]
    if missing:
        raise LabError(f"{path}: the front matter lacks {', '.join(missing)}")
    unknown = sorted(str(k) for k in meta if k not in FIELDS)
    if unknown:
        raise LabError(f"{path}: unknown fields {', '.join(unknown)} (a lab has {', '.join(FIELDS)})")
    name = _text(path, "name", meta["name"])
    try:
        check_name(name, "lab name", LabError)
    except LabError as exc:
        raise LabError(f"{path}: name: {exc}") from None
    week = meta["week"]
    if isinstance(week, bool) or not isinstance(week, int) or not 1 <= week <= WEEKS:
        raise LabError(f"{path}: week: must be a whole number from 1 to {WEEKS}, not {_kind(week)}")
    sessions = meta.get("sessions")
    if sessions is not None and (isinstance(sessions, bool) or not isinstance(sessions, int) or not 1 <= sessions <= 20):
        raise LabError(f"{path}: sessions: must be a whole number from 1 to 20 (sessions of {SESSION_MINUTES} "
                       f"minutes), not {_kind(sessions)}")
    if not isinstance(meta["checks"], list) or not meta["checks"]:
        raise LabError(f"{path}: checks: must be a list of checks (id, says, hint, sql or evidence), "
                       f"not {_kind(meta['checks'])}")
    checks = [_check(path, i, c) for i, c in enumerate(meta["checks"])]
    if len({c.id for c in checks}) != len(checks):
        raise LabError(f"{path}: two checks share an id")
    starter = None
    if "starter" in meta:
        from . import starter as starter_mod

        starter = starter_mod.parse(path, name, meta["starter"])
    return Lab(name=name, title=_text(path, "title", meta["title"]), week=week, path=Path(path), body=body.strip(),
               sessions=sessions,
               commands=_texts(path, "commands", meta.get("commands")),
               source=_texts(path, "source", meta.get("source")), checks=tuple(checks), starter=starter)


def _name_in(path):
    """The name a lab file gives, when it gives one that can be read (for a file that fails to parse)."""
    try:
        name = _front_matter(path)[0].get("name")
    except LabError:
        return None
    return name if isinstance(name, str) else None


def survey(folder=LABS_DIR):
    """(labs, problems): every lab that parses, in curriculum order (week, then file name), and a
    Problem for each file that does not, so that one bad file leaves the others usable."""
    if not Path(folder).is_dir():
        raise LabError(f"no labs here ({folder} is not a folder): the labs come with a clone of pglab")
    labs, problems = [], []
    for path in sorted(Path(folder).glob("*.md")):
        try:
            labs.append(parse(path))
        except LabError as exc:
            problems.append(Problem(path, _name_in(path), exc))
    names = [lab.name for lab in labs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        same = [lab for lab in labs if lab.name == name]
        error = LabError(f"two labs are called {name}: {', '.join(str(lab.path) for lab in same)}")
        problems += [Problem(lab.path, name, error) for lab in same]
        labs = [lab for lab in labs if lab.name != name]
    labs.sort(key=lambda lab: (lab.week, lab.path.name))
    problems.sort(key=lambda p: str(p.path))
    return labs, problems


def load(folder=LABS_DIR):
    """Every lab that parses, in curriculum order (week, then file name); survey() says why a file is left out."""
    return survey(folder)[0]


def find(name, folder=LABS_DIR):
    """The lab called NAME; a LabError saying why when there is none, or its file is malformed."""
    labs, problems = survey(folder)
    for lab in labs:
        if lab.name == name:
            return lab
    for problem in problems:
        if problem.name == name:
            raise problem.error
    raise LabError(f"no lab {name!r}: `invoke labs` lists them ({', '.join(lab.name for lab in labs)})")


def check(settings, lab, *, pg=None, cluster="main", only=None):
    """Run LAB's checks (ONLY: the ones with these ids) against the learner's evidence, keep what
    passed; [checks.Result].

    A lab whose starter is a fork checks the build made from that fork unless PG names another."""
    from . import checks, progress, starter

    if pg is None and lab.starter is not None and lab.starter.fork:
        made = starter.fork_builds(settings, lab.name)
        pg = made[0].id if made else None
    ctx = checks.Context(settings, pg=pg, name=cluster)
    results = [checks.run(c, ctx) for c in lab.checks if only is None or c.id in only]
    tries = progress.record(settings, lab, results)
    for r in results:
        if not r.ok:
            r.hint = r.check.hint_after(tries.get(r.check.id, 1))
    return results


def start(settings, lab, *, pg=None):
    """Scaffold LAB's starter (`invoke lab NAME --start`); starter.Started."""
    from . import starter

    return starter.start(settings, lab, pg=pg)

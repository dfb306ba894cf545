"""lab: the curriculum as guided labs that check the learner's own work.

A lab is one Markdown file under labs/ with a YAML front matter:

    ---
    name: mvcc                 # what `invoke lab NAME` takes
    title: MVCC, HOT and VACUUM on a page
    week: 6                    # where it sits in the 20-week plan (`invoke lab --status`)
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
the code a lab asks for, with TODOs, from labs/starters/NAME/.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..config import PROJECT_ROOT
from ..errors import LabError

LABS_DIR = PROJECT_ROOT / "labs"
WEEKS = 20


@dataclass(frozen=True)
class Check:
    id: str
    says: str
    hint: str
    sql: str | None = None
    evidence: str | None = None


@dataclass(frozen=True)
class Lab:
    name: str
    title: str
    week: int
    path: Path
    body: str
    commands: tuple = ()
    source: tuple = ()
    checks: tuple = field(default_factory=tuple)
    starter: object = None     # starter.Starter


def parse(path):
    """The Lab in PATH; a clear error naming the file for anything malformed."""
    text = Path(path).read_text()
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise LabError(f"{path}: a lab starts with a YAML front matter between two --- lines")
    head, body = text[4:].split("\n---\n", 1)
    try:
        meta = yaml.safe_load(head) or {}
    except yaml.YAMLError as exc:
        raise LabError(f"{path}: the front matter is not YAML: {str(exc).splitlines()[0]}") from None
    missing = [k for k in ("name", "title", "week", "checks") if k not in meta]
    if missing:
        raise LabError(f"{path}: the front matter lacks {', '.join(missing)}")
    checks = []
    for c in meta["checks"]:
        if not isinstance(c, dict) or not {"id", "says", "hint"} <= set(c) or ("sql" in c) == ("evidence" in c):
            raise LabError(f"{path}: each check needs id, says, hint and one of sql or evidence (got {c!r})")
        checks.append(Check(id=str(c["id"]), says=c["says"], hint=c["hint"], sql=c.get("sql"),
                            evidence=c.get("evidence")))
    if len({c.id for c in checks}) != len(checks):
        raise LabError(f"{path}: two checks share an id")
    week = int(meta["week"])
    if not 1 <= week <= WEEKS:
        raise LabError(f"{path}: week {week} is outside 1..{WEEKS}")
    starter = None
    if "starter" in meta:
        from . import starter as starter_mod

        starter = starter_mod.parse(path, str(meta["name"]), meta["starter"])
    return Lab(name=str(meta["name"]), title=meta["title"], week=week, path=Path(path), body=body.strip(),
               commands=tuple(meta.get("commands") or ()), source=tuple(meta.get("source") or ()),
               checks=tuple(checks), starter=starter)


def load(folder=LABS_DIR):
    """Every lab, in curriculum order (week, then file name)."""
    labs = [parse(p) for p in sorted(Path(folder).glob("*.md"))]
    names = [lab.name for lab in labs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise LabError(f"two labs are called {', '.join(sorted(dup))}")
    return sorted(labs, key=lambda lab: (lab.week, lab.path.name))


def find(name, folder=LABS_DIR):
    labs = load(folder)
    for lab in labs:
        if lab.name == name:
            return lab
    raise LabError(f"no lab {name!r}: `invoke labs` lists them ({', '.join(lab.name for lab in labs)})")


def check(settings, lab, *, pg=None, cluster="main"):
    """Run LAB's checks against the learner's evidence, keep what passed; [checks.Result].

    A lab whose starter is a fork checks the build made from that fork unless PG names another."""
    from . import checks, progress, starter

    if pg is None and lab.starter is not None and lab.starter.fork:
        made = starter.fork_builds(settings, lab.name)
        pg = made[0].id if made else None
    ctx = checks.Context(settings, pg=pg, name=cluster)
    results = [checks.run(c, ctx) for c in lab.checks]
    progress.record(settings, lab, results)
    return results


def start(settings, lab, *, pg=None):
    """Scaffold LAB's starter (`invoke lab NAME --start`); starter.Started."""
    from . import starter

    return starter.start(settings, lab, pg=pg)


def walk(settings, lab, *, pg=None):
    """Print LAB for the learner, with source pointers into their build when there is one."""
    from ..errors import PglabError
    from ..pg.builds import find_build
    from . import progress, show, starter

    fork = starter.fork_builds(settings, lab.name) if lab.starter is not None and lab.starter.fork else []
    try:
        build = fork[0] if fork and pg is None else find_build(settings, pg)
    except PglabError:
        build = None          # no build yet: the first lab makes one
    show.walk(lab, progress.load(settings), build, fork_build=fork[0].id if fork else None)

"""Running a lab's checks against real evidence.

A check is either SQL on the learner's cluster (one boolean: true passes) or a
named piece of evidence with arguments (`hot_chain lab_mvcc`): a function below
that looks at what the learner did (a build, a debug session, a page) and says
what it found.  A check never changes the learner's data.
"""

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass

from ..errors import PglabError

EVIDENCE = {}


def evidence(fn):
    EVIDENCE[fn.__name__] = fn
    return fn


@dataclass
class Result:
    check: object
    ok: bool
    detail: str


class Context:
    """The learner's build and cluster, looked up once and only when a check needs them."""

    def __init__(self, settings, pg=None, name="main"):
        self.settings = settings
        self.pg = pg
        self.name = name
        self._build = None
        self._cluster = None

    @property
    def build(self):
        if self._build is None:
            from ..pg.builds import find_build

            self._build = find_build(self.settings, self.pg)
        return self._build

    @property
    def cluster(self):
        if self._cluster is None:
            from ..cluster import Cluster, State

            cl = Cluster.named(self.settings, self.build, self.name)
            if cl.state() is State.ABSENT:
                raise PglabError(f"no cluster {self.name!r} on {self.build.id} yet: `invoke pg-start` creates it")
            cl.start()
            self._cluster = cl
        return self._cluster


def run(check, ctx):
    """Result of one check; an error on the way is a failed check saying why."""
    try:
        if check.sql is not None:
            return Result(check, *_sql(check.sql, ctx))
        name, *args = shlex.split(check.evidence)
        if name not in EVIDENCE:
            return Result(check, False, f"unknown evidence {name!r} (a bug in the lab)")
        return Result(check, *EVIDENCE[name](ctx, *args))
    except PglabError as exc:
        return Result(check, False, str(exc))


def _sql(query, ctx):
    import psycopg

    try:
        with ctx.cluster.connect() as conn:
            row = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0]
    if row is None or row[0] is not True:
        return False, f"{query.strip()} gave {row[0] if row else 'no row'}"
    return True, "yes"


# ---- evidence -----------------------------------------------------------------------------

@evidence
def debug_build(ctx):
    """A build made for reading in a debugger: -O0, debug symbols, assertions on."""
    b = ctx.build
    args, cflags = b.meta.get("configure_args", []), b.meta.get("cflags", "")
    wanted = {"--enable-debug": "--enable-debug" in args, "--enable-cassert": "--enable-cassert" in args,
              "-O0": "-O0" in cflags.split()}
    missing = [k for k, ok in wanted.items() if not ok]
    if missing:
        return False, f"{b.id} lacks {', '.join(missing)}: build with `invoke build-pg` (the debug flavour)"
    return True, f"{b.id}: {cflags}, assertions on"


def _first_page(ctx, table):
    from .. import inspect as inspect_mod

    with inspect_mod.session(ctx.settings, cluster=ctx.cluster) as (cluster, lay, conn):
        rel = inspect_mod.find(conn, cluster, lay, table)
        return inspect_mod.decode(lay, rel, [0], decode_values=False)["pages"][0]


@evidence
def hot_chain(ctx, table):
    """A heap-only tuple (or the redirect pruning leaves of a HOT chain) on TABLE's first page."""
    page = _first_page(ctx, table)
    hot = [it["lp"] for it in page["items"] if it.get("heap_only")]
    redirects = [it["lp"] for it in page["items"] if it["state"] == "redirect"]
    if hot or redirects:
        parts = ([f"heap-only tuples at lp {', '.join(map(str, hot))}"] if hot else []) + \
                ([f"redirects at lp {', '.join(map(str, redirects))}"] if redirects else [])
        return True, "; ".join(parts)
    return False, f"no heap-only tuple and no redirect on {table}'s block 0"


@evidence
def all_visible(ctx, table):
    """TABLE's first page marked all-visible in the visibility map (VACUUM ran after the last change)."""
    page = _first_page(ctx, table)
    if page["vm"]["all_visible"]:
        return True, "all-visible" + (" and all-frozen" if page["vm"]["all_frozen"] else "")
    return False, f"{table}'s block 0 is not all-visible in the visibility map"


@evidence
def debug_session(ctx, function):
    """An `invoke debug` session on the build whose gdb attached with a breakpoint on FUNCTION."""
    root = ctx.settings.layout.debug_sessions
    found = []
    for plan_file in sorted(root.glob(f"{ctx.build.id}-*/plan.json")) if root.exists() else []:
        plan = json.loads(plan_file.read_text())
        if function in plan.get("breaks", []) and (plan_file.parent / "gdb-ready").exists():
            found.append(plan_file.parent.name)
    if found:
        return True, f"{len(found)} session(s) with gdb attached and a breakpoint on {function}"
    return False, f"no debug session on {ctx.build.id} has had gdb attached with --break {function}"


@evidence
def server_log(ctx, pattern):
    """The server log of the learner's cluster has a line matching PATTERN (a regular expression)."""
    log = ctx.cluster.log
    text = log.read_text(errors="replace") if log.is_file() else ""
    found = re.search(pattern, text, re.M)
    if found is None:
        return False, f"no line matching {pattern!r} in {log}"
    line = text[text.rfind("\n", 0, found.start()) + 1:].split("\n", 1)[0]
    return True, line.strip()[:100]


@evidence
def trace_file(ctx, name, event, *conditions):
    """A trace the learner saved (`invoke trace ... --format json --out pg_source/labs/NAME`) holding an EVENT
    whose fields match every KEY=PATTERN (shell-style: INSERT*, *Lock)."""
    path = ctx.settings.layout.lab_work / name
    if not path.is_file():
        return False, f"no {path}: save the trace there with --format json --out {path}"
    wanted = [c.split("=", 1) for c in conditions]
    seen = 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            return False, f"{path} is not the JSON lines of `invoke trace --format json`"
        if record.get("event") != event:
            continue
        seen += 1
        if all(fnmatch.fnmatchcase(str(record.get(key)), pattern) for key, pattern in wanted):
            shown = ", ".join(f"{k}={record.get(k)}" for k, _ in wanted)
            return True, f"{event} with {shown}" if shown else f"{seen} {event} event(s)"
    if not seen:
        return False, f"{path} has no {event} event: was it traced with the target the lab names?"
    return False, f"{seen} {event} event(s) in {path}, none with {' '.join(conditions)}"


def _extension(name):
    from ..ext.discover import EXTENSIONS_DIR

    path = EXTENSIONS_DIR / name
    if not (path / "Makefile").is_file():
        raise PglabError(f"no extension at {path}: `invoke new-ext {name}` scaffolds it")
    return path


@evidence
def extension_tests_pass(ctx, name):
    """extensions/NAME builds without warnings and every suite of its own passes on the learner's build."""
    from ..ext import runner

    _extension(name)
    results = runner.ext_test(ctx.settings, name, pg=ctx.build.id, werror=True)
    failed = [f"{r.suite} {r.status}" for r in results if not r.ok]
    if failed:
        return False, f"ext-test {name}: {', '.join(failed)} (`invoke ext-test {name} --werror` shows why)"
    suites = [r.suite for r in results if r.suite not in ("build", "server") and r.status == "pass"]
    return True, f"built with -Werror; {', '.join(suites) or 'no suite'} passed"


@evidence
def extension_answers(ctx, name, query, expected):
    """On a fresh cluster of the build, CREATE EXTENSION NAME (as ext-test last installed it: a lab lists
    extension_tests_pass first), then QUERY's one value is EXPECTED (as text)."""
    import psycopg

    from ..cluster import Cluster

    _extension(name)
    with Cluster.throwaway(ctx.build, ctx.settings, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            try:
                conn.execute(f'CREATE EXTENSION "{name}"')
                got = conn.execute(query).fetchone()[0]
            except psycopg.Error as exc:
                return False, f"{query}: {str(exc).strip().splitlines()[0]}"
    got = None if got is None else str(got)
    if got != expected:
        return False, f"{query} gave {got}, expected {expected}"
    return True, f"{query} = {got}"


@evidence
def pgxn_bundle(ctx, name):
    """A PGXN distribution of NAME in the working area's dist/ whose META.json is valid."""
    import zipfile

    from ..ext.pgxn_spec import validate

    zips = sorted(ctx.settings.layout.dist.glob(f"{name}-*.zip"))
    if not zips:
        return False, f"no {name}-VERSION.zip in {ctx.settings.layout.dist}: `invoke ext-bundle {name}` makes it"
    newest = max(zips, key=lambda p: p.stat().st_mtime)
    with zipfile.ZipFile(newest) as z:
        metas = [n for n in z.namelist() if n.count("/") == 1 and n.endswith("/META.json")]
        if not metas:
            return False, f"{newest.name} has no META.json in its top folder"
        problems = validate(json.loads(z.read(metas[0])))
    if problems:
        return False, f"{newest.name}: META.json: {problems[0]}"
    return True, f"{newest.name}, META.json valid"


@evidence
def patched_build_checked(ctx):
    """A build made with --patch whose PostgreSQL regression suite (pg-check) passed."""
    from ..pg.builds import list_builds

    patched = [b for b in list_builds(ctx.settings) if b.meta.get("patches")]
    if not patched:
        return False, "no build made with --patch yet: `invoke build-pg --patch FILE` makes one"
    from ..pg.check import schedule_tests

    partial = []
    for b in patched:
        out = ctx.settings.layout.check(b.id) / "pg_regress.out"
        passed = re.search(r"All (\d+) tests passed", out.read_text() if out.is_file() else "")
        if not passed:
            continue
        schedule = b.source_dir / "src" / "test" / "regress" / "parallel_schedule"
        whole = len(schedule_tests(schedule)) if schedule.is_file() else 0
        if int(passed.group(1)) >= whole:
            return True, f"{b.id} ({len(b.meta['patches'])} patch(es)): pg-check passed"
        partial.append(f"{b.id} passed {passed.group(1)} of the schedule's {whole} tests (--test runs a part)")
    if partial:
        return False, "; ".join(partial) + f": run them all: `invoke pg-check --version {patched[0].id}`"
    return False, f"pg-check has not passed on {', '.join(b.id for b in patched)}: `invoke pg-check --version " \
                  f"{patched[0].id}`"


@evidence
def extension_source(ctx, name, relpath, pattern):
    """The file RELPATH of extensions/NAME matches PATTERN (shell-style, over the whole text)."""
    path = _extension(name) / relpath
    if not path.is_file():
        return False, f"no {path}"
    if fnmatch.fnmatchcase(path.read_text(), pattern):
        return True, f"{relpath} has it"
    return False, f"{relpath} does not match {pattern}"


@evidence
def fork_build(ctx, lab_name):
    """The build the checks look at was made from LAB_NAME's fork (`invoke lab LAB_NAME --start`, then
    `invoke build-pg --source` on it): the local channel, its source_dir that fork."""
    from ..config import PROJECT_ROOT
    from .starter import fork_builds

    fork = ctx.settings.layout.lab_fork(lab_name)
    shown = fork.relative_to(PROJECT_ROOT) if fork.is_relative_to(PROJECT_ROOT) else fork
    made = fork_builds(ctx.settings, lab_name)
    if not made:
        how = f"`invoke build-pg --source {shown}` makes it" if fork.is_dir() else \
              f"`invoke lab {lab_name} --start` makes the fork, then `invoke build-pg --source {shown}`"
        return False, f"no build made from {shown} yet: {how}"
    if ctx.build.id not in {b.id for b in made}:
        return False, f"{ctx.build.id} is not built from {shown}: check with --pg {made[0].id}"
    return True, f"{ctx.build.id}, built from {shown}"


@evidence
def plan_starts(ctx, query, expected):
    """On a throwaway cluster of the build, the first line of QUERY's output (an EXPLAIN) starts with EXPECTED."""
    import psycopg

    from ..cluster import Cluster

    with Cluster.throwaway(ctx.build, ctx.settings, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            try:
                got = str(conn.execute(query).fetchone()[0])
            except psycopg.Error as exc:
                return False, f"{query}: {str(exc).strip().splitlines()[0]}"
    if not got.startswith(expected):
        return False, f"{query} on {ctx.build.id} gave {got!r}"
    return True, f"{ctx.build.id}: {got}"

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
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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
    hint: str = ""          # the hint to show for a failed check: its next one, as the learner's tries go


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
            from ..cluster import Cluster

            # what the learner made is looked at, never made here: an absent cluster is refused
            self._cluster = Cluster.open(self.settings, self.build, self.name, create=False)
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
    args, cflags = b.configure_args, b.cflags
    wanted = {"--enable-debug": "--enable-debug" in args, "--enable-cassert": "--enable-cassert" in args,
              "-O0": "-O0" in cflags.split()}
    missing = [k for k, ok in wanted.items() if not ok]
    if missing:
        return False, f"{b.id} lacks {', '.join(missing)}: build with `invoke build-pg` (the debug flavour)"
    return True, f"{b.id}: {cflags}, assertions on"


def _decoded(ctx, table):
    """inspect's decoding of TABLE's first block (and the relation's facts: nblocks, ...)."""
    from .. import inspect as inspect_mod

    with inspect_mod.session(ctx.settings, cluster=ctx.cluster) as (cluster, lay, conn):
        rel = inspect_mod.find(conn, cluster, lay, table)
        return inspect_mod.decode(lay, rel, [0], decode_values=False)


def _first_page(ctx, table):
    return _decoded(ctx, table)["pages"][0]


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
def hot_vacuumed(ctx, table):
    """VACUUM ran after a HOT update of TABLE: its first page is all-visible and a redirect is left where the
    HOT chain started (a table never updated, or vacuumed before its update, has none)."""
    page = _first_page(ctx, table)
    redirects = [it for it in page["items"] if it["state"] == "redirect"]
    if not redirects:
        return False, f"no redirect on {table}'s block 0: no HOT chain has been pruned there (UPDATE a row first)"
    if not page["vm"]["all_visible"]:
        return False, f"{table}'s block 0 has a redirect at lp {redirects[0]['lp']} but is not all-visible in the " \
                      f"visibility map: VACUUM has not run since the last change"
    return True, f"redirect at lp {redirects[0]['lp']}, block 0 all-visible"


def _vacuums(ctx, table):
    with ctx.cluster.connect() as conn:
        row = conn.execute("SELECT vacuum_count + autovacuum_count FROM pg_stat_user_tables WHERE relid = %s::regclass",
                           (table,)).fetchone()
    return row[0] if row else 0


@evidence
def pruned_without_vacuum(ctx, table):
    """TABLE's first page was pruned by a reader (heap_page_prune_opt), not by VACUUM: a redirect or a dead line
    pointer on it, and no VACUUM of TABLE ever counted (pg_stat_user_tables)."""
    import psycopg

    try:
        page = _first_page(ctx, table)
    except PglabError as exc:
        return False, str(exc)
    pruned = [f"lp {it['lp']} {it['state']}" for it in page["items"] if it["state"] in ("redirect", "dead")]
    try:
        vacuums = _vacuums(ctx, table)
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0]
    if vacuums:
        return False, f"{table} has been vacuumed ({vacuums} time(s)): the point is a page pruned without VACUUM: " \
                      f"make the table again WITH (autovacuum_enabled = off)"
    if not pruned:
        return False, f"nothing pruned on {table}'s block 0 ({page['free_space']} bytes free on it)"
    return True, f"{', '.join(pruned)} on block 0; never vacuumed"


def _relation_oid(ctx, table):
    import psycopg

    try:
        with ctx.cluster.connect() as conn:
            row = conn.execute("SELECT to_regclass(%s)::oid::int8", (table,)).fetchone()
    except psycopg.Error as exc:
        raise PglabError(str(exc).strip().splitlines()[0]) from None
    if row is None or row[0] is None:
        raise PglabError(f"no table {table} on your cluster: the lab's first command makes it")
    return row[0]


@evidence
def plan_scan(ctx, name, node, table):
    """A plan saved in a trace (plan_tree) that reads TABLE (the learner's own, by OID) with a NODE node
    (outfuncs.c's name: INDEXSCAN, BITMAPHEAPSCAN, SEQSCAN; exactly that node, not one whose name contains it)."""
    from ..trace.render.plan import EXPLAIN_NAMES, _field, plan_nodes

    path, events = _saved_trace(ctx, name)
    plans = [e for e in events if e.get("event") == "plan_tree" and isinstance(e.get("tree"), dict)]
    if not plans:
        return False, f"{path} has no plan tree: save a trace of the query target (trace query)"
    oid = _relation_oid(ctx, table)
    seen = []
    for plan in plans:
        rtable = plan["tree"].get("rtable") or []
        for _depth, n in plan_nodes(plan):
            scanrelid = _field(n, "scanrelid")
            rte = rtable[scanrelid - 1] if isinstance(scanrelid, int) and 0 < scanrelid <= len(rtable) else None
            on = isinstance(rte, dict) and rte.get("relid") == oid
            kind = EXPLAIN_NAMES.get(n["node"], n["node"])
            alias = ((rte.get("eref") or {}).get("aliasname") if isinstance(rte, dict) else None)
            if on:
                seen.append(f"{kind} on {table}")
            elif alias:
                seen.append(f"{kind} on {'a dropped ' if alias == table else ''}{alias}")
            else:
                seen.append(kind)
            if n["node"] == node and on:
                return True, f"{kind} on {table}"
    return False, f"the plan in {path.name} is {' → '.join(seen)}: no {EXPLAIN_NAMES.get(node, node)} on {table}"


@evidence
def wal_fpi_then_none(ctx, name, table):
    """A saved WAL trace where a Heap INSERT carries a full-page image and a later one, on the same page of
    TABLE, none: TABLE is one page, and its LSN is the end of the trace's last Heap record."""
    path, events = _saved_trace(ctx, name)
    heap = [e for e in events if e.get("event") == "wal_record" and e.get("rmgr") == "Heap"
            and str(e.get("record_type", "")).startswith("INSERT")]
    first = next((i for i, e in enumerate(heap) if e.get("has_fpi")), None)
    if first is None:
        return False, f"no Heap INSERT with a full-page image in {path.name}: the first change to a page after a " \
                      f"checkpoint carries one (CHECKPOINT first, in the traced SQL)"
    later = [e for e in heap[first + 1:] if e.get("has_fpi") is False]
    if not later:
        return False, f"{path.name} has no Heap INSERT without a full-page image after the one with it: insert twice"
    decoded = _decoded(ctx, table)
    page = decoded["pages"][0]
    if decoded["nblocks"] != 1:
        return False, f"{table} has {decoded['nblocks']} pages: the two records must be on one page"
    lsn = f"{page['header']['lsn_int'] >> 32:X}/{page['header']['lsn_int'] & 0xFFFFFFFF:08X}"   # as the trace writes it
    if page["header"]["lsn_int"] != heap[-1].get("end"):
        return False, f"{table}'s page LSN is {lsn}, not the end of the trace's last Heap record " \
                      f"({heap[-1].get('end_lsn')}): trace the exercise on {table}, as the last change to it"
    return True, f"{heap[first]['len']} bytes with the page image, then {later[0]['len']} without; page LSN {lsn}"


@evidence
def locks_every_index(ctx, name, table):
    """A saved locks trace in which the statement took RowExclusiveLock on TABLE and on every index TABLE has
    (at least two), whichever of them its plan uses."""
    import psycopg

    path, events = _saved_trace(ctx, name)
    try:
        with ctx.cluster.connect() as conn:
            indexes = [r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index "
                                                  "WHERE indrelid = %s::regclass ORDER BY 1", (table,))]
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0]
    if len(indexes) < 2:
        return False, f"{table} has {len(indexes)} index(es) ({', '.join(indexes) or 'none'}): give it one more, " \
                      f"on a column the UPDATE does not search by"
    locked = {e.get("relname") for e in events if e.get("event") == "lock" and e.get("mode") == "RowExclusiveLock"}
    if table not in locked:
        return False, f"no RowExclusiveLock on {table} in {path.name}: trace an UPDATE of {table}"
    missing = [i for i in indexes if i not in locked]
    if missing:
        return False, f"the UPDATE in {path.name} took no RowExclusiveLock on {', '.join(missing)}: was the index " \
                      f"made after the trace? trace it again"
    return True, f"RowExclusiveLock on {table} and on {', '.join(indexes)}"


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


_REDO_STARTS = re.compile(r"redo starts at ([0-9A-F]+/[0-9A-F]+)")
_REDO_DONE = re.compile(r"redo done at ([0-9A-F]+/[0-9A-F]+)")


def _lsn(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def _last_start(ctx):
    """(the server log since the server last started, the log's path)."""
    from .. import boundary

    log = ctx.cluster.log
    text = boundary.read_file(log) if log.is_file() else ""
    at = text.rfind("starting PostgreSQL")
    return (text[at:] if at >= 0 else ""), log


def _recovery(ctx):
    """(redo start, redo done) of the crash recovery the server's last start ran, as the log says; a
    PglabError saying what to do when that start was not one."""
    text, log = _last_start(ctx)
    starts, done = _REDO_STARTS.search(text), _REDO_DONE.search(text)
    if starts is None or done is None:
        raise PglabError(f"the server's last start in {log} replayed no WAL (it had been shut down cleanly): "
                         f"`invoke pg-stop --immediate` stops it as a crash would, then `invoke pg-start`")
    return starts.group(1), done.group(1)


@evidence
def crash_recovered(ctx):
    """The server's last start was a crash recovery: its log says where redo started and where it was done."""
    start, done = _recovery(ctx)
    return True, f"redo from {start}; the last record replayed at {done}"


@evidence
def page_replayed(ctx, table):
    """A change to TABLE's first page was replayed by the last crash recovery: a Heap record with a
    reference to that block lies in the WAL the recovery replayed (after the redo start, up to the end
    of the last record replayed), as the build's pg_waldump reads it.  (The page's LSN may be later:
    from 18 on data checksums are on, and the first read after recovery logs the page again when it
    sets hint bits.)"""
    from ..inspect import wal

    start, done = _recovery(ctx)
    with ctx.cluster.connect() as conn:
        timeline = conn.execute(wal.TIMELINE).fetchone()[0]
        tag = conn.execute(wal.TAG, (table,)).fetchone()
    if tag is None:
        return False, f"no table {table} in database postgres: the lab's first command makes it"
    _spc, db, filenode = tag
    [last] = wal.waldump(ctx.cluster, done, timeline=timeline, limit=1)
    end = _lsn(done) + (last["length"] + 7) // 8 * 8
    records = wal.waldump(ctx.cluster, start, f"{end >> 32:X}/{end & 0xFFFFFFFF:X}", timeline=timeline)
    mine = [r for r in records if r["rmgr"] in ("Heap", "Heap2") and any(
        b["relfilenode"] == filenode and b["dboid"] == db and b["fork"] == "main" and b["block"] == 0
        for b in r["blocks"])]
    if mine:
        kinds = ", ".join(sorted({f"{r['rmgr']} {r['type']}" for r in mine}))
        return True, f"{len(mine)} record(s) of {table}'s block 0 replayed from {start} ({kinds})"
    return False, (f"no record of {table}'s block 0 in the WAL the last recovery replayed ({start} to {done}): "
                   f"change it after a CHECKPOINT, then crash the server before the next one")


def _saved_trace(ctx, name):
    """(path, events) of a trace the learner saved under the working area's labs/; a PglabError saying how to
    save it when there is none, or it is not one."""
    path = ctx.settings.layout.lab_work / name
    if not path.is_file():
        raise PglabError(f"no {path}: save the trace there with --format json --out {path}")
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            raise PglabError(f"{path} is not the JSON lines of `invoke trace --format json`") from None
    return path, events


def _matches(record, wanted):
    return all(fnmatch.fnmatchcase(str(record.get(key)), pattern) for key, pattern in wanted)


@evidence
def trace_file(ctx, name, event, *conditions):
    """A trace the learner saved (`invoke trace ... --format json --out pg_source/labs/NAME`) holding an EVENT
    whose fields match every KEY=PATTERN (shell-style: INSERT*, *Lock)."""
    path, events = _saved_trace(ctx, name)
    wanted = [c.split("=", 1) for c in conditions]
    of_kind = [r for r in events if r.get("event") == event]
    for record in of_kind:
        if _matches(record, wanted):
            shown = ", ".join(f"{k}={record.get(k)}" for k, _ in wanted)
            return True, f"{event} with {shown}" if shown else f"{len(of_kind)} {event} event(s)"
    if not of_kind:
        return False, f"{path} has no {event} event: was it traced with the target the lab names?"
    return False, f"{len(of_kind)} {event} event(s) in {path}, none with {' '.join(conditions)}"


@evidence
def trace_events(ctx, name, *wanted):
    """A saved trace that has each +EVENT:KEY=PATTERN,... and none of each -EVENT:KEY=PATTERN,...
    (`+span:name=ProcessUtility -span:name=standard_planner`: a statement that was not planned)."""
    path, events = _saved_trace(ctx, name)
    found = []
    for spec in wanted:
        sign, rest = spec[0], spec[1:]
        event, _, conds = rest.partition(":")
        pairs = [c.split("=", 1) for c in conds.split(",") if c]
        hits = [r for r in events if r.get("event") == event and _matches(r, pairs)]
        what = f"{event} with {conds}" if conds else event
        if sign == "+" and not hits:
            return False, f"{path.name} has no {what}"
        if sign == "-" and hits:
            return False, f"{path.name} has {len(hits)} {what}, which the exercise's statement does not make"
        found.append(f"{len(hits)} {what}")
    return True, f"{path.name}: " + ", ".join(found)


# ---- the learner's answers ------------------------------------------------------------------

def _answers(ctx, lab):
    """{key: answer} from the working area's labs/LAB.answers (lines `key: what you found`), and its path."""
    path = ctx.settings.layout.lab_work / f"{lab}.answers"
    answers = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() and not key.lstrip().startswith("#"):
                answers[key.strip()] = value.strip()
    return path, answers


def _same(a, b):
    """The same answer, whatever its spacing, case and outer brackets: (0, 1) is 0,1, exprcontext is ExprContext."""
    def norm(text):
        return "".join(str(text).split()).casefold().strip("()`'\"")
    return norm(a) == norm(b)


def _function(frame):
    """The function of one frame of a saved call stack ("exec_simple_query postgres.c:1283")."""
    return frame.split(" ", 1)[0]


def _stack(ctx, name):
    """The call stack (outermost first) of the first event that has one in the saved trace NAME."""
    path, events = _saved_trace(ctx, name)
    for record in events:
        if isinstance(record.get("bt"), list) and record["bt"] and record.get("event") != "trace_start":
            return [_function(f) for f in reversed(record["bt"])]
    raise PglabError(f"{path} has no call stack: trace it again with --bt")


def _truth(ctx, kind, args):
    """(the values a right answer is one of, what shows them) for an answer check's KIND and ARGS."""
    if kind == "sql":
        import psycopg

        (query,) = args
        try:
            with ctx.cluster.connect() as conn:
                values = {str(row[0]) for row in conn.execute(query).fetchall() if row[0] is not None}
        except psycopg.Error as exc:
            raise PglabError(f"{query}: {str(exc).strip().splitlines()[0]}") from None
        return values, "your cluster"
    if kind == "trace":
        name, event, field, *conditions = args
        path, events = _saved_trace(ctx, name)
        wanted = [c.split("=", 1) for c in conditions]
        values = set()
        for record in events:
            if record.get("event") == event and _matches(record, wanted) and record.get(field) is not None:
                value = str(record[field])
                values |= {value, Path(value).name, Path(value).stem} if "/" in value else {value}
        if not values:
            raise PglabError(f"{path} has no {event} event{' with ' + ' '.join(conditions) if conditions else ''}"
                             f": save the trace the lab asks for first")
        return values, path.name
    if kind == "log":
        (pattern,) = args
        text, log = _last_start(ctx)
        found = [m.group(1) for m in re.finditer(pattern, text)]
        if not found:
            raise PglabError(f"no line matching {pattern!r} in {log} since the server last started")
        return {found[-1]}, "the server log"
    if kind == "common-caller":
        stacks = [_stack(ctx, name) for name in args]
        shared = 0
        while all(len(s) > shared for s in stacks) and len({s[shared] for s in stacks}) == 1:
            shared += 1
        if not shared:
            raise PglabError(f"the stacks in {', '.join(args)} share no frame: are they stacks of one backend?")
        return {stacks[0][shared - 1]}, " and ".join(args)
    raise PglabError(f"unknown kind of answer {kind!r} (a bug in the lab)")


@evidence
def answer(ctx, lab, key, kind, *args):
    """What the learner found, written as a line `KEY: ...` in the working area's labs/LAB.answers, is what the
    evidence shows: KIND sql QUERY (one of the query's values on the learner's cluster), log PATTERN (its group
    in the last line of the server log since the server last started that matches it), trace FILE EVENT FIELD
    [KEY=PATTERN...] (that field of an event in a saved trace; a library path also by its name), or
    common-caller FILE... (the innermost function the call stacks saved in those traces share)."""
    path, answers = _answers(ctx, lab)
    if key not in answers or not answers[key]:
        return False, f"no answer {key!r} in {path}: write what you found there, as a line `{key}: ...`"
    given = answers[key]
    values, source = _truth(ctx, kind, args)
    if any(_same(given, v) for v in values):
        return True, f"{key}: {given}, as {source} shows"
    return False, f"your {key}, {given}, is not what {source} shows: look again"


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
    with Cluster.throwaway(ctx.settings, ctx.build, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            try:
                conn.execute(f'CREATE EXTENSION "{name}"')
                row = conn.execute(query).fetchone()
            except psycopg.Error as exc:
                return False, f"{query}: {str(exc).strip().splitlines()[0]}"
    if row is None:
        return False, f"{query} gave no row"
    got = None if row[0] is None else str(row[0])
    if got != expected:
        return False, f"{query} gave {got}, expected {expected}"
    return True, f"{query} = {got}"


@evidence
def extension_raises(ctx, name, query, sqlstate):
    """On a fresh cluster of the build, CREATE EXTENSION NAME, then QUERY raises an error with SQLSTATE."""
    import psycopg

    from ..cluster import Cluster

    _extension(name)
    with Cluster.throwaway(ctx.settings, ctx.build, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            try:
                conn.execute(f'CREATE EXTENSION "{name}"')
            except psycopg.Error as exc:
                return False, f"CREATE EXTENSION {name}: {str(exc).strip().splitlines()[0]}"
            try:
                got = conn.execute(query).fetchone()[0]
            except psycopg.Error as exc:
                if exc.sqlstate == sqlstate:
                    return True, f"{query}: ERROR {sqlstate}: {str(exc).strip().splitlines()[0]}"
                return False, f"{query}: ERROR {exc.sqlstate}, not {sqlstate}: {str(exc).strip().splitlines()[0]}"
    return False, f"{query} gave {got}, without an error"


# DROP ... in a learner's regression test, refused while extension_test_did runs it, so that what the test
# made (and the statistics kept about it) is still there to look at afterwards
_KEEP = """
CREATE FUNCTION pglab_keep() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'pglab keeps what the test made, to look at it'; END $$;
CREATE EVENT TRIGGER pglab_keep ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP TABLE', 'DROP FUNCTION', 'DROP PROCEDURE', 'DROP OPERATOR', 'DROP TYPE')
    EXECUTE FUNCTION pglab_keep();
"""


@evidence
def extension_test_did(ctx, name, test, query):
    """extensions/NAME builds with -Werror and its own tests pass (ext-test, which also installs it), and its
    regression test TEST, run again on a fresh cluster with track_functions = all and its DROPs held back, left
    what QUERY (one boolean, in the test's database afterwards) looks for: a call it made, a table it read."""
    import psycopg

    from ..cluster import Cluster

    ok, detail = extension_tests_pass(ctx, name)
    if not ok:
        return False, detail
    path = _extension(name) / test
    if not path.is_file():
        return False, f"no {path}"
    with Cluster.throwaway(ctx.settings, ctx.build, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE lab_check")
        with psycopg.connect(cl.conninfo("lab_check"), autocommit=True) as conn:
            conn.execute(_KEEP)
        try:
            cl.run([cl.build.bin("psql"), "-X", "-q", "-d", "lab_check", "-f", "-"], input=path.read_text(),
                   capture_output=True, text=True, timeout=300, env={"PGOPTIONS": "-c track_functions=all"})
        except subprocess.TimeoutExpired:
            return False, f"{test} ran for more than 300 s on a fresh cluster"
        with psycopg.connect(cl.conninfo("lab_check"), autocommit=True) as conn:
            found = _once_settled(conn, query)
    if found is not True:
        return False, f"{test} passes, but it does not test that: {query} gave {found}"
    return True, f"{test} passes and tests it ({query})"


def _once_settled(conn, query, timeout=10.0):
    """QUERY's value once the test's sessions have left (their statistics are reported as they exit), asked
    again for a few seconds while it is not true (13 and 14's statistics collector takes its time)."""
    deadline = time.monotonic() + timeout
    while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchone()[0]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    settle = time.monotonic() + 3.0
    while True:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        value = conn.execute(query).fetchone()[0]
        if value is True or time.monotonic() > settle:
            return value
        time.sleep(0.2)


@evidence
def hook_chained(ctx, name, counter):
    """On a fresh cluster preloading pg_stat_statements, then NAME (so that NAME's hooks run first and must call
    pg_stat_statements'), NAME's COUNTER() counts three queries and pg_stat_statements counts them too."""
    import psycopg

    from ..cluster import Cluster

    _extension(name)
    probe = "SELECT 1 AS pglab_chain_probe"
    conf = {"shared_preload_libraries": f"pg_stat_statements,{name}"}
    with Cluster.throwaway(ctx.settings, ctx.build, template=True, conf=conf) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            try:
                conn.execute(f'CREATE EXTENSION pg_stat_statements; CREATE EXTENSION "{name}"')
                before = conn.execute(f"SELECT {counter}()").fetchone()[0]
                for _ in range(3):
                    conn.execute(probe)
                counted = conn.execute(f"SELECT {counter}()").fetchone()[0] - before
                calls = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                                     "WHERE query LIKE '%pglab_chain_probe%'").fetchone()[0]
            except psycopg.Error as exc:
                return False, str(exc).strip().splitlines()[0]
    if counted < 3:
        return False, f"{counter}() counted {counted} of 3 queries with {name} preloaded: is its hook installed " \
                      f"in _PG_init?"
    if calls < 3:
        return False, f"with {name} preloaded after pg_stat_statements, pg_stat_statements counted {calls} of 3 " \
                      f"queries: {name}'s hook does not call the hook it found installed"
    return True, f"{counter}() counted {counted}, pg_stat_statements {calls}: both hooks ran"


def _libraries(setting):
    """The library names a shared_preload_libraries value lists ('a, "b"', '$libdir/c.so' → a, b, c)."""
    return [Path(part.strip().strip('"')).name.removesuffix(".so") for part in setting.split(",") if part.strip()]


def _worker(conn, name):
    """(the preloaded worker's backend_start, the database it runs in), or a PglabError saying what is missing."""
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]
    if name not in _libraries(preload):
        raise PglabError(f"shared_preload_libraries is {preload!r}: {name} is not in it")
    row = conn.execute("SELECT min(backend_start), current_setting(%s, true) FROM pg_stat_activity "
                       "WHERE backend_type = %s AND datname = current_setting(%s, true)",
                       (f"{name}.database", name, f"{name}.database")).fetchone()
    if row[0] is None:
        raise PglabError(f"{name} is preloaded but no {name} process runs: the server log says why "
                         f"(`invoke pg-status` shows where it is)")
    return row[0], row[1]


@evidence
def worker_beats(ctx, name, table, rows):
    """The worker NAME, preloaded (shared_preload_libraries), runs in the learner's cluster and has written at
    least ROWS rows into TABLE, in the database it connects to (NAME.database)."""
    import psycopg

    try:
        with ctx.cluster.connect() as conn:
            _started, database = _worker(conn, name)
        with ctx.cluster.connect(database) as conn:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                return False, f"{name} runs, but there is no table {table} in {database}: it runs the starter's " \
                              f"code, or does not make the table"
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0]
    if count < int(rows):
        return False, f"{table} has {count} row(s) in {database}, not {rows} yet"
    return True, f"{name} runs; {table} has {count} rows in {database}"


@evidence
def worker_reloaded(ctx, name, table):
    """The worker NAME took a new NAME.naptime from a reload, without a restart: the setting differs from its
    default, the worker started before the last reload (pg_conf_load_time), and the rows it wrote into TABLE
    since then are about one naptime apart."""
    import psycopg

    try:
        with ctx.cluster.connect() as conn:
            started, database = _worker(conn, name)
            row = conn.execute("SELECT setting::float8 / 1000, boot_val::float8 / 1000, pg_conf_load_time() "
                               "FROM pg_settings WHERE name = %s", (f"{name}.naptime",)).fetchone()
        if row is None:
            return False, f"no setting {name}.naptime"
        naptime, default, reloaded = row
        if naptime == default:
            return False, f"{name}.naptime is its default, {default:g} s: set another (ALTER SYSTEM), then reload"
        if started > reloaded:
            return False, "the worker started after the last reload: make the new naptime reach the running " \
                          "worker with a reload (SELECT pg_reload_conf()), not a restart"
        with ctx.cluster.connect(database) as conn:
            gaps = [r[0] for r in conn.execute(
                f"SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at))::float8 FROM {table} "
                f"WHERE at > %s ORDER BY at", (reloaded,)).fetchall()[1:]]
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0]
    if len(gaps) < 3:
        return False, f"{len(gaps) + 1 if gaps else 'no'} row(s) in {table} since the reload: wait a few rounds"
    gap = sorted(gaps)[len(gaps) // 2]
    if not 0.8 * naptime <= gap <= 1.5 * naptime + 0.05:
        return False, f"the rows since the reload come every {gap:.2f} s, not every {naptime:g} s"
    return True, f"{name}.naptime {naptime:g} s (default {default:g}); since the reload a row every {gap:.2f} s"


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


def _zip_contents(path):
    """{file: CRC} of a zip: the same distribution whether it was bundled from a commit or a folder."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return {i.filename: i.CRC for i in z.infolist() if not i.filename.endswith("/")}


def _newest_zip(ctx, name):
    zips = sorted(ctx.settings.layout.dist.glob(f"{name}-*.zip"))
    if not zips:
        raise PglabError(f"no {name}-VERSION.zip in {ctx.settings.layout.dist}: `invoke ext-bundle {name}` makes it")
    return max(zips, key=lambda p: p.stat().st_mtime)


@evidence
def pgxn_documented(ctx, name):
    """The newest distribution of NAME has a README in its top folder that names every function its install
    scripts create."""
    import zipfile

    newest = _newest_zip(ctx, name)
    with zipfile.ZipFile(newest) as z:
        names = z.namelist()
        readmes = [n for n in names if n.count("/") == 1 and n.split("/")[1].upper().startswith("README")]
        if not readmes:
            return False, f"{newest.name} has no README in its top folder"
        readme = z.read(readmes[0]).decode(errors="replace")
        scripts = [z.read(n).decode(errors="replace") for n in names if re.search(rf"/{re.escape(name)}--[^/]*\.sql$", n)]
    functions = sorted({m.group(1) for text in scripts
                        for m in re.finditer(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:\w+\.)?(\w+)", text, re.I)})
    missing = [f for f in functions if f not in readme]
    if missing:
        return False, f"{readmes[0]} in {newest.name} does not document {', '.join(missing)}"
    return True, f"{readmes[0]} documents {', '.join(functions)}"


@evidence
def pgxn_checked(ctx, name):
    """The newest distribution of NAME went through `invoke ext-install ZIP --check` on the build: pgxn install,
    CREATE EXTENSION at its version on the learner's cluster, and its tests passed (pgxn check, after the zip)."""
    import psycopg

    newest = _newest_zip(ctx, name)
    work = ctx.settings.layout.pgxn_work(ctx.build.id)
    installed = work / "zips" / newest.name           # the copy ext-install gave pgxnclient
    log = work / "check.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    passed = re.search(r"All (\d+) tests passed", text)
    if not (installed.is_file() and _zip_contents(installed) == _zip_contents(newest)) or not text \
            or log.stat().st_mtime < installed.stat().st_mtime or name not in text:
        return False, f"no pgxn check of {newest.name} as it is now on {ctx.build.id} yet: " \
                      f"`invoke ext-install {newest} --check`"
    if not passed:
        return False, f"the last pgxn check on {ctx.build.id} did not pass: {log}"
    try:
        with ctx.cluster.connect() as conn:
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = %s", (name,)).fetchone()
    except psycopg.Error as exc:
        return False, str(exc).strip().splitlines()[0]
    if row is None:
        return False, f"{name} is not created on your cluster: ext-install loads it (CREATE EXTENSION)"
    return True, f"{newest.name}: installed, {name} {row[0]} created, {passed.group(1)} test(s) passed"


@evidence
def patched_build_checked(ctx):
    """A build made with --patch whose PostgreSQL regression suite (pg-check) passed."""
    from ..pg.builds import list_builds

    patched = [b for b in list_builds(ctx.settings) if b.patches]
    if not patched:
        return False, "no build made with --patch yet: `invoke build-pg --patch FILE` makes one"
    from ..pgcheck import schedule_tests

    partial = []
    for b in patched:
        out = ctx.settings.layout.check(b.id) / "pg_regress.out"
        passed = re.search(r"All (\d+) tests passed", out.read_text() if out.is_file() else "")
        if not passed:
            continue
        schedule = b.source_dir / "src" / "test" / "regress" / "parallel_schedule"
        whole = len(schedule_tests(schedule)) if schedule.is_file() else 0
        if int(passed.group(1)) >= whole:
            return True, f"{b.id} ({len(b.patches)} patch(es)): pg-check passed"
        partial.append(f"{b.id} passed {passed.group(1)} of the schedule's {whole} tests (--test runs a part)")
    if partial:
        return False, "; ".join(partial) + f": run them all: `invoke pg-check --version {patched[0].id}`"
    return False, f"pg-check has not passed on {', '.join(b.id for b in patched)}: `invoke pg-check --version " \
                  f"{patched[0].id}`"


def _patched_files(patch):
    """The files a unified diff changes, as paths in the tree (its +++ lines, a/ and b/ taken off)."""
    files = []
    for line in Path(patch).read_text(errors="replace").splitlines():
        if line.startswith("+++ ") and not line.startswith("+++ /dev/null"):
            name = line[4:].split("\t", 1)[0].strip()
            files.append(name.split("/", 1)[1] if name.startswith(("a/", "b/")) else name)
    return files


@evidence
def patch_updates_tests(ctx):
    """A build made with --patch whose patch changes PostgreSQL (outside src/test) and the regression tests'
    expected output with it, as a patch sent for review does."""
    from ..pg.builds import list_builds

    patched = [b for b in list_builds(ctx.settings) if b.patches]
    if not patched:
        return False, "no build made with --patch yet: `invoke build-pg --patch FILE` makes one"
    told = []
    for b in sorted(patched, key=lambda b: b.built_at, reverse=True):
        for p in b.patches:
            if not p.file.is_file():
                told.append(f"{p.file} (of {b.id}) is gone")
                continue
            files = _patched_files(p.file)
            code = [f for f in files if not f.startswith("src/test/")]
            expected = [f for f in files if f.startswith("src/test/regress/expected/")]
            if code and expected:
                return True, f"{p.file.name} changes {', '.join(code)} and {len(expected)} expected " \
                             f"output(s): {', '.join(Path(f).name for f in expected)}"
            told.append(f"{p.file.name} changes {', '.join(files) or 'nothing'}"
                        + ("" if code else " (no code outside src/test)")
                        + ("" if expected else " and no expected output of src/test/regress"))
    return False, "; ".join(told)


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

    with Cluster.throwaway(ctx.settings, ctx.build, template=True) as cl:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            try:
                got = str(conn.execute(query).fetchone()[0])
            except psycopg.Error as exc:
                return False, f"{query}: {str(exc).strip().splitlines()[0]}"
    if not got.startswith(expected):
        return False, f"{query} on {ctx.build.id} gave {got!r}"
    return True, f"{ctx.build.id}: {got}"

"""Checking the plan's items that leave evidence on the learner's cluster (weeks 1-9: SQL, tuning).

An item's check is SQL returning one boolean, as a lab's is, but run in every database of
the learner's cluster that takes connections: the learner builds the book's schema in a
database of their own (or in postgres), and pglab cannot know which.  It passes in the
first database where it is true, and says which.  Or it is named evidence: one of
checks.py's (server_log ...) or one below (restored_copy: two databases, one pg_restore'd
from the other).  A check reads in a read-only transaction: it never changes the learner's data,
and leaves no trace where another check looks (QUIET).
"""

import shlex

from ..errors import PglabError
from . import checks

EVIDENCE = {}

# A check's own queries are not the learner's work: they are kept out of the server log
# (auto_explain, statement logging) and out of pg_stat_statements, so that they never
# pass a check that looks there.
QUIET = ("-c auto_explain.log_min_duration=-1 -c pg_stat_statements.track=none -c log_statement=none "
         "-c log_min_duration_statement=-1")


def evidence(fn):
    EVIDENCE[fn.__name__] = fn
    return fn


class Context(checks.Context):
    """checks.Context with the cluster's databases, each connected once for all the checks of a run."""

    def __init__(self, settings, pg=None, name="main"):
        super().__init__(settings, pg=pg, name=name)
        self._conns = {}
        self._databases = None

    def databases(self):
        """The databases that take connections (not the templates), postgres first."""
        if self._databases is None:
            rows = self.connect("postgres").execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                "ORDER BY datname <> 'postgres', datname").fetchall()
            self._databases = [r[0] for r in rows]
        return self._databases

    def connect(self, dbname):
        if dbname not in self._conns:
            self._conns[dbname] = self.cluster.connect(dbname, options=QUIET)
        return self._conns[dbname]

    def query(self, dbname, sql):
        """SQL's first row in DBNAME, read in a read-only transaction."""
        conn = self.connect(dbname)
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            return conn.execute(sql).fetchone()

    def close(self):
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


def run(check, ctx):
    """checks.Result of one of an item's checks; an error on the way is a failed check saying why."""
    import psycopg

    try:
        if check.sql is not None:
            return checks.Result(check, *_everywhere(check.sql, ctx))
        name, *args = shlex.split(check.evidence)
        fn = EVIDENCE.get(name) or checks.EVIDENCE.get(name)
        if fn is None:
            return checks.Result(check, False, f"unknown evidence {name!r} (a bug in labs/plan/links.yaml)")
        return checks.Result(check, *fn(ctx, *args))
    except PglabError as exc:
        return checks.Result(check, False, str(exc))
    except psycopg.Error as exc:      # the cluster's databases could not be listed or read
        return checks.Result(check, False, (str(exc).strip() or type(exc).__name__).splitlines()[0])


def _everywhere(sql, ctx):
    """(ok, detail): SQL is true in one of the cluster's databases (the first, named), else why not."""
    import psycopg

    errors = []
    for db in ctx.databases():
        try:
            row = ctx.query(db, sql)
        except psycopg.Error as exc:
            errors.append(f"in {db}: {str(exc).strip().splitlines()[0]}")
            continue
        if row is not None and row[0] is True:
            return True, f"yes, in database {db}"
    if errors and len(errors) == len(ctx.databases()):
        return False, errors[0]
    dbs = ctx.databases()
    return False, f"not found in {dbs[0]}" if len(dbs) == 1 else f"not found in any of {', '.join(dbs)}"


# ---- evidence -----------------------------------------------------------------------------

_USER_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                              AND d.deptype = 'e')
 ORDER BY 1, 2"""


def _tables(ctx, db):
    conn = ctx.connect(db)
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        return [tuple(r) for r in conn.execute(_USER_TABLES).fetchall()]


def _rows(ctx, db, tables):
    """{table: its number of rows} in DB."""
    from psycopg import sql

    conn = ctx.connect(db)
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        return {t: conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(t[0]),
                                                                             sql.Identifier(t[1]))).fetchone()[0]
                for t in tables}


@evidence
def restored_copy(ctx):
    """Two databases of the cluster holding the same tables of the learner's (by schema and name, one at
    least) with the same rows in each: what `pg_restore -d NEW` leaves of a `pg_dump` of the other."""
    found = {db: _tables(ctx, db) for db in ctx.databases()}
    dbs = [db for db in found if found[db]]
    near = None
    for i, first in enumerate(dbs):
        for second in dbs[i + 1:]:
            if found[first] != found[second]:
                continue
            a, b = _rows(ctx, first, found[first]), _rows(ctx, second, found[second])
            if a == b and sum(a.values()):
                return True, f"{second} holds {first}'s {len(a)} table(s), {sum(a.values())} row(s)"
            near = near or f"{first} and {second} have the same tables but not the same rows"
    if near:
        return False, near
    return False, f"no two databases hold the same tables ({', '.join(f'{db}: {len(t)}' for db, t in found.items())})"

"""ext-test's upgrade suite: does updating an extension give what installing it fresh gives?

On the test server, after make install, the server says which versions there are
(pg_available_extension_versions), which is the default, and which update scripts
link them (pg_extension_update_paths: its one-step paths are the scripts).  Each
version with an install script of its own (NAME--V.sql in the server's
share/extension) is a starting point; every path of update scripts from it to the
default is taken in a scratch database (CREATE EXTENSION NAME VERSION 'V' CASCADE,
then ALTER EXTENSION NAME UPDATE TO each step), and the catalog is described and
compared with a scratch database where CREATE EXTENSION NAME CASCADE installed the
default.  A starting point with no path to the default is a failure of its own.

The description (describe) covers the extension's members (pg_depend, deptype 'e'),
named as pg_describe_object names them with the extension's schema on the
search_path ("function pgl_add(integer,integer)"), and for each:

    functions   kind, arguments (names, defaults), result, language, body (and a
                SQL-standard body), library, volatility, strictness, parallel
                safety, security definer, leakproof, cost, rows, config, support;
                an aggregate's functions, state type, initial value, sort operator
    types       kind, length, by value, alignment, storage, category, preferred,
                delimiter, element, I/O and typmod functions, analyze, subscript,
                a domain's base type, not null, default and constraints, an enum's
                labels in order, a composite's attributes, a range's subtype
    operators   operands, result, function, commutator, negator, estimators,
                merges, hashes
    operator classes and families: method, input and storage types, default,
                family; a family's members (each operator and support function)
    casts       function, context, method
    tables, views, sequences and the like: kind, persistence, options, row
                security, each column (type, not null, default, collation), the
                columns' order, constraints, indexes, triggers, policies, a view's
                definition, a sequence's parameters
    all         grants (ACLs, the default ones spelled out, column grants too) and
                comments (column comments too)

and the extension itself: its version, schema, relocatability, configuration tables
and their conditions, comment.
"""

import difflib
import os
import time

SCRATCH = "pglab_upgrade"
MAX_PATHS = 50          # paths of update scripts checked per extension (a graph can have many)
SETS = ("grants",)      # properties holding a set of items, compared item by item

_KIND = {"r": "table", "v": "view", "m": "materialized view", "S": "sequence", "f": "foreign table",
         "p": "partitioned table", "c": "composite type", "i": "index", "I": "partitioned index"}


# ---- the catalog, described -----------------------------------------------------------------

_MEMBERS = """
CREATE TEMP VIEW pglab_members AS
SELECT d.classid, d.objid, d.objsubid, pg_describe_object(d.classid, d.objid, d.objsubid) AS obj
  FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = {name} AND d.deptype = 'e'
"""

# (object, property, value) rows; '' as the property: the object is there
_GRANTS = """(SELECT string_agg(a.privilege_type || ' to ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                ELSE pg_get_userbyid(a.grantee) END || CASE WHEN a.is_grantable
                                THEN ' WITH GRANT OPTION' ELSE '' END, E'\\n' ORDER BY 1)
               FROM aclexplode(coalesce({acl}, acldefault({kind}, {owner}))) a)"""

_DESCRIBE = [
    # every member, and its comment
    """SELECT m.obj, '', '' FROM pglab_members m
       UNION ALL
       SELECT m.obj, 'comment', d.description FROM pglab_members m
         JOIN pg_description d ON d.classoid = m.classid AND d.objoid = m.objid AND d.objsubid = m.objsubid""",
    # the extension itself
    """SELECT 'extension ' || e.extname, prop, val FROM pg_extension e CROSS JOIN LATERAL (VALUES
         ('version', e.extversion),
         ('schema', e.extnamespace::regnamespace::text),
         ('relocatable', e.extrelocatable::text),
         ('configuration tables', (SELECT string_agg(c::regclass::text, ', ') FROM unnest(e.extconfig) c)),
         ('configuration conditions', array_to_string(e.extcondition, ', ')),
         ('comment', obj_description(e.oid, 'pg_extension'))) v(prop, val)
       WHERE e.extname = {name}""",
    # functions, procedures, aggregates
    """SELECT m.obj, prop, val FROM pglab_members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass
         AND p.oid = m.objid CROSS JOIN LATERAL (VALUES
         ('kind', CASE p.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
                  ELSE 'window function' END),
         ('arguments', pg_get_function_arguments(p.oid)),
         ('result', pg_get_function_result(p.oid)),
         ('language', (SELECT lanname::text FROM pg_language WHERE oid = p.prolang)),
         ('body', p.prosrc),
         ('library', p.probin),
         ('volatility', CASE p.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END),
         ('strictness', CASE WHEN p.proisstrict THEN 'STRICT' ELSE 'CALLED ON NULL INPUT' END),
         ('parallel safety', CASE p.proparallel WHEN 's' THEN 'PARALLEL SAFE' WHEN 'r' THEN 'PARALLEL RESTRICTED'
                             ELSE 'PARALLEL UNSAFE' END),
         ('security', CASE WHEN p.prosecdef THEN 'SECURITY DEFINER' ELSE 'SECURITY INVOKER' END),
         ('leakproof', CASE WHEN p.proleakproof THEN 'LEAKPROOF' ELSE 'NOT LEAKPROOF' END),
         ('cost', p.procost::text),
         ('rows', p.prorows::text),
         ('config', array_to_string(p.proconfig, ', ')),
         ('support function', nullif(p.prosupport, 0)::regprocedure::text),
         ('grants', """ + _GRANTS.format(acl="p.proacl", kind="'f'", owner="p.proowner") + """)) v(prop, val)""",
    """SELECT m.obj, prop, val FROM pglab_members m JOIN pg_aggregate a ON m.classid = 'pg_proc'::regclass
         AND a.aggfnoid = m.objid CROSS JOIN LATERAL (VALUES
         ('aggregate kind', a.aggkind::text),
         ('state function', a.aggtransfn::regprocedure::text),
         ('final function', nullif(a.aggfinalfn, 0)::regprocedure::text),
         ('combine function', nullif(a.aggcombinefn, 0)::regprocedure::text),
         ('serial function', nullif(a.aggserialfn, 0)::regprocedure::text),
         ('deserial function', nullif(a.aggdeserialfn, 0)::regprocedure::text),
         ('moving state function', nullif(a.aggmtransfn, 0)::regprocedure::text),
         ('final extra', a.aggfinalextra::text),
         ('sort operator', nullif(a.aggsortop, 0)::regoperator::text),
         ('state type', a.aggtranstype::regtype::text),
         ('state size', a.aggtransspace::text),
         ('initial value', a.agginitval),
         ('moving initial value', a.aggminitval)) v(prop, val)""",
    # types
    """SELECT m.obj, prop, val FROM pglab_members m JOIN pg_type t ON m.classid = 'pg_type'::regclass
         AND t.oid = m.objid CROSS JOIN LATERAL (VALUES
         ('type kind', CASE t.typtype WHEN 'b' THEN 'base' WHEN 'c' THEN 'composite' WHEN 'd' THEN 'domain'
                       WHEN 'e' THEN 'enum' WHEN 'p' THEN 'pseudo' WHEN 'r' THEN 'range' ELSE t.typtype::text END),
         ('length', t.typlen::text),
         ('by value', t.typbyval::text),
         ('alignment', t.typalign::text),
         ('storage', t.typstorage::text),
         ('category', t.typcategory::text),
         ('preferred', t.typispreferred::text),
         ('delimiter', t.typdelim::text),
         ('element', nullif(t.typelem, 0)::regtype::text),
         ('input function', t.typinput::regprocedure::text),
         ('output function', t.typoutput::regprocedure::text),
         ('receive function', nullif(t.typreceive, 0)::regprocedure::text),
         ('send function', nullif(t.typsend, 0)::regprocedure::text),
         ('typmod input function', nullif(t.typmodin, 0)::regprocedure::text),
         ('typmod output function', nullif(t.typmodout, 0)::regprocedure::text),
         ('analyze function', nullif(t.typanalyze, 0)::regprocedure::text),
         {subscript}
         ('collatable', (t.typcollation <> 0)::text),
         ('base type', nullif(t.typbasetype, 0)::regtype::text),
         ('not null', t.typnotnull::text),
         ('default', t.typdefault),
         ('constraints', (SELECT string_agg(c.conname || ': ' || pg_get_constraintdef(c.oid), E'\\n'
                                            ORDER BY c.conname) FROM pg_constraint c WHERE c.contypid = t.oid)),
         ('labels', (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                       FROM pg_enum e WHERE e.enumtypid = t.oid)),
         ('attributes', (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                           ORDER BY a.attnum)
                           FROM pg_attribute a WHERE a.attrelid = t.typrelid AND t.typrelid <> 0
                            AND a.attnum > 0 AND NOT a.attisdropped)),
         ('range subtype', (SELECT r.rngsubtype::regtype::text || coalesce(', canonical '
                                   || nullif(r.rngcanonical, 0)::regproc::text, '') || coalesce(', subtype_diff '
                                   || nullif(r.rngsubdiff, 0)::regproc::text, '')
                              FROM pg_range r WHERE r.rngtypid = t.oid)),
         ('grants', """ + _GRANTS.format(acl="t.typacl", kind="'T'", owner="t.typowner") + """)) v(prop, val)""",
    # operators
    """SELECT m.obj, prop, val FROM pglab_members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass
         AND o.oid = m.objid CROSS JOIN LATERAL (VALUES
         ('result', o.oprresult::regtype::text),
         ('function', o.oprcode::regprocedure::text),
         ('commutator', nullif(o.oprcom, 0)::regoperator::text),
         ('negator', nullif(o.oprnegate, 0)::regoperator::text),
         ('restriction estimator', nullif(o.oprrest, 0)::regproc::text),
         ('join estimator', nullif(o.oprjoin, 0)::regproc::text),
         ('merges', o.oprcanmerge::text),
         ('hashes', o.oprcanhash::text)) v(prop, val)""",
    # operator classes and families, a family with its members
    """SELECT m.obj, prop, val FROM pglab_members m JOIN pg_opclass c ON m.classid = 'pg_opclass'::regclass
         AND c.oid = m.objid CROSS JOIN LATERAL (VALUES
         ('input type', c.opcintype::regtype::text),
         ('storage type', nullif(c.opckeytype, 0)::regtype::text),
         ('default', c.opcdefault::text),
         ('family', (SELECT pg_describe_object('pg_opfamily'::regclass, c.opcfamily, 0)))) v(prop, val)""",
    """SELECT m.obj, 'operator ' || o.amopstrategy || ' (' || o.amoplefttype::regtype || ', '
              || o.amoprighttype::regtype || ')',
              o.amopopr::regoperator::text || CASE WHEN o.amoppurpose = 'o' THEN ' FOR ORDER BY '
              || (SELECT pg_describe_object('pg_opfamily'::regclass, o.amopsortfamily, 0)) ELSE '' END
         FROM pglab_members m JOIN pg_amop o ON m.classid = 'pg_opfamily'::regclass AND o.amopfamily = m.objid
       UNION ALL
       SELECT m.obj, 'function ' || p.amprocnum || ' (' || p.amproclefttype::regtype || ', '
              || p.amprocrighttype::regtype || ')', p.amproc::regprocedure::text
         FROM pglab_members m JOIN pg_amproc p ON m.classid = 'pg_opfamily'::regclass AND p.amprocfamily = m.objid""",
    # casts
    """SELECT m.obj, prop, val FROM pglab_members m JOIN pg_cast c ON m.classid = 'pg_cast'::regclass
         AND c.oid = m.objid CROSS JOIN LATERAL (VALUES
         ('function', nullif(c.castfunc, 0)::regprocedure::text),
         ('context', CASE c.castcontext WHEN 'i' THEN 'implicit' WHEN 'a' THEN 'assignment' ELSE 'explicit' END),
         ('method', CASE c.castmethod WHEN 'f' THEN 'function' WHEN 'b' THEN 'binary coercible'
                    ELSE 'inout' END)) v(prop, val)""",
    # tables, views, sequences: the relation, then its columns, constraints, indexes, triggers, policies
    """SELECT m.obj, prop, val FROM pglab_members m JOIN pg_class r ON m.classid = 'pg_class'::regclass
         AND r.oid = m.objid CROSS JOIN LATERAL (VALUES
         ('persistence', CASE r.relpersistence WHEN 'u' THEN 'unlogged' WHEN 't' THEN 'temporary'
                         ELSE 'permanent' END),
         ('options', array_to_string(r.reloptions, ', ')),
         ('row security', CASE WHEN r.relrowsecurity THEN 'enabled' END),
         ('columns', (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a
                       WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped)),
         ('definition', CASE WHEN r.relkind IN ('v', 'm') THEN pg_get_viewdef(r.oid) END),
         ('sequence', (SELECT format('AS %s INCREMENT %s MINVALUE %s MAXVALUE %s START %s CACHE %s%s',
                                     s.seqtypid::regtype, s.seqincrement, s.seqmin, s.seqmax, s.seqstart,
                                     s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END)
                         FROM pg_sequence s WHERE s.seqrelid = r.oid)),
         ('grants', """ + _GRANTS.format(acl="r.relacl", kind="CASE r.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\"",
                                         owner="r.relowner") + """)) v(prop, val)
       UNION ALL
       SELECT m.obj, 'column ' || quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)
              || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
              || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
              || coalesce(' COLLATE ' || nullif(a.attcollation, 0)::regcollation::text, '')
         FROM pglab_members m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped
       UNION ALL
       SELECT m.obj, 'grants on column ' || quote_ident(a.attname), (SELECT string_agg(x.privilege_type || ' to '
              || CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END, E'\\n' ORDER BY 1)
              FROM aclexplode(a.attacl) x)
         FROM pglab_members m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
        WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
       UNION ALL
       SELECT m.obj, 'comment on column ' || quote_ident(a.attname), d.description
         FROM pglab_members m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
         JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = a.attrelid
          AND d.objsubid = a.attnum
       UNION ALL
       SELECT m.obj, 'constraint ' || quote_ident(c.conname), pg_get_constraintdef(c.oid)
         FROM pglab_members m JOIN pg_constraint c ON m.classid = 'pg_class'::regclass AND c.conrelid = m.objid
       UNION ALL
       SELECT m.obj, 'index ' || quote_ident(i.relname), pg_get_indexdef(i.oid)
         FROM pglab_members m JOIN pg_index x ON m.classid = 'pg_class'::regclass AND x.indrelid = m.objid
         JOIN pg_class i ON i.oid = x.indexrelid
       UNION ALL
       SELECT m.obj, 'trigger ' || quote_ident(t.tgname), pg_get_triggerdef(t.oid)
         FROM pglab_members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
        WHERE NOT t.tgisinternal
       UNION ALL
       SELECT m.obj, 'policy ' || quote_ident(p.polname), p.polcmd::text || ' ' || coalesce(pg_get_expr(p.polqual,
              p.polrelid), '') || ' ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
         FROM pglab_members m JOIN pg_policy p ON m.classid = 'pg_class'::regclass AND p.polrelid = m.objid""",
    # schemas, languages, foreign data wrappers and servers: their grants
    """SELECT m.obj, 'grants', """ + _GRANTS.format(acl="n.nspacl", kind="'n'", owner="n.nspowner") + """
         FROM pglab_members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
       UNION ALL
       SELECT m.obj, 'grants', """ + _GRANTS.format(acl="l.lanacl", kind="'l'", owner="l.lanowner") + """
         FROM pglab_members m JOIN pg_language l ON m.classid = 'pg_language'::regclass AND l.oid = m.objid
       UNION ALL
       SELECT m.obj, 'grants', """ + _GRANTS.format(acl="w.fdwacl", kind="'F'", owner="w.fdwowner") + """
         FROM pglab_members m JOIN pg_foreign_data_wrapper w ON m.classid = 'pg_foreign_data_wrapper'::regclass
          AND w.oid = m.objid
       UNION ALL
       SELECT m.obj, 'grants', """ + _GRANTS.format(acl="s.srvacl", kind="'S'", owner="s.srvowner") + """
         FROM pglab_members m JOIN pg_foreign_server s ON m.classid = 'pg_foreign_server'::regclass
          AND s.oid = m.objid""",
]


def describe(conn, name):
    """{object: {property: value}} for extension NAME as installed in CONN's database (the
    properties listed in the module's docstring; '' holds nothing, it says the object is there)."""
    from psycopg import sql

    version = conn.info.server_version
    literal = sql.Literal(name).as_string(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                    " WHERE e.extname = %s", (name,))
        schema = cur.fetchone()[0]
        cur.execute(f"SET search_path = {schema}, pg_catalog")   # names as the extension's own code reads them
        cur.execute(_MEMBERS.format(name=literal))
        found = {}
        for query in _DESCRIBE:
            sub = "('subscript function', nullif(t.typsubscript, 0)::regprocedure::text)," if version >= 140000 else ""
            query = query.replace("{name}", literal).replace("{subscript}", sub)
            if "pg_proc p" in query and version >= 140000:
                query = query.replace("('body', p.prosrc),", "('body', p.prosrc),\n ('SQL body', "
                                      "CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) END),")
            cur.execute(query)
            for obj, prop, val in cur.fetchall():
                props = found.setdefault(obj, {})
                if prop:
                    props[prop] = val
        cur.execute("DROP VIEW pglab_members; RESET search_path")
    return {obj: {p: v for p, v in props.items() if v not in (None, "")} for obj, props in found.items()}


# ---- the comparison ---------------------------------------------------------------------------

def compare(updated, fresh, default):
    """The differences between UPDATED and FRESH (describe's), one line per object and property,
    as a user reads them (a long value's difference follows as a unified diff, indented)."""
    lines = []
    for obj in sorted(set(updated) | set(fresh)):
        if obj not in updated:
            lines.append(f"{obj}: missing after update (a fresh {default} has it)")
            continue
        if obj not in fresh:
            lines.append(f"{obj}: a member after update, not of a fresh {default}")
            continue
        after, before = updated[obj], fresh[obj]
        for prop in sorted(set(after) | set(before), key=_property_order):
            a, b = after.get(prop), before.get(prop)
            if a == b:
                continue
            if prop == "columns" and set(a.split(", ")) != set(b.split(", ")):
                continue        # a column missing or added: its own line says so
            if prop in SETS or prop.startswith("grants on column "):
                have, want = set((a or "").splitlines()), set((b or "").splitlines())
                lines += [f"{obj}: {prop}: {i} when installed fresh, not after update" for i in sorted(want - have)]
                lines += [f"{obj}: {prop}: {i} after update, not when installed fresh" for i in sorted(have - want)]
            elif a is None:
                lines.append(f"{obj}: {prop} missing after update, {_short(b)} when installed fresh")
            elif b is None:
                lines.append(f"{obj}: {prop} {_short(a)} after update, none when installed fresh")
            elif "\n" in a or "\n" in b or len(a) + len(b) > 120:
                lines.append(f"{obj}: {prop} differs (--- after update, +++ when installed fresh):")
                lines += ["    " + l.rstrip("\n") for l in difflib.unified_diff(
                    a.splitlines(), b.splitlines(), "after update", "installed fresh", lineterm="", n=1)]
            else:
                lines.append(f"{obj}: {prop} {a} after update, {b} when installed fresh")
    return lines


def _property_order(prop):
    return (prop.startswith(("column ", "grants on column ", "comment on column ")), prop)


def _short(value):
    return value if "\n" not in value and len(value) <= 80 else f"{value.splitlines()[0][:77]}..."


# ---- versions and paths ----------------------------------------------------------------------

def update_graph(conn, name):
    """(default version, [versions the server lists], {version with an install script},
    {(from, to): [path's versions]} of reachable pairs, {from: [to, ...]} of the update scripts)."""
    with conn.cursor() as cur:
        cur.execute("SELECT default_version FROM pg_available_extensions WHERE name = %s", (name,))
        row = cur.fetchone()
        if row is None:
            return None
        default = row[0]
        cur.execute("SELECT version FROM pg_available_extension_versions WHERE name = %s", (name,))
        versions = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT source, target, path FROM pg_extension_update_paths(%s)", (name,))
        paths = {(s, t): p.split("--") for s, t, p in cur.fetchall() if p is not None}
        cur.execute("SELECT f FROM pg_ls_dir((SELECT setting FROM pg_config WHERE name = 'SHAREDIR') "
                    "|| '/extension') f WHERE f LIKE %s", (name.replace("_", r"\_") + "--%.sql",))
        scripts = {f[len(name) + 2:-4] for (f,) in cur.fetchall()}
    installable = {v for v in versions if v in scripts}
    if not installable:         # scripts elsewhere (a control file's `directory`): every listed version
        installable = set(versions)
    steps = {}
    for (s, t), p in paths.items():
        if len(p) == 2:
            steps.setdefault(s, []).append(t)
    return default, versions, installable, paths, steps


def every_path(start, default, steps, limit=MAX_PATHS):
    """Every path of update scripts from START to DEFAULT that visits no version twice (at most LIMIT)."""
    found, stack = [], [[start]]
    while stack and len(found) < limit:
        path = stack.pop()
        if path[-1] == default:
            found.append(path)
            continue
        for nxt in sorted(steps.get(path[-1], []), reverse=True):
            if nxt not in path:
                stack.append(path + [nxt])
    return sorted(found, key=lambda p: (len(p), p))


def _sort_key(version):
    parts = version.replace("-", ".").split(".")
    return [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in parts]


# ---- the suite ---------------------------------------------------------------------------

class _Scratch:
    """A scratch database made from template1 on the test server, dropped when done."""

    count = 0

    def __init__(self, cluster, admin, options):
        _Scratch.count += 1
        self.name = f"{SCRATCH}_{os.getpid()}_{_Scratch.count}"
        self.cluster, self.admin, self.options = cluster, admin, options
        self.conn = None

    def __enter__(self):
        import psycopg

        for attempt in range(20):
            try:
                self.admin.execute(f"CREATE DATABASE {self.name} TEMPLATE template1")
                break
            except psycopg.errors.ObjectInUse:      # another suite's session on template1, for a moment
                if attempt == 19:
                    raise
                time.sleep(0.25)
        self.conn = self.cluster.connect(self.name, options=self.options)
        return self.conn

    def __exit__(self, *exc):
        if self.conn is not None:
            self.conn.close()
        self.admin.execute(f"DROP DATABASE IF EXISTS {self.name}")


def _ident(name):
    return '"' + name.replace('"', '""') + '"'


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def _error(exc):
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def check(cluster, name, idle_timeout):
    """Check extension NAME's update paths on CLUSTER: (status, detail, output lines, [(test, status)])."""
    import psycopg

    options = f"-c statement_timeout={int(idle_timeout * 1000)} -c client_min_messages=warning"
    with cluster.connect("postgres", options=options) as admin:
        graph = update_graph(admin, name)
        if graph is None:
            return "fail", f"{name}: not among the server's available extensions after make install", [], []
        default, versions, installable, paths, steps = graph
        starts = sorted((v for v in installable if v != default), key=_sort_key)
        if not starts:
            scripts = sum(len(to) for to in steps.values())
            if not scripts:
                return "skip", "no update scripts", [], []
            # pgvector's way: one install script, and update scripts from releases whose own scripts
            # it no longer ships; checking those paths needs that release installed first
            oldest = min(steps, key=_sort_key)
            return "skip", (f"only {default} can be installed: its {scripts} update script(s) start from "
                            f"versions with no install script here (the oldest {oldest})"), [], []
        lines, tests, notes = [], [], []
        with _Scratch(cluster, admin, options) as conn:
            try:
                conn.execute(f"CREATE EXTENSION {_ident(name)} CASCADE")
                fresh = describe(conn, name)
            except psycopg.Error as exc:
                return "fail", f"CREATE EXTENSION {name} failed: {_error(exc)}", [], []
        for start in starts:
            if (start, default) not in paths:
                line = f"{start}: no update path to {default} (the default version)"
                lines.append(line)
                notes.append(line)
                tests.append((f"{start} → {default}", "fail"))
                continue
            for path in every_path(start, default, steps):
                label = " → ".join(path)
                with _Scratch(cluster, admin, options) as conn:
                    try:
                        conn.execute(f"CREATE EXTENSION {_ident(name)} VERSION {_literal(start)} CASCADE")
                        for step in path[1:]:
                            conn.execute(f"ALTER EXTENSION {_ident(name)} UPDATE TO {_literal(step)}")
                        got = describe(conn, name)
                    except psycopg.Error as exc:
                        line = f"{label}: {_error(exc)}"
                        lines.append(line)
                        notes.append(line)
                        tests.append((label, "fail"))
                        continue
                diff = compare(got, fresh, default)
                if diff:
                    n = len(_top(diff))
                    said = f"{label}: {n} difference{'s' if n != 1 else ''} from a fresh {default}"
                    lines.append(said + ":")
                    lines += ["  " + l for l in diff]
                    notes.append(said)
                    tests.append((label, "fail"))
                else:
                    # with no install script of its own, a fresh default is built by an update path too
                    how = ("" if default in installable else
                           f" (which is itself made by updating: no {name}--{default}.sql)")
                    lines.append(f"{label}: same as a fresh {default}{how}")
                    tests.append((label, "pass"))
        if any(status == "fail" for _t, status in tests):
            return "fail", "; ".join(notes), lines, tests
        return "pass", "; ".join(lines), lines, tests


def _top(diff):
    return [l for l in diff if not l.startswith("    ")]


def run_upgrade(run):
    """The upgrade suite's SuiteResult for RUN's extension(s) (the Makefile's EXTENSION; none: a skip)."""
    import psycopg

    names = run.values.get("EXTENSION", "").split()
    start = time.monotonic()
    if not names:       # a PROGRAM, or MODULES without a control file: nothing CREATE EXTENSION installs
        return run.result("upgrade", "skip", time.monotonic() - start,
                          detail="no EXTENSION in the Makefile: nothing CREATE EXTENSION installs, nothing to update")
    statuses, details, output, tests = [], [], [], []
    for name in names:
        try:
            status, detail, lines, done = check(run.cluster, name, run.idle_timeout)
        except psycopg.Error as exc:
            status, detail, lines, done = "fail", f"the server failed: {_error(exc)}", [], []
        prefix = f"{name}: " if len(names) > 1 else ""
        statuses.append(status)
        details.append(prefix + detail)
        output += [prefix + l for l in lines]
        tests += [(prefix + t, s) for t, s in done]
    status = "fail" if "fail" in statuses else "pass" if "pass" in statuses else "skip"
    passed = sum(1 for _t, s in tests if s == "pass")
    return run.result("upgrade", status, time.monotonic() - start, detail="; ".join(details),
                      output="\n".join(output) + ("\n" if output else ""), tests=tests, passed=passed,
                      failed=len(tests) - passed)

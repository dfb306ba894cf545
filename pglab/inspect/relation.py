"""Find a relation's files on disk and read its blocks, read-only.

The server says where the relation lives (pg_relation_filepath) and what its
attributes are; CHECKPOINT first so what is on disk is what the buffers hold.
Nothing here takes a lock beyond the catalog reads of one short transaction, and
the files are opened O_RDONLY: inspect never writes to a data file.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import boundary
from ..errors import InspectError
from .values import Attr

READS = "heap tables and B-tree, GIN, BRIN and hash indexes"
INDEX_KINDS = ("btree", "gin", "brin", "hash")
FORKS = {"": 0, "_fsm": 1, "_vm": 2, "_init": 3}    # a fork's file suffix → its ForkNumber

_RELKINDS = {"r": "table", "i": "index", "S": "sequence", "t": "TOAST table", "v": "view", "m": "materialized view",
             "c": "composite type", "f": "foreign table", "p": "partitioned table", "I": "partitioned index"}

LOOKUP = """
SELECT c.oid::int8, n.nspname, c.relname, c.relkind::text, c.relpersistence::text, coalesce(am.amname, ''),
       pg_relation_filepath(c.oid), current_setting('data_checksums') = 'on', c.reltoastrelid::int8,
       coalesce(pg_relation_filepath(nullif(c.reltoastrelid, 0)), '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_am am ON am.oid = c.relam
 WHERE c.oid = to_regclass(%s)
"""

ATTRS = """
SELECT a.attnum, a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.attlen, a.attalign::text,
       a.attisdropped, CASE WHEN a.atthasmissing THEN array_to_string(a.attmissingval, '') END
  FROM pg_attribute a LEFT JOIN pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = %s AND a.attnum > 0 ORDER BY a.attnum
"""


# What a BRIN opclass stores per column, named by its opcinfo support function (the C of
# brin_minmax.c, brin_inclusion.c, brin_bloom.c, brin_minmax_multi.c): the column's key
# type (None) or a type by name.  Another opclass's values are not decoded.
BRIN_STORED = {
    "brin_minmax_opcinfo": (("min", None), ("max", None)),
    "brin_inclusion_opcinfo": (("union", None), ("unmergeable", "bool"), ("contains_empty", "bool")),
    "brin_bloom_opcinfo": (("summary", "pg_brin_bloom_summary"),),
    "brin_minmax_multi_opcinfo": (("summary", "pg_brin_minmax_multi_summary"),),
}

BRIN_OPCINFO = """
SELECT c.attnum::int, coalesce(p.amproc::regproc::text, '')
  FROM pg_index i
 CROSS JOIN LATERAL unnest(i.indclass::oid[]) WITH ORDINALITY AS c(opc, attnum)
  JOIN pg_opclass o ON o.oid = c.opc
  LEFT JOIN pg_amproc p ON p.amprocfamily = o.opcfamily AND p.amprocnum = 1
        AND p.amproclefttype = o.opcintype AND p.amprocrighttype = o.opcintype
 WHERE i.indexrelid = %s ORDER BY c.attnum
"""

TYPE_BY_NAME = """
SELECT t.typname, format_type(t.oid, NULL), t.typlen, t.typalign::text FROM pg_type t WHERE t.oid = to_regtype(%s)
"""


@dataclass
class Relation:
    """A heap table or an index (B-tree, GIN, BRIN, hash) of a running cluster, and its files."""

    oid: int
    schema: str
    name: str
    kind: str                 # "heap", or the index's access method: "btree", "gin", "brin", "hash"
    path: Path                # the main fork's first segment
    checksums: bool
    attrs: list = field(default_factory=list)
    blcksz: int = 8192
    relseg_size: int = 131072
    toast: str = ""
    datadir: Path = None      # where `path` lies: files are opened from here, never through a link
    brin_stored: list = field(default_factory=list)   # BRIN: [(column's Attr, [stored Attr] or None)]
    buffered: dict = None     # --watch: {(fork number, block): page} as shared buffers hold them, read before disk

    @property
    def qualified(self):
        return f"{self.schema}.{self.name}"

    def checksummed(self, blkno, fork=""):
        """Whether block BLKNO's checksum is to be checked: with data checksums on, a page read
        from disk; one read from shared buffers has its pd_checksum set only when written out."""
        return self.checksums and (FORKS[fork], blkno) not in (self.buffered or {})

    def open_segments(self, fork=""):
        """[(path, fd)] of the fork's segment files in order (path, path.1, ...), opened read-only
        inside the data directory (pglab.boundary.open_in_tree); close the fds."""
        rel = self.path.relative_to(self.datadir)
        out = []
        try:
            while True:
                name = f"{rel}{fork}" if not out else f"{rel}{fork}.{len(out)}"
                fd = boundary.open_in_tree(self.datadir, name, links=("pg_tblspc/*",))
                if fd is None:
                    return out
                out.append((self.datadir / name, fd))
        except boundary.BoundaryError as exc:
            for _path, fd in out:
                os.close(fd)
            raise InspectError(str(exc)) from None
        except PermissionError as exc:
            for _path, fd in out:
                os.close(fd)
            raise InspectError(f"cannot read {exc.filename or self.path}: permission denied (run inspect as "
                               f"root, or as the account the server runs as)") from None

    def _sizes(self, fork):
        opened = self.open_segments(fork)
        try:
            return [(path, os.fstat(fd).st_size) for path, fd in opened]
        finally:
            for _path, fd in opened:
                os.close(fd)

    def segments(self, fork=""):
        """The fork's segment files in order: path, path.1, path.2, ..."""
        return [path for path, _size in self._sizes(fork)]

    def nblocks(self, fork=""):
        sizes = self._sizes(fork)
        if not sizes:
            return 0
        size = (len(sizes) - 1) * self.relseg_size * self.blcksz + sizes[-1][1]
        return size // self.blcksz

    def short_file(self, fork=""):
        """A segment whose size is not a whole number of pages, or None."""
        return next((path for path, size in self._sizes(fork) if size % self.blcksz), None)


def lookup(conn, datadir, spec, *, blcksz, relseg_size, checkpoint=True):
    """The Relation SPEC names on CONN, after a CHECKPOINT; a clear error for anything else."""
    row = conn.execute(LOOKUP, (spec,)).fetchone()
    if row is None:
        raise InspectError(f"no relation {spec!r} in database {conn.info.dbname}: "
                           f"check the name (\\dt and \\di in `invoke psql`) or pass --db")
    oid, schema, name, relkind, persistence, amname, filepath, checksums, _toastoid, toastpath = row
    what = _RELKINDS.get(relkind, relkind)
    if persistence == "t":
        raise InspectError(f"{schema}.{name} is a temporary relation: its pages live in the creating "
                           f"session's local buffers, not on disk; inspect a permanent one")
    if persistence == "u":
        raise InspectError(f"{schema}.{name} is unlogged: its on-disk pages are not kept current by "
                           f"checkpoints alone; inspect a permanent (logged) relation")
    if relkind in ("r", "t", "m") and amname == "heap":
        kind = "heap"
    elif relkind == "i" and amname in INDEX_KINDS:
        kind = amname
    elif relkind in ("r", "t", "m"):
        raise InspectError(f"{schema}.{name} uses the {amname} table access method; inspect reads heap tables")
    elif relkind == "i":
        raise InspectError(f"{schema}.{name} is a {amname} index; inspect reads {READS}")
    else:
        raise InspectError(f"{schema}.{name} is a {what}; inspect reads {READS}")
    if not filepath:
        raise InspectError(f"{schema}.{name} has no storage")
    if checkpoint:
        conn.execute("CHECKPOINT")
    attrs = [Attr(num=r[0], name=r[1], typname=None if r[6] else r[2], type="dropped" if r[6] else r[3],
                  attlen=r[4], attalign=r[5], dropped=r[6], missing=r[7])
             for r in conn.execute(ATTRS, (oid,)).fetchall()]
    return Relation(oid=oid, schema=schema, name=name, kind=kind, path=Path(datadir) / filepath,
                    checksums=checksums, attrs=attrs, blcksz=blcksz, relseg_size=relseg_size,
                    toast=toastpath, datadir=Path(datadir),
                    brin_stored=_brin_stored(conn, oid, attrs) if kind == "brin" else [])


def _brin_stored(conn, oid, attrs):
    """[(column, [the Attrs its summary stores] or None)], in the order a BRIN tuple stores them."""
    opcinfo = dict(conn.execute(BRIN_OPCINFO, (oid,)).fetchall())
    out = []
    for a in attrs:
        layout = BRIN_STORED.get(opcinfo.get(a.num, ""))
        if layout is None:
            out.append((a, None))
            continue
        stored = []
        for what, typ in layout:
            if typ is None:
                stored.append(Attr(num=a.num, name=f"{a.name}.{what}", typname=a.typname, type=a.type,
                                   attlen=a.attlen, attalign=a.attalign))
                continue
            row = conn.execute(TYPE_BY_NAME, (typ,)).fetchone()
            if row is None:
                stored = None
                break
            stored.append(Attr(num=a.num, name=f"{a.name}.{what}", typname=row[0], type=row[1], attlen=row[2],
                               attalign=row[3]))
        out.append((a, stored))
    return out


class BlockReader:
    """Reads whole blocks of one fork, O_RDONLY; refuses short reads."""

    def __init__(self, rel, fork=""):
        self.rel = rel
        self.fork = fork
        self.fds = [fd for _path, fd in rel.open_segments(fork)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def read(self, blkno):
        page = (self.rel.buffered or {}).get((FORKS[self.fork], blkno))
        if page is not None:
            return page
        seg, within = divmod(blkno, self.rel.relseg_size)
        if seg >= len(self.fds):
            raise InspectError(f"block {blkno} is past the end of {self.rel.qualified}{self.fork}")
        data = os.pread(self.fds[seg], self.rel.blcksz, within * self.rel.blcksz)
        if len(data) != self.rel.blcksz:
            if not data:
                raise InspectError(f"block {blkno} is past the end of {self.rel.qualified}{self.fork} "
                                   f"({self.rel.nblocks(self.fork)} blocks)")
            raise InspectError(f"block {blkno} of {self.rel.qualified}: the file holds {len(data)} bytes "
                               f"of it, not a whole {self.rel.blcksz}-byte page")
        return data

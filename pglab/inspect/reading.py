"""Reading a relation's pages: the session on the build's cluster (its layouts and a
connection), the relation found, the blocks chosen, each page decoded (pages.py and
values.py do the decoding; the visibility map's bits beside each heap page)."""

import json
from contextlib import contextmanager

from ..errors import InspectError
from . import layouts as layouts_mod
from . import pages
from .relation import BlockReader, lookup
from .values import AttrSpec

INDEX_ALL_UNDER = 64   # an index this small is shown whole by default


@contextmanager
def session(settings, *, pg=None, name="main", db="postgres", cluster=None):
    """(cluster, layouts, connection): the build's named cluster (started if stopped), or CLUSTER."""
    if cluster is None:
        cluster = named_cluster(settings, pg, name)
    lay = layouts_mod.load(settings, cluster.build)
    try:
        conn = cluster.connect(db)
    except Exception as exc:   # psycopg.OperationalError: no such database, server gone
        raise InspectError(f"cannot connect to database {db!r} on {cluster.build.id}: "
                           f"{str(exc).strip().splitlines()[-1]}") from None
    try:
        yield cluster, lay, conn
    finally:
        conn.close()


def named_cluster(settings, pg, name):
    """The learner's cluster, started; an absent one is refused (Cluster.open, create=False)."""
    from ..cluster import Cluster
    from ..pg.builds import find_build

    return Cluster.open(settings, find_build(settings, pg), name, create=False)


def find(conn, cluster, lay, spec, *, checkpoint=True):
    return lookup(conn, cluster.datadir, spec, blcksz=lay.blcksz, relseg_size=lay.relseg_size, checkpoint=checkpoint)


def choose_blocks(rel, block=None, all_blocks=False):
    """Which blocks to decode: --block N, --all, or the default (heap: 0; a small index: all)."""
    n = rel.nblocks()
    short = rel.short_file()
    if short is not None:
        raise InspectError(f"{short} is {short.stat().st_size} bytes, not a whole number of "
                           f"{rel.blcksz}-byte pages: the file is damaged or being extended; nothing read")
    if n == 0:
        raise InspectError(f"{rel.qualified} is empty (0 blocks on disk): insert rows first")
    if block is not None:
        if block < 0 or block >= n:
            raise InspectError(f"block {block} is past the end of {rel.qualified}: it has {n} "
                               f"block{'s' if n != 1 else ''} (0..{n - 1})")
        return [block]
    if all_blocks or (rel.kind != "heap" and n <= INDEX_ALL_UNDER):
        return list(range(n))
    if rel.kind == "heap":
        return [0]
    # an index: its meta page, and the B-tree's root (None: read from the meta page), GIN's root,
    # BRIN's first revmap page, hash's bucket 0
    return [0, None] if rel.kind == "btree" else [0, 1]


def head(lay, rel):
    """The result without its pages: the relation, the build, the attributes (and a B-tree's meta page)."""
    result = {"relation": rel.qualified, "oid": rel.oid, "kind": rel.kind, "build": lay.build.id,
              "blcksz": lay.blcksz, "nblocks": rel.nblocks(), "checksums": rel.checksums,
              "read_from": "disk" if rel.buffered is None else "shared buffers, else disk",
              "attributes": [{"num": a.num, "name": a.name, "type": a.type, "attlen": a.attlen,
                              "attalign": a.attalign, "dropped": a.dropped} for a in rel.attrs]}
    if rel.kind == "btree":
        with BlockReader(rel) as reader:
            meta_page = reader.read(0)
        _check_page(lay, meta_page, 0, rel)
        result["meta"] = pages.bt_meta(lay, meta_page)
    return result


def iter_pages(lay, rel, blocks, *, meta=None, decode_values=True, as_json=False):
    """Decoded pages, one at a time (so --all on a large table streams); AS_JSON: their JSON text."""
    if rel.kind in ("gin", "brin", "hash"):
        yield from _index_pages(lay, rel, blocks, as_json)
        return
    spec = AttrSpec(lay, rel.attrs)
    with BlockReader(rel) as reader:
        if rel.kind == "heap":
            vm = _vm_reader(rel)
            try:
                for b in blocks:
                    page = reader.read(b)
                    _check_page(lay, page, b, rel)
                    text = pages.heap_page_json(spec, page, b, checksums=rel.checksummed(b), vm_bits=_vm_bits(lay, vm, b),
                                                decode_values=decode_values)
                    yield text if as_json else json.loads(text)
            finally:
                if vm is not None:
                    vm.close()
            return
        for b in blocks:
            if b is None:
                b = meta["root"]          # the root, from the meta page
            if b == 0:
                continue                  # the meta page itself (in the head), or an empty index's root
            page = reader.read(b)
            _check_page(lay, page, b, rel)
            decoded = pages.btree_page(spec, page, b, checksums=rel.checksummed(b))
            yield json.dumps(decoded) if as_json else decoded


def _index_pages(lay, rel, blocks, as_json):
    """GIN, BRIN and hash pages: the meta page is block 0, decoded like the others."""
    spec = pages.IndexSpec(lay, rel)
    with BlockReader(rel) as reader:
        extra = {}
        if rel.kind == "hash":
            meta_page = reader.read(0)
            _check_page(lay, meta_page, 0, rel)
            meta = pages.hash_page(spec, meta_page, 0, checksums=rel.checksummed(0))
            if meta["type"] != "metapage":
                raise InspectError(f"block 0 of {rel.qualified} is not a hash meta page (a {meta['type']} page)")
            bitmaps = {}

            def free_bits(blk):
                if blk not in bitmaps:
                    bm = reader.read(blk)
                    _check_page(lay, bm, blk, rel)
                    got = pages.hash_page(spec, bm, blk, checksums=rel.checksummed(blk), bmsize=meta["meta"]["bmsize"])
                    bitmaps[blk] = set(got.get("bitmap", {}).get("free", []))
                return bitmaps[blk]

            extra = {"meta_page": meta_page, "bmsize": meta["meta"]["bmsize"], "free_bits": free_bits}
        decode_one = {"gin": pages.gin_page, "brin": pages.brin_page, "hash": pages.hash_page}[rel.kind]
        for b in blocks:
            page = reader.read(b)
            _check_page(lay, page, b, rel)
            decoded = decode_one(spec, page, b, checksums=rel.checksummed(b), **extra)
            yield json.dumps(decoded) if as_json else decoded


def decode(lay, rel, blocks, *, decode_values=True):
    """The whole result dict for these blocks of REL (None in blocks: the B-tree root)."""
    result = head(lay, rel)
    result["pages"] = list(iter_pages(lay, rel, blocks, meta=result.get("meta"), decode_values=decode_values))
    return result


def _check_page(lay, page, blkno, rel):
    hdr = pages.header(lay, page, blkno, checksums=rel.checksummed(blkno))
    problem = pages.sanity_problem(lay, hdr)
    if problem:
        raise InspectError(f"block {blkno} of {rel.qualified} is not a valid page: {problem}")


def _vm_reader(rel):
    if not rel.segments("_vm"):
        return None
    return BlockReader(rel, "_vm")


def _vm_bits(lay, vm, blkno):
    if vm is None:
        return 0          # no visibility map yet (never vacuumed): no bit is set
    per_page = lay.lib.pglab_heap_blocks_per_vm_page()
    vm_block = blkno // per_page
    if vm_block >= vm.rel.nblocks("_vm"):
        return 0
    page = vm.read(vm_block)
    return lay.lib.pglab_vm_bits(lay.ffi.from_buffer(page), blkno)


def inspect_relation(settings, spec, *, block=None, all_blocks=False, pg=None, name="main", db="postgres"):
    """Decode SPEC's pages on the build's cluster: the result dict."""
    with session(settings, pg=pg, name=name, db=db) as (cluster, lay, conn):
        rel = find(conn, cluster, lay, spec)
        return decode(lay, rel, choose_blocks(rel, block, all_blocks))

"""A relation's free space map and visibility map, block by block (`inspect t --fsm --vm`).

The _fsm fork is a tree of FSM pages: each leaf slot holds one block's free space as a
category of BLCKSZ/256 bytes, and each upper node the largest below it (freespace.c);
the _vm fork keeps two bits a heap block, all-visible and all-frozen (visibilitymap.c).
Both are read from disk, after inspect's CHECKPOINT, with the build's fsm_internals.h
and visibilitymap.h, beside what the page itself says: its free space and its
PD_ALL_VISIBLE flag.  The FSM is a hint kept by VACUUM and by inserts that find a page
full, so it lags the pages: that difference is what the view is for.
"""

from ..errors import InspectError
from . import pages
from .relation import BlockReader


def check_forks(rel, *, fsm, vm):
    """One line when REL lacks a fork the view needs."""
    if vm and rel.kind != "heap":
        raise InspectError(f"{rel.qualified} is a {rel.kind} index: only tables have a visibility map (drop --vm)")
    for wanted, fork, what in ((fsm, "_fsm", "free space map"), (vm, "_vm", "visibility map")):
        if wanted and not rel.segments(fork):
            raise InspectError(f"{rel.qualified} has no {what} yet (no {fork} fork): VACUUM {rel.qualified} "
                               f"writes one")
    short = next((f for f in ("", "_fsm", "_vm") if rel.short_file(f) is not None), None)
    if short is not None:
        path = rel.short_file(short)
        raise InspectError(f"{path} is {path.stat().st_size} bytes, not a whole number of {rel.blcksz}-byte pages: "
                           f"the file is damaged or being extended; nothing read")


def head(lay, rel, *, fsm, vm):
    """The result without its rows: the relation, and each map's size (and the FSM root's promise)."""
    result = {"relation": rel.qualified, "oid": rel.oid, "kind": rel.kind, "build": lay.build.id,
              "blcksz": lay.blcksz, "nblocks": rel.nblocks(), "view": "maps", "fsm": None, "vm": None}
    if fsm:
        with BlockReader(rel, "_fsm") as reader:
            root = reader.read(0)
        cat = lay.check(lay.lib.pglab_fsm_category(lay.ffi.from_buffer(root), -1))
        result["fsm"] = {"blocks": rel.nblocks("_fsm"), "depth": lay.lib.pglab_fsm_depth(),
                         "root_category": cat, "root_avail": lay.lib.pglab_fsm_avail(cat)}
    if vm:
        result["vm"] = {"blocks": rel.nblocks("_vm"), "heap_blocks_per_page": lay.lib.pglab_heap_blocks_per_vm_page()}
    return result


def rows(lay, rel, *, fsm, vm):
    """Per block of the main fork: the page's own free space (and PD_ALL_VISIBLE), what the FSM
    records for it (pg_freespace's avail) and the VM's bits (pg_visibility's)."""
    ffi, lib = lay.ffi, lay.lib
    heap = rel.kind == "heap"
    readers = {"": BlockReader(rel)}
    try:
        if fsm:
            readers["_fsm"] = BlockReader(rel, "_fsm")
        if vm:
            readers["_vm"] = BlockReader(rel, "_vm")
        sizes = {fork: rel.nblocks(fork) for fork in readers}
        cached = {}

        def map_page(fork, blk):
            if blk >= sizes[fork]:
                return None           # past the fork's end: the server reads it as zeroes too
            if cached.get(fork, (None,))[0] != blk:
                cached[fork] = (blk, readers[fork].read(blk))
            return cached[fork][1]

        slot = ffi.new("int *")
        for b in range(sizes[""]):
            page = readers[""].read(b)
            hdr = pages.header(lay, page, b, checksums=rel.checksums)
            problem = pages.sanity_problem(lay, hdr)
            if problem:
                raise InspectError(f"block {b} of {rel.qualified} is not a valid page: {problem}")
            row = {"block": b, "new": hdr["new"],
                   "page_free": lay.check(lib.pglab_page_free_space(ffi.from_buffer(page), int(heap)))}
            if fsm:
                fsm_page = map_page("_fsm", lib.pglab_fsm_block(b, slot))
                cat = 0 if fsm_page is None else lay.check(lib.pglab_fsm_category(ffi.from_buffer(fsm_page), slot[0]))
                row.update({"fsm_category": cat, "fsm_avail": lib.pglab_fsm_avail(cat)})
            if vm:
                per_page = lib.pglab_heap_blocks_per_vm_page()
                vm_page = map_page("_vm", b // per_page)
                bits = 0 if vm_page is None else lay.check(lib.pglab_vm_bits(ffi.from_buffer(vm_page), b))
                row.update({"all_visible": bool(bits & lay.constants["VISIBILITYMAP_ALL_VISIBLE"]),
                            "all_frozen": bool(bits & lay.constants["VISIBILITYMAP_ALL_FROZEN"]),
                            "pd_all_visible": "PD_ALL_VISIBLE" in hdr["flag_names"]})
            yield row
    finally:
        for reader in readers.values():
            reader.close()

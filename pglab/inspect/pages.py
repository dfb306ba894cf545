"""Decode one page's bytes into plain dicts (JSON-ready), with a build's Layouts.

Field names are pageinspect's where it has the field (page_header, heap_page_items,
heap_tuple_infomask_flags, bt_metap, bt_page_stats, bt_page_items), so a learner
can put the two side by side; what pageinspect leaves to the reader is decoded
next to it (flag names, line pointer states, column values, HOT chains).
"""

import json

from ..errors import InspectError
from . import values as values_mod
from .layouts import BTP_FLAGS

LP_STATE = {0: "unused", 1: "normal", 2: "redirect", 3: "dead"}
MAX_ITEMS = 2048   # more line pointers than any 32 kB page can hold


def tid_text(block, offset):
    return f"({block},{offset})"


def _names(value, names, constants):
    return [n for n in names if n in constants and value & constants[n]]


def header(layouts, page, blkno, *, checksums):
    """page_header's fields, the flag names, and whether the checksum holds (page.c writes them)."""
    ffi, lib = layouts.ffi, layouts.lib
    buf = ffi.new("char[]", 4096)
    n = layouts.check(lib.pglab_header_json(ffi.from_buffer(page), blkno, int(checksums), buf, 4096))
    return json.loads(ffi.buffer(buf, n)[:])


def sanity_problem(layouts, hdr):
    """Why these bytes are not a valid page (PageIsVerified's checks), or None."""
    if hdr["new"]:
        return None
    c = layouts.constants
    if hdr["pagesize"] != layouts.blcksz or hdr["version"] != c["PG_PAGE_LAYOUT_VERSION"]:
        return f"page size/version {hdr['pagesize']}/{hdr['version']}, expected {layouts.blcksz}/" \
               f"{c['PG_PAGE_LAYOUT_VERSION']}"
    valid_flags = c["PD_HAS_FREE_LINES"] | c["PD_PAGE_FULL"] | c["PD_ALL_VISIBLE"]
    if hdr["flags"] & ~valid_flags:
        return f"unknown page flags 0x{hdr['flags']:04x}"
    if not (c["SizeOfPageHeaderData"] <= hdr["lower"] <= hdr["upper"] <= hdr["special"] <= layouts.blcksz):
        return f"lower/upper/special {hdr['lower']}/{hdr['upper']}/{hdr['special']} out of order"
    if hdr["special"] % c["MAXIMUM_ALIGNOF"]:
        return f"special {hdr['special']} not aligned"
    if hdr["checksum_ok"] is False:
        return f"checksum {hdr['checksum']} but the bytes give {hdr['computed_checksum']}"
    return None


def heap_page_json(spec, page, blkno, *, checksums, vm_bits=0, decode_values=True):
    """One heap page as JSON text: header, VM bits, every line pointer, tuple headers, values, HOT links."""
    lay = spec.layouts
    return spec.call(lay.lib.pglab_heap_page_json, lay.ffi.from_buffer(page), blkno, int(checksums), vm_bits,
                     spec.c, int(decode_values))


def heap_page(spec, page, blkno, *, checksums, vm_bits=0, decode_values=True):
    return json.loads(heap_page_json(spec, page, blkno, checksums=checksums, vm_bits=vm_bits,
                                     decode_values=decode_values))


# ---- B-tree -------------------------------------------------------------------------------

def bt_meta(layouts, page):
    """bt_metap's fields from block 0."""
    ffi, lib = layouts.ffi, layouts.lib
    m = ffi.new("pglab_bt_meta *")
    layouts.check(lib.pglab_bt_meta_read(ffi.from_buffer(page), m))
    if m.magic != layouts.constants["BTREE_MAGIC"]:
        raise InspectError(f"block 0 is not a B-tree meta page (magic 0x{m.magic:x}, "
                           f"expected 0x{layouts.constants['BTREE_MAGIC']:x})")
    out = {"magic": m.magic, "version": m.version, "root": m.root, "level": m.level, "fastroot": m.fastroot,
           "fastlevel": m.fastlevel, "last_cleanup_num_tuples": m.last_cleanup_num_tuples,
           "allequalimage": bool(m.allequalimage)}
    if layouts.version_num >= 140000:
        out["last_cleanup_num_delpages"] = m.last_cleanup_num_delpages
    else:
        out["oldest_xact"] = m.oldest_xact
    return out


def _page_type(opaque_flags, c):
    def has(name):
        return bool(opaque_flags & c.get(name, 0))

    if has("BTP_DELETED"):
        return "D" if not has("BTP_LEAF") and has("BTP_HAS_FULLXID") else "d"
    if has("BTP_HALF_DEAD"):
        return "e"
    if has("BTP_LEAF"):
        return "l"
    if has("BTP_ROOT"):
        return "r"
    return "i"


def btree_page(spec, page, blkno, *, checksums):
    """One B-tree page (not the meta page): bt_page_stats, bt_page_items, decoded keys."""
    layouts = spec.layouts
    hdr = header(layouts, page, blkno, checksums=checksums)
    ffi, lib = layouts.ffi, layouts.lib
    c = layouts.constants
    op = ffi.new("pglab_bt_opaque *")
    layouts.check(lib.pglab_bt_opaque_read(ffi.from_buffer(page), op))
    if not op.special_ok:
        raise InspectError(f"block {blkno} has no B-tree special space (pd_special {hdr['special']})")
    ptype = _page_type(op.flags, c)
    leaf = bool(op.flags & c["BTP_LEAF"])
    rightmost = op.next == 0
    stats = {"blkno": blkno, "type": ptype, "btpo_prev": op.prev, "btpo_next": op.next, "btpo_level": op.level,
             "btpo_flags": op.flags, "btpo_cycleid": op.cycleid, "page_size": hdr["pagesize"],
             "free_size": _free_space_for_one_more(layouts, hdr),
             "flag_names": _names(op.flags, BTP_FLAGS, c)}
    items = []
    if ptype not in ("d", "D"):
        buf = ffi.new("pglab_bt_item[]", MAX_ITEMS)
        n = layouts.check(lib.pglab_bt_items(ffi.from_buffer(page), buf, MAX_ITEMS))
        for i in range(n):
            items.append(_bt_item(spec, page, buf[i], i + 1, leaf, rightmost))
    live = sum(1 for it in items if it["lp_flags"] != 3)
    dead = len(items) - live
    total = sum(it.get("itemlen", 0) for it in items)
    stats.update({"live_items": live, "dead_items": dead, "avg_item_size": total // len(items) if items else 0})
    return {"kind": "btree", "block": blkno, "header": hdr, "stats": stats, "items": items,
            "free_space": max(0, hdr["upper"] - hdr["lower"])}


def _free_space_for_one_more(layouts, hdr):
    """PageGetFreeSpace: the gap minus the line pointer a new item would need."""
    gap = hdr["upper"] - hdr["lower"]
    lp = layouts.sizeof("ItemIdData")
    return gap - lp if gap >= lp else 0


def _bt_item(spec, page, it, offset, leaf, rightmost):
    layouts = spec.layouts
    ffi, lib = layouts.ffi, layouts.lib
    item = {"itemoffset": offset, "lp_off": it.lp_off, "lp_flags": it.lp_flags, "lp_len": it.lp_len,
            "state": LP_STATE[it.lp_flags]}
    if not it.has_tuple:
        return item
    pivot = not leaf or (not rightmost and offset == layouts.constants["P_HIKEY"])
    start = it.lp_off + it.data_off
    data = page[start:start + it.data_len]
    item.update({
        "ctid": tid_text(it.tid_block, it.tid_offset), "itemlen": it.size, "nulls": bool(it.nulls),
        "vars": bool(it.vars), "data": " ".join(f"{b:02x}" for b in data),
        "dead": None if pivot else it.lp_flags == 3,
        "htid": tid_text(it.htid_block, it.htid_offset) if it.has_htid and not (pivot and not it.is_pivot) else None,
        "tids": None, "pivot": pivot, "high_key": leaf and not rightmost and offset == layouts.constants["P_HIKEY"],
    })
    if not leaf or item["high_key"]:
        item["downlink"] = it.tid_block if not leaf else None
    if it.is_posting:
        n = it.nposting
        blocks, offs = ffi.new("uint32_t[]", n), ffi.new("uint16_t[]", n)
        base = ffi.from_buffer(page)
        layouts.check(lib.pglab_tids(base + it.lp_off + it.posting_off, n, blocks, offs))
        item["tids"] = [tid_text(blocks[k], offs[k]) for k in range(n)]
    bits_at = it.lp_off + layouts.sizeof("IndexTupleData") if it.nulls else None
    item["keys"] = values_mod.index_values(spec, page, start, it.data_len, bits_at)
    return item


# ---- GIN, BRIN, hash -----------------------------------------------------------------------

class IndexSpec:
    """What page.c needs to decode an index's tuples, kept alive while its pages are read:
    GIN's key descriptors (one column: the key; several: (attnum, key) per column, as
    GinState's tupdesc[] are), BRIN's stored values (column after column) and how many each
    column stores."""

    def __init__(self, layouts, rel):
        ffi = layouts.ffi
        self.layouts = layouts
        self.kind = rel.kind
        self.buffer = values_mod.JsonBuffer(layouts)
        self._keep = []
        if rel.kind == "gin":
            if len(rel.attrs) == 1:
                specs = [values_mod.AttrSpec(layouts, rel.attrs)]
            else:
                attnum = values_mod.Attr(num=0, name="attnum", typname="int2", type="smallint", attlen=2,
                                         attalign="s")
                specs = [values_mod.AttrSpec(layouts, [attnum, a]) for a in rel.attrs]
            self._keep += specs
            self.keys = ffi.new("pglab_attrs *[]", [sp.c for sp in specs])
            self.ncols = len(rel.attrs)
        elif rel.kind == "brin":
            stored = [a for _col, kept in rel.brin_stored for a in (kept or [])]
            self.stored = values_mod.AttrSpec(layouts, stored)
            self.nstored = ffi.new("int[]", [len(kept) if kept is not None else -1
                                             for _col, kept in rel.brin_stored] or [0])
            self.ncols = len(rel.brin_stored)


def gin_page(spec, page, blkno, *, checksums):
    """One GIN page: gin_page_opaque_info's fields and what the page holds (see page.c)."""
    lay = spec.layouts
    return json.loads(values_mod.call_json(spec.buffer, lay.lib.pglab_gin_page_json, lay.ffi.from_buffer(page),
                                           blkno, int(checksums), spec.keys, spec.ncols))


def brin_page(spec, page, blkno, *, checksums):
    """One BRIN page: the meta page, a revmap page's TIDs or a regular page's summaries."""
    lay = spec.layouts
    return json.loads(values_mod.call_json(spec.buffer, lay.lib.pglab_brin_page_json, lay.ffi.from_buffer(page),
                                           blkno, int(checksums), spec.stored.c, spec.nstored, spec.ncols))


def hash_page(spec, page, blkno, *, checksums, meta_page=None, bmsize=0, free_bits=None):
    """One hash index page (hash_page_type, hash_page_stats, hash_page_items, hash_metapage_info).
    BMSIZE: the meta page's hashm_bmsize (a bitmap page's size); for an overflow page (or a freed
    one, now unused), META_PAGE (block 0's bytes) and FREE_BITS(block) → that bitmap page's clear
    bits give its bit (hash_bitmap_info)."""
    lay = spec.layouts
    out = json.loads(values_mod.call_json(spec.buffer, lay.lib.pglab_hash_page_json, lay.ffi.from_buffer(page),
                                          blkno, int(checksums), bmsize))
    if out["type"] in ("overflow", "unused") and meta_page is not None:
        blk, bit = lay.ffi.new("uint32_t *"), lay.ffi.new("uint32_t *")
        rc = lay.lib.pglab_hash_ovfl_bit(lay.ffi.from_buffer(meta_page), blkno, blk, bit)
        out["bitmap"] = None if lay.check(rc) == -2 else {
            "bitmapblkno": blk[0], "bitmapbit": bit[0], "bitstatus": bit[0] not in free_bits(blk[0])}
    return out

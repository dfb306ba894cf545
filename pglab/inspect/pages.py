"""Decode one page's bytes into plain dicts (JSON-ready), with a build's Layouts.

Field names are pageinspect's where it has the field (page_header, heap_page_items,
heap_tuple_infomask_flags, bt_metap, bt_page_stats, bt_page_items), so a learner
can put the two side by side; what pageinspect leaves to the reader is decoded
next to it (flag names, line pointer states, column values, HOT chains).
"""

from ..errors import InspectError
from . import values as values_mod
from .layouts import BTP_FLAGS, INFOMASK2_FLAGS, INFOMASK_COMBINED, INFOMASK_FLAGS, LP_FLAGS, PD_FLAGS

LP_STATE = {0: "unused", 1: "normal", 2: "redirect", 3: "dead"}
MAX_ITEMS = 2048   # more line pointers than any 32 kB page can hold


def lsn_text(hi, lo):
    return f"{hi:X}/{lo:X}"


def tid_text(block, offset):
    return f"({block},{offset})"


def _names(value, names, constants):
    return [n for n in names if n in constants and value & constants[n]]


def header(layouts, page, blkno, *, checksums):
    """page_header's fields, the flag names, and whether the page looks like a page."""
    ffi, lib = layouts.ffi, layouts.lib
    h = ffi.new("pglab_header *")
    layouts.check(lib.pglab_header_read(ffi.from_buffer(page), blkno, h))
    out = {"lsn": lsn_text(h.lsn_hi, h.lsn_lo), "lsn_int": (h.lsn_hi << 32) | h.lsn_lo,
           "checksum": h.checksum, "flags": h.flags, "lower": h.lower, "upper": h.upper, "special": h.special,
           "pagesize": h.pagesize, "version": h.version, "prune_xid": h.prune_xid,
           "flag_names": _names(h.flags, PD_FLAGS, layouts.constants), "new": bool(h.is_new),
           "max_offset": h.max_offset}
    out["checksum_ok"] = None if (h.is_new or not checksums) else (h.checksum == h.computed_checksum)
    out["computed_checksum"] = None if h.is_new else h.computed_checksum
    return out


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


def infomask_flags(layouts, infomask, infomask2):
    """heap_tuple_infomask_flags: (raw_flags, combined_flags)."""
    c = layouts.constants
    raw = _names(infomask, INFOMASK_FLAGS, c) + _names(infomask2, INFOMASK2_FLAGS, c)
    combined = [n for n in INFOMASK_COMBINED if n in c and infomask & c[n] == c[n]]
    return raw, combined


def _bits_text(page, start, natts):
    nbytes = (natts + 7) // 8
    return "".join("1" if page[start + i // 8] & (1 << (i % 8)) else "0" for i in range(nbytes * 8))


def heap_page(layouts, page, blkno, attrs, *, checksums, vm_bits=None, decode_values=True):
    """One heap page: header, every line pointer, tuple headers, column values."""
    hdr = header(layouts, page, blkno, checksums=checksums)
    ffi, lib = layouts.ffi, layouts.lib
    buf = ffi.new("pglab_heap_item[]", MAX_ITEMS)
    n = layouts.check(lib.pglab_heap_items(ffi.from_buffer(page), buf, MAX_ITEMS))
    c = layouts.constants
    hasnull, hot_updated, heap_only = c["HEAP_HASNULL"], c["HEAP_HOT_UPDATED"], c["HEAP_ONLY_TUPLE"]
    natts_mask = c["HEAP_NATTS_MASK"]
    bits_at = c["SizeofHeapTupleHeader"]
    items = []
    for i in range(n):
        it = buf[i]
        item = {"lp": i + 1, "lp_off": it.lp_off, "lp_flags": it.lp_flags, "lp_len": it.lp_len,
                "state": LP_STATE[it.lp_flags]}
        if it.lp_flags == 2:     # LP_REDIRECT: lp_off is the line pointer it points to
            item["redirect_to"] = it.lp_off
        if it.has_tuple:
            raw, combined = infomask_flags(layouts, it.t_infomask, it.t_infomask2)
            item.update({
                "t_xmin": it.t_xmin, "t_xmax": it.t_xmax, "t_field3": it.t_field3,
                "t_ctid": tid_text(it.ctid_block, it.ctid_offset),
                "t_infomask2": it.t_infomask2, "t_infomask": it.t_infomask, "t_hoff": it.t_hoff,
                "t_bits": None, "natts": it.t_infomask2 & natts_mask,
                "raw_flags": raw, "combined_flags": combined,
                "hot_updated": bool(it.t_infomask2 & hot_updated), "heap_only": bool(it.t_infomask2 & heap_only),
            })
            if it.has_data:
                start = it.lp_off + bits_at
                if it.t_infomask & hasnull:
                    item["t_bits"] = _bits_text(page, start, item["natts"])
                if decode_values and attrs is not None:
                    item["values"] = values_mod.heap_values(
                        layouts, page, it.lp_off, it.lp_len, it.t_hoff, item["natts"],
                        page[start:start + (item["natts"] + 7) // 8] if it.t_infomask & hasnull else None, attrs)
        items.append(item)
    _link_hot_chains(items, blkno)
    page_out = {"kind": "heap", "block": blkno, "header": hdr, "items": items,
                "free_space": max(0, hdr["upper"] - hdr["lower"])}
    if vm_bits is not None:
        page_out["vm"] = {"all_visible": bool(vm_bits & c["VISIBILITYMAP_ALL_VISIBLE"]),
                          "all_frozen": bool(vm_bits & c["VISIBILITYMAP_ALL_FROZEN"])}
    return page_out


def _link_hot_chains(items, blkno):
    """`next`: the line pointer a version's t_ctid or a redirect leads to on this page."""
    by_lp = {it["lp"]: it for it in items}
    for it in items:
        target = None
        if it["state"] == "redirect":
            target = it["redirect_to"]
        elif "t_ctid" in it:
            block, off = (int(x) for x in it["t_ctid"].strip("()").split(","))
            if block == blkno and off != it["lp"]:
                target = off
        if target is not None and target in by_lp:
            it["next"] = target


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


def btree_page(layouts, page, blkno, attrs, *, checksums):
    """One B-tree page (not the meta page): bt_page_stats, bt_page_items, decoded keys."""
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
            items.append(_bt_item(layouts, page, buf[i], i + 1, leaf, rightmost, attrs))
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


def _bt_item(layouts, page, it, offset, leaf, rightmost, attrs):
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
    if attrs is not None:
        bits_at = it.lp_off + layouts.sizeof("IndexTupleData")
        item["keys"] = values_mod.index_values(layouts, page, start, it.data_len, len(attrs),
                                              page[bits_at:bits_at + 4] if it.nulls else None, attrs)
    return item

"""A whole table at once (`inspect t --summary`): live and dead tuples, their bytes, free
space and bloat, counted from the pages on disk the way pgstattuple counts them.

pgstattuple asks each tuple whether a dirty snapshot sees it (HeapTupleSatisfiesDirty);
page.c asks the same questions of the tuple header, with the hint bits where they settle
it.  Where they do not, the transaction's fate is the server's: pg_xact_status (the
commit log and the running transactions) and, for a multixact in xmax, its updating
member (pg_get_multixact_members).  Free space is pgstattuple's measure on that major
(PageGetHeapFreeSpace up to 17, PageGetExactFreeSpace from 18).
"""

import math

from ..errors import InspectError
from .relation import BlockReader

NEED = 4096          # xids one page can need: more than three per tuple of the largest page

EPOCH = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::int8"
STATUS = "SELECT x, pg_xact_status(x::text::xid8) FROM unnest(%s::int8[]) AS x"
UPDATER = ("SELECT coalesce(max(xid::text::int8), 0) FROM pg_get_multixact_members(%s::text::xid) "
           "WHERE mode IN ('nokeyupd', 'upd')")
STATUS_CODES = {"in progress": "XS_IN_PROGRESS", "committed": "XS_COMMITTED", "aborted": "XS_ABORTED"}


class Fates:
    """The statuses page.c is told (sorted arrays it searches), and what it says it lacked."""

    def __init__(self, lay):
        self.lay = lay
        self.xids, self.multis = {}, {}          # xid → XS_*, multixact → updating xid
        self.need_xids, self.need_multis = set(), set()
        self._build()

    def _build(self):
        ffi = self.lay.ffi
        xids = sorted(self.xids)
        multis = sorted(self.multis)
        self._keep = [ffi.new("uint32_t[]", xids or [0]), ffi.new("uint8_t[]", [self.xids[x] for x in xids] or [0]),
                      ffi.new("uint32_t[]", multis or [0]),
                      ffi.new("uint32_t[]", [self.multis[m] for m in multis] or [0]),
                      ffi.new("uint32_t[]", NEED), ffi.new("uint32_t[]", NEED)]
        f = ffi.new("pglab_fates *")
        f.xids, f.status, f.multis, f.updaters, f.need_xids, f.need_multis = self._keep
        f.nxids, f.nmultis, f.need_cap = len(xids), len(multis), NEED
        self.c = f

    def collect(self):
        """Take what page.c lacked on the last page into need_xids / need_multis."""
        f = self.c
        self.need_xids.update(f.need_xids[i] for i in range(f.nneed_xids))
        self.need_multis.update(f.need_multis[i] for i in range(f.nneed_multis))
        f.nneed_xids = f.nneed_multis = 0

    def learn(self, conn):
        """Ask the server the fates of what was needed; a multixact's updater needs its own."""
        for multi in sorted(self.need_multis - set(self.multis)):
            try:
                with conn.transaction():
                    self.multis[multi] = conn.execute(UPDATER, (str(multi),)).fetchone()[0]
            except Exception:   # psycopg.Error: a multixact already truncated away: its tuples stay undecided
                continue
            if self.multis[multi]:
                self.need_xids.add(self.multis[multi])
        wanted = sorted(self.need_xids - set(self.xids))
        if wanted:
            next_full = conn.execute(EPOCH).fetchone()[0]
            epoch, low = next_full >> 32, next_full & 0xFFFFFFFF
            full = [((epoch - (x > low)) << 32) | x for x in wanted]
            for x, status in conn.execute(STATUS, (full,)).fetchall():
                if status in STATUS_CODES:
                    self.xids[x & 0xFFFFFFFF] = getattr(self.lay.lib, STATUS_CODES[status])
        self.need_xids, self.need_multis = set(), set()
        self._build()
        return len(wanted)


def _pass(lay, rel, fates):
    ffi, lib = lay.ffi, lay.lib
    total = ffi.new("pglab_heap_summary *")
    with BlockReader(rel) as reader:
        for b in range(rel.nblocks()):
            page = reader.read(b)
            lay.check(lib.pglab_heap_summarize(ffi.from_buffer(page), fates.c, total))
            fates.collect()
    return total


def summarize(conn, lay, rel):
    """The summary of heap table REL (pgstattuple's fields, and more): a result dict."""
    if rel.kind != "heap":
        raise InspectError(f"{rel.qualified} is a {rel.kind} index: --summary counts the tuples of a heap table")
    short = rel.short_file()
    if short is not None:
        raise InspectError(f"{short} is {short.stat().st_size} bytes, not a whole number of {rel.blcksz}-byte "
                           f"pages: the file is damaged or being extended; nothing read")
    fates = Fates(lay)
    s = _pass(lay, rel, fates)
    asked = 0
    if fates.need_xids or fates.need_multis:
        asked = fates.learn(conn)
        s = _pass(lay, rel, fates)
        if fates.need_multis:          # an updater's own status, asked for the second pass
            asked += fates.learn(conn)
            s = _pass(lay, rel, fates)
    nblocks = rel.nblocks()
    table_len = nblocks * lay.blcksz

    def pct(n):
        return float(f"{100.0 * n / table_len:.2f}") if table_len else 0.0

    room = lay.blcksz - lay.constants["SizeOfPageHeaderData"]
    min_pages = math.ceil(s.live_space / room) if s.live_space else 0
    vm = _vm_counts(lay, rel, nblocks)
    summary = {"table_len": table_len, "tuple_count": s.tuple_count, "tuple_len": s.tuple_len,
               "tuple_percent": pct(s.tuple_len), "dead_tuple_count": s.dead_tuple_count,
               "dead_tuple_len": s.dead_tuple_len, "dead_tuple_percent": pct(s.dead_tuple_len),
               "free_space": s.free_space, "free_percent": pct(s.free_space)}
    return {"relation": rel.qualified, "oid": rel.oid, "kind": rel.kind, "build": lay.build.id, "blcksz": lay.blcksz,
            "nblocks": nblocks, "view": "summary", "summary": summary,
            "line_pointers": {"unused": s.lp_unused, "normal": s.lp_normal, "redirect": s.lp_redirect,
                              "dead": s.lp_dead},
            "in_progress": {"inserting": s.inserting, "deleting": s.deleting}, "undecided": s.undecided,
            "new_pages": s.new_pages, "visibility_map": vm, "statuses_asked": asked,
            "bloat": {"live_space": s.live_space, "min_pages": min_pages,
                      "extra_pages": max(nblocks - min_pages, 0),
                      "extra_percent": pct(max(nblocks - min_pages, 0) * lay.blcksz)}}


def _vm_counts(lay, rel, nblocks):
    """pg_visibility_map_summary's counts, from the _vm fork (none: no bit set)."""
    counts = {"all_visible": 0, "all_frozen": 0}
    if not rel.segments("_vm"):
        return counts
    ffi, lib = lay.ffi, lay.lib
    per_page = lib.pglab_heap_blocks_per_vm_page()
    vm_blocks = rel.nblocks("_vm")
    with BlockReader(rel, "_vm") as reader:
        page = None
        for b in range(nblocks):
            if b % per_page == 0:
                page = reader.read(b // per_page) if b // per_page < vm_blocks else None
            if page is None:
                continue
            bits = lay.check(lib.pglab_vm_bits(ffi.from_buffer(page), b))
            counts["all_visible"] += bool(bits & lay.constants["VISIBILITYMAP_ALL_VISIBLE"])
            counts["all_frozen"] += bool(bits & lay.constants["VISIBILITYMAP_ALL_FROZEN"])
    return counts

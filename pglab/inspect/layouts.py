"""Page layouts from a build's own server headers, through cffi in API mode.

The C below is compiled against `pg_config --includedir-server` of the build
being inspected, so every offset, size and flag value is what that major's
compiler sees: PageHeaderData, ItemIdData and its macros, HeapTupleHeaderData,
IndexTupleData, the nbtree opaque and meta page.  Nothing here knows an offset.
The few fields a major renamed (btpo.level → btpo_level in 14) are chosen by
PG_VERSION_NUM, as contrib's own code would be if it were compiled for all of them.

One compiled module per build, cached under the build cache's inspect/ folder
and keyed by the build's identity and install time and by this file's text, so a
rebuilt build (or an edited shim) compiles again; the first use says so.
"""

import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from .. import ui
from ..errors import InspectError

# Flags shown by name, in the order pageinspect's heap_tuple_infomask_flags lists
# them.  A name a major lacks is skipped (#ifdef), so the table is that major's.
INFOMASK_FLAGS = ("HEAP_HASNULL", "HEAP_HASVARWIDTH", "HEAP_HASEXTERNAL", "HEAP_HASOID_OLD", "HEAP_XMAX_KEYSHR_LOCK",
                  "HEAP_COMBOCID", "HEAP_XMAX_EXCL_LOCK", "HEAP_XMAX_LOCK_ONLY", "HEAP_XMIN_COMMITTED",
                  "HEAP_XMIN_INVALID", "HEAP_XMAX_COMMITTED", "HEAP_XMAX_INVALID", "HEAP_XMAX_IS_MULTI",
                  "HEAP_UPDATED", "HEAP_MOVED_OFF", "HEAP_MOVED_IN")
INFOMASK2_FLAGS = ("HEAP_KEYS_UPDATED", "HEAP_HOT_UPDATED", "HEAP_ONLY_TUPLE")
# Combinations heap_tuple_infomask_flags reports separately (all bits of each set).
INFOMASK_COMBINED = ("HEAP_XMAX_SHR_LOCK", "HEAP_XMIN_FROZEN", "HEAP_MOVED")
LP_FLAGS = ("LP_UNUSED", "LP_NORMAL", "LP_REDIRECT", "LP_DEAD")
PD_FLAGS = ("PD_HAS_FREE_LINES", "PD_PAGE_FULL", "PD_ALL_VISIBLE")
BTP_FLAGS = ("BTP_LEAF", "BTP_ROOT", "BTP_DELETED", "BTP_META", "BTP_HALF_DEAD", "BTP_SPLIT_END",
             "BTP_HAS_GARBAGE", "BTP_INCOMPLETE_SPLIT", "BTP_HAS_FULLXID")
OTHER_CONSTANTS = ("BLCKSZ", "RELSEG_SIZE", "MAXIMUM_ALIGNOF", "PG_VERSION_NUM", "PG_PAGE_LAYOUT_VERSION",
                   "SizeOfPageHeaderData", "SizeofHeapTupleHeader", "MinHeapTupleSize", "BTREE_MAGIC",
                   "BTREE_METAPAGE", "P_HIKEY", "P_FIRSTKEY", "INDEX_SIZE_MASK", "BITS_PER_HEAPBLOCK",
                   "VISIBILITYMAP_ALL_VISIBLE", "VISIBILITYMAP_ALL_FROZEN", "HEAP_NATTS_MASK",
                   "FirstOffsetNumber", "ALIGNOF_SHORT", "ALIGNOF_INT", "ALIGNOF_DOUBLE", "NAMEDATALEN",
                   "INDEX_NULL_MASK")

CDEF = """
typedef struct { const char *name; long value; } pglab_const;
extern const pglab_const pglab_constants[];
extern const int pglab_nconstants;
extern char pglab_error[];

/* the real structs: cffi asks the compiler for their size and these fields' offsets */
typedef struct { uint32_t xlogid; uint32_t xrecoff; } PageXLogRecPtr;
typedef struct { PageXLogRecPtr pd_lsn; uint16_t pd_checksum; uint16_t pd_flags; uint16_t pd_lower;
                 uint16_t pd_upper; uint16_t pd_special; uint16_t pd_pagesize_version; ...; } PageHeaderData;
typedef struct { ...; } ItemIdData;
typedef struct { uint16_t t_infomask2; uint16_t t_infomask; uint8_t t_hoff; ...; } HeapTupleHeaderData;
typedef struct { uint16_t t_info; ...; } IndexTupleData;
typedef struct { ...; } ItemPointerData;
typedef struct { uint32_t btpo_prev; uint32_t btpo_next; uint16_t btpo_flags; uint16_t btpo_cycleid; ...; }
    BTPageOpaqueData;
typedef struct { uint32_t btm_magic; uint32_t btm_version; uint32_t btm_root; uint32_t btm_level;
                 uint32_t btm_fastroot; uint32_t btm_fastlevel; ...; } BTMetaPageData;

typedef struct {
    uint32_t lsn_hi, lsn_lo;
    uint16_t checksum, flags, lower, upper, special, pagesize, version;
    uint32_t prune_xid;
    uint16_t max_offset;
    uint16_t computed_checksum;
    int is_new;
} pglab_header;

typedef struct {
    uint16_t lp_off, lp_flags, lp_len;
    int has_tuple;             /* the tuple header could be read (pageinspect's rule) */
    int has_data;              /* t_hoff is sane: t_bits and data can be read */
    uint32_t t_xmin, t_xmax, t_field3;
    uint32_t ctid_block;
    uint16_t ctid_offset;
    uint16_t t_infomask2, t_infomask;
    uint8_t t_hoff;
    uint16_t natts;
} pglab_heap_item;

typedef struct {
    uint16_t lp_off, lp_flags, lp_len;
    int has_tuple;
    uint32_t tid_block; uint16_t tid_offset;
    uint16_t size;
    int nulls, vars;
    uint16_t data_off, data_len;
    int is_pivot, is_posting;
    int has_htid; uint32_t htid_block; uint16_t htid_offset;
    uint16_t nposting, posting_off;
} pglab_bt_item;

typedef struct {
    uint32_t prev, next, level, xact;
    uint16_t flags, cycleid;
    int special_ok;
} pglab_bt_opaque;

typedef struct {
    uint32_t magic, version, root, level, fastroot, fastlevel;
    uint32_t oldest_xact;            /* 13 */
    uint64_t last_cleanup_num_delpages;   /* 14+ */
    double last_cleanup_num_tuples;
    int allequalimage;
} pglab_bt_meta;

int pglab_header_read(const char *page, uint32_t blkno, pglab_header *out);
int pglab_heap_items(const char *page, pglab_heap_item *out, int max);
int pglab_bt_opaque_read(const char *page, pglab_bt_opaque *out);
int pglab_bt_items(const char *page, pglab_bt_item *out, int max);
int pglab_bt_meta_read(const char *page, pglab_bt_meta *out);
int pglab_tids(const char *p, int n, uint32_t *blocks, uint16_t *offsets);
int pglab_vm_bits(const char *vmpage, uint32_t heapblk);
int pglab_heap_blocks_per_vm_page(void);

typedef struct {
    int kind;                 /* 0 4-byte header, 1 short (1-byte header), 2 compressed, 3 TOAST pointer, 4 other external */
    uint32_t total;           /* bytes the datum occupies in the tuple */
    uint32_t data_off, data_len;
    uint32_t rawsize, extsize, valueid, toastrelid;
    int method;               /* compression method (14+), -1 when the major has none */
} pglab_varlena;
int pglab_varlena_read(const char *p, uint32_t avail, pglab_varlena *out);
"""

SOURCE = r"""
#include <setjmp.h>
#include <stdio.h>
#include "pg_config.h"
#include "postgres.h"
#include "storage/bufpage.h"
#include "storage/checksum.h"
#include "storage/checksum_impl.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/visibilitymap.h"
#include "access/detoast.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif
#if PG_VERSION_NUM < 140000          /* the names 14 gave these */
#define VARDATA_COMPRESSED_GET_EXTSIZE(p) VARRAWSIZE_4B_C(p)
#define VARATT_EXTERNAL_GET_EXTSIZE(e) ((e).va_extsize)
#endif
#undef snprintf    /* port.h maps it to the server's pg_snprintf, which a module cannot link */

/* An Assert in the headers' inline functions lands here instead of the
 * server's ExceptionalCondition: the call returns an error, Python raises. */
static jmp_buf pglab_jmp;
char pglab_error[512];
#if PG_VERSION_NUM >= 160000
void ExceptionalCondition(const char *cond, const char *file, int line)
#else
void ExceptionalCondition(const char *cond, const char *type, const char *file, int line)
#endif
{
    snprintf(pglab_error, sizeof(pglab_error), "%s (%s:%d)", cond, file, line);
    longjmp(pglab_jmp, 1);
}
#define GUARD() do { pglab_error[0] = 0; if (setjmp(pglab_jmp)) return -1; } while (0)

typedef struct { const char *name; long value; } pglab_const;
const pglab_const pglab_constants[] = {
@CONSTANTS@
};
const int pglab_nconstants = sizeof(pglab_constants) / sizeof(pglab_constants[0]);

#define MAPSIZE (BLCKSZ - MAXALIGN(SizeOfPageHeaderData))
#define HEAPBLOCKS_PER_BYTE (BITS_PER_BYTE / BITS_PER_HEAPBLOCK)
#define HEAPBLOCKS_PER_PAGE (MAPSIZE * HEAPBLOCKS_PER_BYTE)

typedef struct {
    uint32_t lsn_hi, lsn_lo;
    uint16_t checksum, flags, lower, upper, special, pagesize, version;
    uint32_t prune_xid;
    uint16_t max_offset;
    uint16_t computed_checksum;
    int is_new;
} pglab_header;

typedef struct {
    uint16_t lp_off, lp_flags, lp_len;
    int has_tuple;
    int has_data;
    uint32_t t_xmin, t_xmax, t_field3;
    uint32_t ctid_block;
    uint16_t ctid_offset;
    uint16_t t_infomask2, t_infomask;
    uint8_t t_hoff;
    uint16_t natts;
} pglab_heap_item;

typedef struct {
    uint16_t lp_off, lp_flags, lp_len;
    int has_tuple;
    uint32_t tid_block; uint16_t tid_offset;
    uint16_t size;
    int nulls, vars;
    uint16_t data_off, data_len;
    int is_pivot, is_posting;
    int has_htid; uint32_t htid_block; uint16_t htid_offset;
    uint16_t nposting, posting_off;
} pglab_bt_item;

typedef struct {
    uint32_t prev, next, level, xact;
    uint16_t flags, cycleid;
    int special_ok;
} pglab_bt_opaque;

typedef struct {
    uint32_t magic, version, root, level, fastroot, fastlevel;
    uint32_t oldest_xact;
    uint64_t last_cleanup_num_delpages;
    double last_cleanup_num_tuples;
    int allequalimage;
} pglab_bt_meta;

int pglab_header_read(const char *page, uint32_t blkno, pglab_header *out)
{
    PageHeader ph = (PageHeader) page;
    GUARD();
    out->lsn_hi = ph->pd_lsn.xlogid;
    out->lsn_lo = ph->pd_lsn.xrecoff;
    out->checksum = ph->pd_checksum;
    out->flags = ph->pd_flags;
    out->lower = ph->pd_lower;
    out->upper = ph->pd_upper;
    out->special = ph->pd_special;
    out->pagesize = PageGetPageSize((Page) page);
    out->version = PageGetPageLayoutVersion((Page) page);
    out->prune_xid = ph->pd_prune_xid;
    out->is_new = PageIsNew((Page) page);
    out->max_offset = (ph->pd_lower <= SizeOfPageHeaderData || ph->pd_lower > BLCKSZ) ? 0
        : PageGetMaxOffsetNumber((Page) page);
    /* pg_checksum_page stores and restores pd_checksum: the page is only read */
    out->computed_checksum = out->is_new ? 0 : pg_checksum_page((char *) page, blkno);
    return 0;
}

static int item_in_page(uint16_t off, uint16_t len)
{
    return off >= SizeOfPageHeaderData && (uint32_t) off + len <= BLCKSZ;
}

int pglab_heap_items(const char *page, pglab_heap_item *out, int max)
{
    Page p = (Page) page;
    int n, i;
    GUARD();
    n = (((PageHeader) p)->pd_lower <= SizeOfPageHeaderData || ((PageHeader) p)->pd_lower > BLCKSZ) ? 0
        : PageGetMaxOffsetNumber(p);
    if (n > max) n = max;
    for (i = 0; i < n; i++)
    {
        ItemId id = PageGetItemId(p, i + 1);
        pglab_heap_item *o = &out[i];
        uint16_t off = ItemIdGetOffset(id), len = ItemIdGetLength(id);
        memset(o, 0, sizeof(*o));
        o->lp_off = off;
        o->lp_flags = ItemIdGetFlags(id);
        o->lp_len = len;
        /* pageinspect's heap_page_items reads the header under the same conditions */
        if (ItemIdHasStorage(id) && len >= MinHeapTupleSize && off == MAXALIGN(off) && item_in_page(off, len))
        {
            HeapTupleHeader t = (HeapTupleHeader) PageGetItem(p, id);
            o->has_tuple = 1;
            o->t_xmin = HeapTupleHeaderGetRawXmin(t);
            o->t_xmax = HeapTupleHeaderGetRawXmax(t);
            o->t_field3 = HeapTupleHeaderGetRawCommandId(t);
            o->ctid_block = ItemPointerGetBlockNumberNoCheck(&t->t_ctid);
            o->ctid_offset = ItemPointerGetOffsetNumberNoCheck(&t->t_ctid);
            o->t_infomask2 = t->t_infomask2;
            o->t_infomask = t->t_infomask;
            o->t_hoff = t->t_hoff;
            o->natts = HeapTupleHeaderGetNatts(t);
            o->has_data = t->t_hoff >= SizeofHeapTupleHeader && t->t_hoff <= len && t->t_hoff == MAXALIGN(t->t_hoff);
        }
    }
    return n;
}

int pglab_bt_opaque_read(const char *page, pglab_bt_opaque *out)
{
    Page p = (Page) page;
    BTPageOpaqueData *o;
    GUARD();
    out->special_ok = ((PageHeader) p)->pd_special == BLCKSZ - MAXALIGN(sizeof(BTPageOpaqueData));
    if (!out->special_ok)
        return 0;
    o = (BTPageOpaqueData *) PageGetSpecialPointer(p);
    out->prev = o->btpo_prev;
    out->next = o->btpo_next;
#if PG_VERSION_NUM >= 140000
    out->level = o->btpo_level;
    out->xact = 0;
#else
    out->level = o->btpo.level;
    out->xact = o->btpo.xact;
#endif
    out->flags = o->btpo_flags;
    out->cycleid = o->btpo_cycleid;
    return 0;
}

int pglab_bt_items(const char *page, pglab_bt_item *out, int max)
{
    Page p = (Page) page;
    int n, i;
    GUARD();
    n = (((PageHeader) p)->pd_lower <= SizeOfPageHeaderData || ((PageHeader) p)->pd_lower > BLCKSZ) ? 0
        : PageGetMaxOffsetNumber(p);
    if (n > max) n = max;
    for (i = 0; i < n; i++)
    {
        ItemId id = PageGetItemId(p, i + 1);
        pglab_bt_item *o = &out[i];
        uint16_t off = ItemIdGetOffset(id), len = ItemIdGetLength(id);
        IndexTuple itup;
        ItemPointer htid;
        int dlen;
        memset(o, 0, sizeof(*o));
        o->lp_off = off;
        o->lp_flags = ItemIdGetFlags(id);
        o->lp_len = len;
        if (!ItemIdHasStorage(id) || len < sizeof(IndexTupleData) || !item_in_page(off, len))
            continue;
        itup = (IndexTuple) PageGetItem(p, id);
        if (IndexTupleSize(itup) > len)
            continue;
        o->has_tuple = 1;
        o->tid_block = ItemPointerGetBlockNumberNoCheck(&itup->t_tid);
        o->tid_offset = ItemPointerGetOffsetNumberNoCheck(&itup->t_tid);
        o->size = IndexTupleSize(itup);
        o->nulls = IndexTupleHasNulls(itup) ? 1 : 0;
        o->vars = IndexTupleHasVarwidths(itup) ? 1 : 0;
        o->data_off = IndexInfoFindDataOffset(itup->t_info);
        dlen = IndexTupleSize(itup) - IndexInfoFindDataOffset(itup->t_info);
        o->is_posting = BTreeTupleIsPosting(itup);
        o->is_pivot = BTreeTupleIsPivot(itup);
        /* the key bytes without the posting list or a pivot's heap TID, as bt_page_items shows them */
        if (o->is_posting)
        {
            o->nposting = BTreeTupleGetNPosting(itup);
            o->posting_off = BTreeTupleGetPostingOffset(itup);
            dlen -= IndexTupleSize(itup) - BTreeTupleGetPostingOffset(itup);
        }
        else if (o->is_pivot && BTreeTupleGetHeapTID(itup) != NULL)
            dlen -= MAXALIGN(sizeof(ItemPointerData));
        o->data_len = dlen < 0 ? 0 : dlen;
        htid = BTreeTupleGetHeapTID(itup);
        if (htid)
        {
            o->has_htid = 1;
            o->htid_block = ItemPointerGetBlockNumberNoCheck(htid);
            o->htid_offset = ItemPointerGetOffsetNumberNoCheck(htid);
        }
    }
    return n;
}

int pglab_bt_meta_read(const char *page, pglab_bt_meta *out)
{
    BTMetaPageData *m = BTPageGetMeta((Page) page);
    GUARD();
    memset(out, 0, sizeof(*out));
    out->magic = m->btm_magic;
    out->version = m->btm_version;
    out->root = m->btm_root;
    out->level = m->btm_level;
    out->fastroot = m->btm_fastroot;
    out->fastlevel = m->btm_fastlevel;
#if PG_VERSION_NUM >= 140000
    out->last_cleanup_num_delpages = m->btm_last_cleanup_num_delpages;
#else
    out->oldest_xact = m->btm_oldest_btpo_xact;
#endif
    out->last_cleanup_num_tuples = m->btm_last_cleanup_num_heap_tuples;
    out->allequalimage = m->btm_allequalimage;
    return 0;
}

int pglab_tids(const char *p, int n, uint32_t *blocks, uint16_t *offsets)
{
    const ItemPointerData *tids = (const ItemPointerData *) p;
    int i;
    GUARD();
    for (i = 0; i < n; i++)
    {
        blocks[i] = ItemPointerGetBlockNumberNoCheck(&tids[i]);
        offsets[i] = ItemPointerGetOffsetNumberNoCheck(&tids[i]);
    }
    return n;
}

/* the two bits visibilitymap.c keeps for a heap block, from the VM page that holds them */
int pglab_vm_bits(const char *vmpage, uint32_t heapblk)
{
    uint32_t byte = (heapblk % HEAPBLOCKS_PER_PAGE) / HEAPBLOCKS_PER_BYTE;
    uint32_t shift = (heapblk % HEAPBLOCKS_PER_BYTE) * BITS_PER_HEAPBLOCK;
    const unsigned char *map = (const unsigned char *) PageGetContents((Page) vmpage);
    GUARD();
    return (map[byte] >> shift) & VISIBILITYMAP_VALID_BITS;
}

int pglab_heap_blocks_per_vm_page(void)
{
    return HEAPBLOCKS_PER_PAGE;
}

typedef struct {
    int kind;
    uint32_t total;
    uint32_t data_off, data_len;
    uint32_t rawsize, extsize, valueid, toastrelid;
    int method;
} pglab_varlena;

/* what a varlena datum is and where its bytes are, by postgres.h/varatt.h's macros */
int pglab_varlena_read(const char *p, uint32_t avail, pglab_varlena *out)
{
    GUARD();
    memset(out, 0, sizeof(*out));
    out->method = -1;
    if (avail < 1)
        return -2;
    if (VARATT_IS_EXTERNAL(p))
    {
        if (avail < VARHDRSZ_EXTERNAL)
            return -2;
        out->total = VARSIZE_EXTERNAL(p);
        if (out->total > avail)
            return -2;
        if (VARATT_IS_EXTERNAL_ONDISK(p))
        {
            struct varatt_external ext;
            VARATT_EXTERNAL_GET_POINTER(ext, p);
            out->kind = 3;
            out->rawsize = ext.va_rawsize;
            out->extsize = VARATT_EXTERNAL_GET_EXTSIZE(ext);
            out->valueid = ext.va_valueid;
            out->toastrelid = ext.va_toastrelid;
#if PG_VERSION_NUM >= 140000
            out->method = VARATT_EXTERNAL_IS_COMPRESSED(ext) ? VARATT_EXTERNAL_GET_COMPRESS_METHOD(ext) : -1;
#endif
        }
        else
            out->kind = 4;
        return 0;
    }
    if (VARATT_IS_SHORT(p))
    {
        out->kind = 1;
        out->total = VARSIZE_SHORT(p);
        out->data_off = VARHDRSZ_SHORT;
    }
    else
    {
        if (avail < VARHDRSZ)
            return -2;
        out->total = VARSIZE_4B(p);
        out->data_off = VARHDRSZ;
        if (VARATT_IS_COMPRESSED(p))
        {
            out->kind = 2;
            out->rawsize = VARDATA_COMPRESSED_GET_EXTSIZE(p);
#if PG_VERSION_NUM >= 140000
            out->method = VARDATA_COMPRESSED_GET_COMPRESS_METHOD(p);
#endif
        }
    }
    if (out->total > avail || out->total < out->data_off)
        return -2;
    out->data_len = out->total - out->data_off;
    return 0;
}
"""


def _constants_table():
    names = (*INFOMASK_FLAGS, *INFOMASK2_FLAGS, *INFOMASK_COMBINED, *LP_FLAGS, *PD_FLAGS, *BTP_FLAGS,
             *OTHER_CONSTANTS)
    rows = []
    for name in names:
        rows.append(f"#ifdef {name}\n    {{\"{name}\", (long) ({name})}},\n#endif")
    # sizeof/offsetof of the real structs, named as C would write them
    rows.append('    {"sizeof(ItemIdData)", (long) sizeof(ItemIdData)},')
    rows.append('    {"sizeof(ItemPointerData)", (long) sizeof(ItemPointerData)},')
    rows.append('    {"sizeof(BTPageOpaqueData)", (long) sizeof(BTPageOpaqueData)},')
    rows.append('    {"sizeof(IndexTupleData)", (long) sizeof(IndexTupleData)},')
    rows.append('    {"offsetof(HeapTupleHeaderData, t_ctid)", (long) offsetof(HeapTupleHeaderData, t_ctid)},')
    return "\n".join(rows)


def _source():
    return SOURCE.replace("@CONSTANTS@", _constants_table())


def module_key(build):
    """What the compiled module depends on: the build's identity and install, and this code."""
    h = hashlib.sha256()
    for part in (build.id, str(build.meta.get("identity_hash")), str(build.meta.get("built_at")),
                 str(build.meta.get("fingerprint")), CDEF, _source(), sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _include_dir(build):
    done = subprocess.run([str(build.pg_config), "--includedir-server"], capture_output=True, text=True)
    if done.returncode != 0:
        raise InspectError(f"pg_config of {build.id} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def python_headers_present():
    return (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()


class Layouts:
    """A build's compiled page layouts: `ffi`, `lib`, and the constants by name."""

    def __init__(self, build, module):
        self.build = build
        self.ffi = module.ffi
        self.lib = module.lib
        self.constants = {self.ffi.string(c.name).decode(): c.value
                          for c in (self.lib.pglab_constants[i] for i in range(self.lib.pglab_nconstants))}
        self.blcksz = self.constants["BLCKSZ"]
        self.relseg_size = self.constants["RELSEG_SIZE"]
        self.version_num = self.constants["PG_VERSION_NUM"]

    def has(self, name):
        return name in self.constants

    def offset(self, struct, field):
        return self.ffi.offsetof(struct, field)

    def sizeof(self, struct):
        return self.ffi.sizeof(struct)

    def check(self, rc):
        if rc < 0:
            raise InspectError(f"a page failed a check of {self.build.id}'s headers: "
                               f"{self.ffi.string(self.lib.pglab_error).decode()}")
        return rc


_loaded = {}


def load(settings, build):
    """The build's Layouts, compiling the module on first use (a few seconds)."""
    key = module_key(build)
    if key in _loaded:
        return _loaded[key]
    name = f"_pglab_page_{key}"
    folder = settings.layout.inspect_modules(build.id)
    so = next(iter(folder.glob(f"{name}.*.so")), None) if folder.exists() else None
    if so is None:
        so = _compile(build, name, folder)
    spec = importlib.util.spec_from_file_location(name, so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _loaded[key] = Layouts(build, module)
    return _loaded[key]


def _compile(build, name, folder):
    import cffi

    if not python_headers_present():
        raise InspectError("inspect compiles its page layouts with cffi and needs Python's headers: "
                           "apt-get install python3-dev (or `./lab build-pg` as root, which installs it)")
    ui.aside(f"compiling page layouts from {build.id}'s headers (once per build)")
    folder.mkdir(parents=True, exist_ok=True)
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source(name, _source(), include_dirs=[_include_dir(build)],
                   extra_compile_args=["-w", "-O2"])
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=folder))
    try:
        log = io.StringIO()
        try:
            with redirect_stdout(log), redirect_stderr(log):
                built = Path(ffi.compile(tmpdir=str(work), verbose=False))
        except Exception as exc:   # cffi raises VerificationError/CompileError with the compiler's words
            raise InspectError(f"compiling page layouts for {build.id} failed: {str(exc).splitlines()[-1]}") from None
        target = folder / built.name
        os.replace(built, target)   # atomic: a concurrent loader sees the old name or the whole file
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)

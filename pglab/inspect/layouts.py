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
                   "INDEX_NULL_MASK", "PGShmemMagic")
# enum members (no #ifdef can test them): in every major pglab reads
ENUM_CONSTANTS = ("MAIN_FORKNUM", "FSM_FORKNUM", "VISIBILITYMAP_FORKNUM", "INIT_FORKNUM")

CDEF_HEAD = """
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

"""

# page.c's own structs are read from page.c itself (its "structs Python reads" section)
CDEF_TAIL = """
int pglab_header_read(const char *page, uint32_t blkno, pglab_header *out);
int pglab_header_json(const char *page, uint32_t blkno, int checksums, char *out, uint32_t cap);
int pglab_heap_page_json(const char *page, uint32_t blkno, int checksums, int vm_bits, const pglab_attrs *attrs,
                         int with_values, char *out, uint32_t cap);
int pglab_values_json(const char *data, uint32_t len, int natts, const char *bits, const pglab_attrs *attrs,
                      char *out, uint32_t cap);
int pglab_bt_opaque_read(const char *page, pglab_bt_opaque *out);
int pglab_bt_items(const char *page, pglab_bt_item *out, int max);
int pglab_bt_meta_read(const char *page, pglab_bt_meta *out);
int pglab_tids(const char *p, int n, uint32_t *blocks, uint16_t *offsets);
int pglab_vm_bits(const char *vmpage, uint32_t heapblk);
int pglab_heap_blocks_per_vm_page(void);

int pglab_varlena_read(const char *p, uint32_t avail, pglab_varlena *out);

int pglab_gin_page_json(const char *page, uint32_t blkno, int checksums, const pglab_attrs *const *keys, int ncols,
                        char *out, uint32_t cap);
int pglab_brin_page_json(const char *page, uint32_t blkno, int checksums, const pglab_attrs *stored,
                         const int *nstored, int ncols, char *out, uint32_t cap);
int pglab_hash_ovfl_bit(const char *metapage, uint32_t blkno, uint32_t *bitmapblk, uint32_t *bit);
int pglab_hash_page_json(const char *page, uint32_t blkno, int checksums, uint32_t bmsize, char *out, uint32_t cap);

uint32_t pglab_fsm_block(uint32_t heapblk, int *slot);
int pglab_fsm_category(const char *fsmpage, int slot);
int pglab_fsm_avail(int cat);
int pglab_fsm_depth(void);
int pglab_page_free_space(const char *page, int heap);
int pglab_heap_summarize(const char *page, pglab_fates *f, pglab_heap_summary *sum);
int pglab_buffers(const char *descs, int nbuffers, uint32_t spc, uint32_t db, uint32_t relnumber, pglab_buffer *out,
                  int max);
int pglab_buffer_desc_size(void);
"""

SOURCE = Path(__file__).with_name("page.c")
_STRUCTS_FROM, _STRUCTS_TO = "/* ---- the structs Python reads", "/* ---- a JSON text buffer"


def cdef():
    """What cffi is told: the real structs' fields, page.c's own structs (from page.c), the functions."""
    text = SOURCE.read_text()
    structs = text[text.index(_STRUCTS_FROM):text.index(_STRUCTS_TO)]
    return CDEF_HEAD + structs.split("\n", 1)[1] + CDEF_TAIL

# How page.c prints a type's value (its K_* codes); any other type is shown as hex.
VALUE_KINDS = {"int2": 1, "int4": 2, "int8": 3, "oid": 4, "xid": 4, "cid": 4, "regclass": 4, "regtype": 4,
               "regproc": 4, "bool": 5, "float4": 6, "float8": 7, "char": 8, "name": 9, "uuid": 10, "date": 11,
               "timestamp": 12, "timestamptz": 13, "text": 14, "varchar": 14, "bpchar": 14, "json": 14,
               "xml": 14, "numeric": 15, "tid": 16}
KIND_DROPPED = 255


def _constants_table():
    names = (*INFOMASK_FLAGS, *INFOMASK2_FLAGS, *INFOMASK_COMBINED, *LP_FLAGS, *PD_FLAGS, *BTP_FLAGS,
             *OTHER_CONSTANTS)
    rows = []
    for name in names:
        rows.append(f"#ifdef {name}\n    {{\"{name}\", (long) ({name})}},\n#endif")
    rows += [f'    {{"{name}", (long) ({name})}},' for name in ENUM_CONSTANTS]
    # sizeof/offsetof of the real structs, named as C would write them
    rows.append('    {"sizeof(ItemIdData)", (long) sizeof(ItemIdData)},')
    rows.append('    {"sizeof(ItemPointerData)", (long) sizeof(ItemPointerData)},')
    rows.append('    {"sizeof(BTPageOpaqueData)", (long) sizeof(BTPageOpaqueData)},')
    rows.append('    {"sizeof(IndexTupleData)", (long) sizeof(IndexTupleData)},')
    rows.append('    {"offsetof(HeapTupleHeaderData, t_ctid)", (long) offsetof(HeapTupleHeaderData, t_ctid)},')
    rows.append('    {"offsetof(PGShmemHeader, magic)", (long) offsetof(PGShmemHeader, magic)},')
    rows.append('    {"sizeof(PGShmemHeader.magic)", (long) sizeof(((PGShmemHeader *) 0)->magic)},')
    return "\n".join(rows)


def _source():
    table = _constants_table()
    return (f"{SOURCE.read_text()}\n\ntypedef struct {{ const char *name; long value; }} pglab_const;\n"
            f"const pglab_const pglab_constants[] = {{\n{table}\n}};\n"
            f"const int pglab_nconstants = sizeof(pglab_constants) / sizeof(pglab_constants[0]);\n")


def module_key(build):
    """What the compiled module depends on: the build's identity and install, and this code."""
    h = hashlib.sha256()
    for part in (build.id, build.identity_hash, build.built_at, build.fingerprint, cdef(), _source(), sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _include_dir(build):
    return str(build.pg_config_value("--includedir-server"))


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
        if rc == -1:       # -3: the output buffer was too small (the caller grows it); -2: the caller's "no such"
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
    ffi.cdef(cdef())
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

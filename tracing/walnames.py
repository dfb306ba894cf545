"""WAL record naming that needs no backend: LSNs as text, and record types
for when the resource manager's own rm_identify() cannot be called (the
backend gone, or busy in a critical section).  Pure: imports without gdb.
"""

XLR_INFO_MASK = 0x0F            # access/xlogrecord.h: the low bits are xlog.c's own
XLOG_HEAP_OPMASK = 0x70         # access/heapam_xlog.h
XLOG_HEAP_INIT_PAGE = 0x80
XLOG_XACT_OPMASK = 0x70         # access/xact.h

# The commonest records, from access/heapam_xlog.h, access/xact.h, access/nbtxlog.h.
FALLBACK_NAMES = {
    "Heap": {0x00: "INSERT", 0x10: "DELETE", 0x20: "UPDATE", 0x30: "TRUNCATE", 0x40: "HOT_UPDATE",
             0x50: "CONFIRM", 0x60: "LOCK", 0x70: "INPLACE"},
    "Transaction": {0x00: "COMMIT", 0x10: "PREPARE", 0x20: "ABORT", 0x30: "COMMIT_PREPARED",
                    0x40: "ABORT_PREPARED", 0x50: "ASSIGNMENT", 0x60: "INVALIDATION"},
    "Btree": {0x00: "INSERT_LEAF", 0x10: "INSERT_UPPER", 0x20: "INSERT_META", 0x30: "SPLIT_L",
              0x40: "SPLIT_R", 0x50: "INSERT_POST", 0x60: "DEDUP", 0x70: "DELETE"},
}


def fallback_identify(rmgr, info):
    """The record type as rm_identify() would name it, for the records in
    FALLBACK_NAMES; None for the others."""
    if rmgr == "Heap":
        name = FALLBACK_NAMES["Heap"].get(info & XLOG_HEAP_OPMASK)
        if name and info & XLOG_HEAP_INIT_PAGE:
            name += "+INIT"
        return name
    if rmgr == "Transaction":
        return FALLBACK_NAMES["Transaction"].get(info & XLOG_XACT_OPMASK)
    return FALLBACK_NAMES.get(rmgr, {}).get(info & ~XLR_INFO_MASK & 0xFF)


def unknown_name(info):
    """What pg_waldump prints for a record type its rmgr cannot name."""
    return f"UNKNOWN ({info & ~XLR_INFO_MASK & 0xFF:x})"


def lsn_text(lsn):
    """An LSN as PostgreSQL prints it: 0/01557AD8."""
    lsn = int(lsn)
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:08X}"

"""Names of the heap tuple header's infomask bits.  Pure: imports without gdb.

The values are access/htup_details.h's, unchanged 13..19 (pageinspect's
heap_tuple_infomask_flags() spells the same names).
"""

INFOMASK_FLAGS = (
    (0x0001, "HEAP_HASNULL"), (0x0002, "HEAP_HASVARWIDTH"), (0x0004, "HEAP_HASEXTERNAL"),
    (0x0008, "HEAP_HASOID_OLD"), (0x0010, "HEAP_XMAX_KEYSHR_LOCK"), (0x0020, "HEAP_COMBOCID"),
    (0x0040, "HEAP_XMAX_EXCL_LOCK"), (0x0080, "HEAP_XMAX_LOCK_ONLY"),
    (0x0100, "HEAP_XMIN_COMMITTED"), (0x0200, "HEAP_XMIN_INVALID"),
    (0x0400, "HEAP_XMAX_COMMITTED"), (0x0800, "HEAP_XMAX_INVALID"),
    (0x1000, "HEAP_XMAX_IS_MULTI"), (0x2000, "HEAP_UPDATED"),
    (0x4000, "HEAP_MOVED_OFF"), (0x8000, "HEAP_MOVED_IN"),
)
INFOMASK2_FLAGS = ((0x2000, "HEAP_KEYS_UPDATED"), (0x4000, "HEAP_HOT_UPDATED"), (0x8000, "HEAP_ONLY_TUPLE"))
HEAP_NATTS_MASK = 0x07FF        # t_infomask2's low bits: the number of attributes

_cache = {}


def decode_infomask(infomask, infomask2):
    """Flag names set in t_infomask / t_infomask2, in bit order (cached: a
    trace sees few distinct values, once per tuple)."""
    key = (infomask, infomask2)
    names = _cache.get(key)
    if names is None:
        names = [n for bit, n in INFOMASK_FLAGS if infomask & bit]
        names += [n for bit, n in INFOMASK2_FLAGS if infomask2 & bit]
        _cache[key] = names
    return names


def natts(infomask2):
    """The attribute count t_infomask2 carries."""
    return infomask2 & HEAP_NATTS_MASK

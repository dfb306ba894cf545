"""Column values from a tuple's data area, the way heap_deform_tuple walks it.

Attributes come from pg_attribute (dropped columns included: they keep their
length and alignment, and their bytes are still in old tuples).  Alignment and
varlena headers are read through the build's compiled layouts; what each type's
bytes mean (an int4 is four little-endian bytes, a timestamp is microseconds since
2000-01-01) is the type's on-disk format, decoded here for the common types and
shown as hex for the rest.
"""

import datetime
import decimal
import struct
import uuid
from dataclasses import dataclass
from decimal import Decimal

POSTGRES_EPOCH = datetime.datetime(2000, 1, 1)
VARLENA_KIND = {0: "inline", 1: "short", 2: "compressed", 3: "toast", 4: "external"}
COMPRESSION = {0: "pglz", 1: "lz4"}


@dataclass(frozen=True)
class Attr:
    num: int
    name: str
    typname: str | None       # None for a dropped column
    type: str                 # format_type, or "dropped"
    attlen: int
    attalign: str
    dropped: bool = False
    missing: str | None = None   # attmissingval's text: what a tuple with fewer atts reads (ADD COLUMN ... DEFAULT)


def _align(off, attalign, layouts):
    c = layouts.constants
    a = {"c": 1, "s": c["ALIGNOF_SHORT"], "i": c["ALIGNOF_INT"], "d": c["ALIGNOF_DOUBLE"]}[attalign]
    return (off + a - 1) & ~(a - 1)


def _isnull(bits, i):
    return bits is not None and not (bits[i >> 3] & (1 << (i & 7)))


def deform(layouts, page, start, length, natts, bits, attrs):
    """[{name, type, ...value}] for each attribute of one tuple's data area."""
    out = []
    off = 0
    ffi, lib = layouts.ffi, layouts.lib
    vl = ffi.new("pglab_varlena *")
    base = ffi.from_buffer(page)
    for i, att in enumerate(attrs):
        entry = {"name": att.name, "type": att.type}
        if att.dropped:
            entry["dropped"] = True
        if i >= natts:
            entry["missing"] = True          # not in this tuple: added later; reads as the default
            entry["value"] = att.missing
            out.append(entry)
            continue
        if _isnull(bits, i):
            entry["null"] = True
            entry["value"] = None
            out.append(entry)
            continue
        if att.attlen == -1:
            if off >= length or page[start + off] == 0:   # a pad byte: 4-byte header, aligned
                off = _align(off, att.attalign, layouts)
        elif att.attlen == -2:
            off = _align(off, att.attalign, layouts)
        else:
            off = _align(off, att.attalign, layouts)
        if off >= length:
            entry["truncated"] = True           # a pivot tuple's suffix-truncated key
            out.append(entry)
            continue
        entry["offset"] = off
        if att.attlen > 0:
            raw = page[start + off:start + off + att.attlen]
            size = att.attlen
            if not att.dropped:
                entry["value"] = fixed_value(att.typname, raw)
        elif att.attlen == -1:
            rc = lib.pglab_varlena_read(base + start + off, length - off, vl)
            if rc != 0:
                entry["error"] = "varlena header past the end of the tuple"
                out.append(entry)
                break
            size = vl.total
            entry["varlena"] = VARLENA_KIND[vl.kind]
            if vl.kind == 3:
                entry["toast"] = {"va_rawsize": vl.rawsize, "va_extsize": vl.extsize, "va_valueid": vl.valueid,
                                  "va_toastrelid": vl.toastrelid,
                                  "compression": COMPRESSION.get(vl.method) if vl.method >= 0 else None}
            elif vl.kind == 2:
                entry["compressed"] = {"rawsize": vl.rawsize,
                                       "compression": COMPRESSION.get(vl.method) if vl.method >= 0 else "pglz"}
            elif vl.kind in (0, 1) and not att.dropped:
                data = page[start + off + vl.data_off:start + off + vl.data_off + vl.data_len]
                entry["value"] = varlena_value(att.typname, data)
        else:   # cstring
            end = page.find(b"\0", start + off, start + length)
            end = start + length if end < 0 else end
            size = end - (start + off) + 1
            entry["value"] = page[start + off:end].decode("utf-8", "replace")
        entry["size"] = size
        off += size
        out.append(entry)
    return out


def heap_values(layouts, page, lp_off, lp_len, hoff, natts, bits, attrs):
    return deform(layouts, page, lp_off + hoff, lp_len - hoff, natts, bits, attrs)


def index_values(layouts, page, start, length, natts, bits, attrs):
    return deform(layouts, page, start, length, natts, bits, attrs)


# ---- what the bytes mean -----------------------------------------------------------------

_FIXED = {"int2": "<h", "int4": "<i", "int8": "<q", "oid": "<I", "xid": "<I", "cid": "<I", "float4": "<f",
          "float8": "<d", "regclass": "<I", "regtype": "<I", "regproc": "<I"}


def fixed_value(typname, raw):
    fmt = _FIXED.get(typname)
    if fmt:
        return struct.unpack(fmt, raw)[0]
    if typname == "bool":
        return raw[0] != 0
    if typname == "char":
        return raw[:1].decode("latin-1")
    if typname == "name":
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    if typname == "uuid":
        return str(uuid.UUID(bytes=bytes(raw)))
    if typname == "date":
        days = struct.unpack("<i", raw)[0]
        return (POSTGRES_EPOCH.date() + datetime.timedelta(days=days)).isoformat()
    if typname in ("timestamp", "timestamptz"):
        us = struct.unpack("<q", raw)[0]
        text = _timestamp_text(us)
        return text + "+00" if typname == "timestamptz" else text
    if typname == "tid":
        hi, lo, posid = struct.unpack("<HHH", raw)
        return f"({hi << 16 | lo},{posid})"
    return "\\x" + bytes(raw).hex()


def _timestamp_text(us):
    try:
        ts = POSTGRES_EPOCH + datetime.timedelta(microseconds=us)
    except OverflowError:
        return "infinity" if us > 0 else "-infinity"
    text = ts.strftime("%Y-%m-%d %H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}".rstrip("0")
    return text


def varlena_value(typname, data):
    if typname in ("text", "varchar", "bpchar", "name", "json", "xml"):
        return bytes(data).decode("utf-8", "replace")
    if typname == "numeric":
        return numeric_text(bytes(data))
    return "\\x" + bytes(data).hex()


def numeric_text(data):
    """numeric.c's on-disk NumericData (short or long header) as its text output."""
    header = struct.unpack_from("<H", data)[0]
    if header & 0xC000 == 0xC000:       # NaN, Infinity, -Infinity (special values)
        return {0xC000: "NaN", 0xD000: "Infinity", 0xF000: "-Infinity"}.get(header & 0xF000, "NaN")
    if header & 0xC000 == 0x8000:       # short: sign, display scale and weight in one uint16
        negative = bool(header & 0x2000)
        dscale = (header & 0x1F80) >> 7
        weight = header & 0x003F
        if header & 0x0040:
            weight -= 0x40
        digits_at = 2
    else:
        negative = header & 0xC000 == 0x4000
        dscale = header & 0x3FFF
        weight = struct.unpack_from("<h", data, 2)[0]
        digits_at = 4
    ndigits = (len(data) - digits_at) // 2
    digits = struct.unpack_from(f"<{ndigits}H", data, digits_at)
    with decimal.localcontext() as ctx:
        ctx.prec = 4 * (ndigits + abs(weight) + 2) + dscale
        value = Decimal(0)
        for i, d in enumerate(digits):
            value += Decimal(d).scaleb(4 * (weight - i))
        value = value.quantize(Decimal(1).scaleb(-dscale))
        text = f"{value:f}"
    return "-" + text if negative and value != 0 else text

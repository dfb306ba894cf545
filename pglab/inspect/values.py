"""A relation's attributes as page.c's value decoder needs them.

Attributes come from pg_attribute, dropped columns included: they keep their
length and alignment, and their bytes are still in old tuples.  page.c walks a
tuple's data area the way heap_deform_tuple does and prints each value of the
common types (integers, numeric, text, boolean, date and timestamps, uuid, ...);
other types show as hex, TOASTed and compressed values as what they are.
"""

import json
from dataclasses import dataclass

from ..errors import InspectError
from .layouts import KIND_DROPPED, VALUE_KINDS

ALIGN_KEYS = {"c": None, "s": "ALIGNOF_SHORT", "i": "ALIGNOF_INT", "d": "ALIGNOF_DOUBLE"}
BUFFER = 1 << 20          # a page's JSON; grown when a page needs more


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


class AttrSpec:
    """The C-side description of ATTRS (kept alive as long as this object)."""

    def __init__(self, layouts, attrs):
        ffi = layouts.ffi
        self.layouts = layouts
        self.attrs = list(attrs)
        n = len(self.attrs)
        aligns = {k: (1 if v is None else layouts.constants[v]) for k, v in ALIGN_KEYS.items()}
        self._keep = []
        prefixes, missing = [], []
        for a in self.attrs:
            head = json.dumps({"name": a.name, "type": a.type, **({"dropped": True} if a.dropped else {})})[:-1]
            prefixes.append(self._cstr(head))
            missing.append(self._cstr(json.dumps(a.missing)) if a.missing is not None else ffi.NULL)
        self.c = ffi.new("pglab_attrs *")
        self.c.natts = n
        self.c.attlen = self._array("int16_t[]", [a.attlen for a in self.attrs])
        self.c.align = self._array("uint8_t[]", [aligns[a.attalign] for a in self.attrs])
        self.c.kind = self._array("uint8_t[]", [KIND_DROPPED if a.dropped else VALUE_KINDS.get(a.typname, 0)
                                                for a in self.attrs])
        self.c.prefix = self._array("char *[]", prefixes)
        self.c.missing = self._array("char *[]", missing)
        self.buffer = ffi.new("char[]", BUFFER)

    def _cstr(self, text):
        s = self.layouts.ffi.new("char[]", text.encode())
        self._keep.append(s)
        return s

    def _array(self, ctype, values):
        arr = self.layouts.ffi.new(ctype, values or [0])
        self._keep.append(arr)
        return arr

    def call(self, fn, *args):
        """FN(*args, buffer, size) → the JSON text it wrote, growing the buffer when a page needs more."""
        return call_json(self, fn, *args)


class JsonBuffer:
    """Where page.c writes a page's JSON, for decoders that need no attributes (call_json)."""

    def __init__(self, layouts):
        self.layouts = layouts
        self.buffer = layouts.ffi.new("char[]", BUFFER)


def call_json(holder, fn, *args):
    """FN(*args, buffer, size) with HOLDER's buffer (an AttrSpec or a JsonBuffer) → the JSON text
    FN wrote, the buffer grown when a page needs more."""
    ffi = holder.layouts.ffi
    while True:
        n = holder.layouts.check(fn(*args, holder.buffer, len(holder.buffer)))
        if n != -3:
            return ffi.buffer(holder.buffer, n)[:].decode("utf-8", "replace")
        if len(holder.buffer) >= 64 * BUFFER:
            raise InspectError("a page decoded to more than 64 MB of JSON: not a page pglab can show")
        holder.buffer = ffi.new("char[]", len(holder.buffer) * 4)


def index_values(spec, page, start, length, bits_at):
    """The key values of one index tuple (bits_at: where its null bitmap starts, or None)."""
    lay = spec.layouts
    base = lay.ffi.from_buffer(page)
    bits = base + bits_at if bits_at is not None else lay.ffi.NULL
    return json.loads(spec.call(lay.lib.pglab_values_json, base + start, length, len(spec.attrs), bits, spec.c))

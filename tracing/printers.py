"""gdb pretty-printers for PostgreSQL's data structures, built from the debug
info (gdb.Type fields), so the same code prints every major 13..18.

    (gdb) source /path/to/pglab_tracing/loader.py
    (gdb) python import pglab_tracing.printers as p; p.register(None)
    (gdb) set print pretty on
    (gdb) p parse                     # Query = {commandType = CMD_SELECT, ...}
    (gdb) p/r parse                   # raw: gdb's own printing, no printer
    (gdb) set pg-print-depth 3        # nested nodes deeper than 3 print as Foo {...}
    (gdb) pg-datum fcinfo->args[0].value int4

What is printed:

* A pointer to a Node or to any Node subtype (Query *, Plan *, Expr *,
  PlanState *, ...): the node its tag `((Node *) p)->type` says it is, as
  `Foo = {field = value, ...}`: T_Foo names the struct Foo (the few tags
  without a struct of their own are found by trying: Value nodes before 15,
  the typed Lists).  The base struct a node starts with (`Plan plan`,
  `Expr xpr`, `PlanState ps`) is flattened into it as nodeToString() does,
  and the tag itself is left out.  Nested nodes and Lists print through the
  same printers (gdb's children protocol, so `set print pretty on` indents
  them) down to `pg-print-depth` levels (6 unless set; the leaves -- Value
  nodes, Bitmapsets, Lists of numbers -- print at any depth); NULL prints as
  NULL, `char *` as a quoted string, enums by name (gdb's default),
  Bitmapsets as `(b 1 3 5)`.  A nested EState (which every PlanState points
  to) prints as `EState {...}`, a pointer back to a node being printed as
  `Foo {...} (printed above)`.
* A Node struct itself (`p *plan`): its fields; a base struct whose tag
  names a larger node (`*plan` of a SeqScan) prints as that node.
* List *: `List`, `IntList`, `OidList` or `XidList` (16+) with its elements
  (nodes, ints, OIDs or xids), read from `length` and `elements`.
* HeapTupleHeader / HeapTupleHeaderData: xmin, xmax, cid (or xvac for tuples
  moved by an old VACUUM FULL), ctid, infomask and infomask2 with their flag
  names, natts, hoff.
* ItemPointerData / ItemPointer: `(block,offset)`.
* RelFileNode (13..15) / RelFileLocator (16+): `spc/db/rel`.
* MemoryContext: its type, name, ident and mem_allocated.
* Relation: relname, oid, relkind, rd_refcnt and its file locator.
* Bitmapset *: `(b 1 3 5)`, as outfuncs.c writes it.

A printer never raises into gdb: memory it cannot read prints as
`<unreadable 0x...>`.  The command `pg-datum EXPR TYPE` prints a Datum of
one of a few common types (see DatumCommand).  Standard library and gdb only.
"""

import struct
import sys

import gdb
import gdb.printing
import gdb.types

from . import common
from .infomask import INFOMASK_FLAGS, INFOMASK2_FLAGS, natts

DEFAULT_DEPTH = 6           # a Query's expressions in full; `bt full` prints each local node that deep
STRING_LIMIT = 1000         # bytes of a char * shown before "..."
LIST_LIMIT = 1_000_000      # a List longer than this is garbage, not a List

# Tags whose struct is not named after them.  Each candidate is tried in
# turn; the first that exists in this build's debug info and is a Node wins
# (Value nodes have their own structs from 15, the typed Lists share List).
TAG_STRUCTS = {
    "IntList": ("List",), "OidList": ("List",), "XidList": ("List",),
    "Integer": ("Value",), "Float": ("Value",), "String": ("Value",),
    "BitString": ("Value",), "Null": ("Value",), "Boolean": ("Value",),
}
VALUE_TAGS = ("Integer", "Float", "String", "BitString", "Null", "Boolean")
LIST_TAGS = ("List", "IntList", "OidList", "XidList")
LIST_CELL_FIELD = {"List": "ptr_value", "IntList": "int_value", "OidList": "oid_value", "XidList": "xid_value"}

_ERRORS = (gdb.error, gdb.MemoryError, ValueError, TypeError, KeyError, IndexError, OverflowError,
           AttributeError, RuntimeError, UnicodeError)

# How deep the nested printers are: a Node printer's children() raises it
# while gdb prints the child it just yielded (gdb prints children one by
# one, between two steps of the generator), so the printer gdb looks up for
# that child knows its depth.
_depth = [0]
_ancestors = []         # addresses of the nodes whose children gdb is printing now
_settings = {"depth": DEFAULT_DEPTH}

# Nodes every part of a query points to: printed in full at the top of a
# print only (`p *estate`), nested as `EState {...}`, or every PlanState
# would print the whole query state again.
SHARED_NODES = ("EState",)


# ---------------------------------------------------------------- types

def _basic(t):
    """The type without typedefs, const or volatile."""
    return gdb.types.get_basic_type(t)


def _struct_name(t):
    return t.tag or t.name


_node_structs = {}


def is_node_struct(t):
    """Whether the (basic) struct type t is a Node: its first field is the
    NodeTag `type`, or a struct that is itself a Node (Plan in SeqScan)."""
    if t.code != gdb.TYPE_CODE_STRUCT:
        return False
    key = _struct_name(t)
    hit = _node_structs.get(key) if key else None
    if hit is None:
        hit = False
        fields = t.fields()
        if fields:
            first = _basic(fields[0].type)
            if fields[0].name == "type" and first.code == gdb.TYPE_CODE_ENUM and _struct_name(first) == "NodeTag":
                hit = True
            elif first.code == gdb.TYPE_CODE_STRUCT and fields[0].name is not None:
                hit = is_node_struct(first)
        if key:
            _node_structs[key] = hit
    return hit


def base_chain(t):
    """Names of t and of the structs it starts with: SeqScan, Scan, Plan."""
    names = []
    while t.code == gdb.TYPE_CODE_STRUCT and t.fields():
        names.append(_struct_name(t))
        t = _basic(t.fields()[0].type)
    return names


_tag_names = {}


def tag_name(value):
    """The NodeTag's name without T_ ('Query'), or None when the number
    is not a tag of this build."""
    if not _tag_names:
        for f in common.lookup_type("NodeTag").strip_typedefs().fields():
            _tag_names[int(f.enumval)] = f.name
    name = _tag_names.get(int(value))
    return name[2:] if name and name.startswith("T_") else None


_tag_types = {}


def struct_for_tag(name):
    """The struct type (basic) of the node tagged T_<name>, or None."""
    if name in _tag_types:
        return _tag_types[name]
    found = None
    for candidate in (name,) + TAG_STRUCTS.get(name, ()):
        try:
            t = _basic(gdb.lookup_type(candidate))
        except gdb.error:
            continue
        if is_node_struct(t):
            found = t
            break
    _tag_types[name] = found
    return found


def node_ptr_type():
    return common.lookup_type("Node").pointer()


def read_tag(addr):
    """The tag name of the node at addr (None if not a tag)."""
    tag = gdb.Value(addr).cast(node_ptr_type()).dereference()["type"]
    return tag_name(int(tag))


_layouts = {}


def layout(t):
    """(display name, [gdb.Field path]) of a node struct's fields: the tag
    left out and the base struct it starts with flattened into it."""
    key = _struct_name(t)
    hit = _layouts.get(key)
    if hit is None:
        hit = []
        for i, f in enumerate(t.fields()):
            ft = _basic(f.type)
            if i == 0 and f.name == "type" and ft.code == gdb.TYPE_CODE_ENUM:
                continue
            if i == 0 and ft.code == gdb.TYPE_CODE_STRUCT and is_node_struct(ft):
                hit.extend((name, [f] + path) for name, path in layout(ft))
                continue
            hit.append((f.name or "<anonymous>", [f]))
        if key:
            _layouts[key] = hit
    return hit


# ---------------------------------------------------------------- small helpers

def unreadable(addr):
    try:
        return f"<unreadable {int(addr):#x}>"
    except _ERRORS:
        return "<unreadable>"


def read_cstring(addr, limit=STRING_LIMIT):
    """The NUL-terminated string at addr (bytes), read page by page so a
    string near the end of a mapping is still read; None if unreadable."""
    inferior = gdb.selected_inferior()
    out = b""
    while len(out) < limit:
        chunk = min(limit - len(out), 4096 - (addr + len(out)) % 4096)
        try:
            data = bytes(inferior.read_memory(addr + len(out), chunk))
        except _ERRORS:
            return out if out else None
        nul = data.find(b"\0")
        if nul >= 0:
            return out + data[:nul]
        out += data
    return out + b"..."


def quote(raw):
    """A C-style quoted string for bytes read from the backend."""
    text = raw.decode("utf-8", "backslashreplace")
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{text}"'


def cstring_text(ptr):
    """`"text"` for a char *, NULL for NULL, <unreadable ...> for bad memory."""
    addr = int(ptr)
    if addr == 0:
        return "NULL"
    raw = read_cstring(addr)
    return unreadable(addr) if raw is None else quote(raw)


def is_char_pointer(t):
    return t.code == gdb.TYPE_CODE_PTR and t.target().unqualified().strip_typedefs().name == "char"


def flag_names(value, flags):
    return [name for bit, name in flags if value & bit]


def flags_text(value, flags):
    """`0x0801 (HEAP_HASNULL | HEAP_XMAX_INVALID)`; just the number when no flag is set."""
    names = flag_names(value, flags)
    return f"{value:#06x} ({' | '.join(names)})" if names else f"{value:#06x}"


def item_pointer_text(ip):
    """`(block,offset)` of an ItemPointerData value."""
    blk = ip["ip_blkid"]
    return f"({(int(blk['bi_hi']) << 16) | int(blk['bi_lo'])},{int(ip['ip_posid'])})"


def locator_text(loc):
    """`spc/db/rel` of a RelFileNode or RelFileLocator value (three Oids in
    that order in both)."""
    return "/".join(str(int(loc[f])) for f in loc.type.strip_typedefs().fields()[:3])


class Text:
    """A printer that prints a fixed text."""

    def __init__(self, text):
        self.text = text

    def to_string(self):
        return self.text


# ---------------------------------------------------------------- Node printers

def _child(value):
    """What a Node printer yields for one field: a gdb.Value (printed by gdb,
    through these printers for nodes) or a text printed as it is."""
    t = _basic(value.type)
    if is_char_pointer(t):
        return cstring_text(value)
    if t.code == gdb.TYPE_CODE_PTR:
        int(value)                      # a pointer field we cannot read raises here
        return value
    if t.code == gdb.TYPE_CODE_UNION and value.address is not None and is_node_union(t):
        return value.address.cast(node_ptr_type())      # A_Const's val (15+): the member its tag says
    value.fetch_lazy()
    return value


def is_node_union(t):
    """Whether a union's members are nodes, the first a Node (ValUnion)."""
    fields = t.fields()
    return bool(fields) and fields[0].name == "node" and is_node_struct(_basic(fields[0].type))


def _nested(name, child):
    """Yield one child; a gdb.Value is printed (by gdb, through these
    printers) one level deeper than its parent."""
    if not isinstance(child, gdb.Value):
        yield name, child
        return
    _depth[0] += 1
    try:
        yield name, child
    finally:
        _depth[0] -= 1


class NodePrinter:
    """A node struct's fields as `Tag = {field = value, ...}`."""

    def __init__(self, value, label):
        self.value = value          # the struct (a gdb.Value of a node struct type)
        self.label = label

    def to_string(self):
        return self.label

    def children(self):
        try:
            fields = layout(_basic(self.value.type))
        except _ERRORS:
            return
        addr = int(self.value.address) if self.value.address is not None else None
        _ancestors.append(addr)
        try:
            yield from self._fields(fields)
        finally:
            _ancestors.pop()

    def _fields(self, fields):
        for name, path in fields:
            v = self.value
            try:
                for f in path:
                    v = v[f]
                child = _child(v)
            except _ERRORS:
                child = unreadable(v.address) if v.address is not None else "<unreadable>"
            yield from _nested(name, child)


class ListPrinter:
    """A List's elements: nodes for List, numbers for the typed Lists."""

    def __init__(self, addr, label):
        self.addr = addr
        self.label = label

    def to_string(self):
        return self.label

    def display_hint(self):
        return "array"

    def children(self):
        try:
            lst = gdb.Value(self.addr).cast(common.lookup_type("List").pointer()).dereference()
            length = int(lst["length"])
            cells = lst["elements"]
            field = LIST_CELL_FIELD[self.label]
        except _ERRORS:
            yield "[0]", unreadable(self.addr)
            return
        if not 0 <= length <= LIST_LIMIT:
            yield "[0]", f"<not a List: length {length} at {self.addr:#x}>"
            return
        for i in range(length):
            try:
                cell = cells[i][field]
                if field == "ptr_value":
                    child = cell.cast(node_ptr_type())
                    int(child)
                else:
                    child = int(cell)
            except _ERRORS:
                child = unreadable(int(cells) + i * cells.type.target().sizeof)
            yield from _nested(f"[{i}]", child)


def value_node_text(value, label):
    """`String "abc"`, `Integer 5`... for a Value node struct: its one field
    (15+), or the member of the `val` union (Value, before 15) the tag uses."""
    fields = [f for f in value.type.strip_typedefs().fields() if f.name != "type"]
    if not fields:
        return label
    v = value[fields[0]]
    if fields[0].name == "val":             # struct Value { NodeTag type; union ValUnion val; }
        if label == "Null":
            return "Null"
        v = v["ival"] if label == "Integer" else v["str"]
    t = _basic(v.type)
    if is_char_pointer(t):
        return f"{label} {cstring_text(v)}"
    if label == "Float" and t.code != gdb.TYPE_CODE_FLT:
        return f"{label} {cstring_text(v)}"
    return f"{label} {v.format_string(raw=True)}"


def bitmapset_text(bms):
    """`(b 1 3 5)` for a Bitmapset (struct value)."""
    nwords = int(bms["nwords"])
    if not 0 <= nwords <= LIST_LIMIT:
        return f"<not a Bitmapset: nwords {nwords}>"
    width = _basic(bms["words"].type.target()).sizeof * 8
    raw = bytes(gdb.selected_inferior().read_memory(int(bms["words"].address), nwords * width // 8))
    members = []
    for w in range(nwords):
        word = int.from_bytes(raw[w * width // 8:(w + 1) * width // 8], sys.byteorder)
        members.extend(w * width + b for b in range(width) if word >> b & 1)
    return "(b" + "".join(f" {m}" for m in members) + ")"


def node_printer(addr, depth, static=None):
    """The printer for the node at addr, chosen by its tag.  `static` is the
    struct type the pointer points to, used when the tag has no struct."""
    if addr == 0:
        return Text("NULL")
    try:
        label = read_tag(addr)
    except _ERRORS:
        return Text(unreadable(addr))
    if label is None:
        try:
            tag = int(gdb.Value(addr).cast(node_ptr_type()).dereference()["type"])
        except _ERRORS:
            return Text(unreadable(addr))
        return Text(f"<not a Node: tag {tag} at {addr:#x}>")
    leaf = label in VALUE_TAGS or label in LIST_TAGS[1:] or label == "Bitmapset"
    if (depth > _settings["depth"] or (depth and label in SHARED_NODES)) and not leaf:
        return Text(f"{label} {{...}}")
    if addr in _ancestors:
        return Text(f"{label} {{...}} (printed above)")
    try:
        if label in LIST_TAGS:
            return ListPrinter(addr, label)
        if label == "Bitmapset":
            return Text(bitmapset_text(gdb.Value(addr).cast(common.lookup_type("Bitmapset").pointer()).dereference()))
        t = struct_for_tag(label) or static
        if t is None:
            return Text(f"<{label} at {addr:#x}>")
        value = gdb.Value(addr).cast(t.pointer()).dereference()
        if label in VALUE_TAGS:
            return Text(value_node_text(value, label))
        return NodePrinter(value, label)
    except _ERRORS:
        return Text(unreadable(addr))


# ---------------------------------------------------------------- other printers

class HeapTupleHeaderPrinter:
    """xmin, xmax, cid/xvac, ctid, infomask flags, natts and hoff of a heap
    tuple header."""

    def __init__(self, value):
        self.value = value          # HeapTupleHeaderData

    def to_string(self):
        return "HeapTupleHeader"

    def children(self):
        try:
            h = self.value
            heap = h["t_choice"]["t_heap"]
            infomask, infomask2 = int(h["t_infomask"]), int(h["t_infomask2"])
            rows = [("xmin", int(heap["t_xmin"])), ("xmax", int(heap["t_xmax"]))]
            moved = infomask & 0xC000       # HEAP_MOVED_OFF | HEAP_MOVED_IN: t_field3 is xvac
            rows.append(("xvac", int(heap["t_field3"]["t_xvac"])) if moved
                        else ("cid", int(heap["t_field3"]["t_cid"])))
            rows.append(("ctid", item_pointer_text(h["t_ctid"])))
            rows.append(("infomask", flags_text(infomask, INFOMASK_FLAGS)))
            rows.append(("infomask2", flags_text(infomask2, INFOMASK2_FLAGS)))
            rows.append(("natts", natts(infomask2)))
            rows.append(("hoff", int(h["t_hoff"])))
        except _ERRORS:
            rows = [("header", unreadable(self.value.address or 0))]
        yield from rows


def memory_context_text(ctx):
    """`AllocSetContext "ExecutorState" (ident) mem_allocated 8192`."""
    kind = tag_name(int(ctx["type"])) or str(ctx["type"])
    text = f"{kind} {cstring_text(ctx['name'])}"
    if int(ctx["ident"]):
        text += f" ({cstring_text(ctx['ident'])})"
    if any(f.name == "mem_allocated" for f in ctx.type.strip_typedefs().fields()):
        text += f" mem_allocated {int(ctx['mem_allocated'])}"
    return text


def relation_text(rel):
    """`Relation "t" oid 16384 relkind 'r' refcnt 1 locator 1663/5/16384`
    (the locator is rd_node before 16, rd_locator from 16)."""
    form = rel["rd_rel"].dereference()
    relname = read_cstring(int(form["relname"]["data"].address), 64)
    fields = [f.name for f in rel.type.strip_typedefs().fields()]
    loc = rel["rd_locator" if "rd_locator" in fields else "rd_node"]
    return (f"Relation {quote(relname or b'')} oid {int(rel['rd_id'])} relkind '{chr(int(form['relkind']))}' "
            f"refcnt {int(rel['rd_refcnt'])} locator {locator_text(loc)}")


def _summary(text_of, value):
    """Text(text_of(value)), or <unreadable ...> when memory fails."""
    try:
        return Text(text_of(value))
    except _ERRORS:
        return Text(unreadable(value.address) if value.address is not None else "<unreadable>")


# ---------------------------------------------------------------- lookup

# One-line texts, for the struct and for a pointer to it.
SUMMARIES = {
    "ItemPointerData": item_pointer_text,
    "RelFileNode": locator_text,
    "RelFileLocator": locator_text,
    "Bitmapset": bitmapset_text,
}
# One-line texts for a pointer only: `p *rel` is gdb's own printing of the struct.
POINTER_SUMMARIES = {
    "MemoryContextData": memory_context_text,
    "RelationData": relation_text,
}


def _pointer_printer(value, target):
    """The printer for a pointer to one of the structs above, or None."""
    name = _struct_name(target)
    if name != "HeapTupleHeaderData" and name not in SUMMARIES and name not in POINTER_SUMMARIES:
        return None
    if int(value) == 0:
        return Text("(b)" if name == "Bitmapset" else "NULL")    # a NULL Bitmapset is the empty set
    pointee = value.cast(target.pointer()).dereference()
    if name == "HeapTupleHeaderData":
        return HeapTupleHeaderPrinter(pointee)
    return _summary(SUMMARIES.get(name) or POINTER_SUMMARIES[name], pointee)


def _struct_printer(value, t, depth):
    """A printer for a node struct value (not a pointer)."""
    name = _struct_name(t)
    if name == "List" and value.address is not None:
        return node_printer(int(value.address), depth)
    label = name
    if value.address is not None:
        # `p *plan`: print the node the tag names when it starts with this struct
        # (never the struct again: a node's base struct is printed flattened into it)
        try:
            tag = read_tag(int(value.address))
            real = struct_for_tag(tag) if tag else None
            if tag in VALUE_TAGS and real is not None:
                return Text(value_node_text(value.address.cast(real.pointer()).dereference(), tag))
            if real is not None and (name in base_chain(real) or not layout(t)):
                value, label = value.address.cast(real.pointer()).dereference(), tag
            elif real is not None and _struct_name(real) == name:
                label = tag
        except _ERRORS:
            pass
    if depth > _settings["depth"]:
        return Text(f"{label} {{...}}")
    return NodePrinter(value, label)


def lookup(value):
    """The printer for a gdb.Value, or None to let gdb print it."""
    try:
        t = _basic(value.type)
        depth = _depth[0]
        if t.code == gdb.TYPE_CODE_PTR:
            target = _basic(t.target())
            if target.code != gdb.TYPE_CODE_STRUCT:
                return None
            special = _pointer_printer(value, target)
            if special is not None:
                return special
            if is_node_struct(target):
                return node_printer(int(value), depth, target)
            return None
        if t.code == gdb.TYPE_CODE_STRUCT:
            name = _struct_name(t)
            if name == "HeapTupleHeaderData":
                return HeapTupleHeaderPrinter(value)
            if name in SUMMARIES:
                return _summary(SUMMARIES[name], value)
            if name in POINTER_SUMMARIES:
                return None
            if is_node_struct(t):
                return _struct_printer(value, t, depth)
        return None
    except _ERRORS:
        try:
            return Text(unreadable(int(value.address) if value.address is not None else int(value)))
        except _ERRORS:
            return Text("<unreadable>")


class PostgresPrinters(gdb.printing.PrettyPrinter):
    """pglab's printers for PostgreSQL, as one entry of `info pretty-printer`."""

    def __init__(self):
        super().__init__("pglab-postgres")

    def __call__(self, value):
        if not self.enabled:
            return None
        return lookup(value)


# ---------------------------------------------------------------- pg-datum

TYPE_OIDS = {
    "bool": 16, "boolean": 16, "name": 19, "int8": 20, "bigint": 20, "int2": 21, "smallint": 21,
    "int4": 23, "int": 23, "integer": 23, "text": 25, "oid": 26, "float4": 700, "real": 700,
    "float8": 701, "varchar": 1043, "numeric": 1700,
}
TEXT_LIKE = (25, 1043)


def varlena_text(addr):
    """The contents of an in-line, uncompressed varlena at addr (bytes), or
    None when it is compressed or a TOAST pointer (little-endian headers)."""
    inferior = gdb.selected_inferior()
    first = bytes(inferior.read_memory(addr, 1))[0]
    if first == 0x01:                      # VARATT_IS_1B_E: a TOAST pointer
        return None
    if first & 0x01:                        # VARATT_IS_1B: 1-byte header
        size = (first >> 1) & 0x7F
        return bytes(inferior.read_memory(addr + 1, size - 1))
    header = int.from_bytes(bytes(inferior.read_memory(addr, 4)), "little")
    if header & 0x03 == 0x02:               # VARATT_IS_4B_C: compressed in line
        return None
    size = (header >> 2) & 0x3FFFFFFF
    return bytes(inferior.read_memory(addr + 4, size - 4))


def _signed(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def datum_text(datum, type_oid):
    """The value of a Datum of type type_oid, as SQL would print it."""
    if type_oid == 16:
        return "true" if datum & 0xFF else "false"
    if type_oid == 21:
        return str(_signed(datum, 16))
    if type_oid == 23:
        return str(_signed(datum, 32))
    if type_oid == 20:
        return str(_signed(datum, 64))
    if type_oid == 26:
        return str(datum & 0xFFFFFFFF)
    if type_oid == 700:
        return repr(struct.unpack("<f", (datum & 0xFFFFFFFF).to_bytes(4, "little"))[0])
    if type_oid == 701:
        return repr(struct.unpack("<d", datum.to_bytes(8, "little"))[0])
    if type_oid == 19:
        raw = read_cstring(datum, 64)
        return unreadable(datum) if raw is None else quote(raw)
    if type_oid in TEXT_LIKE:
        raw = varlena_text(datum)
        if raw is not None:
            return quote(raw)
        return _call_out("text_to_cstring((const text *) {:#x})", datum, "compressed or TOASTed text")
    if type_oid == 1700:
        return _call_out("(char *) DirectFunctionCall1Coll(numeric_out, 0, (Datum) {:#x})", datum, "a numeric")
    raise gdb.GdbError(f"pg-datum knows types {', '.join(sorted(TYPE_OIDS))} (or their OIDs); not {type_oid}")


def _call_out(template, datum, what):
    """A backend output function's result, when calling into the backend is safe now."""
    why = common.unsafe_to_call()
    if why is not None:
        return f"<{what} at {datum:#x}: cannot call into the backend here: {why}>"
    return common.call_char_star(template.format(datum))


class DatumCommand(gdb.Command):
    """Print a Datum as a value of a type: pg-datum EXPR TYPE.

TYPE is a type name (int2 int4 int8 bool float4 float8 oid text varchar name
numeric, or smallint integer bigint boolean real) or its OID.  int*, bool,
float*, oid are read from the Datum itself (passed by value); text, varchar
and name from the memory it points to; numeric, and compressed or TOASTed
text, through the backend's own output function (an inferior call, made
only at a safe stop).  Example: pg-datum slot->tts_values[0] int4"""

    def __init__(self):
        super().__init__("pg-datum", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        parts = arg.rsplit(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("usage: pg-datum EXPR TYPE   (TYPE: a name like int4 or text, or an OID)")
        expr, type_name = parts
        type_oid = int(type_name) if type_name.isdigit() else TYPE_OIDS.get(type_name.lower())
        if type_oid is None:
            raise gdb.GdbError(f"unknown type {type_name!r}: pg-datum knows {', '.join(sorted(TYPE_OIDS))}")
        datum = int(gdb.parse_and_eval(expr).cast(gdb.lookup_type("unsigned long")))
        try:
            gdb.write(datum_text(datum, type_oid) + "\n")
        except (gdb.MemoryError, gdb.error) as exc:
            if isinstance(exc, gdb.GdbError):
                raise
            raise gdb.GdbError(f"{unreadable(datum)}: {exc}") from None


class DepthParameter(gdb.Parameter):
    """How many levels of nested nodes pglab's printers print; deeper ones
    print as `Foo {...}`."""

    set_doc = "Set how many levels of nested PostgreSQL nodes are printed."
    show_doc = "Show how many levels of nested PostgreSQL nodes are printed."

    def __init__(self):
        super().__init__("pg-print-depth", gdb.COMMAND_DATA, gdb.PARAM_ZUINTEGER)
        self.value = _settings["depth"]

    def get_set_string(self):
        _settings["depth"] = int(self.value)
        return ""

    def get_show_string(self, svalue):
        return f"Nested PostgreSQL nodes are printed {svalue} levels deep."


_registered = {}


def register(objfile=None):
    """Add the printers to objfile (None: to every program gdb debugs), and
    the command pg-datum and the parameter pg-print-depth.  Safe to call again."""
    gdb.printing.register_pretty_printer(objfile, PostgresPrinters(), replace=True)
    if not _registered:
        _registered["datum"] = DatumCommand()
        _registered["depth"] = DepthParameter()
        gdb.events.before_prompt.connect(_reset_depth)
        gdb.events.new_objfile.connect(_clear_caches)
        gdb.events.clear_objfiles.connect(_clear_caches)


def _reset_depth():
    """Back to the top level at each prompt, whatever a print left behind."""
    _depth[0] = 0
    _ancestors.clear()


def _clear_caches(event=None):
    """Forget what was learnt from the debug info when the program changes."""
    for cache in (_node_structs, _tag_names, _tag_types, _layouts):
        cache.clear()

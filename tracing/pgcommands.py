"""gdb commands for looking around a stopped PostgreSQL backend, for learners.

    (gdb) source /path/to/pglab_tracing/loader.py
    (gdb) python import pglab_tracing.pgcommands
    (gdb) pg-stack            # the statement and where the backend is in it
    (gdb) pg-locks            # the heavyweight locks it holds and waits for
    (gdb) pg-memctx [DEPTH]   # its memory context tree with sizes
    (gdb) pg-page BUFFER      # the page a shared (or local) buffer holds

Everything is read from the backend's memory through the debug info's own
types and field names, with no call into the backend, so the commands work
at any stop, on every major 13..18.  Registered on import.  Standard library
and gdb only.
"""

import os

import gdb

from . import common, locks, memory
from .infomask import INFOMASK_FLAGS, INFOMASK2_FLAGS, natts

_ERRORS = (gdb.error, gdb.MemoryError, ValueError, TypeError, KeyError, IndexError, OverflowError)


def _basic(t):
    return t.strip_typedefs().unqualified()


def _has_field(value, name):
    return any(f.name == name for f in _basic(value.type).fields())


def _location(frame):
    sal = frame.find_sal()
    if sal.symtab is None:
        return ""
    return f"{os.path.basename(sal.symtab.filename)}:{sal.line}"


def _oneline(text, limit=200):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------- pg-stack

# The functions a statement passes through, with the stage each one is.
STAGES = {
    "exec_simple_query": "simple query", "exec_parse_message": "parse message",
    "exec_bind_message": "bind message", "exec_execute_message": "execute message",
    "pg_parse_query": "parse", "raw_parser": "parse",
    "pg_rewrite_query": "rewrite", "QueryRewrite": "rewrite",
    "pg_plan_queries": "plan", "pg_plan_query": "plan", "planner": "plan", "standard_planner": "plan",
    "subquery_planner": "plan", "grouping_planner": "plan", "query_planner": "plan", "create_plan": "plan",
    "PortalStart": "portal start", "PortalRun": "portal run", "PortalRunSelect": "portal run",
    "PortalRunMulti": "portal run", "PortalRunUtility": "utility", "ProcessQuery": "execute",
    "ProcessUtility": "utility", "standard_ProcessUtility": "utility",
    "ExecutorStart": "executor start", "standard_ExecutorStart": "executor start",
    "ExecutorRun": "executor run", "standard_ExecutorRun": "executor run", "ExecutePlan": "execute plan",
    "ExecutorFinish": "executor finish", "standard_ExecutorFinish": "executor finish",
    "ExecutorEnd": "executor end", "standard_ExecutorEnd": "executor end",
    "StartTransactionCommand": "transaction", "CommitTransactionCommand": "commit",
    "SPI_execute": "SPI", "SPI_execute_plan": "SPI", "_SPI_execute_plan": "SPI",
}
# Split by major (parse_analyze_fixedparams in 15+...): matched by prefix.
STAGE_PREFIXES = (("parse_analyze", "analyze"), ("pg_analyze_and_rewrite", "analyze and rewrite"))


def stage_of(name):
    """The stage a function is, or None."""
    if name in STAGES:
        return STAGES[name]
    for prefix, stage in STAGE_PREFIXES:
        if name.startswith(prefix):
            return stage
    return None


def _derives_from(t, base):
    """Whether struct t is `base` or starts with it (ModifyTableState -> PlanState)."""
    while t.code == gdb.TYPE_CODE_STRUCT:
        if (t.tag or t.name) == base:
            return True
        fields = t.fields()
        if not fields:
            return False
        t = _basic(fields[0].type)
    return False


def _arguments(frame, names):
    """The frame function's arguments with these names (never a global or a
    local of the same name), in the order of `names`."""
    try:
        block = frame.block()
    except RuntimeError:
        return []
    while block is not None and block.function is None:
        block = block.superblock
    if block is None:
        return []
    found = {sym.name: sym for sym in block if sym.is_argument and sym.name in names}
    return [found[n] for n in names if n in found]


def plan_node_of(frame):
    """(address, plan tag) of the PlanState or Plan an Exec* frame works on
    (its `node` or `pstate` argument), or None."""
    name = frame.name() or ""
    if not name.startswith("Exec"):
        return None
    for sym in _arguments(frame, ("pstate", "node")):
        value = frame.read_var(sym)
        t = _basic(value.type)
        if t.code != gdb.TYPE_CODE_PTR or int(value) == 0:
            continue
        target = _basic(t.target())
        if _derives_from(target, "PlanState"):
            ps = value.cast(common.lookup_type("PlanState").pointer())
            plan = ps["plan"]
            tag = plan.cast(common.lookup_type("Node").pointer())["type"] if int(plan) else None
            return int(value), str(tag).removeprefix("T_") if tag is not None else "?"
        if _derives_from(target, "Plan"):
            tag = value.cast(common.lookup_type("Node").pointer())["type"]
            return int(value), str(tag).removeprefix("T_")
    return None


def stack_lines(limit=200):
    """One (frame number, function, what, location) per interesting frame,
    innermost first: frame 0, the plan nodes being executed, the stages."""
    rows = []
    frame = gdb.newest_frame()
    level = 0
    last_node = None
    while frame is not None and level < limit:
        name = frame.name() or "??"
        what = None
        try:
            node = plan_node_of(frame)
        except _ERRORS:
            node = None
        if node is not None:
            if last_node is None or node[0] != last_node:
                what = node[1]
            last_node = node[0]
        else:
            what = stage_of(name)
        if level == 0 and what is None:
            what = "(here)"
        if what is not None:
            rows.append((level, name, what, _location(frame)))
        frame = frame.older()
        level += 1
    return rows


class StackCommand(gdb.Command):
    """Print the statement the backend runs and where it is in it: pg-stack.

The first line is debug_query_string; then one line per frame that is a
stage (parse, analyze, rewrite, plan, portal, executor...) or a plan node
being executed (the Exec* function and its PlanState's plan node), innermost
first, with the frame number (for `frame N`) and the source location."""

    def __init__(self):
        super().__init__("pg-stack", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        query = common.find_variable("debug_query_string")
        try:
            text = common.cstring(query, 2000) if query is not None else None
        except _ERRORS:
            text = None
        gdb.write(f"statement: {_oneline(text) if text else '(none)'}\n")
        for level, name, what, where in stack_lines():
            gdb.write(f"#{level:<3} {name:32} {what:20} {where}".rstrip() + "\n")


# ---------------------------------------------------------------- pg-locks

# Fast-path lock slots (storage/lmgr/lock.c): 3 bits per slot, one per weak
# relation lock mode starting at AccessShareLock (1); 18 groups the slots by
# 16 (FP_LOCK_SLOTS_PER_GROUP), one uint64 of bits per group.
FP_BITS_PER_SLOT = 3
FP_SLOTS_PER_WORD = 16
DEFAULT_LOCKMETHOD = 1


def _queue_elements(head, link_field, elem_type):
    """The elements of a shared-memory list head whose link is `link_field`
    inside elem_type: SHM_QUEUE (13..15) or dlist_head (16+) alike, both
    circular lists of links pointing at the next link."""
    head_link = head["head"] if _has_field(head, "head") else head
    head_addr = int(head_link.address)
    offset = common.field_offset(elem_type, link_field)[0]
    ptr = int(head_link["next"])
    elem_ptr = common.lookup_type(elem_type).pointer()
    seen = 0
    while ptr not in (0, head_addr) and seen < 100_000:
        elem = gdb.Value(ptr - offset).cast(elem_ptr)
        yield elem
        ptr = int(elem[link_field]["next"])
        seen += 1


def _fields_text(rec):
    """The tag as pg_locks' columns: database=5 relation=16384, virtualxid=3/7..."""
    skip = ("locktype", "tag_type", "method", "virtualxid_proc", "virtualxid_lxid")
    parts = []
    if "virtualxid_proc" in rec:
        parts.append(f"virtualxid={rec['virtualxid_proc']}/{rec['virtualxid_lxid']}")
    parts += [f"{k}={v}" for k, v in rec.items() if k not in skip]
    return " ".join(parts)


def _vxid(proc):
    """(proc number, local xid) of a PGPROC: vxid.procNumber in 17+, backendId before."""
    if _has_field(proc, "vxid"):
        return int(proc["vxid"]["procNumber"]), int(proc["vxid"]["lxid"])
    return int(proc["backendId"]), int(proc["lxid"])


def _xid(proc):
    """The PGPROC's top transaction id: its own field from 14, PGXACT's in 13."""
    if _has_field(proc, "xid"):
        return int(proc["xid"])
    pgxact = common.find_variable("ProcGlobal")["allPgXact"][int(proc["pgprocno"])]
    return int(pgxact["xid"])


def fast_path_locks(proc, names):
    """Locks held in the PGPROC's fast-path slots: (tag dict, mode name)."""
    out = []
    bits_field, relids = proc["fpLockBits"], proc["fpRelId"]
    if _basic(relids.type).code == gdb.TYPE_CODE_ARRAY:           # 13..17: one word, 16 slots
        words = [int(bits_field)]
        nslots = _basic(relids.type).range()[1] + 1
    else:                                                          # 18: groups of 16 slots
        groups = int(common.find_variable("FastPathLockGroupsPerBackend"))
        words = [int(bits_field[g]) for g in range(groups)]
        nslots = groups * FP_SLOTS_PER_WORD
    db = int(proc["databaseId"])
    for slot in range(nslots):
        word = words[slot // FP_SLOTS_PER_WORD]
        bits = (word >> (FP_BITS_PER_SLOT * (slot % FP_SLOTS_PER_WORD))) & ((1 << FP_BITS_PER_SLOT) - 1)
        for i in range(FP_BITS_PER_SLOT):
            if bits & (1 << i):
                out.append(({"locktype": "relation", "database": db, "relation": int(relids[slot])},
                            names.mode(DEFAULT_LOCKMETHOD, i + 1)))
    if bool(proc["fpVXIDLock"]):
        out.append(({"locktype": "virtualxid", "virtualxid_proc": _vxid(proc)[0],
                     "virtualxid_lxid": int(proc["fpLocalTransactionId"])},
                    names.mode(DEFAULT_LOCKMETHOD, 7)))     # ExclusiveLock
    return out


def lock_rows(proc):
    """(status, tag dict, mode, fast-path) for every lock of a PGPROC, as
    pg_locks lists them for its pid: each mode held, and the one waited for."""
    names = locks.LockNames()
    rows = []
    wait_lock = int(proc["waitLock"])
    heads = proc["myProcLocks"]
    for i in range(_basic(heads.type).range()[1] + 1):
        for proclock in _queue_elements(heads[i], "procLink", "PROCLOCK"):
            lock = proclock["tag"]["myLock"]
            rec = locks.decode_tag(lock["tag"], names)
            hold = int(proclock["holdMask"])
            for mode in range(1, 32):
                if hold & (1 << mode):
                    rows.append(("held", rec, names.mode(rec["method"], mode), False))
            if int(lock) == wait_lock:
                rows.append(("waiting", rec, names.mode(rec["method"], int(proc["waitLockMode"])), False))
    rows += [("held", rec, mode, True) for rec, mode in fast_path_locks(proc, names)]
    return rows


def wait_text(proc):
    """`waits for MODE on TAG, granted there: MODES` when the PGPROC waits
    for a lock (the modes granted on it are what it waits behind), else None."""
    if int(proc["waitLock"]) == 0:
        return None
    names = locks.LockNames()
    lock = proc["waitLock"].dereference()
    rec = locks.decode_tag(lock["tag"], names)
    granted = [names.mode(rec["method"], m) for m in range(1, 32) if int(lock["grantMask"]) & (1 << m)]
    return (f"waits for {names.mode(rec['method'], int(proc['waitLockMode']))} on {rec['locktype']} "
            f"{_fields_text(rec)}, granted there: {', '.join(granted) or 'nothing'}")


class LocksCommand(gdb.Command):
    """Print the heavyweight locks this backend holds and waits for: pg-locks.

Read from shared memory, as pg_locks shows them for the backend's pid: its
PROCLOCKs (MyProc->myProcLocks) with the modes each holds, the lock it
waits for (MyProc->waitLock, waitLockMode), and the weak relation locks and
the virtualxid lock kept in its fast-path slots.  One line per lock and
mode: status, locktype, the tag as pg_locks' columns, mode, fast-path; then,
when it waits, the modes granted on that lock (what it waits behind)."""

    def __init__(self):
        super().__init__("pg-locks", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        proc = common.find_variable("MyProc")
        if proc is None or int(proc) == 0:
            raise gdb.GdbError("MyProc is not set (not a backend, or not started yet)")
        proc = proc.dereference()
        try:
            rows = lock_rows(proc)
            proc_number, lxid = _vxid(proc)
            xid = _xid(proc)
        except _ERRORS as exc:
            raise gdb.GdbError(f"cannot read the lock table: {exc}") from None
        gdb.write(f"backend {int(proc['pid'])} (virtualxid {proc_number}/{lxid}, "
                  f"transactionid {xid}): {len(rows)} lock(s)\n")
        for status, rec, mode, fast in rows:
            gdb.write(f"  {status:8} {rec['locktype']:14} {_fields_text(rec):40} {mode:25}"
                      f"{' fast-path' if fast else ''}".rstrip() + "\n")
        try:
            waiting = wait_text(proc)
        except _ERRORS as exc:
            waiting = f"waits for a lock it cannot read: {exc}"
        if waiting:
            gdb.write(waiting + "\n")


# ---------------------------------------------------------------- pg-memctx

class MemctxCommand(gdb.Command):
    """Print the memory context tree from TopMemoryContext: pg-memctx [DEPTH].

One line per context, indented by depth: name, (ident), [type],
the bytes it holds itself (mem_allocated) and those of its subtree; then
the total.  DEPTH limits how deep the tree is printed (the totals always
count the whole tree)."""

    def __init__(self):
        super().__init__("pg-memctx", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        depth_limit = int(arg) if arg.strip() else 1_000
        top = common.find_variable("TopMemoryContext")
        if top is None or int(top) == 0:
            raise gdb.GdbError("TopMemoryContext is not set (not a backend?)")
        try:
            tree = memory.snapshot(top)
        except _ERRORS as exc:
            raise gdb.GdbError(f"cannot read the memory contexts: {exc}") from None
        count = [0]

        def show(node, depth):
            count[0] += 1
            if depth > depth_limit:
                return
            ident = f" ({_oneline(node['ident'], 60)})" if node.get("ident") else ""
            kind = node["type"].removesuffix("Context")
            gdb.write(f"{'  ' * depth}{node['name']}{ident} [{kind}]: {node['mem_allocated']} bytes, "
                      f"subtree {node['total_allocated']}\n")
            for child in node["children"]:
                show(child, depth + 1)
        show(tree, 0)
        gdb.write(f"total: {tree['total_allocated']} bytes in {count[0]} contexts\n")


# ---------------------------------------------------------------- pg-page

LP_FLAGS = {0: "LP_UNUSED", 1: "LP_NORMAL", 2: "LP_REDIRECT", 3: "LP_DEAD"}
PD_FLAGS = ((0x1, "PD_HAS_FREE_LINES"), (0x2, "PD_PAGE_FULL"), (0x4, "PD_ALL_VISIBLE"))


def block_size():
    """BLCKSZ, from the debug info: PGAlignedBlock is a char[BLCKSZ] union."""
    return common.lookup_type("PGAlignedBlock").sizeof


def buffer_page(buffer):
    """(page address, BufferDesc value) of a Buffer: shared buffers count from
    1 (BufferBlocks + (buffer - 1) * BLCKSZ), local ones from -1."""
    if buffer > 0:
        page = int(common.find_variable("BufferBlocks")) + (buffer - 1) * block_size()
        desc = common.find_variable("BufferDescriptors")[buffer - 1]
    elif buffer < 0:
        page = int(common.find_variable("LocalBufferBlockPointers")[-buffer - 1])
        desc = common.find_variable("LocalBufferDescriptors")[-buffer - 1]
    else:
        raise gdb.GdbError("buffer 0 is InvalidBuffer")
    if _has_field(desc, "bufferdesc"):     # BufferDescPadded
        desc = desc["bufferdesc"]
    return page, desc


def _leaves(value):
    """(name, int or enum text) of every scalar field inside a struct, in order."""
    out = []
    for f in _basic(value.type).fields():
        v = value[f]
        if _basic(v.type).code == gdb.TYPE_CODE_STRUCT:
            out += _leaves(v)
        elif _basic(v.type).code == gdb.TYPE_CODE_ENUM:
            out.append((f.name, str(v)))
        else:
            out.append((f.name, int(v)))
    return out


def tag_text(desc):
    """`rel 1663/5/16384 fork MAIN_FORKNUM block 0` of a BufferDesc's tag
    (RelFileNode rnode + forkNum + blockNum in 13..15, the locator's three
    Oids inline in 16+)."""
    leaves = _leaves(desc["tag"])
    named = dict(leaves)
    rel = "/".join(str(v) for _, v in leaves[:3])
    return f"rel {rel} fork {named.get('forkNum')} block {named.get('blockNum')}"


def page_lines(page, size):
    """The lines pg-page prints for the page at address `page`."""
    hdr_t = common.lookup_type("PageHeaderData")
    hdr = gdb.Value(page).cast(hdr_t.pointer()).dereference()
    lsn = hdr["pd_lsn"]
    flags = int(hdr["pd_flags"])
    lower, upper, special = int(hdr["pd_lower"]), int(hdr["pd_upper"]), int(hdr["pd_special"])
    psv = int(hdr["pd_pagesize_version"])
    flag_names = "|".join(n for bit, n in PD_FLAGS if flags & bit)
    lines = [f"lsn {int(lsn['xlogid']):X}/{int(lsn['xrecoff']):X}  checksum {int(hdr['pd_checksum'])}  "
             f"flags {flags:#06x}{' ' + flag_names if flag_names else ''}  lower {lower}  upper {upper}  "
             f"special {special}  pagesize {psv & 0xFF00}  version {psv & 0x00FF}  "
             f"prune_xid {int(hdr['pd_prune_xid'])}"]
    linp_offset = common.field_offset("PageHeaderData", "pd_linp")[0]
    item_t = common.lookup_type("ItemIdData")
    count = max(0, (lower - linp_offset) // item_t.sizeof) if lower <= size else 0
    heap = special == size          # heap pages have no special space
    lines.append(" lp   off  flags        len" + ("   xmin   xmax  cid/xvac  ctid        hoff  natts  "
                                                  "infomask2  infomask" if heap else ""))
    items = gdb.Value(page + linp_offset).cast(item_t.pointer())
    for i in range(count):
        item = items[i]
        off, lp_flags, length = int(item["lp_off"]), int(item["lp_flags"]), int(item["lp_len"])
        line = f"{i + 1:3} {off:5}  {LP_FLAGS[lp_flags]:11} {length:4}"
        if heap and lp_flags == 1 and length and off + length <= size:
            line += "  " + tuple_columns(page + off)
        lines.append(line)
    return lines


def tuple_columns(addr):
    """xmin xmax cid ctid hoff natts infomask2 infomask(+names) of the heap
    tuple header at addr, as pg-page's columns."""
    h = gdb.Value(addr).cast(common.lookup_type("HeapTupleHeaderData").pointer()).dereference()
    heap = h["t_choice"]["t_heap"]
    infomask, infomask2 = int(h["t_infomask"]), int(h["t_infomask2"])
    ip = h["t_ctid"]
    block = (int(ip["ip_blkid"]["bi_hi"]) << 16) | int(ip["ip_blkid"]["bi_lo"])
    ctid = f"({block},{int(ip['ip_posid'])})"
    names = [n for bit, n in INFOMASK_FLAGS if infomask & bit] + [n for bit, n in INFOMASK2_FLAGS if infomask2 & bit]
    return (f"{int(heap['t_xmin']):5} {int(heap['t_xmax']):6} {int(heap['t_field3']['t_cid']):9}  {ctid:11} "
            f"{int(h['t_hoff']):4} {natts(infomask2):6}  {infomask2:#06x}     {infomask:#06x} {'|'.join(names)}")


class PageCommand(gdb.Command):
    """Print the page a buffer holds: pg-page BUFFER.

BUFFER is an expression giving a Buffer (1.. for shared buffers, -1.. for
local ones).  Prints the buffer's tag (relation, fork, block), the page
header (lsn, checksum, flags, lower, upper, special, pagesize, version,
prune_xid) and each line pointer (offset, flags, length) with, on heap
pages, the tuple header's xmin, xmax, cid, ctid, hoff, natts, infomask2 and
infomask with its flag names -- the columns of pageinspect's page_header()
and heap_page_items()."""

    def __init__(self):
        super().__init__("pg-page", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: pg-page BUFFER")
        buffer = int(gdb.parse_and_eval(arg))
        try:
            page, desc = buffer_page(buffer)
            size = block_size()
            gdb.write(f"buffer {buffer}: {tag_text(desc)}, page at {page:#x}\n")
            for line in page_lines(page, size):
                gdb.write(line.rstrip() + "\n")
        except _ERRORS as exc:
            raise gdb.GdbError(f"cannot read buffer {buffer}: {exc}") from None


StackCommand()
LocksCommand()
MemctxCommand()
PageCommand()

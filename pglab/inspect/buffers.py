"""Which of a relation's pages are in shared buffers (`inspect t --buffers`), read from the
server's own memory.

The buffer descriptors (one BufferDescPadded per buffer, buf_internals.h) lie in the
main shared memory segment, at the offset pg_shmem_allocations gives for "Buffer
Descriptors"; every backend maps that segment at the same address, so inspect reads
them through /proc/PID/mem of its own session's backend and decodes them with the
build's headers: the tag (which relation, fork and block), and from the state word
BM_VALID, BM_DIRTY, the usage count and the pin count.  No CHECKPOINT first: it would
clean the dirty buffers this view is for.  Reading another process's memory needs
root (or the server's own account, where ptrace allows it).
"""

import os
import re
import sys

from ..errors import InspectError

WHERE = "SELECT off, size FROM pg_shmem_allocations WHERE name = 'Buffer Descriptors'"
NBUFFERS = "SELECT setting::int FROM pg_settings WHERE name = 'shared_buffers'"
TAG = """
SELECT CASE WHEN c.relisshared THEN 0 ELSE d.oid END::int8,
       (CASE WHEN c.reltablespace = 0 THEN d.dattablespace ELSE c.reltablespace END)::int8,
       pg_relation_filenode(c.oid)::int8
  FROM pg_class c, pg_database d
 WHERE c.oid = %s AND d.datname = current_database()
"""
MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ")


def _segment(pid, need):
    """The start address of the shared mappings of PID that hold NEED bytes: the candidates."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except PermissionError:
        raise InspectError(f"cannot read /proc/{pid}/maps (the server's backend): reading shared buffers needs "
                           f"root, or the server's own account") from None
    out = []
    for line in lines:
        m = MAPS_LINE.match(line)
        if m and m.group(3)[3] == "s" and int(m.group(2), 16) - int(m.group(1), 16) >= need:
            out.append(int(m.group(1), 16))
    return out


def _read_descriptors(lay, pid, off, nbuffers):
    size = nbuffers * lay.lib.pglab_buffer_desc_size()
    magic_at, magic_len = lay.constants["offsetof(PGShmemHeader, magic)"], lay.constants["sizeof(PGShmemHeader.magic)"]
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except PermissionError:
        raise InspectError(f"cannot read /proc/{pid}/mem (the server's backend): reading shared buffers needs root, "
                           f"or the server's own account where ptrace allows it") from None
    try:
        for base in _segment(pid, off + size):
            head = os.pread(fd, magic_len, base + magic_at)     # the segment's PGShmemHeader
            if int.from_bytes(head, sys.byteorder, signed=True) != lay.constants["PGShmemMagic"]:
                continue
            data = os.pread(fd, size, base + off)
            if len(data) == size:
                return data
    finally:
        os.close(fd)
    raise InspectError(f"found no shared memory segment of the server in /proc/{pid}/maps holding the buffer "
                       f"descriptors")


BLOCKS = "SELECT off, size FROM pg_shmem_allocations WHERE name = 'Buffer Blocks'"


def _base(lay, fd, pid, need):
    """The address the server's main shared memory segment starts at (its PGShmemHeader's magic)."""
    magic_at, magic_len = lay.constants["offsetof(PGShmemHeader, magic)"], lay.constants["sizeof(PGShmemHeader.magic)"]
    for base in _segment(pid, need):
        head = os.pread(fd, magic_len, base + magic_at)
        if int.from_bytes(head, sys.byteorder, signed=True) == lay.constants["PGShmemMagic"]:
            return base
    raise InspectError(f"found no shared memory segment of the server in /proc/{pid}/maps holding the buffers")


def memory_readable(pid):
    """Whether this process may read the server backend PID's memory (root, or its own account
    where ptrace allows it)."""
    try:
        os.close(os.open(f"/proc/{pid}/mem", os.O_RDONLY))
    except PermissionError:
        return False
    return True


def read_pages(conn, lay, rel, forks=(0, 2)):
    """{(fork number, block): page bytes} of REL's pages in shared buffers now, read from the
    server's memory ("Buffer Blocks", one BLCKSZ page per buffer; from 16 on aligned up to
    PG_IO_ALIGN_SIZE, the allocation being that much larger).  What --watch reads instead of
    a CHECKPOINT, which would make the next change to every page carry a full-page image.
    The descriptors are read again after the pages: a buffer that changed hands meanwhile
    is read once more."""
    ffi, lib = lay.ffi, lay.lib
    doff, dsize = conn.execute(WHERE).fetchone()
    boff, bsize = conn.execute(BLOCKS).fetchone()
    nbuffers = conn.execute(NBUFFERS).fetchone()[0]
    align = bsize - nbuffers * lay.blcksz
    if dsize != nbuffers * lib.pglab_buffer_desc_size() or align not in (0, 4096):
        raise InspectError("the shared buffers' allocations do not have the sizes this build's headers give")
    db, spc, relnumber = conn.execute(TAG, (rel.oid,)).fetchone()
    pid = conn.info.backend_pid
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        base = _base(lay, fd, pid, max(doff + dsize, boff + bsize))
        blocks = base + boff
        if align:
            blocks = (blocks + align - 1) // align * align
        out = ffi.new("pglab_buffer[]", nbuffers)

        def mine():
            descs = os.pread(fd, dsize, base + doff)
            n = lay.check(lib.pglab_buffers(ffi.from_buffer(descs), nbuffers, spc, db, relnumber, out, nbuffers))
            return {(out[i].fork, out[i].block): out[i].buffer for i in range(n) if out[i].fork in forks}

        for _attempt in range(5):
            where = mine()
            pages = {key: os.pread(fd, lay.blcksz, blocks + (buf - 1) * lay.blcksz) for key, buf in where.items()}
            if mine() == where:
                return pages
    finally:
        os.close(fd)
    raise InspectError(f"the shared buffers of {rel.qualified} kept changing hands while read: try again")


def read(conn, lay, rel):
    """(result, rows): REL's buffers in shared memory, a row per buffered page, by fork and block."""
    ffi, lib = lay.ffi, lay.lib
    where = conn.execute(WHERE).fetchone()
    if where is None:
        raise InspectError("pg_shmem_allocations has no \"Buffer Descriptors\": not a server pglab can read")
    off, size = where
    nbuffers = conn.execute(NBUFFERS).fetchone()[0]
    if size != nbuffers * lib.pglab_buffer_desc_size():
        raise InspectError(f"the buffer descriptors take {size} bytes, not {nbuffers} × "
                           f"{lib.pglab_buffer_desc_size()}: this build's headers do not describe this server")
    db, spc, relnumber = conn.execute(TAG, (rel.oid,)).fetchone()
    data = _read_descriptors(lay, conn.info.backend_pid, off, nbuffers)
    out = ffi.new("pglab_buffer[]", nbuffers)
    n = lay.check(lib.pglab_buffers(ffi.from_buffer(data), nbuffers, spc, db, relnumber, out, nbuffers))
    forks = {lay.constants[f"{name.upper()}_FORKNUM" if name != "vm" else "VISIBILITYMAP_FORKNUM"]: name
             for name in ("main", "fsm", "vm", "init")}
    rows = sorted(({"fork": out[i].fork, "fork_name": forks.get(out[i].fork, str(out[i].fork)),
                    "block": out[i].block, "buffer": out[i].buffer, "dirty": bool(out[i].dirty),
                    "usage_count": out[i].usage, "pinning_backends": out[i].pins} for i in range(n)),
                  key=lambda r: (r["fork"], r["block"]))
    summary = {}
    for name, suffix in (("main", ""), ("fsm", "_fsm"), ("vm", "_vm")):
        mine = [r for r in rows if r["fork_name"] == name]
        summary[name] = {"blocks": rel.nblocks(suffix), "buffered": len(mine),
                         "dirty": sum(r["dirty"] for r in mine),
                         "pinned": sum(bool(r["pinning_backends"]) for r in mine)}
    result = {"relation": rel.qualified, "oid": rel.oid, "kind": rel.kind, "build": lay.build.id,
              "blcksz": lay.blcksz, "nblocks": rel.nblocks(), "view": "buffers", "nbuffers": nbuffers,
              "tag": {"reltablespace": spc, "reldatabase": db, "relfilenode": relnumber}, "forks": summary}
    return result, rows

"""--watch: run statements one by one and show the page after each, as a diff.

Each statement runs on its own session in its own transaction (autocommit)
unless the statements open one with BEGIN; the page is read as the server holds
it: from shared buffers (the server's memory, read as buffers.read_pages reads
it) where it is buffered, else from disk, so an open transaction's changes show
as they are on the page (xmax set, not yet committed).  Where the server's memory
cannot be read (not root, ptrace refused), a CHECKPOINT on inspect's own session
puts the pages on disk first, and each step's first change to a page then carries
a full-page image in the WAL.

Each step also has the WAL it wrote (wal.py): the insert LSN before and after the
statement, and the records between as the build's pg_waldump decodes them.
"""

import re

from ..errors import InspectError
from . import buffers
from .reading import choose_blocks, decode, find, session
from . import wal as wal_mod

_STATUS_WORDS = re.compile(r"^\s*(\w+)")


def split_statements(text):
    """SQL text → statements, split on semicolons outside quotes, dollar quotes and comments."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch in ("'", '"'):
            j = i + 1
            while j < n and text[j] != ch:
                j += 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if ch == "$":
            m = re.match(r"\$[A-Za-z_]*\$", text[i:])
            if m:
                end = text.find(m.group(0), i + len(m.group(0)))
                end = n if end < 0 else end + len(m.group(0))
                cur.append(text[i:end])
                i = end
                continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if ch == ";":
            stmt = "".join(cur).strip()
            if stmt:
                out.append(stmt)
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    stmt = "".join(cur).strip()
    if stmt:
        out.append(stmt)
    return out


def watch(settings, spec, statements, *, block=None, all_blocks=False, pg=None, name="main", db="postgres",
          cluster=None, progress=None, before=None):
    """[{sql, status, result, changes}] : the page before, then after each statement.
    BEFORE(result) sees the first result before any statement runs (and may refuse it)."""
    if isinstance(statements, str):
        statements = split_statements(statements)
    if not statements:
        raise InspectError("--watch needs at least one SQL statement, e.g. --watch \"UPDATE t SET v = v + 1\"")
    steps = []
    with session(settings, pg=pg, name=name, db=db, cluster=cluster) as (cluster, lay, conn):
        user = cluster.connect(db)
        live = buffers.memory_readable(conn.info.backend_pid)
        try:
            prev = _snapshot(conn, cluster, lay, spec, block, all_blocks, live)
            if before is not None:
                before(prev)
            steps.append({"sql": None, "status": "before", "result": prev, "changes": [], "wal": None})
            for k, sql in enumerate(statements, 1):
                if progress:
                    progress(k, len(statements), sql)
                tags = [wal_mod.tag(conn, spec)]
                start = wal_mod.insert_lsn(conn)
                try:
                    cur = user.execute(sql)
                    status = cur.statusmessage or _STATUS_WORDS.match(sql).group(1).upper()
                except Exception as exc:   # psycopg.Error: the learner's SQL failed; show it and go on
                    status = f"ERROR: {str(exc).strip().splitlines()[0]}"
                    if user.info.transaction_status.name == "INERROR":
                        pass   # the open transaction stays aborted until the learner's ROLLBACK
                end = wal_mod.insert_lsn(conn)
                tags.append(wal_mod.tag(conn, spec))
                wal = wal_mod.step_wal(conn, cluster, lay, start, end, tags)
                wal["checkpoint_before"] = not live
                now = _snapshot(conn, cluster, lay, spec, block, all_blocks, live)
                steps.append({"sql": sql, "status": status, "result": now, "changes": diff(prev, now), "wal": wal})
                prev = now
        finally:
            if user.info.transaction_status.name != "IDLE":
                user.rollback()     # never leave a learner's transaction open behind us
            user.close()
    return steps


def _snapshot(conn, cluster, lay, spec, block, all_blocks, live):
    """The pages now: LIVE, those in shared buffers from there and the rest from disk (no
    CHECKPOINT, so the WAL of the next step is the learner's alone); else after a CHECKPOINT."""
    rel = find(conn, cluster, lay, spec, checkpoint=not live)
    if live:
        rel.buffered = buffers.read_pages(conn, lay, rel)
    return decode(lay, rel, choose_blocks(rel, block, all_blocks))


# ---- what changed -------------------------------------------------------------------------

_TRACKED = ("state", "t_xmin", "t_xmax", "t_ctid", "redirect_to", "lp_off", "lp_len")


def diff(before, after):
    """Human-readable changes between two results of the same relation, page by page."""
    if before is None or after is None:
        return []
    changes = []
    old_pages = {p["block"]: p for p in before["pages"]}
    for page in after["pages"]:
        old = old_pages.get(page["block"])
        prefix = f"block {page['block']}: " if len(after["pages"]) > 1 else ""
        if old is None:
            changes.append(f"{prefix}new page")
            continue
        changes += [prefix + c for c in _page_diff(old, page)]
    if before["nblocks"] != after["nblocks"]:
        changes.append(f"relation: {before['nblocks']} → {after['nblocks']} blocks")
    return changes


def _page_diff(old, new):
    out = []
    oh, nh = old["header"], new["header"]
    for key in ("lower", "upper", "prune_xid"):
        if oh[key] != nh[key]:
            out.append(f"header: pd_{key} {oh[key]} → {nh[key]}")
    for flag in sorted(set(oh["flag_names"]) ^ set(nh["flag_names"])):
        out.append(f"header: {'+' if flag in nh['flag_names'] else '-'}{flag}")
    if old.get("vm") != new.get("vm") and new.get("vm") is not None:
        vm = new["vm"]
        out.append(f"visibility map: all-visible {'yes' if vm['all_visible'] else 'no'}, "
                   f"all-frozen {'yes' if vm['all_frozen'] else 'no'}")
    if old["free_space"] != new["free_space"]:
        out.append(f"free space: {old['free_space']} → {new['free_space']} bytes")
    if new["kind"] in ("gin", "brin", "hash"):
        return out + _index_page_diff(old, new)
    key = "lp" if new["kind"] == "heap" else "itemoffset"
    olds = {it[key]: it for it in old["items"]}
    moved = []            # tuples whose only change is where they are: the page was compacted
    for it in new["items"]:
        was = olds.pop(it[key], None)
        label = f"lp {it[key]}"
        if was is None:
            out.append(f"{label}: new {_describe(it)}")
            continue
        if new["kind"] != "heap":
            if (was.get("data"), was.get("lp_flags"), was.get("htid")) != (it.get("data"), it.get("lp_flags"),
                                                                          it.get("htid")):
                out.append(f"{label}: {_describe(was)} → {_describe(it)}")
            continue
        if was["state"] != it["state"]:
            out.append(f"{label}: {_describe(was)} → {_describe(it)}")
            continue
        changed = [f for f in _TRACKED[1:] if was.get(f) != it.get(f)]
        if it["state"] == "redirect" and "redirect_to" in changed:
            changed.remove("lp_off")      # a redirect's lp_off is its target
        if changed == ["lp_off"] and was.get("raw_flags") == it.get("raw_flags"):
            moved.append(it[key])
            continue
        for field in changed:
            out.append(f"{label}: {field} {was.get(field)} → {it.get(field)}")
        now_flags = it.get("raw_flags", []) + it.get("combined_flags", [])
        old_flags = was.get("raw_flags", []) + was.get("combined_flags", [])
        gained = [f for f in now_flags if f not in old_flags]
        lost = [f for f in old_flags if f not in now_flags]
        if gained or lost:
            out.append(f"{label}: " + " ".join([f"+{f}" for f in gained] + [f"-{f}" for f in lost]))
    if moved:
        out.append(f"{_ranges(moved)}: moved (the page was compacted; same tuples, new lp_off)")
    for gone in olds.values():
        out.append(f"lp {gone[key]}: gone (line pointer array truncated)")
    return out


def _ranges(numbers):
    """[3, 4, 5, 9] → "lp 3–5, 9"."""
    parts, start = [], None
    for k, n in enumerate(numbers):
        if start is None:
            start = n
        if k + 1 == len(numbers) or numbers[k + 1] != n + 1:
            parts.append(str(n) if n == start else f"{start}–{n}")
            start = None
    return "lp " + ", ".join(parts)


def _describe(it):
    state = it["state"]
    if state == "redirect":
        return f"redirect → lp {it['redirect_to']}"
    if state == "unused":
        return "unused"
    if "t_xmin" in it:
        xmax = f", xmax {it['t_xmax']}" if it["t_xmax"] else ""
        hot = " (heap-only)" if it.get("heap_only") else ""
        return f"{state} tuple xmin {it['t_xmin']}{xmax}{hot}"
    if "htid" in it:
        return f"{state} key ({it.get('data', '')}) → {it.get('htid')}"
    return state


# ---- GIN, BRIN and hash pages ------------------------------------------------------------------

_SECTIONS = ("opaque", "meta", "stats")     # a page's own fields: GIN's opaque and meta, hash's meta and stats


def _index_page_diff(old, new):
    out = []
    if old.get("type") != new.get("type"):
        out.append(f"page: {old.get('type')} → {new.get('type')}")
    for section in _SECTIONS:
        was, now = old.get(section) or {}, new.get(section) or {}
        for field, value in now.items():
            if field == "flag_names":
                out += [f"{section}: {'+' if f in value else '-'}{f}"
                        for f in sorted(set(was.get(field, [])) ^ set(value))]
            elif was.get(field) != value and not isinstance(value, list):
                out.append(f"{section}: {field} {was.get(field)} → {value}")
    segs_old, segs_new = old.get("segments"), new.get("segments")
    if segs_new is not None and segs_old != segs_new:
        count = (lambda segs: sum(len(s["tids"] or []) for s in segs or []))
        out.append(f"posting list: {len(segs_old or [])} → {len(segs_new)} segments, "
                   f"{count(segs_old)} → {count(segs_new)} TIDs")
    if new.get("revmap") is not None and old.get("revmap") != new["revmap"]:
        for k, (was, now) in enumerate(zip(old.get("revmap") or [], new["revmap"])):
            if was != now:
                out.append(f"revmap entry {k}: {was} → {now}")
    if new.get("bitmap") is not None and old.get("bitmap") != new["bitmap"]:
        out.append(f"bitmap: {_bitmap_text(old.get('bitmap'))} → {_bitmap_text(new['bitmap'])}")
    olds = {it["itemoffset"]: it for it in old.get("items", []) if "itemoffset" in it}
    moved = []
    for it in new.get("items", []):
        if "itemoffset" not in it:        # a posting tree's PostingItems: said by their number
            continue
        was = olds.pop(it["itemoffset"], None)
        label = f"lp {it['itemoffset']}"
        if was is None:
            out.append(f"{label}: new {_describe_index(it)}")
        elif {k: v for k, v in was.items() if k != "lp_off"} != {k: v for k, v in it.items() if k != "lp_off"}:
            out.append(f"{label}: {_describe_index(was)} → {_describe_index(it)}")
        elif was["lp_off"] != it["lp_off"]:
            moved.append(it["itemoffset"])
    if moved:
        out.append(f"{_ranges(moved)}: moved (the page was compacted; same tuples, new lp_off)")
    if olds:
        out.append(f"{_ranges(sorted(olds))}: gone")
    items_old = [it for it in old.get("items", []) if "child" in it]
    items_new = [it for it in new.get("items", []) if "child" in it]
    if items_old != items_new:
        out.append(f"posting tree downlinks: {len(items_old)} → {len(items_new)}")
    return out


def _bitmap_text(bitmap):
    if bitmap is None:
        return "none"
    if "free" in bitmap:
        return f"{len(bitmap['free'])} free bits"
    return f"bit {bitmap['bitmapbit']} of block {bitmap['bitmapblkno']} {'set' if bitmap['bitstatus'] else 'clear'}"


def _describe_index(it):
    """One index item in a few words: a GIN key and its TIDs, a BRIN summary, a hash entry."""
    state = it.get("state", "normal")
    if state in ("unused", "dead") and "keys" not in it and "ctid" not in it and "blknum" not in it:
        return state
    dead = " (dead)" if state == "dead" else ""
    if "keys" in it:
        key = ", ".join(str(v.get("value")) for v in it["keys"]) if it.get("category") == "norm key" \
            else f"({it.get('category')})"
        if "ctid" in it:
            return f"key {key} → heap {it['ctid']}{dead}"
        if "posting_tree" in it:
            return f"key {key} → posting tree at block {it['posting_tree']}{dead}"
        if "downlink" in it:
            return f"key {key} → block {it['downlink']}{dead}"
        return f"key {key}: {len(it.get('tids') or [])} TIDs{dead}"
    if "blknum" in it:
        from .render.indexes import brin_summary

        cols = "; ".join(brin_summary(c) for c in it.get("columns", []))
        return f"range at block {it['blknum']}{' (placeholder)' * it['placeholder']}: {cols}"
    if "ctid" in it:
        return f"heap {it['ctid']} hash {it.get('data')}{dead}"
    return state

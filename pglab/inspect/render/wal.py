"""The WAL a --watch step wrote, as text under its page changes: the records that touch
the inspected relation one by one (marked ▶, with their block references, full-page
images and pg_waldump's description), the others counted in one line."""

import textwrap

from ..wal import others_line
from .common import WIDTH

MARK = "▶"


def _block(ref, mine):
    fork = "" if ref["fork"] == "main" else f"{ref['fork']} "
    where = f"{fork}blk {ref['block']}" if mine else \
        f"rel {ref['spcoid']}/{ref['dboid']}/{ref['relfilenode']} {fork}blk {ref['block']}"
    if ref["fpw"]:
        where += " FPW" + ("" if ref.get("fpw_applied", True) else " (check only)")
    return where


def wal_lines(wal, relation):
    """Lines for one step's WAL (WAL: the step's "wal" dict)."""
    if wal is None:
        return []
    n = len(wal["records"])
    mine = [r for r in wal["records"] if r["relation"]]
    if not n:
        return [f"  WAL: none written ({wal['start']})"]
    lines = textwrap.wrap(f"WAL {wal['start']} → {wal['end']}: {wal['bytes']} bytes, {n} record{'s' * (n != 1)}, "
                          f"{len(mine)} of {relation} ({wal['tool']})", WIDTH, initial_indent="  ",
                          subsequent_indent="    ")
    if wal.get("checkpoint_before"):
        lines += textwrap.wrap("(inspect's own CHECKPOINT came before this step: the server's memory was not "
                               "readable, so each page's first change carries a full-page image)", WIDTH,
                               initial_indent="  ", subsequent_indent="  ")
    if mine:
        lines.append(f"    {'lsn':<10} {'rmgr':<11} {'record':<17} {'bytes':>5}  blocks")
    for r in mine:
        refs = ", ".join(_block(b, _is_mine(b, wal)) for b in r["blocks"])
        head = f"  {MARK} {r['lsn']:<10} {r['rmgr']:<11} {r['type']:<17} {r['length']:>5}  "
        wrapped = textwrap.wrap(refs, max(WIDTH - len(head), 20)) or [""]
        lines.append(head + wrapped[0])
        lines += [" " * len(head) + more for more in wrapped[1:]]
        if r["desc"]:
            lines += textwrap.wrap(r["desc"], WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 8,
                                   break_on_hyphens=False)
    other = others_line(wal["records"], relation)
    if other:
        lines += textwrap.wrap(other, WIDTH - 2, initial_indent="  ", subsequent_indent="    ")
    return lines


def _is_mine(ref, wal):
    return [ref["spcoid"], ref["dboid"], ref["relfilenode"]] in wal["files"]

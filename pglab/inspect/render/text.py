"""inspect's text output: one page at a time, readable on an 80-column terminal.

Each line pointer gets one line of numbers (pageinspect's columns, shortened),
then its flag names and column values indented below, wrapped at 80.
"""

import textwrap

from . import indexes
from .common import WIDTH, _flags, _value, _wrap, header_lines
from .wal import wal_lines


def heap_lines(result, page):
    lines = header_lines(result, page) + [""]
    lines.append("   lp state      off  len      xmin      xmax  field3 ctid         mask2/mask")
    for it in page["items"]:
        state = it["state"]
        if state == "redirect":
            lines.append(f"{it['lp']:5} redirect → lp {it['redirect_to']}")
            continue
        if "t_xmin" not in it:
            lines.append(f"{it['lp']:5} {state:8} {it['lp_off']:5} {it['lp_len']:4}")
            continue
        lines.append(f"{it['lp']:5} {state:8} {it['lp_off']:5} {it['lp_len']:4} {it['t_xmin']:9} {it['t_xmax']:9}"
                     f" {it['t_field3']:7} {it['t_ctid']:12} 0x{it['t_infomask2']:04x}/0x{it['t_infomask']:04x}")
        hot = "  heap-only" if it["heap_only"] else ""
        bits = f"  nulls {it['t_bits']}" if it["t_bits"] else ""
        flags = _flags(it["raw_flags"] + [f"({n})" for n in it["combined_flags"]])
        lines += _wrap(f"natts {it['natts']}  hoff {it['t_hoff']}{hot}{bits}  {flags}")
        if it.get("values"):
            lines += _wrap("  ".join(_value(v) for v in it["values"]))
    return lines


def btree_meta_lines(result):
    m = result["meta"]
    extra = (f"last_cleanup_num_delpages {m['last_cleanup_num_delpages']}" if "last_cleanup_num_delpages" in m
             else f"oldest_xact {m['oldest_xact']}")
    return [f"{result['relation']}  ({result['nblocks']} blocks, B-tree, {result['build']})",
            f"  meta page: version {m['version']}  root {m['root']}  level {m['level']}  fastroot "
            f"{m['fastroot']}  fastlevel {m['fastlevel']}",
            f"  allequalimage {'yes' if m['allequalimage'] else 'no'} (deduplication "
            f"{'possible' if m['allequalimage'] else 'off'})  {extra}"]


_TYPES = {"l": "leaf", "i": "internal", "r": "root", "d": "deleted", "D": "deleted internal", "e": "half-dead"}


def btree_lines(result, page):
    s = page["stats"]
    lines = header_lines(result, page)
    lines.append(f"  {_TYPES.get(s['type'], s['type'])}, level {s['btpo_level']}  prev {s['btpo_prev']}  next "
                 f"{s['btpo_next']}  flags {_flags(s['flag_names'])}  live {s['live_items']}  dead "
                 f"{s['dead_items']}")
    lines += ["", " item  off  len ctid        htid        key"]
    for it in page["items"]:
        if "ctid" not in it:
            lines.append(f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4} {it['state']}")
            continue
        keys = ", ".join(_value(k).split("=", 1)[1] for k in it.get("keys", []) if not k.get("truncated"))
        role = "high key " if it["high_key"] else ("→ block " + str(it["downlink"]) + " " if it.get("downlink")
                                                   is not None else "")
        dead = " DEAD" if it["dead"] else ""
        lines.append(f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4} {it['ctid']:11} "
                     f"{it['htid'] or '-':11} {role}{keys or '-inf'}{dead}"[:WIDTH])
        if it["tids"]:
            tids = it["tids"]
            shown = " ".join(tids) if len(tids) <= 5 else " ".join(tids[:3]) + " … " + tids[-1]
            lines += _wrap(f"posting list of {len(tids)} heap TIDs: {shown}")
    return lines


def page_lines(result, page):
    if page["kind"] in ("gin", "brin", "hash"):
        if page["header"]["new"]:
            return header_lines(result, page)
        return {"gin": indexes.gin_lines, "brin": indexes.brin_lines, "hash": indexes.hash_lines}[page["kind"]](
            result, page)
    return heap_lines(result, page) if page["kind"] == "heap" else btree_lines(result, page)


def write_result(result, pages, out):
    """Write the result's pages (an iterable, so --all streams) to OUT."""
    if result["kind"] == "btree":
        out.write("\n".join(btree_meta_lines(result)) + "\n")
    first = result["kind"] != "btree"
    for page in pages:
        if not first:
            out.write("\n")
        first = False
        out.write("\n".join(page_lines(result, page)) + "\n")


def write_watch(steps, out):
    for k, step in enumerate(steps):
        if step["sql"] is None:
            out.write("── before ──\n")
        else:
            out.write(f"\n── step {k}: {step['sql']}  →  {step['status']} ──\n")
            for change in step["changes"] or ["(no change on the page)"]:
                for line in textwrap.wrap(change, WIDTH - 2, initial_indent="• ", subsequent_indent="  "):
                    out.write(line + "\n")
            if step.get("wal") is not None:
                out.write("\n" + "\n".join(wal_lines(step["wal"], step["result"]["relation"])) + "\n")
            out.write("\n")
        write_result(step["result"], step["result"]["pages"], out)

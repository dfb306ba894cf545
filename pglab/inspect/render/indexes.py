"""Text lines for GIN, BRIN and hash index pages (text.py draws heap and B-tree pages).

Each page starts with common.header_lines (the page header), then one line for what
kind of page it is and one line per item, in pageinspect's terms, within 80 columns.
"""

import textwrap

from .common import WIDTH, _value, _wrap, header_lines


def _block(text):
    """TEXT wrapped as a page's own lines are (two spaces in)."""
    return textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)


def _tids(tids, room=5):
    if tids is None:
        return "(not decoded)"
    shown = " ".join(tids) if len(tids) <= room else " ".join(tids[:room - 2]) + " … " + tids[-1]
    return f"{len(tids)} TID{'s' * (len(tids) != 1)}: {shown}"


def _keys(values):
    return ", ".join(_value(v).split("=", 1)[1] for v in values) if values else "-"


# ---- GIN ------------------------------------------------------------------------------------

_GIN_META = (("pending_head", "pending list head"), ("pending_tail", "tail"), ("tail_free_size", "tail free"),
             ("n_pending_pages", "pending pages"), ("n_pending_tuples", "pending heap tuples"),
             ("n_total_pages", "total pages"), ("n_entry_pages", "entry pages"), ("n_data_pages", "data pages"),
             ("n_entries", "entries"), ("version", "version"))


def gin_lines(result, page):
    lines = header_lines(result, page)
    if "opaque" not in page:
        return lines + [f"  not a GIN page ({page['type']})"]
    o = page["opaque"]
    right = "-" if o["rightmost"] else o["rightlink"]
    lines.append(f"  {page['type']}  rightlink {right}  maxoff {o['maxoff']}  flags "
                 f"{' '.join(o['flag_names']) or '-'}")
    if page["type"] == "meta":
        m = page["meta"]
        text = "  ".join(f"{label} {m[key]}" for key, label in _GIN_META)
        return lines + _block(text)
    if page["type"] in ("posting leaf", "posting internal"):
        lines.append(f"  right bound {page['right_bound']}")
    if page["type"] == "posting leaf":
        lines += ["", " segment  off bytes first TID    TIDs"]
        for k, seg in enumerate(page.get("segments", []), 1):
            lines.append(f"{k:8} {seg['offset']:4} {seg['nbytes']:5} {seg['first_tid']:13} "
                         f"{_tids(seg['tids'], 3)}"[:WIDTH])
        return lines
    if page["type"] == "posting internal":
        lines += ["", " item child  key (heap TID)"]
        lines += [f"{it['itemoffset']:5} {it['child']:5}  {it['key']}" for it in page["items"]]
        return lines
    if page["type"] not in ("entry leaf", "entry internal", "pending"):
        return lines
    lines += ["", " item  off  len col key"]
    for it in page["items"]:
        if "keys" not in it:
            lines.append(f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4} {it['state']}")
            continue
        key = _keys(it["keys"]) if it["category"] == "norm key" else f"({it['category']})"
        if page["type"] == "pending":
            where = f"→ heap {it['ctid']}"
        elif page["type"] == "entry internal":
            where = f"→ block {it['downlink']}"
        elif "posting_tree" in it:
            where = f"posting tree at block {it['posting_tree']}"
        else:
            where = _tids(it.get("tids"), 3)
        head = f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4} {it['attnum']:3} "
        line = f"{head}{key}  {where}"
        if len(line) <= WIDTH:
            lines.append(line)
        else:
            lines.append(f"{head}{key}"[:WIDTH])
            lines += _wrap(where)
    return lines


# ---- BRIN -----------------------------------------------------------------------------------

def brin_summary(column):
    """A column's summary as brin_page_items writes it: {min .. max}."""
    if column["allnulls"]:
        return "(all nulls)"
    if column.get("values") is None:
        return "(a summary inspect does not decode)"
    return "{" + " .. ".join(str(v["value"]).lower() if isinstance(v.get("value"), bool) else
                             _value(v).split("=", 1)[1] for v in column["values"]) + "}"


def brin_lines(result, page):
    lines = header_lines(result, page)
    if page["type"] == "meta":
        m = page["meta"]
        return lines + [f"  meta page: magic {m['magic']}  version {m['version']}  pages per range "
                        f"{m['pagesperrange']}  last revmap page {m['lastrevmappage']}"]
    if page["type"] == "revmap":
        used = [(k, tid) for k, tid in enumerate(page["revmap"]) if tid != "(0,0)"]
        lines.append(f"  revmap page: {len(used)} of {page['revmap_items']} entries point at a summary")
        lines += ["", "   entry  summary tuple"]
        lines += [f"{k:8}  {tid}" for k, tid in used]
        return lines
    if page["type"] != "regular":
        return lines + [f"  not a BRIN page ({page['type']})"]
    names = {a["num"]: a["name"] for a in result["attributes"]}
    lines.append(f"  regular page{' (being evacuated)' if page['evacuate'] else ''}")
    lines += ["", " item  off  len  range at block  summary"]
    for it in page["items"]:
        if "blknum" not in it:
            lines.append(f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4}  {it['state']}")
            continue
        marks = "".join([" placeholder" * it["placeholder"], " empty range" * it["empty"]])
        lines.append(f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4}  {it['blknum']:14}{marks}")
        for col in it.get("columns", []):
            nulls = "  (has nulls)" if col["hasnulls"] else ""
            lines += _wrap(f"{names.get(col['attnum'], col['attnum'])}: {brin_summary(col)}{nulls}")
    return lines


# ---- hash -----------------------------------------------------------------------------------

def hash_lines(result, page):
    lines = header_lines(result, page)
    kind = page["type"]
    if kind == "metapage":
        m = page["meta"]
        spares = [s for s in m["spares"][:m["ovflpoint"] + 1]]
        maps = [b for b in m["mapp"][:m["nmaps"]]]
        return lines + _block(f"meta page: version {m['version']}  tuples {m['ntuples']:g}  buckets 0..{m['maxbucket']}"
                             f"  highmask {m['highmask']:#x}  lowmask {m['lowmask']:#x}  fill factor "
                             f"{m['ffactor']}  split point {m['ovflpoint']}  spares {spares}  bitmap pages "
                             f"{maps}  first free bit {m['firstfree']}  hash proc {m['procid']}")
    if kind == "bitmap":
        bm = page["bitmap"]
        free = bm["free"]
        return lines + _block(f"bitmap page of {bm['bits']} bits, one per overflow page; "
                              + (f"{len(free)} clear (freed pages, reused first): "
                                 + " ".join(str(b) for b in free[:40]) + " …" * (len(free) > 40) if free
                                 else "none clear: no overflow page freed"))
    if kind not in ("bucket", "overflow"):
        return lines + [f"  {kind} page"]
    s = page["stats"]
    what = f"bucket {s['hasho_bucket']}"
    if kind == "overflow":
        bm = page.get("bitmap")
        use = (f", bit {bm['bitmapbit']} of bitmap page {bm['bitmapblkno']}: "
               f"{'in use' if bm['bitstatus'] else 'free'}") if bm else ""
        what = f"overflow page of {what}{use}"
    lines.append(f"  {what}  prev {s['hasho_prevblkno']}  next {s['hasho_nextblkno']}  live {s['live_items']}  "
                 f"dead {s['dead_items']}")
    flags = [f for f in page["flag_names"] if f not in ("LH_BUCKET_PAGE", "LH_OVERFLOW_PAGE")]
    if flags:
        lines.append(f"  flags {' '.join(f.replace('LH_', '') for f in flags)}")
    lines += ["", " item  off  len ctid          hash key"]
    for it in page["items"]:
        if "ctid" not in it:
            lines.append(f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4} {it['state']}")
            continue
        dead = " DEAD" if it["state"] == "dead" else ""
        lines.append(f"{it['itemoffset']:5} {it['lp_off']:4} {it['lp_len']:4} {it['ctid']:13} "
                     f"{it.get('data', '-'):>10} (0x{it.get('data', 0):08x}){dead}")
    return lines

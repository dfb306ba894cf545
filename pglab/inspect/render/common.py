"""What every text view of inspect shares: the terminal's width, wrapping, a value as text and a
page's header lines (text.py draws heap and B-tree pages with them, indexes.py GIN, BRIN and hash,
views.py the maps, summary and buffers, wal.py a watch step's WAL)."""

import textwrap


WIDTH = 80
INDENT = " " * 6
KIND_NAMES = {"heap": "heap", "btree": "B-tree", "gin": "GIN", "brin": "BRIN", "hash": "hash"}


def _flags(names):
    return " ".join(n.replace("HEAP_", "").replace("BTP_", "").replace("PD_", "") for n in names) or "-"


def _wrap(text):
    return textwrap.wrap(text, WIDTH, initial_indent=INDENT, subsequent_indent=INDENT + "  ",
                         break_on_hyphens=False) or [INDENT]


def _value(v):
    if v.get("dropped"):
        return f"{v['name']}=(dropped column)"
    if v.get("missing"):
        return f"{v['name']}={v.get('value')!s} (missing: the column's default)"
    if v.get("truncated"):
        return f"{v['name']}=(truncated)"
    if v.get("null"):
        return f"{v['name']}=NULL"
    if "toast" in v:
        t = v["toast"]
        how = f", {t['compression']}" if t.get("compression") else ""
        return f"{v['name']}=<TOAST pointer: value {t['va_valueid']} in {t['va_toastrelid']}, " \
               f"{t['va_rawsize']} bytes raw, {t['va_extsize']} stored{how}>"
    if "compressed" in v:
        c = v["compressed"]
        return f"{v['name']}=<compressed inline ({c['compression']}): {v['size']} bytes for {c['rawsize']}>"
    value = v.get("value")
    if isinstance(value, str):
        shown = value if len(value) <= 24 else value[:21] + "..."
        if v["type"] in ("text", "character varying", "name") or v["type"].startswith(("character", "varchar")):
            shown = "'" + shown + "'"
        return f"{v['name']}={shown}"
    return f"{v['name']}={value}"


def header_lines(result, page):
    h = page["header"]
    total = result["nblocks"]
    kind = KIND_NAMES.get(page["kind"], page["kind"])
    lines = [f"{result['relation']}  block {page['block']} of {total}  ({kind}, {result['build']})"]
    if h["new"]:
        return lines + ["  a new page: all zeroes, not yet initialized"]
    if h["checksum_ok"] is None and result.get("checksums"):
        checksum = f"{h['checksum']} (a buffer's: set when written out)"
    elif h["checksum_ok"] is None:
        checksum = f"{h['checksum']} (data checksums off)"
    else:
        checksum = f"{h['checksum']} ({'ok' if h['checksum_ok'] else 'BAD'})"
    lines.append(f"  lsn {h['lsn']}  checksum {checksum}  prune_xid {h['prune_xid']}")
    lines.append(f"  lower {h['lower']}  upper {h['upper']}  special {h['special']}  size {h['pagesize']}"
                 f"  version {h['version']}  free {page['free_space']} bytes")
    lines.append(f"  page flags {_flags(h['flag_names'])}")
    if page.get("vm") is not None:
        vm = page["vm"]
        lines.append(f"  visibility map: all-visible {'yes' if vm['all_visible'] else 'no'}, "
                     f"all-frozen {'yes' if vm['all_frozen'] else 'no'}")
    return lines

"""Text for inspect's whole-relation views: the free space and visibility maps (--fsm,
--vm), the summary (--summary) and the shared buffers (--buffers), within 80 columns.

Blocks that read alike are one line ("0–117"), so a large table's map stays short;
--format json has every block.
"""

from .common import KIND_NAMES, WIDTH


def _yes(flag):
    return "yes" if flag else "no"


def _span(first, last):
    return str(first) if first == last else f"{first}–{last}"


def _runs(rows, key):
    """(first block, last block, row) for each run of consecutive rows whose KEY(row) is equal."""
    run = None
    for row in rows:
        k = key(row)
        if run is not None and run[2] == k and row["block"] == run[1] + 1:
            run = (run[0], row["block"], k, run[3])
            continue
        if run is not None:
            yield run[0], run[1], run[3]
        run = (row["block"], row["block"], k, row)
    if run is not None:
        yield run[0], run[1], run[3]


def _title(result):
    nb = result["nblocks"]
    return f"{result['relation']}  ({KIND_NAMES.get(result['kind'], result['kind'])}, {result['build']}): " \
           f"{nb} block{'s' * (nb != 1)}"


# ---- --fsm / --vm ---------------------------------------------------------------------------

def write_maps(result, rows, out):
    fsm, vm = result["fsm"], result["vm"]
    out.write(_title(result) + "\n")
    if fsm:
        out.write(f"  free space map: {fsm['blocks']} block{'s' * (fsm['blocks'] != 1)}, a {fsm['depth']}-level "
                  f"tree; the root's best: {fsm['root_avail']} bytes free\n")
    if vm:
        out.write(f"  visibility map: {vm['blocks']} block{'s' * (vm['blocks'] != 1)}, two bits for each heap "
                  f"block ({vm['heap_blocks_per_page']} a page)\n")
    head = f"  {'blocks':<13} {'page free':>9}"
    if fsm:
        head += f" {'FSM category':>12} {'FSM says':>8}"
    if vm:
        head += "  visible frozen PD_ALL_VISIBLE"
    out.write("\n" + head + "\n")

    def key(r):
        return tuple(r.get(k) for k in ("new", "page_free", "fsm_category", "all_visible", "all_frozen",
                                        "pd_all_visible"))

    totals = {"blocks": 0, "visible": 0, "frozen": 0, "fsm": 0, "free": 0}
    for first, last, r in _runs(_counting(rows, totals), key):
        line = f"  {_span(first, last):<13} {'(new)' if r['new'] else r['page_free']:>9}"
        if fsm:
            line += f" {r['fsm_category']:>12} {r['fsm_avail']:>8}"
        if vm:
            line += f"  {_yes(r['all_visible']):7} {_yes(r['all_frozen']):6} {_yes(r['pd_all_visible'])}"
        out.write(line[:WIDTH] + "\n")
    parts = [f"{totals['free']} bytes free on the pages"]
    if fsm:
        parts.append(f"{totals['fsm']} recorded in the FSM")
    if vm:
        parts.append(f"{totals['visible']} of {totals['blocks']} blocks all-visible, {totals['frozen']} all-frozen")
    out.write("\n" + "\n".join(_wrapped(["  " + "; ".join(parts)], indent="  ")) + "\n")


def _counting(rows, totals):
    for r in rows:
        totals["blocks"] += 1
        totals["free"] += r["page_free"]
        totals["fsm"] += r.get("fsm_avail", 0)
        totals["visible"] += bool(r.get("all_visible"))
        totals["frozen"] += bool(r.get("all_frozen"))
        yield r


# ---- --summary ------------------------------------------------------------------------------

def _bytes(n):
    for unit, size in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= 10 * size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def write_summary(result, _rows, out):
    s, lp = result["summary"], result["line_pointers"]
    lines = [_title(result) + f", {_bytes(s['table_len'])}",
             f"  live tuples  {s['tuple_count']:>10}  {s['tuple_len']:>12} bytes  {s['tuple_percent']:6.2f}%",
             f"  dead tuples  {s['dead_tuple_count']:>10}  {s['dead_tuple_len']:>12} bytes  "
             f"{s['dead_tuple_percent']:6.2f}%",
             f"  free space   {'':>10}  {s['free_space']:>12} bytes  {s['free_percent']:6.2f}%",
             f"  line pointers: {lp['normal']} normal, {lp['redirect']} redirect, {lp['dead']} dead, "
             f"{lp['unused']} unused"]
    ip = result["in_progress"]
    if ip["inserting"] or ip["deleting"]:
        lines.append(f"  live because a transaction still runs: {ip['inserting']} being inserted, "
                     f"{ip['deleting']} being deleted")
    if result["undecided"]:
        lines.append(f"  {result['undecided']} tuples undecided: their transaction's fate is no longer known")
    if result["new_pages"]:
        lines.append(f"  {result['new_pages']} new (all-zero) pages")
    vm = result["visibility_map"]
    lines.append(f"  visibility map: {vm['all_visible']} of {result['nblocks']} pages all-visible, "
                 f"{vm['all_frozen']} all-frozen")
    b = result["bloat"]
    lines.append(f"  bloat: the live tuples would fit in {b['min_pages']} page{'s' * (b['min_pages'] != 1)}; "
                 f"{b['extra_pages']} more ({b['extra_percent']:.2f}% of the table) hold dead tuples and free "
                 f"space")
    if result["statuses_asked"]:
        lines.append(f"  ({result['statuses_asked']} transactions' fates asked of the server: their tuples "
                     f"carry no hint bits yet)")
    out.write("\n".join(_wrapped(lines)) + "\n")


def _wrapped(lines, indent=""):
    """LINES, each longer than WIDTH wrapped, its continuation two spaces further in."""
    import textwrap

    for line in lines:
        if len(line) <= WIDTH:
            yield line
        else:
            yield from textwrap.wrap(line.strip(), WIDTH, initial_indent=indent, subsequent_indent=indent + "    ",
                                     break_on_hyphens=False)


# ---- --buffers ------------------------------------------------------------------------------

def write_buffers(result, rows, out):
    lines = [_title(result) + f"; {result['nbuffers']} shared buffers of {result['blcksz']} bytes"]
    for name, f in result["forks"].items():
        if f["blocks"] or f["buffered"]:
            lines.append(f"  {name:4} fork: {f['buffered']} of {f['blocks']} block{'s' * (f['blocks'] != 1)} in "
                         f"shared buffers, {f['dirty']} dirty, {f['pinned']} pinned")
    out.write("\n".join(lines) + "\n")
    if not rows:
        out.write("\n  none of its pages is in shared buffers\n")
        return
    out.write(f"\n  {'fork':4} {'blocks':<13} {'buffer':>8} {'dirty':5} {'pins':>4} {'usage':>5}\n")

    def key(r):
        return (r["fork_name"], r["dirty"], r["pinning_backends"], r["usage_count"], r["buffer"] - r["block"])

    for first, last, r in _runs(rows, key):
        buf = str(r["buffer"]) if first == last else f"{r['buffer']}–{r['buffer'] + last - first}"
        out.write(f"  {r['fork_name']:4} {_span(first, last):<13} {buf:>8} {_yes(r['dirty']):5} "
                  f"{r['pinning_backends']:>4} {r['usage_count']:>5}\n")

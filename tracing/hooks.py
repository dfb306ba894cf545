"""Which *_hook globals are set, to what function, from which shared library.

Read at the end of the trace (so a `LOAD 'auto_explain'` in the traced SQL
shows up); nothing is called in the backend.
"""

import gdb

from . import common


def symbol_at(addr):
    """Function name at addr, from the symbol tables (like `info symbol`)."""
    block = gdb.block_for_pc(addr)
    while block is not None:
        if block.function is not None:
            return block.function.name
        block = block.superblock
    text = gdb.execute(f"info symbol {addr:#x}", to_string=True).strip()
    if text.startswith("No symbol"):
        return None
    return text.split(" in section ")[0].split(" + ")[0]


def hook_values(names):
    """Yield (hook name, address or 0) for each hook this build has."""
    for name in names:
        val = common.find_variable(name)
        if val is None:
            continue
        yield name, int(val)


def report(names):
    out = []
    for name, addr in hook_values(names):
        rec = {"hook": name, "installed": addr != 0}
        if addr:
            rec["address"] = f"{addr:#x}"
            rec["function"] = symbol_at(addr)
            rec["library"] = gdb.solib_name(addr)   # None: the postgres executable
        out.append(rec)
    return out


class HooksTracer:
    def __init__(self, ctx):
        self.ctx = ctx

    def finish(self, alive):
        if not alive:
            return
        for rec in report(self.ctx.profile.hooks):
            self.ctx.em.emit("hook", **rec)


def install(ctx):
    ctx.finishers.append(HooksTracer(ctx).finish)
    return []

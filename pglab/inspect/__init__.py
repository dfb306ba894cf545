"""inspect: heap and index pages as they are on disk, decoded with the build's own layouts.

    result = inspect_relation(settings, "t", block=0)      # a dict, JSON-ready
    steps = watch(settings, "t", ["UPDATE t SET v = v + 1 WHERE id = 1", "VACUUM t"])

layouts.py compiles the page structs from the build's headers (cffi), relation.py
finds and reads the files, reading.py opens the session and decodes the chosen blocks
(with pages.py and values.py), watch.py runs statements and diffs, render/ draws text,
JSON, SVG and HTML.  This module is what `invoke inspect` writes.
"""

import sys
from contextlib import contextmanager

from .reading import (INDEX_ALL_UNDER, choose_blocks, decode, find, head, inspect_relation, iter_pages,
                      named_cluster, session)

# what the rest of pglab (lab checks, tasks) and the tests take from here
__all__ = ["INDEX_ALL_UNDER", "VIEWS", "choose_blocks", "decode", "find", "head", "inspect_relation", "iter_pages",
           "named_cluster", "output", "session", "write"]


@contextmanager
def output(path):
    """Where `inspect` writes: the terminal, or PATH (`--out`), written whole once everything
    is decoded (pglab.out: a failure leaves PATH as it was)."""
    from .. import out

    if not path:
        yield sys.stdout
        return
    with out.file(path) as stream:
        yield stream


VIEWS = ("fsm", "vm", "summary", "buffers")


def write(settings, spec, stream, *, fmt="text", block=None, all_blocks=False, pg=None, name="main",
          db="postgres", watch_sql=None, progress=None, views=()):
    """`invoke inspect`: SPEC's pages (or, with WATCH_SQL, a step per statement; with VIEWS, the
    whole relation's maps, summary or buffers) in FMT on STREAM; returns what was written, for
    the task's last line ("3 pages of public.t", "2 steps")."""
    from . import render
    from .watch import watch

    render.check_format(fmt)
    if views:
        return _write_view(settings, spec, stream, fmt=fmt, views=views, pg=pg, name=name, db=db)
    if watch_sql is not None:
        steps = watch(settings, spec, watch_sql, block=block, all_blocks=all_blocks, pg=pg, name=name, db=db,
                      progress=progress, before=lambda first: render.check_watch(first["kind"], fmt))
        render.write_watch(steps, fmt, stream)
        return f"{len(steps) - 1} steps"
    with session(settings, pg=pg, name=name, db=db) as (cluster, lay, conn):
        rel = find(conn, cluster, lay, spec)
        blocks = choose_blocks(rel, block, all_blocks)
        result = head(lay, rel)
        render.write_result(result, iter_pages(lay, rel, blocks, meta=result.get("meta"), as_json=fmt == "json"),
                            fmt, stream)
        return f"{len(blocks)} page{'s' if len(blocks) != 1 else ''} of {rel.qualified}"


def _write_view(settings, spec, stream, *, fmt, views, pg, name, db):
    """--fsm/--vm, --summary or --buffers: one whole-relation view."""
    from . import render

    view = "maps" if set(views) <= {"fsm", "vm"} else views[0]
    render.check_view(view, fmt)
    with session(settings, pg=pg, name=name, db=db) as (cluster, lay, conn):
        if view == "buffers":
            from . import buffers

            rel = find(conn, cluster, lay, spec, checkpoint=False)   # a CHECKPOINT would clean the dirty ones
            result, rows = buffers.read(conn, lay, rel)
            render.write_view(result, rows, fmt, stream)
            return f"the shared buffers of {rel.qualified}"
        rel = find(conn, cluster, lay, spec)
        if view == "summary":
            from . import summary

            result = summary.summarize(conn, lay, rel)
            render.write_view(result, [], fmt, stream)
            return f"the summary of {rel.qualified}"
        from . import maps

        fsm, vm = "fsm" in views, "vm" in views
        maps.check_forks(rel, fsm=fsm, vm=vm)
        render.write_view(maps.head(lay, rel, fsm=fsm, vm=vm), maps.rows(lay, rel, fsm=fsm, vm=vm), fmt, stream)
        return f"the {' and '.join(n for n, on in (('free space map', fsm), ('visibility map', vm)) if on)} " \
               f"of {rel.qualified}"

#!/usr/bin/env python3
"""Benchmark: decode every page of a table of 1 GB or more.

    inspect      `invoke inspect TABLE --all --format json`, as a user runs it (the
                 command line, the CHECKPOINT, every page's header, line pointers,
                 tuple headers and column values as JSON on stdout)
    pageinspect  the same pages through SQL in one session: for each block,
                 SELECT * FROM heap_page_items(get_raw_page(TABLE, n)), rows fetched

Runs alternate (pageinspect, inspect, pageinspect, inspect, ...); prints pages per
second for each, their medians and the median of the paired ratios
inspect/pageinspect in pages per second (target >= 5).

The table is made once on a named cluster of the build (`bench`) and kept:

    python bench/inspect_pages.py [--pg 16] [--size-mb 1100] [--runs 3] [--json FILE]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from pglab.cluster import Cluster  # noqa: E402
from pglab.config import Settings  # noqa: E402
from pglab.pg.builds import find_build  # noqa: E402

TABLE = "inspect_bench"
ROWS_PER_BATCH = 500_000


def ensure_table(conn, size_mb):
    """TABLE of at least SIZE_MB, filled in batches (made once; kept for later runs)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id int, k int, note text, at timestamptz, amount numeric) "
                 f"WITH (autovacuum_enabled = off)")
    start = conn.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}").fetchone()[0]
    while conn.execute(f"SELECT pg_relation_size('{TABLE}')").fetchone()[0] < size_mb * 1024 * 1024:
        conn.execute(f"INSERT INTO {TABLE} SELECT g, g % 1000, md5(g::text) || md5((g + 1)::text), "
                     f"timestamptz '2024-01-01' + g * interval '1 s', g * 0.01 "
                     f"FROM generate_series({start + 1}, {start + ROWS_PER_BATCH}) g")
        start += ROWS_PER_BATCH
        size = conn.execute(f"SELECT pg_relation_size('{TABLE}')").fetchone()[0]
        print(f"  filling {TABLE}: {size / 2**20:.0f} MB of {size_mb}", file=sys.stderr)
    conn.execute("CHECKPOINT")
    return conn.execute(f"SELECT pg_relation_size('{TABLE}') / current_setting('block_size')::int").fetchone()[0]


def run_pageinspect(conninfo, nblocks):
    with psycopg.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        with conn.cursor() as cur:
            for n in range(nblocks):
                cur.execute(f"SELECT * FROM heap_page_items(get_raw_page('{TABLE}', %s))", (n,), prepare=True)
                cur.fetchall()
        return time.perf_counter() - start


def run_inspect(build, name):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "invoke", "inspect", TABLE, "--all", "--format", "json",
                           "--pg", build.id, "--name", name], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"inspect failed: {done.stderr.strip()}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", default=None)
    ap.add_argument("--size-mb", type=int, default=1100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    settings = Settings.load()
    build = find_build(settings, args.pg)
    cluster = Cluster.named(settings, build, "bench")
    cluster.init()
    cluster.start()
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        nblocks = ensure_table(conn, args.size_mb)
    size_mb = nblocks * 8192 / 2**20
    print(f"{TABLE}: {nblocks} pages ({size_mb:.0f} MB) on {build.id}")
    run_inspect(build, "bench")          # compiles the layouts if needed; warms the OS cache
    pairs = []
    for k in range(args.runs):
        bare = run_pageinspect(cluster.conninfo(), nblocks)
        ours = run_inspect(build, "bench")
        pairs.append((nblocks / bare, nblocks / ours))
        print(f"  run {k + 1}: pageinspect {nblocks / bare:8.0f} pages/s   inspect {nblocks / ours:8.0f} pages/s   "
              f"ratio {bare / ours:.2f}")
    bare_med = statistics.median(p[0] for p in pairs)
    ours_med = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(o / b for b, o in pairs)
    print(f"median: pageinspect {bare_med:.0f} pages/s, inspect {ours_med:.0f} pages/s, ratio {ratio:.2f} "
          f"(target >= 5)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "inspect_pages", "build": build.id, "pages": nblocks, "size_mb": round(size_mb),
            "runs": args.runs, "pageinspect_pages_per_s": [round(p[0]) for p in pairs],
            "inspect_pages_per_s": [round(p[1]) for p in pairs], "median_pageinspect": round(bare_med),
            "median_inspect": round(ours_med), "median_ratio": round(ratio, 2)}, indent=1) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark: per-event overhead of `trace heap_insert` on a 10,000-row INSERT.

    bare      gdb attached with `break heap_insert / commands / silent / continue / end`
    trace     pglab's heap_insert tracer (reads relation, TID, xmin, length, infomask per row)
    none      the same statement with no debugger, for scale

Each run times the INSERT statement itself, in the same session set-up, A B A B;
prints medians, events per second and the median of the paired ratios trace/bare
(target <= 1.5).

    python bench/trace_heap_insert.py [--rows 10000] [--runs 5] [--pg 17] [--json FILE]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from pglab.cluster import Cluster  # noqa: E402
from pglab.config import Settings  # noqa: E402
from pglab.pg.builds import find_build  # noqa: E402
from pglab.trace import driver  # noqa: E402


def timed_sql(conn, sql):
    start = time.perf_counter()
    conn.execute(sql)
    return time.perf_counter() - start


def bare_breakpoint(cl, sql, workdir, gdb_path):
    script, ready = workdir / "bare.gdb", workdir / "ready"
    ready.unlink(missing_ok=True)
    script.write_text("set pagination off\n"
                      "handle SIGUSR1 SIGUSR2 SIGALRM SIGPIPE SIGURG SIGCHLD SIGINT nostop noprint pass\n"
                      "handle SIGWINCH stop print nopass\n"
                      "break heap_insert\ncommands\nsilent\ncontinue\nend\n"
                      f"shell touch {ready}\ncontinue\ndetach\n")
    with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
        pid = conn.info.backend_pid
        gdb = subprocess.Popen([gdb_path, "-nx", "-batch", "-q", "-iex", "set debuginfod enabled off",
                                "-x", str(script), "-p", str(pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            while not ready.exists():
                time.sleep(0.01)
            time.sleep(0.2)
            return timed_sql(conn, sql)
        finally:
            os.kill(pid, signal.SIGWINCH)  # stops gdb's `continue`; the script then detaches
            gdb.wait(60)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pg")
    ap.add_argument("--json")
    opts = ap.parse_args()
    settings = Settings.load()
    build = find_build(settings, opts.pg)
    gdb_path = driver.find_gdb()        # the same gdb for both, as the trace would pick it
    sql = f"INSERT INTO bench SELECT g, 'row ' || g FROM generate_series(1, {opts.rows}) g"
    none, bare, traced = [], [], []
    with Cluster.throwaway(settings, build, template=True) as cl, tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(cl.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench (a int, b text)")
            for _ in range(opts.runs):
                none.append(timed_sql(conn, sql))
        for _ in range(opts.runs):
            bare.append(bare_breakpoint(cl, sql, Path(tmp), gdb_path))
            r = driver.run_trace(conninfo=cl.conninfo(), bindir=str(build.bindir), target="heap_insert", sql=sql,
                                 gdb=gdb_path, timeout=600)
            events = [e for e in r.of("heap_insert") if e["rel"] == "bench"]
            if len(events) != opts.rows:
                sys.exit(f"the trace saw {len(events)} of {opts.rows} rows")
            traced.append(r.sql_duration_s)
    ratios = [t / b for t, b in zip(traced, bare)]
    result = {"build": build.id, "gdb": gdb_path, "rows": opts.rows, "runs": opts.runs,
              "no_gdb_s": statistics.median(none), "bare_breakpoint_s": statistics.median(bare),
              "trace_s": statistics.median(traced), "ratio_median": statistics.median(ratios),
              "ratio_min_max": [min(ratios), max(ratios)],
              "events_per_s": opts.rows / statistics.median(traced),
              "bare_hits_per_s": opts.rows / statistics.median(bare)}
    print(f"{opts.rows}-row INSERT on {build.id}, {opts.runs} runs (medians), {gdb_path}")
    print(f"  no debugger          {result['no_gdb_s']:8.3f} s")
    print(f"  bare gdb breakpoint  {result['bare_breakpoint_s']:8.3f} s  {result['bare_hits_per_s']:8.0f} hits/s")
    print(f"  trace heap_insert    {result['trace_s']:8.3f} s  {result['events_per_s']:8.0f} events/s")
    print(f"  ratio trace / bare   {result['ratio_median']:8.2f}    (pairs: {min(ratios):.2f}..{max(ratios):.2f}; target <= 1.5)")
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

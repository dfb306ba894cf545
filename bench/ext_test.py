#!/usr/bin/env python3
"""Benchmark: edit one example's .c file, then get the ext-test verdict (warm build).

    ext-test     `invoke ext-test pgl_funcs` after touching pgl_funcs.c: rebuild,
                 install, the warm server, `make installcheck` (regress) and pytest
                 (10 tests, a fresh database each)
                                        (target: median <= 1.5 s and <= 3x bare)
    bare PGXS    `make install && make installcheck` on a copy of the same extension
                 after the same edit, against a server that is already running

pglab runs as a user's machine runs it, writing and reusing Python's bytecode:
PYTHONDONTWRITEBYTECODE, if the calling shell sets it, is dropped for pglab's side
(with it, every run compiles pglab, invoke and rich from source: about 0.15 s more).

Both edit the file the same way (a new mtime) before each run, after a pause
(--pause, 1.5 s: an edit takes longer) in which background work either side
left finishes; the ratio is ext-test / bare, paired run by run.

    python bench/ext_test.py [--ext pgl_funcs] [--runs 15] [--pause 1.5] [--json FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pglab.cluster import Cluster  # noqa: E402
from pglab.config import Settings  # noqa: E402
from pglab.pg.builds import find_build  # noqa: E402


def timed(cmd, **kw):
    start = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)
    if done.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(map(str, cmd))}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ext", default="pgl_funcs")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--pause", type=float, default=1.5, help="seconds before each timed run (the edit)")
    ap.add_argument("--json")
    opts = ap.parse_args()
    settings = Settings.load()
    build = find_build(settings)
    source = ROOT / "extensions" / opts.ext
    c_file = next(source.glob("*.c"))
    copy = Path(tempfile.mkdtemp(prefix="pglab-bench-")) / opts.ext
    shutil.copytree(source, copy)
    os.chmod(copy.parent, 0o755)
    make = ["make", "-C", copy, "USE_PGXS=1", f"PG_CONFIG={build.pg_config}"]

    user_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("PYTHONDONTWRITEBYTECODE is set here: pglab's side runs without it, as on a user's machine")
    # warm: template, mirror, objects, and the bytecode of every module a run imports
    timed([sys.executable, "-m", "invoke", "ext-test", opts.ext], cwd=ROOT, env=user_env)
    pglab, bare = [], []
    with Cluster.throwaway(settings, build, template=True) as cl:
        env = {**os.environ, **cl.env}
        timed([*make, "install"])
        for _ in range(opts.runs):
            # a person's edit takes longer than this: what either side left running
            # in the background (ext-test refills its pool of test databases) is done
            time.sleep(opts.pause)
            os.utime(c_file)
            pglab.append(timed([sys.executable, "-m", "invoke", "ext-test", opts.ext], cwd=ROOT, env=user_env))
            time.sleep(opts.pause)
            os.utime(copy / c_file.name)
            bare.append(timed([*make, "install"]) + timed([*make, "installcheck"], env=env))
    shutil.rmtree(copy.parent, ignore_errors=True)
    ratios = [p / b for p, b in zip(pglab, bare)]
    result = {"extension": opts.ext, "build": build.id, "runs": opts.runs,
              "ext_test_median_s": statistics.median(pglab), "bare_pgxs_median_s": statistics.median(bare),
              "ratio_median": statistics.median(ratios),
              "ext_test_min_max_s": [min(pglab), max(pglab)], "bare_min_max_s": [min(bare), max(bare)]}
    print(f"edit {c_file.name} -> verdict, {opts.runs} runs on {build.id}")
    print(f"{'':<28}{'median':>9}{'min':>8}{'max':>8}")
    print(f"{'ext-test (regress+pytest)':<28}{result['ext_test_median_s']:>8.2f}s{min(pglab):>7.2f}s{max(pglab):>7.2f}s"
          "   target <= 1.5 s")
    print(f"{'bare make install+installcheck':<28}{result['bare_pgxs_median_s']:>6.2f}s{min(bare):>7.2f}s{max(bare):>7.2f}s")
    print(f"ratio ext-test / bare (median of pairs): {result['ratio_median']:.2f}   target <= 3")
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

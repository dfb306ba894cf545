#!/usr/bin/env python3
"""Benchmark: what `./lab` adds before the task starts, when everything is set up.

    ./lab       `./lab --version`: the set-up check, then invoke
    bare        `.venv/bin/invoke --version`, the same invoke without the front door
                                                        (target: median difference <= 0.3 s)

A B A B over --runs pairs, in one process; prints medians, the median
difference of pairs and their ratio.

    python bench/front_door.py [--runs 21] [--json FILE]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd):
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(map(str, cmd))}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--json")
    opts = ap.parse_args()
    lab, bare = [ROOT / "lab", "--version"], [ROOT / ".venv" / "bin" / "invoke", "--version"]
    timed(lab)      # set up if needed; later runs find everything in place
    front, plain = [], []
    for _ in range(opts.runs):
        front.append(timed(lab))
        plain.append(timed(bare))
    diffs = [f - p for f, p in zip(front, plain)]
    result = {"runs": opts.runs, "lab_median_s": statistics.median(front), "invoke_median_s": statistics.median(plain),
              "added_median_s": statistics.median(diffs),
              "ratio_median": statistics.median(f / p for f, p in zip(front, plain))}
    print(f"./lab --version vs invoke --version, {opts.runs} pairs")
    print(f"  ./lab    median {result['lab_median_s']:.3f} s")
    print(f"  invoke   median {result['invoke_median_s']:.3f} s")
    print(f"  added by ./lab (median of pairs) {result['added_median_s']:.3f} s   target <= 0.3 s; "
          f"ratio {result['ratio_median']:.2f}")
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

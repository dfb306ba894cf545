#!/usr/bin/env python3
"""configure for a second build of a release (a fork of its tree, a --patch build,
another channel), against a bare baseline in the same process.

    pglab  build-pg's configure step into an empty build tree, with the results an
           earlier configure of the same script kept in the build cache
    bare   the same configure script, flags, CFLAGS and CC into an empty build tree,
           as a person runs it

Both sides run in a scratch folder; the kept results live in a scratch build cache,
filled by one run before the timed pairs.  Pairs alternate which side goes first.
Prints medians and the ratio; --json writes them.

    python bench/configure.py [--release 15.18] [--pairs 3] [--json FILE]
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
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pglab import ui  # noqa: E402
from pglab.config import Settings  # noqa: E402
from pglab.layout import Layout  # noqa: E402
from pglab.pg import build as build_mod  # noqa: E402
from pglab.pg.builds import list_builds  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", help="a release pglab has built (default: the default build's)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--json", help="write the figures here")
    opts = ap.parse_args()

    builds = [b for b in list_builds(Settings.load()) if b.meta.get("channel") != "local" and not b.meta.get("patches")]
    if opts.release:
        builds = [b for b in builds if str(b.release) == opts.release]
    if not builds:
        sys.exit("no build of that release: `invoke build-pg` makes one")
    b = builds[0]
    src, args, cflags = Path(b.meta["source_dir"]), b.meta["configure_args"], b.meta["cflags"]
    cc = "ccache gcc" if shutil.which("ccache") else "gcc"
    work = Path(tempfile.mkdtemp(prefix="pglab-bench-configure-"))
    settings = SimpleNamespace(layout=Layout(work / "area", work / "cache"))
    ui.console.quiet = True

    def fresh(name):
        d = work / name
        shutil.rmtree(d, ignore_errors=True)
        (d / "logs").mkdir(parents=True)
        return d

    def pglab_side():
        d = fresh("pglab")
        start = time.perf_counter()
        build_mod._configure(settings, d, src, work / "prefix", args, cflags)
        return time.perf_counter() - start

    def bare_side():
        d = fresh("bare")
        start = time.perf_counter()
        subprocess.run([src / "configure", f"--prefix={work / 'prefix'}", *args, f"CFLAGS={cflags}", f"CC={cc}"],
                       cwd=d, env={**os.environ, "LC_ALL": "C"}, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    try:
        first = pglab_side()   # fills the kept results
        ours, bare = [], []
        for i in range(opts.pairs):
            order = [(ours, pglab_side), (bare, bare_side)][:: 1 if i % 2 == 0 else -1]
            for into, side in order:
                into.append(side())
            print(f"pair {i + 1}: pglab {ours[-1]:.1f} s, bare {bare[-1]:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {"release": str(b.release), "first_run_s": round(first, 2),
               "pglab_median_s": round(statistics.median(ours), 2), "bare_median_s": round(statistics.median(bare), 2),
               "ratio": round(statistics.median(ours) / statistics.median(bare), 3),
               "pairs": [[round(o, 2), round(x, 2)] for o, x in zip(ours, bare)]}
    print(f"configure {b.release}: first run (keeps its results) {first:.1f} s; then pglab {figures['pglab_median_s']} s "
          f"vs bare {figures['bare_median_s']} s (medians of {opts.pairs}), ratio {figures['ratio']}")
    if opts.json:
        Path(opts.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmarks for build-pg, each against a bare baseline run in the same process.

    cold         build-pg on a cached source into an empty working area
                 vs  configure && make world-bin && make install-world-bin by hand,
                 same source, same configure flags, same CFLAGS and CC   (target ratio <= 1.05)
    no-op        build-pg again with nothing changed                      (target <= 2 s)
                 vs  `make world-bin` on the already-built bare tree
    incremental  build-pg --source TREE after touching one optimizer file (target <= 30 s)
                 vs  make world-bin && make install-world-bin by hand after the same touch

ccache is disabled for both sides (CCACHE_DISABLE=1) so neither side is served
from a cache the other one filled.  Prints medians and ratios; --json writes them.

    python bench/build_pg.py [--release 17.11] [--runs 1] [--noop-runs 5] [--json FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pglab.pg.build import FLAVOURS  # noqa: E402
from pglab.pg.builds import list_builds  # noqa: E402
from pglab.config import Settings  # noqa: E402

ENV = {**os.environ, "CCACHE_DISABLE": "1", "LC_ALL": "C"}
TOUCHED = "src/backend/optimizer/path/costsize.c"


def timed(cmd, cwd=None, env=None):
    start = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(map(str, cmd))}\n{done.stderr[-2000:]}")
    return elapsed


def invoke(root, *args):
    return timed([sys.executable, "-m", "invoke", *args], cwd=ROOT,
                 env={**ENV, "INVOKE_PGLAB_ROOT": str(root), "INVOKE_PGLAB_CACHE": str(root)})


def bare_build(src, work, args, cflags, jobs):
    build, prefix = work / "bare-build", work / "bare-install"
    shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(prefix, ignore_errors=True)
    build.mkdir(parents=True)
    cc = "ccache gcc" if shutil.which("ccache") else "gcc"
    t = timed([src / "configure", f"--prefix={prefix}", *args, f"CFLAGS={cflags}", f"CC={cc}"], cwd=build)
    t += timed(["make", f"-j{jobs}", "world-bin"], cwd=build)
    t += timed(["make", "install-world-bin"], cwd=build)
    return t, build


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--release", help="a release already in pglab's source cache (default: the default build's)")
    ap.add_argument("--runs", type=int, default=1, help="cold/incremental pairs (each takes minutes)")
    ap.add_argument("--noop-runs", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    opts = ap.parse_args()

    settings = Settings.load()
    builds = [b for b in list_builds(settings) if b.flavour == "debug" and not b.meta["patches"]
              and b.meta["channel"] != "local" and (opts.release is None or str(b.release) == opts.release)]
    if not builds:
        sys.exit("no cached debug build to take the source from: run `invoke build-pg` first")
    ref = builds[0]
    src = Path(ref.meta["source_dir"])
    args, cflags, jobs = ref.meta["configure_args"], FLAVOURS["debug"]["cflags"], settings.parallel_jobs
    work = settings.root / "bench-tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"benchmarking build-pg on PostgreSQL {ref.release} ({src}), {jobs} jobs, ccache off, {opts.runs} run(s)")
    results = {"release": str(ref.release), "jobs": jobs, "runs": opts.runs}

    # cold: an empty working area whose cache holds just this source
    cold, bare = [], []
    area = work / "area"
    for run in range(opts.runs):
        def pglab_cold():
            shutil.rmtree(area, ignore_errors=True)
            (area / "src").mkdir(parents=True)
            os.symlink(src, area / "src" / str(ref.release))
            shutil.copy(f"{src}.json", area / "src" / f"{ref.release}.json")
            return invoke(area, "build-pg", "--version", str(ref.release), "--source", "cache", "--jobs", str(jobs))

        # A B, then B A: the machine drifts over the minutes a pair takes
        if run % 2 == 0:
            b, bare_tree = bare_build(src, work, args, cflags, jobs)
            c = pglab_cold()
        else:
            c = pglab_cold()
            b, bare_tree = bare_build(src, work, args, cflags, jobs)
        bare.append(b)
        cold.append(c)
        print(f"  cold: build-pg {c:.1f} s, bare {b:.1f} s, ratio {c / b:.3f}")
    results["cold"] = {"build_pg_s": statistics.median(cold), "bare_s": statistics.median(bare),
                       "ratio": statistics.median(c / b for c, b in zip(cold, bare))}

    # no-op: build-pg again vs make on the up-to-date bare tree
    noop = [invoke(area, "build-pg", "--version", str(ref.release), "--source", "cache") for _ in range(opts.noop_runs)]
    bare_noop = [timed(["make", f"-j{jobs}", "world-bin"], cwd=bare_tree) for _ in range(opts.noop_runs)]
    results["noop"] = {"build_pg_s": statistics.median(noop), "bare_make_s": statistics.median(bare_noop),
                       "ratio": statistics.median(noop) / statistics.median(bare_noop)}
    print(f"  no-op: build-pg median {results['noop']['build_pg_s']:.2f} s, bare make {results['noop']['bare_make_s']:.2f} s")

    # incremental: a learner's own tree, one optimizer file touched
    fork = work / "fork"
    shutil.copytree(src, fork, symlinks=True)
    invoke(area, "build-pg", "--source", str(fork), "--jobs", str(jobs))
    inc, bare_inc = [], []
    for _ in range(max(opts.runs, 3)):
        (fork / TOUCHED).touch()
        inc.append(invoke(area, "build-pg", "--source", str(fork), "--jobs", str(jobs)))
        # the bare tree builds from the shared cached source, which is left alone:
        # an object older than its source is what a touched source looks like to make
        os.utime(bare_tree / "src/backend/optimizer/path/costsize.o", (0, 0))
        bare_inc.append(timed(["make", f"-j{jobs}", "world-bin"], cwd=bare_tree)
                        + timed(["make", "install-world-bin"], cwd=bare_tree))
    results["incremental"] = {"build_pg_s": statistics.median(inc), "bare_s": statistics.median(bare_inc),
                              "ratio": statistics.median(inc) / statistics.median(bare_inc)}
    print(f"  incremental: build-pg median {results['incremental']['build_pg_s']:.1f} s, "
          f"bare {results['incremental']['bare_s']:.1f} s")

    print()
    print(f"{'benchmark':<14}{'build-pg (median)':>20}{'bare baseline':>16}{'ratio':>8}   target")
    print(f"{'cold build':<14}{results['cold']['build_pg_s']:>18.1f} s{results['cold']['bare_s']:>14.1f} s"
          f"{results['cold']['ratio']:>8.3f}   ratio <= 1.05")
    print(f"{'no-op re-run':<14}{results['noop']['build_pg_s']:>18.2f} s{results['noop']['bare_make_s']:>14.2f} s"
          f"{results['noop']['ratio']:>8.2f}   <= 2 s")
    print(f"{'incremental':<14}{results['incremental']['build_pg_s']:>18.1f} s{results['incremental']['bare_s']:>14.1f} s"
          f"{results['incremental']['ratio']:>8.2f}   <= 30 s")
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

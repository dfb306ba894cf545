"""Bare PGXS, as a person runs it, for comparing ext-test's verdicts with:
`make install && make installcheck` in a copy of the extension, as the server's
account, against a server started with the settings the extension's docs ask
for.  Counts come from the tools' own summary lines, not from pglab's parsers."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pglab.accounts
import pglab.cluster
from pglab.cluster import Cluster
from pglab.pg.build import installed_software
from tests.conftest import shared_tmp

# Bare verdicts kept from run to run (remembered_bare_installcheck), outside any clone
VERDICTS = shared_tmp("pglab-test-bare-verdicts")


def bare_installcheck(build, settings, source, tmp_path, conf=None, before=None):
    """(passed?, counts, output, seconds of installcheck) of bare PGXS on a copy of `source`; BEFORE: a
    shell command run first, as installcheck is (what the project's CI prepares)."""
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    os.chmod(tmp_path, 0o755)
    make = ["make", "--no-print-directory", "USE_PGXS=1", f"PG_CONFIG={build.pg_config}"]
    configure(build, copy)
    subprocess.run(make, cwd=copy, check=True, capture_output=True)       # make && make install, as people do
    subprocess.run([*make, "install"], cwd=copy, check=True, capture_output=True)
    with Cluster.throwaway(settings, build, conf=conf or {}) as cl:
        cl.ensure_reachable(copy)
        if cl.account.switching:     # installcheck writes results/ there, as the server's account
            subprocess.run(["chown", "-R", f"{cl.account.uid}:{cl.account.gid}", str(copy)], check=True)
        env = {**os.environ, **cl.env, "PATH": f"{build.bindir}:{os.environ['PATH']}"}
        if before:
            subprocess.run(["sh", "-c", before], cwd=copy, check=True, capture_output=True, env=env,
                           **cl.account.subprocess_kwargs())
        start = time.monotonic()
        done = subprocess.run([*make, "installcheck"], cwd=copy, capture_output=True, text=True, env=env,
                              **cl.account.subprocess_kwargs())
        seconds = time.monotonic() - start
    output = done.stdout + done.stderr
    return done.returncode == 0, summary_counts(output), output, seconds


def configure(build, copy):
    """A project's configure step as its documentation has a person run it: ./autogen.sh when only
    configure.ac is there, then ./configure with the build's pg_config first in PATH (and named with
    --with-pgconfig when the script offers it)."""
    env = {**os.environ, "PATH": f"{build.bindir}:{os.environ['PATH']}"}
    if not (copy / "configure").is_file() and (copy / "autogen.sh").is_file():
        subprocess.run(["sh", "./autogen.sh"], cwd=copy, check=True, capture_output=True, env=env)
    if (copy / "configure").is_file():
        offered = subprocess.run(["sh", "./configure", "--help"], cwd=copy, capture_output=True, text=True, env=env)
        flag = [f"--with-pgconfig={build.pg_config}"] if "--with-pgconfig" in offered.stdout else []
        subprocess.run(["sh", "./configure", *flag], cwd=copy, check=True, capture_output=True, env=env)


def remembered_bare_installcheck(build, settings, source, tmp_path, conf=None, before=None):
    """bare_installcheck's answer, kept under VERDICTS by everything it depends on: the
    extension's files, the build (id and when it was built), the server settings, the
    code that runs it (this file, pglab's Cluster and accounts) and the installed
    software.  Bare PGXS on the same inputs gives the same verdict, so a later run
    with nothing of that changed compares ext-test against the kept one; any change
    runs it again.  Returns bare_installcheck's tuple plus whether it was kept."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(source).rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(source)}\0".encode() + path.read_bytes() + b"\0")
    for module in (__file__, pglab.cluster.__file__, pglab.accounts.__file__):
        digest.update(Path(module).read_bytes())
    digest.update(json.dumps([build.id, build.meta.get("built_at"), conf or {}, before or "",
                              installed_software()]).encode())
    kept = VERDICTS / f"{Path(source).name}-{digest.hexdigest()[:20]}.json"
    if kept.is_file():
        v = json.loads(kept.read_text())
        return v["ok"], {k: tuple(c) for k, c in v["counts"].items()}, v["output"], v["seconds"], True
    ok, counts, output, seconds = bare_installcheck(build, settings, source, tmp_path, conf, before)
    VERDICTS.mkdir(exist_ok=True)
    staged = kept.with_name(f".{kept.name}.{os.getpid()}")
    staged.write_text(json.dumps({"ok": ok, "counts": counts, "output": output, "seconds": seconds}))
    staged.rename(kept)
    return ok, counts, output, seconds, False


def summary_counts(output):
    """{kind: (passed, failed)} from the tools' own summary lines."""
    counts = {}
    for m in re.finditer(r"^\s*(?:# )?All (\d+) tests passed", output, re.M):
        _add(counts, "regress", int(m.group(1)), 0)
    for m in re.finditer(r"^\s*(?:# )?(\d+) of (\d+) tests failed", output, re.M):
        _add(counts, "regress", int(m.group(2)) - int(m.group(1)), int(m.group(1)))
    for m in re.finditer(r"^Files=\d+, Tests=(\d+)", output, re.M):
        ok = re.search(r"^Result: PASS", output, re.M) is not None
        failed = sum(int(x) for x in re.findall(r"Failed (\d+)/\d+ subtests", output))
        _add(counts, "tap", int(m.group(1)) - failed, failed if not ok else 0)
    return counts


def _add(counts, kind, passed, failed):
    p, f = counts.get(kind, (0, 0))
    counts[kind] = (p + passed, f + failed)


def ext_test_counts(results):
    """The same shape from ext-test's results (regress and isolation both print
    pg_regress summaries, so they add up as the bare side's do)."""
    counts = {}
    for r in results:
        if r.suite in ("regress", "isolation") and r.status != "skip":
            _add(counts, "regress", r.passed, r.failed)
        elif r.suite == "tap" and r.status != "skip":
            _add(counts, "tap", r.passed, r.failed)
    return counts

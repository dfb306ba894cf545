"""ext-test on published extensions nobody here wrote, fetched from Debian's
source archive by pglab's own Debian code (upstream tarballs, Debian's patches
not applied), gives the verdict bare `make installcheck` gives on the quick
start's build.  Between them they use an --inputdir with expected/ beside the
Makefile (hypopg), a relative results/ path (pgvector), alternative expected
files (prefix, rum), schedules (pgtap), isolation specs and a TAP test that
starts its own primary and standby (rum), and a --temp-config preload (pgaudit).

An extension whose bare run fails is reported, not counted; at least six must
agree and none may disagree.  The table is written to
pg_source/published-parity.md (docs/ext-parity.md records a run)."""

import time

import pytest

from pglab.ext import published, runner

from .bare_pgxs import bare_installcheck, ext_test_counts

# Debian source package → the server settings its documentation asks for
CORPUS = {
    "pgvector": {},
    "hypopg": {},
    "prefix": {},
    "pgtap": {},
    "pgaudit-1.7": {"shared_preload_libraries": "pgaudit"},   # its README; its Makefile names pgaudit.conf
    "postgresql-rum": {},
}


@pytest.mark.slow
def test_published_extensions_get_the_verdict_bare_pgxs_gives(settings, default_build, tmp_path):
    rows, agreeing, disagreeing = [], [], []
    for package, conf in CORPUS.items():
        [ext] = published.resolve(settings, f"debian:{package}")
        bare_ok, bare_counts, bare_out, bare_seconds = bare_installcheck(
            default_build, settings, ext.path, tmp_path / package, conf)
        start = time.monotonic()
        results = runner.ext_test(settings, str(ext.path), suites=("regress", "isolation", "tap"), fresh=True)
        seconds = time.monotonic() - start
        ours_ok = all(r.ok for r in results)
        ours_counts = ext_test_counts(results)
        suites = ", ".join(f"{r.suite} {r.passed}/{r.passed + r.failed}" for r in results
                           if r.suite in ("regress", "isolation", "tap") and r.status != "skip")
        row = (package, ext.path.name.split("_", 1)[1], suites, "pass" if bare_ok else "FAIL",
               "pass" if ours_ok else "FAIL", f"{bare_seconds:.1f} s", f"{seconds:.1f} s")
        rows.append(row)
        if not bare_ok:
            print(f"\n{package} fails under bare PGXS (not counted):\n{bare_out[-1500:]}")
            continue
        if ours_ok == bare_ok and ours_counts == bare_counts:
            agreeing.append(package)
        else:
            disagreeing.append((package, bare_counts, ours_counts,
                                [(r.suite, r.status, r.detail) for r in results]))
    table = ["| extension (Debian package) | version | suites (ext-test) | bare | ext-test | bare time | ext-test time |",
             "|---|---|---|---|---|---|---|"] + ["| " + " | ".join(r) + " |" for r in rows]
    (settings.layout.root / "published-parity.md").write_text("\n".join(table) + "\n")
    print("\n" + "\n".join(table))
    assert disagreeing == []
    assert len(agreeing) >= 6, agreeing

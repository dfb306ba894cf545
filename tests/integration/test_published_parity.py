"""ext-test on published extensions nobody here wrote, fetched from Debian's
source archive by pglab's own Debian code (upstream tarballs, Debian's patches
not applied), gives the verdict bare `make installcheck` gives on the quick
start's build.  Between them they use an --inputdir with expected/ beside the
Makefile (hypopg), a relative results/ path (pgvector), alternative expected
files (prefix, rum), schedules (pgtap), isolation specs and a TAP test that
starts its own primary and standby (rum), and a --temp-config preload (pgaudit).

Each extension is a test of its own: its bare run must pass (else there is
nothing to compare) and ext-test must give the same verdict and counts.  The bare
verdict is kept from run to run by what it depends on (bare_pgxs.remembered_...):
ext-test runs every time, bare PGXS again whenever the extension, the build or
the code running it changed.  An extension whose source package for the
default build's major cannot be fetched here (pgaudit-17: listed, its files
gone) is compared on the newest other build whose package can be.  The table is written to published-parity.md in
the working area (under `invoke test`, the worker's: pg_source/test-workers/gwN/;
docs/ext-parity.md records a run)."""

import time

import pytest

from pglab.errors import SourceError
from pglab.ext import published, runner
from pglab.pg.builds import resolve_builds

from .bare_pgxs import ext_test_counts, remembered_bare_installcheck

# Debian source package → the server settings its documentation asks for
CORPUS = {
    "pgvector": {},
    "hypopg": {},
    "prefix": {},
    "pgtap": {},
    "pgaudit": {"shared_preload_libraries": "pgaudit"},   # its README; its Makefile names pgaudit.conf
    "postgresql-rum": {},
}


def package_for(name, major):
    """pgaudit has one branch per major, and Debian a source package per branch:
    pgaudit (1.5) for 13, pgaudit-1.6 for 14, pgaudit-1.7 for 15, pgaudit-16 onwards."""
    if name != "pgaudit" or major == 13:
        return name
    return f"pgaudit-1.{major - 8}" if major < 16 else f"pgaudit-{major}"


HEADER = ["| extension (Debian package) | version | suites (ext-test) | bare | ext-test | bare time | ext-test time |",
          "|---|---|---|---|---|---|---|"]


@pytest.mark.slow
@pytest.mark.parametrize("package", CORPUS)
def test_published_extension_gets_the_verdict_bare_pgxs_gives(settings, default_build, tmp_path, package):
    build, ext = _fetchable(settings, default_build, package)
    bare_ok, bare_counts, bare_out, bare_seconds, kept = remembered_bare_installcheck(
        build, settings, ext.path, tmp_path / package, CORPUS[package])
    start = time.monotonic()
    results = runner.ext_test(settings, str(ext.path), suites=("regress", "isolation", "tap"), fresh=True,
                              pg=build.id)
    seconds = time.monotonic() - start
    ours_ok = all(r.ok for r in results)
    suites = ", ".join(f"{r.suite} {r.passed}/{r.passed + r.failed}" for r in results
                       if r.suite in ("regress", "isolation", "tap") and r.status != "skip")
    row = (package_for(package, build.major), ext.path.name.split("_", 1)[1], suites, "pass" if bare_ok else "FAIL",
           "pass" if ours_ok else "FAIL", f"{bare_seconds:.1f} s" + (" (kept)" if kept else ""), f"{seconds:.1f} s")
    _record(settings, package, row)
    assert bare_ok, f"{package} fails under bare PGXS: not a comparison\n{bare_out[-1500:]}"
    assert (ours_ok, ext_test_counts(results)) == (bare_ok, bare_counts), \
        [(r.suite, r.status, r.detail) for r in results]


def _fetchable(settings, default_build, package):
    """(build, extension): the default build when the package for its major can be
    fetched, else the newest other build whose package can be."""
    others = sorted((b for b in resolve_builds(settings, "all") if b.major != default_build.major),
                    key=lambda b: b.major, reverse=True)
    why = []
    for build in [default_build, *others]:
        try:
            [ext] = published.resolve(settings, f"debian:{package_for(package, build.major)}")
        except SourceError as exc:
            why.append(str(exc))
            continue
        return build, ext
    pytest.fail("; ".join(why))


def _record(settings, package, row):
    """The package's row, and the table of every row recorded so far (in CORPUS order)."""
    rows = settings.layout.root / "published-parity"
    rows.mkdir(parents=True, exist_ok=True)
    (rows / f"{package}.md").write_text("| " + " | ".join(row) + " |\n")
    table = HEADER + [(rows / f"{p}.md").read_text().rstrip() for p in CORPUS if (rows / f"{p}.md").exists()]
    (settings.layout.root / "published-parity.md").write_text("\n".join(table) + "\n")
    print("\n" + "\n".join(table))

"""ext-test on published extensions nobody here wrote, fetched from Debian's
source archive by pglab's own Debian code (upstream tarballs, Debian's patches
not applied), gives the verdict bare `make installcheck` gives, with the same
counts, suite by suite.  The corpus spans the shapes PGXS projects come in (SHAPE
below): one folder with a Makefile beside the .control; tests under test/
(--inputdir); objects in subfolders (MODULE_big); a schedule the Makefile
generates; isolation specs and TAP tests; a --temp-config preload; top-level
Makefiles that recurse into the folder their tests are in; a configure step.

Each extension is a test of its own: its bare run must pass (else there is
nothing to compare) and ext-test must give the same verdict and counts.  Where
bare fails only for want of something the project's own CI prepares (pg_repack's
tablespaces), the test prepares it on both sides, the same way (`before`: run as
the suites run, bare before `make installcheck`, ext-test with --before).  The
bare verdict is kept from run to run by what it depends on
(bare_pgxs.remembered_...): ext-test runs every time, bare PGXS again whenever
the extension, the build or the code running it changed.  An extension whose
source package for the default build's major cannot be fetched here (pgaudit-17:
listed, its files gone) is compared on the newest other build whose package can
be.  The table is written to published-parity.md in the working area (under
`invoke test`, the worker's: pg_source/test-workers/gwN/; docs/ext-parity.md
records a run)."""

import time

import pytest

from pglab.errors import SourceError
from pglab.ext import published, runner
from pglab.pg.builds import resolve_builds

from ..conftest import shared_tmp
from .bare_pgxs import ext_test_counts, remembered_bare_installcheck

# pg_repack's tests need four tablespaces, which its CI creates first; the folder is given as $1
TABLESPACES = """set -e
for i in 1 2 3 4; do rm -rf "$1/ts$i"; mkdir "$1/ts$i"; done
psql -X -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE TABLESPACE testts LOCATION '$1/ts1';
CREATE TABLESPACE "1testts" LOCATION '$1/ts2';
CREATE TABLESPACE "test ts" LOCATION '$1/ts3';
CREATE TABLESPACE "test""ts" LOCATION '$1/ts4';
SQL
"""

# Debian source package → its shape, and what its tests need that its Makefile does not say
CORPUS = {
    "pgvector": {"shape": "--inputdir=test, objects in src/, --load-extension"},
    "hypopg": {"shape": "--inputdir=test, expected/ beside the Makefile"},
    "prefix": {"shape": "one folder, alternative expected files"},
    "postgresql-semver": {"shape": "--inputdir=test, MODULES in src/"},
    "pg-dirtyread": {"shape": "one folder"},
    "jsquery": {"shape": "one folder, an install rule writing into include/server"},
    "extra-window-functions": {"shape": "one folder, a test named regression"},
    "pgtap": {"shape": "schedules the Makefile generates, psql run by make"},
    "pgaudit": {"shape": "--temp-config naming a preload (its own .conf)",
                "conf": {"shared_preload_libraries": "pgaudit"}},     # its README; its Makefile names pgaudit.conf
    "ip4r": {"shape": "MODULE_big, objects in src/"},
    "pgsphere": {"shape": "MODULE_big, objects in src/ and healpix_bare/, C++"},
    "postgresql-rum": {"shape": "REGRESS, ISOLATION and TAP (a primary and a standby)"},
    "postgresql-filedump": {"shape": "PROGRAM with REGRESS and TAP_TESTS"},
    "pgq": {"shape": "REGRESS computed in an included .mk; modules in SUBDIRS"},
    "pg-repack": {"shape": "recursive top-level Makefile (SUBDIRS); tests in regress/", "before": TABLESPACES},
    "pgpointcloud": {"shape": "autogen.sh and configure first; recursive; tests in pgsql/"},
}


def package_for(name, major):
    """pgaudit has one branch per major, and Debian a source package per branch:
    pgaudit (1.5) for 13, pgaudit-1.6 for 14, pgaudit-1.7 for 15, pgaudit-16 onwards."""
    if name != "pgaudit" or major == 13:
        return name
    return f"pgaudit-1.{major - 8}" if major < 16 else f"pgaudit-{major}"


HEADER = ["| extension (Debian package) | version | shape | suites (ext-test) | bare | ext-test | bare time | "
          "ext-test time |",
          "|---|---|---|---|---|---|---|---|"]


@pytest.fixture
def before_folder():
    """A folder the servers' account may make things in (pg_repack's tablespaces), both sides; at
    one path from run to run, so that the bare verdict, which depends on the command, is kept."""
    path = shared_tmp("pglab-test-before")
    path.mkdir(exist_ok=True)
    path.chmod(0o1777)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("package", CORPUS)
def test_published_extension_gets_the_verdict_bare_pgxs_gives(settings, default_build, tmp_path, package,
                                                                before_folder):
    build, ext = _fetchable(settings, default_build, package)
    entry = CORPUS[package]
    before = None
    if "before" in entry:
        script = before_folder / "before.sh"
        script.write_text(entry["before"])
        script.chmod(0o644)
        before = f"sh {script} {before_folder}"
    bare_ok, bare_counts, bare_out, bare_seconds, kept = remembered_bare_installcheck(
        build, settings, ext.path, tmp_path / package, entry.get("conf"), before=before)
    start = time.monotonic()
    results = runner.ext_test(settings, str(ext.path), suites=("regress", "isolation", "tap"), fresh=True,
                              pg=build.id, before=before)
    seconds = time.monotonic() - start
    ours_ok = all(r.ok for r in results)
    suites = ", ".join(f"{r.label} {r.passed}/{r.passed + r.failed}" for r in results
                       if r.suite in ("regress", "isolation", "tap") and r.status != "skip")
    row = (package_for(package, build.major), ext.path.name.split("_", 1)[1], entry["shape"], suites,
           "pass" if bare_ok else "FAIL", "pass" if ours_ok else "FAIL",
           f"{bare_seconds:.1f} s" + (" (kept)" if kept else ""), f"{seconds:.1f} s")
    _record(settings, package, row)
    assert bare_ok, f"{package} fails under bare PGXS: not a comparison\n{bare_out[-1500:]}"
    assert (ours_ok, ext_test_counts(results)) == (bare_ok, bare_counts), \
        [(r.label, r.status, r.detail) for r in results]


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

"""Published extensions by name: `ext-test debian:pgvector`, `ext-test pgxn:hypopg`.

The check a person who modified PostgreSQL wants before believing their fork:
does a real, published extension still give the verdict it gives elsewhere?

    debian:NAME[@VERSION]  Debian's source package NAME (pgvector, hypopg,
                           postgresql-hll, ...): its upstream tarball, checked
                           against the .dsc and Debian's signed index, without
                           Debian's patches (pglab.pg.sources.debian)
    pgxn:NAME[@VERSION]    the distribution NAME from PGXN, downloaded by
                           pgxnclient (`pgxn download`) where PGXN is reachable

Either way the sources land in the working area (published/), unpacked once.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from .. import archives, ui
from ..errors import ExtensionError
from .discover import at_path, is_extension

KINDS = ("debian", "pgxn")


def is_published(spec):
    return (spec or "").partition(":")[0] in KINDS and ":" in spec


def resolve(settings, spec):
    """[Extension] for `debian:NAME[@VERSION]` or `pgxn:NAME[@VERSION]`."""
    kind, _, rest = spec.partition(":")
    name, _, version = rest.partition("@")
    if not name:
        raise ExtensionError(f"'{spec}' names no extension: write {kind}:NAME, e.g. {kind}:pgvector")
    if kind == "debian":
        from ..pg.sources.debian import fetch_source_package

        path, _info = fetch_source_package(settings, name, version or None)
    else:
        path = pgxn_download(settings, name, version or None)
    return [at_path(extension_folder(path, spec))]


def extension_folder(path, spec):
    """The folder holding the extension's Makefile and .control (the tree's top,
    or the one subfolder that has them)."""
    path = Path(path)
    if is_extension(path):
        return path
    found = [p.parent for p in sorted(path.glob("*/Makefile")) if is_extension(p.parent)]
    if len(found) == 1:
        return found[0]
    raise ExtensionError(f"{spec}: {path} holds no PGXS extension (a Makefile beside a .control file)")


def pgxn_download(settings, name, version=None):
    """The distribution from PGXN through pgxnclient, unpacked into published/."""
    dest_root = settings.layout.published
    done_marker = dest_root / f"pgxn_{name}_{version or 'latest'}"
    if done_marker.is_dir():
        return done_marker
    downloads = dest_root / ".pgxn-downloads"
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    spec = f"{name}=={version}" if version else name
    pgxn = Path(sys.executable).parent / "pgxn"   # pgxnclient's command, installed with pglab
    done = subprocess.run([str(pgxn), "download", "--target", str(downloads), spec],
                          capture_output=True, text=True, timeout=300)
    zips = sorted(downloads.glob("*.zip"))
    if done.returncode != 0 or not zips:
        why = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no archive"])[-1]
        why = why.removeprefix("ERROR: ")
        if "network error" in why:
            raise ExtensionError(f"pgxn:{name}: PGXN cannot be reached from here ({why}); "
                                 f"Debian's source archive may carry it: ext-test debian:{name}")
        raise ExtensionError(f"pgxn download {spec} failed: {why}")
    staging = dest_root / f".unpack-{done_marker.name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        done = archives.extract(zips[0], staging)
    except archives.ArchiveError as exc:
        raise ExtensionError(f"pgxn:{name}: {exc}") from None
    if done.skipped:
        ui.warn(f"{zips[0].name}: {done.summary()}")
    tops = list(staging.iterdir())
    top = tops[0] if len(tops) == 1 and tops[0].is_dir() else staging
    top.rename(done_marker)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(downloads, ignore_errors=True)
    return done_marker

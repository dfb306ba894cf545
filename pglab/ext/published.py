"""Published extensions by name: `ext-test debian:pgvector`, `ext-test pgxn:hypopg`.

The check a person who modified PostgreSQL wants before believing their fork:
does a real, published extension still give the verdict it gives elsewhere?

    debian:NAME[@VERSION]  Debian's source package NAME (pgvector, hypopg,
                           postgresql-hll, ...): its upstream tarball, checked
                           against the .dsc and Debian's signed index, without
                           Debian's patches (pglab.pg.sources.debian)
    pgxn:NAME[@VERSION]    the distribution NAME from PGXN, downloaded by
                           pgxnclient (`pgxn download`) where PGXN is reachable

Either way the sources land in the build cache's published/, unpacked once, under a
lock per package and version: two ext-tests of one published extension fetch and
unpack it once, the second waiting for the first.
"""

import re
import shutil
import subprocess
from pathlib import Path

from .. import locks
from ..errors import ExtensionError, SourceError
from .discover import at_path, is_extension

KINDS = ("debian", "pgxn")
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_-]*")     # a package's name or (Debian) version


def is_published(spec):
    return (spec or "").partition(":")[0] in KINDS and ":" in spec


def resolve(settings, spec):
    """[Extension] for `debian:NAME[@VERSION]` or `pgxn:NAME[@VERSION]`."""
    kind, _, rest = spec.partition(":")
    name, _, version = rest.partition("@")
    if not name:
        raise ExtensionError(f"'{spec}' names no extension: write {kind}:NAME, e.g. {kind}:pgvector")
    for part, what in ((name, "name"), (version, "version")):     # both become folder names
        if part and not _PART.fullmatch(part):
            raise ExtensionError(f"{spec}: {part!r} is not a package {what} (letters, digits and . + ~ : _ -, "
                                 f"starting with a letter or digit)")
    if kind == "debian":
        from ..pg.sources.debian import fetch_source_package

        path, _info = fetch_source_package(settings, name, version or None)
    else:
        path = pgxn_download(settings, name, version or None)
    return [at_path(extension_folder(path, spec))]


def extension_folder(path, spec):
    """The folder ext-test builds from: the tree's top when it has a Makefile (a recursive
    project's has no .control beside it), else the one subfolder with a Makefile and a .control."""
    path = Path(path)
    if is_extension(path) or (path / "Makefile").is_file():   # a project's top (a recursive one has no .control)
        return path
    found = [p.parent for p in sorted(path.glob("*/Makefile")) if is_extension(p.parent)]
    if len(found) == 1:
        return found[0]
    raise ExtensionError(f"{spec}: {path} holds no PGXS extension (a Makefile beside a .control file)")


def pgxn_download(settings, name, version=None):
    """The distribution from PGXN through pgxnclient, unpacked into published/.

    pgxnclient downloads into a folder of this spec's own (downloads/pgxn/NAME_VERSION/),
    under the spec's lock, so the one archive there is this spec's."""
    dest = settings.layout.published / f"pgxn_{name}_{version or 'latest'}"
    if dest.is_dir():
        return dest
    spec = f"{name}=={version}" if version else name
    with locks.exclusive(settings.layout.published_lock(dest.name),
                         f"another pglab is fetching pgxn:{name}{'@' + version if version else ''}: waiting for it",
                         remove=True):
        if dest.is_dir():           # another process fetched it while this one waited
            return dest
        downloads = settings.layout.pgxn_downloads(name, version)
        shutil.rmtree(downloads, ignore_errors=True)   # what a killed run left: only the lock's holder writes here
        downloads.mkdir(parents=True)
        try:
            archive = _pgxn_fetch(name, spec, downloads)
            try:
                from ..pg.sources import place_tree     # the network's modules: only when fetching

                place_tree(archive, dest)
            except SourceError as exc:
                raise ExtensionError(f"pgxn:{name}: {exc}") from None
        finally:
            shutil.rmtree(downloads, ignore_errors=True)
    return dest


def pgxn_command():
    """pgxnclient's command (pglab.ext.pgxn's; imported only when a pgxn: spec is fetched)."""
    from . import pgxn

    return pgxn.pgxn_command()


def _pgxn_fetch(name, spec, downloads):
    """`pgxn download SPEC` into the empty folder `downloads`: the archive it wrote there."""
    done = subprocess.run([str(pgxn_command()), "download", "--target", str(downloads), spec],
                          capture_output=True, text=True, timeout=300)
    zips = sorted(downloads.glob("*.zip"))
    if done.returncode != 0 or not zips:
        why = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no archive"])[-1]
        why = why.removeprefix("ERROR: ")
        if "network error" in why:
            raise ExtensionError(f"pgxn:{name}: PGXN cannot be reached from here ({why}); "
                                 f"Debian's source archive may carry it: ext-test debian:{name}")
        raise ExtensionError(f"pgxn download {spec} failed: {why}")
    if len(zips) != 1:
        raise ExtensionError(f"pgxn download {spec} left {len(zips)} archives in {downloads} "
                             f"({', '.join(z.name for z in zips)}), not one")
    return zips[0]

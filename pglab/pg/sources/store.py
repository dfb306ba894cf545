"""What the channels share to fetch and keep a release: downloads (atomic, with progress),
the tree's own version checked against the release, and the cache of unpacked trees,
src/<release>/, each filled under its release's lock through private staging."""

import contextlib
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ... import archives, locks, ui
from ...errors import SourceError, Unfetchable
from ..versions import Release, VersionError
from .channel import SourceTree


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, dest, *, timeout=30):
    """Fetch `url` into `dest` (atomically), with a byte progress bar.

    The bytes go to a part file of this process's own beside `dest`, renamed
    over it once complete: two processes never write into one file."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        resp = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        why = f"its files are missing ({exc.code})" if exc.code in (404, 410) else f"its download failed (HTTP {exc.code})"
        raise Unfetchable(f"download of {dest.name} failed: {exc.code} {exc.reason} ({url})", why) from None
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unfetchable(f"download of {dest.name} failed: {reason}", f"its download failed ({reason})") from None
    fd, part = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    part = Path(part)
    try:
        with resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with ui.phase(f"download {dest.name}", total=total, unit="bytes") as p, open(fd, "wb") as out:
                done = 0
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    done += len(chunk)
                    p.update(completed=done)
        os.chmod(part, 0o644)          # mkstemp's 0600 is for the part file only
        part.replace(dest)
    except (OSError, http.client.HTTPException) as exc:
        raise Unfetchable(f"download of {dest.name} broke off: {exc}", f"its download broke off ({exc})") from None
    finally:
        part.unlink(missing_ok=True)   # gone already when it was renamed into place
    return dest


# ---- the cache of unpacked trees, src/<release>/ ------------------------------------

_VERSION_RE = re.compile(r"^PACKAGE_VERSION='([^'\x00-\x1f\x7f]{1,40})'", re.M)   # one printable line: it is shown


def tree_says(path):
    """The version a source tree says it is (PACKAGE_VERSION in its top-level
    configure, as `configure --version` prints it), or None."""
    try:
        text = (Path(path) / "configure").read_text(errors="replace")
    except OSError:
        return None
    m = _VERSION_RE.search(text)
    return m.group(1) if m else None


def says_release(path, release):
    """Whether the tree at `path` says it is `release`."""
    said = tree_says(path)
    try:
        return said is not None and Release.parse(said) == release
    except VersionError:
        return False


def refuse_other_release(path, release, origin, *, fate="nothing of it was kept"):
    """Unfetchable, in one line, unless the tree at `path` says it is `release`:
    what was asked, what the tree says, where it came from, and what became of it."""
    if says_release(path, release):
        return
    said = tree_says(path)
    says = f"says it is PostgreSQL {said}" if said is not None else "names no version"
    why = f"delivers a tree that {says} (configure's PACKAGE_VERSION), not {release} (from {origin}); {fate}"
    raise Unfetchable(f"PostgreSQL {release} {why}", why)


def in_cache(settings, release):
    """The complete tree of `release` in src/, or None: complete once its .json is there."""
    path = settings.layout.sources / str(release)
    try:
        meta = json.loads(Path(f"{path}.json").read_text())
    except (OSError, ValueError):
        return None
    if not (path / "configure").is_file():
        return None
    return SourceTree(path.resolve(), release, meta["channel"], meta["identity"], meta["origin"])


@contextlib.contextmanager
def release_lock(settings, release):
    """Held while `release` is fetched and unpacked into src/: one process at a time,
    another waits, saying for whom."""
    with locks.exclusive(settings.layout.source_lock(release),
                         f"another pglab is fetching PostgreSQL {release}: waiting for it", remove=True):
        yield


def reuse_cached(settings, release, origins, *, channel):
    """Under the release's lock: the cached tree of `release` when its identity is one
    of `origins` ({identity: where this channel takes those bytes from}): the same
    bytes this channel would fetch, which another process fetched, perhaps while this
    one waited.  Re-recorded as this channel's when another channel had put it there.
    None when the cache holds no such tree."""
    tree = in_cache(settings, release)
    if tree is None or tree.identity not in origins:
        return None
    if not says_release(tree.path, release):      # changed since it was checked: fetched again
        drop_cached(settings, release)
        return None
    if tree.channel != channel:
        tree = record_cached(settings, tree.path, release, channel=channel, identity=tree.identity,
                             origin=origins[tree.identity])
    return tree


def drop_cached(settings, release):
    """Remove src/<release>/ and its record (under the release's lock)."""
    final = settings.layout.sources / str(release)
    Path(f"{final}.json").unlink(missing_ok=True)   # first: without it, the tree is not a cached one
    shutil.rmtree(final, ignore_errors=True)


def private_staging(final, kind):
    """An empty folder of this process's own beside `final` (.KIND-NAME-XXXXXXXX/), to
    be renamed into place when complete.  What a killed process left under that
    name goes first: the caller holds `final`'s lock, so nobody else is using it."""
    prefix = f".{kind}-{final.name}-"
    for stale in final.parent.glob(f"{glob.escape(prefix)}*"):
        shutil.rmtree(stale, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    staging.chmod(0o755)     # it may become the tree itself (a clone), which every user of the cache reads
    return staging


def replace_cached(settings, staged, release, *, channel, identity, origin):
    """Put a complete tree (`staged`, a folder beside src/<release>/) in place of
    whatever src/<release>/ held, and record it.  Under the release's lock."""
    final = settings.layout.sources / str(release)
    drop_cached(settings, release)
    staged.rename(final)
    return record_cached(settings, final, release, channel=channel, identity=identity, origin=origin)


def unpack_into_cache(settings, tarball, release, *, channel, identity, origin):
    """Unpack a release tarball into the cache as src/<release>/ and describe it.
    The caller holds the release's lock (release_lock).

    The tree is unpacked into staging of this process's own beside its final place,
    checked to be `release`, and renamed in one step, so an interrupted unpack never
    looks like a cached tree.  A tree of another release is refused, and the tarball
    that held it removed."""
    staging = private_staging(settings.layout.sources / str(release), "unpack")
    try:
        unpack(tarball, staging)
        tops = [p for p in staging.iterdir()]
        if len(tops) != 1 or not (tops[0] / "configure").exists():
            raise SourceError(f"{tarball} does not hold a PostgreSQL source tree (no top-level configure)")
        try:
            refuse_other_release(tops[0], release, origin)
        except Unfetchable:
            Path(tarball).unlink(missing_ok=True)
            raise
        return replace_cached(settings, tops[0], release, channel=channel, identity=identity, origin=origin)
    finally:  # whatever happened, no half-unpacked tree stays behind
        shutil.rmtree(staging, ignore_errors=True)


def unpack(tarball, dest):
    """Extract a tarball into `dest` by pglab's rules for archives it did not make
    (pglab.archives); a broken one is a SourceError, unsafe members are left out and named."""
    with ui.phase(f"unpack {Path(tarball).name}"):
        try:
            done = archives.extract(tarball, dest)
        except archives.ArchiveError as exc:
            raise SourceError(str(exc)) from None
    if done.skipped:
        ui.warn(f"{Path(tarball).name}: {done.summary()}")


def record_cached(settings, path, release, *, channel, identity, origin):
    meta = {"release": str(release), "channel": channel, "identity": identity, "origin": origin}
    part = Path(f"{path}.json.{os.getpid()}")
    part.write_text(json.dumps(meta, indent=1) + "\n")
    part.replace(f"{path}.json")
    return SourceTree(Path(path), release, channel, identity, origin)


def place_tree(archive, dest):
    """Unpack an archive so that its single top folder (or everything, when it has
    several) becomes `dest`, through staging of this process's own beside it,
    renamed into place once complete.  The caller holds `dest`'s lock."""
    staging = private_staging(dest, "unpack")
    try:
        unpack(archive, staging)
        tops = list(staging.iterdir())
        top = tops[0] if len(tops) == 1 and tops[0].is_dir() else staging
        shutil.rmtree(dest, ignore_errors=True)
        top.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest

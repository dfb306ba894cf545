"""Source channels: where a PostgreSQL source tree comes from.

Channels are tried in a fixed order when the user says `--source auto`:

    local    a tree the user points at (a git work tree or an unpacked tarball)
    cache    a release pglab already downloaded and unpacked
    git      the upstream git repository (release tags)
    tarball  the upstream release tarballs, SHA-256 checked
    debian   Debian's source archive through apt, mirror from the machine's apt config

Each channel offers a catalog of releases; the first whose catalog satisfies the
spec fetches it.  A channel that cannot answer raises ChannelSkip, and its one-line
reason is shown to the user.  Only this package touches the network or apt.

Every channel checks that it got what was asked: the tree's own version (configure's
PACKAGE_VERSION) must be the release it is recorded as, or it is refused and not kept.
A release is fetched and unpacked under its own lock (src/.<release>.lock), in staging
of the fetching process's own, and renamed into src/ only when complete; a process
that waited for the lock uses what the other one fetched (same identity) instead of
fetching it again.
"""

import contextlib
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ... import archives, locks, ui
from ...errors import ChannelSkip, SourceError, Unfetchable  # noqa: F401  (the channels' errors, as they import them)
from ..versions import Release, VersionError, VersionSpec, describe, substitutes_for

ORDER = ("local", "cache", "git", "tarball", "debian")


@dataclass(frozen=True)
class SourceTree:
    """An unpacked PostgreSQL source tree, and where it came from."""

    path: Path
    release: Release
    channel: str
    identity: str      # sha256:<tarball hash>, git:<commit> or local:<path>
    origin: str        # for people: a URL, a .dsc, a path
    local: bool = False  # a user's own tree: never modified, rebuilt incrementally


class Channel:
    """A way to obtain source.  Subclasses implement catalog() and fetch()."""

    name = "?"
    refresh = False    # --refresh: ask the network again instead of trusting what was cached

    def __init__(self, settings):
        self.settings = settings

    def catalog(self):
        """The releases this channel can provide now; raise ChannelSkip if none."""
        raise NotImplementedError

    def fetch(self, release):
        """Return a SourceTree for `release`, which catalog() offered."""
        raise NotImplementedError

    def refuses(self, spec):
        """A reason this channel should not answer `spec` at all, or None."""
        return None

    def unlisted(self, spec, catalog):
        """Releases of `spec` this channel does not list (`catalog`) but may still
        deliver, newest first, tried when no listed one could be had.  Nothing by default."""
        return []


class _Notes(list):
    """Each channel's one-line answer, shown as soon as it is known."""

    def append(self, line):
        ui.note(line)
        super().append(line)


@dataclass
class Obtained:
    tree: SourceTree
    notes: list
    substituted_for: str = None   # the default major that could not be had
    warning: str = None           # the one line that says why, when a substitute is built


@dataclass(frozen=True)
class _Failure:
    channel: str
    release: Release
    why: str

    def __str__(self):
        return f"{self.release} is listed by {self.channel} but {self.why}"


def obtain(spec, channels):
    """Find `spec` through `channels` in order; fall back from an implicit default.

    A release a channel lists but cannot deliver gives way to the next best release
    of the same spec, then to those the channel delivers without listing them
    (Channel.unlisted), then (for the implicit default only) to the nearest other
    major: every release of that major, channel by channel, before a farther one.
    Returns Obtained.  Raises SourceError saying what was tried and what is
    reachable when nothing fits."""
    notes = _Notes()
    catalogs = {}
    failures = []

    def attempt(channel, release, *, noted):
        try:
            return channel.fetch(release)
        except SourceError as exc:
            failure = _Failure(channel.name, release, getattr(exc, "why", None) or f"could not be fetched ({exc})")
            failures.append(failure)
            if noted:
                notes.append(f"{channel.name}: {release} is listed but {failure.why}")
            return None

    def unlisted(channel, spec):
        """What the channel delivers of `spec` beyond its catalog, or None; the misses
        noted either way (a refused release is news even when an earlier one is taken)."""
        missed = []
        tree = None
        for release in channel.unlisted(spec, catalogs[channel.name]):
            try:
                tree = channel.fetch(release)
                break
            except SourceError as exc:
                missed.append(f"{release} {getattr(exc, 'why', None) or exc}")
        if missed:
            notes.append(f"{channel.name}: not listed, looked for too: {'; '.join(missed)}")
        return tree

    for channel in channels:
        refusal = channel.refuses(spec)
        if refusal:
            notes.append(f"{channel.name}: {refusal}")
            continue
        try:
            catalog = catalogs[channel.name] = channel.catalog()
        except ChannelSkip as skip:
            notes.append(f"{channel.name}: {skip}")
            continue
        ranked = spec.ranked(catalog)
        for release in ranked:
            tree = attempt(channel, release, noted=True)
            if tree is not None:
                return Obtained(tree, notes)
        tree = unlisted(channel, spec)
        if tree is not None:
            return Obtained(tree, notes)
        if not ranked:
            notes.append(f"{channel.name}: no {spec} here (offers {describe(catalog)})")

    wanted = list(failures)

    def reachable():
        failed = {(f.channel, f.release) for f in failures}
        return sorted({r for name, cat in catalogs.items() for r in cat if (name, r) not in failed})

    if not spec.explicit and spec.kind == "major":
        for major in substitutes_for(spec.major, reachable()):
            sub = VersionSpec("major", major)
            for channel in channels:
                if channel.name not in catalogs:
                    continue
                tree = None
                for release in sub.ranked(catalogs[channel.name]):
                    if not any(f.channel == channel.name and f.release == release for f in failures):
                        tree = attempt(channel, release, noted=False)
                        if tree is not None:
                            break
                tree = tree or unlisted(channel, sub)
                if tree is None:
                    continue
                line = "; ".join([_cannot(spec, wanted)] + [str(f) for f in failures[len(wanted):]]
                                 + [f"building {tree.release} instead (recorded in the build's metadata)"])
                ui.warn(line)
                return Obtained(tree, notes, str(spec.major), line)

    left = reachable()
    if failures or left:
        parts = [_cannot(spec, wanted)] + [str(f) for f in failures[len(wanted):]]
        if left:
            parts.append(f"reachable: {describe(left)} (each channel's answer is listed above)")
        raise SourceError("; ".join(parts))
    raise SourceError(f"PostgreSQL {spec} cannot be obtained: no source channel answered ({'; '.join(notes)})")


def _cannot(spec, failures):
    """'PostgreSQL 16 cannot be obtained here' and why, as the start of one line."""
    if failures:
        return f"PostgreSQL {spec} cannot be obtained here: " + "; ".join(str(f) for f in failures)
    if not spec.explicit:
        return f"PostgreSQL {spec} cannot be obtained here (no channel offers it)"
    return f"PostgreSQL {spec} cannot be obtained here"


def channels_for(source, settings, local_path=None):
    """The channel list for `--source S`: 'auto', a channel name, or a path."""
    from . import cache, debian, git, local, tarball

    classes = {"local": local.LocalChannel, "cache": cache.CacheChannel, "git": git.GitChannel,
               "tarball": tarball.TarballChannel, "debian": debian.DebianChannel}
    if source in (None, "", "auto"):
        chosen = ORDER
    elif source in classes:
        chosen = (source,)
    else:
        local_path, chosen = source, ("local",)
    result = []
    for name in chosen:
        if name == "local":
            result.append(local.LocalChannel(settings, local_path))
        else:
            result.append(classes[name](settings))
    return result


# ---- shared by the download channels ---------------------------------------------

class Memo:
    """Remembers that a network channel was unreachable, so that re-runs stay fast; by channel
    and the address it was asked at, so that another address (a setting changed) is asked."""

    def __init__(self, settings):
        self.path = settings.layout.channel_memo
        self.ttl = settings.memo_hours * 3600

    def _load(self):
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def recent_failure(self, channel, where=""):
        entry = self._load().get(f"{channel} {where}".strip())
        if entry and time.time() - entry["at"] < self.ttl:
            minutes = (time.time() - entry["at"]) / 60
            return f"{entry['reason']} ({minutes:.0f} min ago; --refresh retries now)"
        return None

    def failed(self, channel, reason, where=""):
        data = self._load()
        data[f"{channel} {where}".strip()] = {"at": time.time(), "reason": reason}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data, indent=1))

    def forget(self):
        self.path.unlink(missing_ok=True)


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

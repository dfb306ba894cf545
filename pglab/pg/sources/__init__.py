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

from dataclasses import dataclass

from ... import ui
from ...errors import ChannelSkip, SourceError, Unfetchable
from ..versions import Release, VersionSpec, describe, substitutes_for
from .channel import Channel, Memo, SourceTree
from .store import download, place_tree, record_cached, sha256_of

# what the rest of pglab takes from here; the channels themselves import .channel and .store
__all__ = ["ORDER", "Channel", "ChannelSkip", "Memo", "Obtained", "SourceTree", "Unfetchable", "channels_for",
           "download", "obtain", "place_tree", "record_cached", "sha256_of"]

ORDER = ("local", "cache", "git", "tarball", "debian")


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

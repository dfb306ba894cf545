"""The cache channel: releases pglab already downloaded and unpacked into src/."""

from ...errors import ChannelSkip, Unfetchable
from ..versions import Release, VersionError
from .channel import Channel
from .store import drop_cached, in_cache, refuse_other_release, release_lock


def cached_trees(settings):
    """{Release: SourceTree} for every complete tree in the cache."""
    trees = {}
    for meta_path in sorted(settings.layout.sources.glob("*.json")):
        try:
            release = Release.parse(meta_path.stem)
        except VersionError:
            continue
        tree = in_cache(settings, release)
        if tree is not None:
            trees[release] = tree
    return trees


class CacheChannel(Channel):
    name = "cache"

    def catalog(self):
        trees = cached_trees(self.settings)
        if not trees:
            raise ChannelSkip("nothing cached yet")
        return list(trees)

    def refuses(self, spec):
        if spec.kind == "latest":
            return "'latest' is decided by a remote listing, not by what happens to be cached"
        return None

    def fetch(self, release):
        """The cached tree, once more checked to be `release`; one that says it is
        another release is refused and removed from the cache."""
        tree = cached_trees(self.settings)[release]
        origin = f"{tree.path}, fetched from {tree.origin}"
        try:
            refuse_other_release(tree.path, release, origin, fate="removed from the cache")
        except Unfetchable:
            with release_lock(self.settings, release):
                now = in_cache(self.settings, release)     # another process may have replaced it meanwhile
                if now is not None and now.identity == tree.identity:
                    drop_cached(self.settings, release)
            raise
        return tree

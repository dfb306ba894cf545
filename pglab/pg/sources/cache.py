"""The cache channel: releases pglab already downloaded and unpacked into src/."""

import json

from ..versions import Release
from . import Channel, ChannelSkip, SourceTree


def cached_trees(settings):
    """{Release: SourceTree} for every complete tree in the cache."""
    trees = {}
    for meta_path in sorted(settings.layout.sources.glob("*.json")):
        path = meta_path.with_suffix("").resolve()  # configure's VPATH set-up does not follow a symlinked top
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if (path / "configure").is_file():
            release = Release.parse(meta["release"])
            trees[release] = SourceTree(path, release, meta["channel"], meta["identity"], meta["origin"])
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
        return cached_trees(self.settings)[release]

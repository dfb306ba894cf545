"""What every source channel is: the tree it delivers (SourceTree), the protocol it follows
(Channel: catalog, fetch, refuses, unlisted), and the memo of unreachable channels the
network ones keep (Memo).  A channel that cannot answer raises pglab.errors.ChannelSkip;
one that listed a release it then cannot deliver raises Unfetchable."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..versions import Release


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

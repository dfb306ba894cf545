"""The tarball channel: upstream release tarballs, checked against their published SHA-256."""

import re
import urllib.error
import urllib.request
from urllib.parse import urlparse

from ..errors import SourceError
from ..versions import Release, VersionError
from . import Channel, ChannelSkip, Memo, download, sha256_of, unpack_into_cache

_DIR_RE = re.compile(r'href="v([0-9a-z.]+)/"')


def parse_listing(html):
    releases = []
    for text in _DIR_RE.findall(html):
        try:
            releases.append(Release.parse(text))
        except VersionError:
            continue
    return releases


class TarballChannel(Channel):
    name = "tarball"

    def catalog(self):
        memo = Memo(self.settings)
        recent = memo.recent_failure(self.name)
        if recent:
            raise ChannelSkip(recent)
        url = self.settings.tarball_url.rstrip("/") + "/"
        try:
            with urllib.request.urlopen(url, timeout=20) as resp:
                html = resp.read().decode("utf-8", "replace")
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            reason = f"upstream tarballs unreachable ({urlparse(url).netloc}: {reason})"
            memo.failed(self.name, reason)
            raise ChannelSkip(reason) from None
        return parse_listing(html)

    def fetch(self, release):
        name = f"postgresql-{release}.tar.bz2"
        url = f"{self.settings.tarball_url.rstrip('/')}/v{release}/{name}"
        try:
            with urllib.request.urlopen(url + ".sha256", timeout=20) as resp:
                published = resp.read().decode().split()[0].lower()
        except (OSError, urllib.error.URLError, IndexError) as exc:
            raise SourceError(f"no published SHA-256 for {name}: {getattr(exc, 'reason', exc)}") from None
        target = self.settings.downloads / name
        if not target.exists() or sha256_of(target) != published:
            download(url, target)
        actual = sha256_of(target)
        if actual != published:
            target.unlink()
            raise SourceError(f"{name}: SHA-256 {actual} does not match the published {published}; download removed, run build-pg again")
        return unpack_into_cache(self.settings, target, release, channel=self.name,
                                 identity=f"sha256:{actual}", origin=url)

"""The tarball channel: upstream release tarballs, checked against their published SHA-256."""

import re
import urllib.error
import urllib.request
from urllib.parse import urlparse

from ...errors import ChannelSkip, Unfetchable
from ..versions import Release, VersionError
from .channel import Channel, Memo
from .store import download, release_lock, reuse_cached, sha256_of, unpack_into_cache

_DIR_RE = re.compile(r'href="v([0-9a-z.]+)/"')
_SHA256_RE = re.compile(r"\s*([0-9a-fA-F]{64})\b")


def parse_listing(html):
    releases = []
    for text in _DIR_RE.findall(html):
        try:
            releases.append(Release.parse(text))
        except VersionError:
            continue
    return releases


def published_sha256(url, name):
    """The digest in upstream's NAME.sha256 (`sha256sum` format: "<hex>  <name>")."""
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            text = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise Unfetchable(f"no published SHA-256 for {name}: {exc.code} {exc.reason}",
                          f"has no published SHA-256 ({exc.code})") from None
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unfetchable(f"no published SHA-256 for {name}: {reason}", f"its SHA-256 could not be read ({reason})") from None
    m = _SHA256_RE.match(text)
    if not m:
        raise Unfetchable(f"{name}.sha256 holds no SHA-256", f"its published {name}.sha256 holds no SHA-256")
    return m.group(1).lower()


class TarballChannel(Channel):
    name = "tarball"

    def catalog(self):
        memo = Memo(self.settings)
        recent = memo.recent_failure(self.name, self.settings.tarball_url)
        if recent:
            raise ChannelSkip(recent)
        url = self.settings.tarball_url.rstrip("/") + "/"
        try:
            with urllib.request.urlopen(url, timeout=20) as resp:
                html = resp.read().decode("utf-8", "replace")
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            reason = f"upstream tarballs unreachable ({urlparse(url).netloc}: {reason})"
            memo.failed(self.name, reason, self.settings.tarball_url)
            raise ChannelSkip(reason) from None
        return parse_listing(html)

    def fetch(self, release):
        name = f"postgresql-{release}.tar.bz2"
        url = f"{self.settings.tarball_url.rstrip('/')}/v{release}/{name}"
        published = published_sha256(url + ".sha256", name)
        with release_lock(self.settings, release):
            tree = reuse_cached(self.settings, release, {f"sha256:{published}": url}, channel=self.name)
            if tree is not None:
                return tree
            target = self.settings.layout.downloads / name
            if not target.exists() or sha256_of(target) != published:
                download(url, target)
            actual = sha256_of(target)
            if actual != published:
                target.unlink()
                raise Unfetchable(f"{name}: SHA-256 {actual} does not match the published {published}; download removed",
                                  f"{name} does not match its published SHA-256 (published {published}, "
                                  f"downloaded {actual}; the download was removed)")
            return unpack_into_cache(self.settings, target, release, channel=self.name,
                                     identity=f"sha256:{actual}", origin=url)

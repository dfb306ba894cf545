"""Helpers the integration modules share: upstream's layout rebuilt on 127.0.0.1 from
one real release (the tarball site), and free ports."""

import functools
import re
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pglab.pg.sources import ChannelSkip, Unfetchable, sha256_of
from pglab.pg.sources.archive import parse_dsc_checksums
from pglab.pg.sources.debian import DebianChannel
from pglab.pg.versions import Release, VersionSpec

_ORIG_RE = re.compile(r"^postgresql-13_(13\.\d+)\.orig\.tar\.bz2$")


def release_13_tarball(settings):
    """(release, path, sha256) of upstream's postgresql-13.N.tar.bz2, taken from the
    Debian channel's downloads (checked against its .dsc) or fetched through it."""
    found = []
    for dsc in settings.layout.downloads.glob("debian/postgresql-13_*/*.dsc"):
        for name, digest in parse_dsc_checksums(dsc.read_text(errors="replace")).items():
            m = _ORIG_RE.match(name)
            if m and (dsc.parent / name).is_file():
                found.append((Release.parse(m.group(1)), dsc.parent / name, digest))
    for release, path, digest in sorted(found, key=lambda f: f[0], reverse=True):
        if sha256_of(path) == digest:
            return release, path, digest
    channel = DebianChannel(settings)
    try:
        releases = channel.catalog()
    except ChannelSkip as skip:
        pytest.skip(f"no PostgreSQL 13 tarball to stand up upstream with: {skip}")
    for release in VersionSpec.parse("13").ranked(releases):
        try:
            _dsc, path, record = channel.download_release(release)
        except Unfetchable:
            continue
        return release, path, record["files"][path.name][1]
    pytest.skip("no PostgreSQL 13 tarball to stand up upstream with: Debian's are not to be had")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_folder(folder):
    """An HTTP server on 127.0.0.1 serving `folder` (stop it with shutdown() and server_close())."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

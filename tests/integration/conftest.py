"""Helpers the integration modules share: upstream's layout rebuilt on 127.0.0.1 from
one real release (the tarball site), free ports, processes run side by side, and pglab
installed from a wheel."""

import collections
import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pglab.config import PROJECT_ROOT
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


class _Gated(_Quiet):
    """Counts the GETs of each path; holds archives back until the server's gate opens."""

    def do_GET(self):
        self.server.counts[self.path] += 1
        if self.path.endswith((".tar.bz2", ".tar.gz", ".zip")):
            self.server.gate.wait(timeout=600)
        super().do_GET()


def serve_gated(folder):
    """serve_folder, but an archive is sent only once `server.gate` (a threading.Event) is
    set, so that whoever downloads it holds its lock until the test says; `server.counts`
    counts the GETs of each path."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Gated, directory=str(folder)))
    server.counts, server.gate = collections.Counter(), threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Running:
    """A command started in the background whose output is read as it comes, so that a
    test can wait for a line before it goes on (wait_until) and read it all at the end."""

    def __init__(self, args, *, env, cwd):
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.pid = self.proc.pid
        self.lines, self.err = [], []
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    def stop(self):
        """End it if it still runs (a test that failed half-way): SIGTERM, pglab's way out."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def finish(self, timeout):
        """Wait for the command; a CompletedProcess with all it printed."""
        self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join()
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, "\n".join(self.lines) + "\n",
                                           "\n".join(self.err) + "\n")


def invoke_in_background(*args, env):
    """`invoke ARGS` as a user would type it (conftest.invoke), started in the background: a Running."""
    base = {k: v for k, v in os.environ.items() if k != "PGLAB_VIA"}
    return Running([sys.executable, "-m", "invoke", *args], env={**base, **env}, cwd=PROJECT_ROOT)


def wait_until(condition, what, running, timeout=300):
    """Wait for `condition()` to hold; fail naming `what`, with what the commands printed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or any(r.proc.poll() is not None for r in running):
            outputs = "\n\n".join(f"pid {r.pid}:\n" + "\n".join(r.lines[-40:] + r.err[-20:]) for r in running)
            pytest.fail(f"{what} did not happen\n{outputs}")
        time.sleep(0.1)


# ---- an installed pglab: a wheel in a venv of its own -------------------------------------

@pytest.fixture(scope="session")
def wheel_venv():
    """A venv with nothing but a wheel built from the committed tree and its dependencies, where
    an installed pglab would be: in a folder every account can reach (as root, pglab runs an
    extension's pytest as its own account, with this venv's Python)."""
    root = Path(tempfile.mkdtemp(prefix="pglab-wheel-"))
    root.chmod(0o755)
    yield _wheel_venv(root)
    shutil.rmtree(root)


def _wheel_venv(root):
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(root / "src")], check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"),
                    str(root / "src")], check=True, capture_output=True, timeout=600)
    [wheel] = (root / "dist").glob("pglab-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    subprocess.run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True, timeout=900)
    (root / "elsewhere").mkdir()
    return root


def from_wheel(root, *args, area=None, timeout=300, cwd=None):
    """Run ARGS with the wheel's venv, from a folder that is not a clone (CWD, default its elsewhere/)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGLAB_VIA", "VIRTUAL_ENV", "PYTHONPATH")}
    env.pop("INVOKE_PGLAB_ROOT", None)
    if area is not None:
        env["INVOKE_PGLAB_ROOT"] = str(area)
    return subprocess.run([str(root / "venv" / "bin" / args[0]), *args[1:]], cwd=cwd or root / "elsewhere",
                          capture_output=True, text=True, timeout=timeout, env=env)

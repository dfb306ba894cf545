"""The local channel: a PostgreSQL tree the user points at (their fork, a checkout).

pglab never writes into it: builds are VPATH builds in pg_source/builds/, and a
changed tree is rebuilt incrementally in the same build directory."""

import hashlib
import os
from pathlib import Path

from ...errors import ChannelSkip, SourceError
from ..versions import Release
from .channel import Channel, SourceTree
from .store import tree_says


def release_of(path):
    """The release a source tree says it is (from configure), or a clear error."""
    path = Path(os.path.expanduser(path))
    configure = path / "configure"
    hint = "point --source at the top of a PostgreSQL git checkout or unpacked tarball"
    if not path.is_dir():
        raise SourceError(f"--source {path}: no such directory; {hint}")
    if not configure.is_file() or not (path / "src" / "backend").is_dir():
        raise SourceError(f"--source {path} is not a PostgreSQL source tree (no configure or src/backend); {hint}")
    said = tree_says(path)
    if not said:
        raise SourceError(f"--source {path}: configure names no PACKAGE_VERSION; {hint}")
    if (path / "config.status").exists() or (path / "GNUmakefile").exists():
        raise SourceError(
            f"--source {path} was configured in place; pglab builds out of tree and needs it clean: "
            f"run `make distclean` in {path} (your changes are kept)")
    return Release.parse(said)


def fingerprint(path):
    """A digest of every file's name, size and mtime: changes when the tree changes.

    Cheap enough (tens of milliseconds for a PostgreSQL tree) to run on every
    build-pg, so an unchanged local tree is a no-op and a touched file rebuilds."""
    digest = hashlib.sha256()
    root = str(path)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            digest.update(f"{full[len(root):]}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class LocalChannel(Channel):
    name = "local"

    def __init__(self, settings, path=None):
        super().__init__(settings)
        self.path = Path(os.path.expanduser(path)).resolve() if path else None

    def catalog(self):
        if self.path is None:
            raise ChannelSkip("no --source path given")
        return [release_of(self.path)]

    def fetch(self, release):
        return SourceTree(self.path, release, self.name, f"local:{self.path}", str(self.path), local=True)

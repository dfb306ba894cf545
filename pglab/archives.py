"""Unpacking archives pglab did not make: PostgreSQL's source tarballs, Debian's and
PGXN's packages, bundles.

One set of rules for every archive, checked member by member before anything of it
is written, and the same on every Python pglab accepts (tarfile's extraction filters
arrived in 3.11.4, zipfile has none):

  - a member's path is relative and stays inside the destination: no absolute path,
    no `..`, nothing written through a link that leads out of the tree;
  - a symbolic link points inside the tree; a hard link names a file already unpacked;
  - no device nodes, FIFOs or sockets;
  - no owners kept: everything belongs to whoever unpacks; modes keep the owner's
    bits and lose setuid, setgid, sticky and group/other write.

A member that breaks a rule is left out and named in the result; the rest is
unpacked.  Modification times are kept: a source tarball's generated files (gram.c)
must stay newer than what they were generated from, or make regenerates them.
"""

import os
import stat
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

_FILE_MODE = 0o755     # what survives of a member's mode: the owner's bits, read and exec for others
_KINDS = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO"}


class ArchiveError(Exception):
    """The archive cannot be read at all (not an archive, truncated, unreadable)."""


@dataclass
class Unpacked:
    files: int = 0
    skipped: list = field(default_factory=list)   # [(member name, why)]

    def summary(self):
        """One line naming what was left out, or ''."""
        if not self.skipped:
            return ""
        shown = "; ".join(f"{name} ({why})" for name, why in self.skipped[:3])
        more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
        return f"left out {len(self.skipped)} member(s) that are unsafe to unpack: {shown}{more}"


def extract(archive, dest):
    """Unpack a tar (any compression tarfile reads) or zip archive into `dest` by the
    rules above; returns Unpacked.  Raises ArchiveError for an unreadable archive."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    unpacker = _Unpacker(dest)
    try:
        if zipfile.is_zipfile(archive):
            _zip_members(archive, unpacker)
        else:
            _tar_members(archive, unpacker)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0].rstrip(":")   # tarfile lists every method it tried
        raise ArchiveError(f"{archive.name} cannot be unpacked: {why}") from None
    unpacker.finish()
    return unpacker.result


def _tar_members(archive, unpacker):
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isreg():
                unpacker.file(member.name, member.mode, member.mtime, lambda m=member: tar.extractfile(m))
            elif member.isdir():
                unpacker.directory(member.name, member.mode, member.mtime)
            elif member.issym():
                unpacker.symlink(member.name, member.linkname)
            elif member.islnk():
                unpacker.hardlink(member.name, member.linkname, member.mode, member.mtime)
            else:
                unpacker.skip(member.name, _KINDS.get(member.type, "not a file, folder or link"))


def _zip_members(archive, unpacker):
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            unix = info.external_attr >> 16 if info.create_system == 3 else 0
            mtime = time.mktime(info.date_time + (0, 0, -1))
            if info.is_dir():
                unpacker.directory(info.filename, unix or 0o755, mtime)
            elif unix and stat.S_ISLNK(unix):
                unpacker.symlink(info.filename, z.read(info).decode("utf-8", errors="replace"))
            elif unix and not stat.S_ISREG(unix):
                unpacker.skip(info.filename, "not a file, folder or link")
            else:
                unpacker.file(info.filename, unix or 0o644, mtime, lambda i=info: z.open(i))


def member_path(name):
    """The member's path as a relative PurePosixPath, or None when it would leave the tree."""
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


class _Unpacker:
    """Writes members into dest, each checked against the tree as it stands."""

    def __init__(self, dest):
        self.dest = dest
        self.real = os.path.realpath(dest)
        self.result = Unpacked()
        self.dirs = {}          # path -> (mode, mtime), applied last (a read-only folder takes no children)
        self.regular = set()    # members unpacked as regular files: what a hard link may name
        self.links = []         # (name, path, target) of the symbolic links made

    def skip(self, name, why):
        self.result.skipped.append((name, why))

    def _inside(self, path):
        real = os.path.realpath(path)
        return real == self.real or real.startswith(self.real + os.sep)

    def _target(self, name):
        """dest/NAME with its folders made, or None (skipped) when it would leave the tree."""
        rel = member_path(name)
        if rel is None:
            self.skip(name, "an absolute path or '..'" if name else "no name")
            return None
        target = self.dest / rel
        parent = target.parent
        if not self._inside(parent):
            self.skip(name, "its folder is a link out of the tree")
            return None
        parent.mkdir(parents=True, exist_ok=True)
        if not self._inside(parent):   # a folder made through a link planted meanwhile
            self.skip(name, "its folder is a link out of the tree")
            return None
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()             # never write through what an earlier member put there
        return target

    def directory(self, name, mode, mtime):
        target = self._target(name)
        if target is None:
            return
        target.mkdir(exist_ok=True)
        self.regular.discard(member_path(name))
        self.dirs[target] = ((mode & _FILE_MODE) | 0o700, mtime)

    def file(self, name, mode, mtime, open_member):
        target = self._target(name)
        if target is None:
            return
        if target.is_dir():
            self.skip(name, "a folder of that name is in the tree")
            return
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, open_member() as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
            os.fchmod(out.fileno(), mode & _FILE_MODE)
        os.utime(target, (mtime, mtime), follow_symlinks=False)
        self.regular.add(member_path(name))
        self.result.files += 1

    def symlink(self, name, link):
        rel = member_path(name)
        if link.startswith("/"):
            self.skip(name, f"a link to the absolute path {link}")
            return
        if rel is None or not self._inside(os.path.join(self.dest, rel.parent, link)):
            self.skip(name, f"a link out of the tree ({link})")
            return
        target = self._target(name)
        if target is None:
            return
        if target.is_dir():
            self.skip(name, "a folder of that name is in the tree")
            return
        os.symlink(link, target)
        self.regular.discard(member_path(name))
        self.links.append((name, target, link))
        self.result.files += 1

    def hardlink(self, name, link, mode, mtime):
        source = member_path(link)
        if source is None or source not in self.regular:
            self.skip(name, f"a hard link to {link}, which is not a file unpacked before it")
            return
        target = self._target(name)
        if target is None:
            return
        os.link(self.dest / source, target, follow_symlinks=False)
        self.regular.add(member_path(name))
        self.result.files += 1

    def finish(self):
        # a link checked when it was made may lead out once later members changed the
        # folders it passes through: checked again as the tree finally stands
        for name, path, link in self.links:
            if path.is_symlink() and not self._inside(path):
                path.unlink()
                self.result.files -= 1
                self.skip(name, f"a link out of the tree ({link})")
        for path in sorted(self.dirs, key=lambda p: len(p.parts), reverse=True):
            mode, mtime = self.dirs[path]
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))

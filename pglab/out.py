"""--out: the one writer for what a command writes where the user says
(`ci --out DIR`, `trace --out FILE`, `inspect --out FILE`).

A file is written whole or not at all: into a temporary file beside it, renamed over
it once everything is written.  Something that is not a regular file (/dev/null, a
FIFO) is written to as it is.

A folder is filled beside its destination and renamed into place.  A folder already
there is replaced only when it is empty or pglab made it (it holds MARKER, which
pglab writes in every folder it makes): `--out .` or `--out ~` is refused before any
work, and nothing is deleted.

check_file() and check_folder() say up front, changing nothing, whether a path can
be written, so that a command refuses a bad --out before its long work rather than
after it.  A failure is a PglabError naming the path and why.
"""

import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import PglabError

MARKER = ".pglab-out"
MARKER_TEXT = "pglab made this folder; its next run with the same --out replaces it whole.\n"


def _path(path):
    """PATH with ~ expanded; a symbolic link stands for what it points at."""
    p = Path(path).expanduser()
    return p.resolve() if p.is_symlink() else p


def _nearest_existing(folder):
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _check_parent(target, folder):
    """TARGET's FOLDER can be made (or is there) and written in."""
    there = _nearest_existing(folder)
    if not there.is_dir():
        raise PglabError(f"cannot write {target}: {there} is not a folder")
    if not os.access(there, os.W_OK | os.X_OK):
        raise PglabError(f"cannot write {target}: {there} is not writable")


def _special(p):
    """Something to write to as it is: a device (/dev/null), a FIFO, a socket."""
    try:
        mode = p.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_file(path):
    """PATH as a file the writer can make or replace, changing nothing."""
    p = _path(path)
    if _special(p):
        return p
    if p.is_dir():
        raise PglabError(f"cannot write {p}: it is a folder (give a file's path)")
    _check_parent(p, p.parent)
    return p


def check_folder(path, *, ours=False):
    """PATH as a folder the writer can make or replace, changing nothing.  OURS: PATH is a folder
    of pglab's own working area, which pglab replaces marked or not (its default --out)."""
    p = _path(path)
    if p.exists() and not p.is_dir():
        raise PglabError(f"cannot write into {p}: it is not a folder")
    if p.is_dir() and not ours and not (p / MARKER).is_file():
        try:
            entries = sorted(os.listdir(p))
        except OSError as exc:
            raise PglabError(f"cannot write into {p}: {exc.strerror}") from None
        if entries:
            raise PglabError(f"{p} holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} pglab did not "
                             f"write ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}): pglab "
                             f"replaces only a folder it made; give a new or an empty folder")
    if p == p.parent:
        raise PglabError(f"cannot write into {p}: pglab makes the folder beside where it goes")
    _check_parent(p, p.parent)
    return p


def check_into(path):
    """PATH as a folder a command adds its files to (ext-bundle's dist/): there, or one that can
    be made; changing nothing."""
    p = _path(path)
    if p.exists() and not p.is_dir():
        raise PglabError(f"cannot write into {p}: it is not a folder")
    _check_parent(p, p)
    return p


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _make_parents(folder, made):
    """Make FOLDER and what is missing above it, each one added to MADE as it is made."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir()
        made.append(f)


def _remove(made):
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            break        # something else put files there meanwhile: leave it


@contextmanager
def file(path):
    """A text stream whose content becomes PATH when the block ends without an error
    (else PATH is as it was and no folder made for it is left)."""
    p = check_file(path)
    if _special(p):
        with open(p, "w") as f:
            yield f
        return
    made, tmp, done = [], None, False
    try:
        try:
            _make_parents(p.parent, made)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        except OSError as exc:
            raise PglabError(f"cannot write {p}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as f:
            yield f
        try:
            mode = stat.S_IMODE(p.stat().st_mode) if p.exists() else 0o666 & ~_umask()
            os.chmod(tmp, mode)
            os.replace(tmp, p)
        except OSError as exc:
            raise PglabError(f"cannot write {p}: {exc.strerror}") from None
        done = True
    finally:
        if not done:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            _remove(made)


def write_file(path, text):
    """PATH holding TEXT, written whole."""
    with file(path) as f:
        f.write(text)
    return _path(path)


@contextmanager
def folder(path, *, ours=False):
    """A new, empty folder (MARKER in it) to fill; it becomes PATH when the block ends without
    an error, replacing the folder there only if that one was empty or pglab made it (OURS:
    check_folder)."""
    dest = check_folder(path, ours=ours)
    made, stage, done = [], None, False
    try:
        try:
            _make_parents(dest.parent, made)
            stage = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
            os.chmod(stage, 0o777 & ~_umask())
            (stage / MARKER).write_text(MARKER_TEXT)
        except OSError as exc:
            raise PglabError(f"cannot write into {dest}: {exc.strerror}") from None
        yield stage
        _put_in_place(stage, dest, ours)
        done = True
    finally:
        if not done:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            _remove(made)


def _put_in_place(stage, dest, ours):
    check_folder(dest, ours=ours)          # again: what is there may have changed during the work
    try:
        if not dest.exists() or not any(dest.iterdir()):
            os.rename(stage, dest)          # an empty folder is replaced by the rename itself
            return
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        os.rename(dest, old)
        os.rename(stage, dest)
    except OSError as exc:
        raise PglabError(f"cannot write into {dest}: {exc.strerror}") from None
    shutil.rmtree(old, ignore_errors=True)

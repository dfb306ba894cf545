"""Waiting for another pglab process that works on the same thing.

Two terminals (or `invoke ci` beside `invoke ext-test`) may test the same
extension on the same build, run the regression suite of one build, fetch the
same release, build the same build or bring Debian's index up to date at once;
each of these writes one folder, so the second waits for the first and says so,
naming it: the holder of a lock keeps its pid and command in the lock file.

This is the one module that takes file locks.  Beside `exclusive`, `held` waits
without a word (a template's copy, an ext-test run on a warm server) and `if_free`
never waits (pg-stop --all and the idle watcher pass over a warm server in use)."""

import contextlib
import fcntl
import os
import shlex
import sys
import time
from pathlib import Path

HOLDER_WAIT = 1.0      # s a waiter gives a holder that has the lock but has not yet written its name


@contextlib.contextmanager
def exclusive(path, waiting, *, remove=False):
    """Hold an exclusive lock on the file PATH (created if missing); when another
    process holds it, say WAITING and which process that is (one line) and wait for it.

    remove: unlink the file on release (True, or a callable asked then), so that
    lock files do not pile up; a process that waited on the removed file locks
    the one at PATH afterwards, never the removed one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    from . import ui    # here, not above: the idle watcher (pglab.servers) locks without loading rich

                    ui.note(f"{waiting} ({_holder(fd)})")
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:       # Ctrl-C while waiting: nothing held, nothing left open
            os.close(fd)
            raise
        if _same_file(fd, path):
            break
        os.close(fd)                # the holder removed it as it let go: lock the file there now
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, this_process().encode(), 0)
        yield
    finally:
        if remove is True or (callable(remove) and remove()):
            path.unlink(missing_ok=True)
        else:
            os.ftruncate(fd, 0)     # the next waiter must not read this process as the holder
        os.close(fd)


@contextlib.contextmanager
def held(path, *, shared=False):
    """Hold a lock on the file PATH (created if missing, emptied if not): exclusive, or
    shared with other shared holders; wait without a word for as long as another
    process holds it in the way.  The folder must exist."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def if_free(path, *, create=True):
    """Hold an exclusive lock on the file PATH unless another process holds it: never
    waits, and yields whether it holds it (True) or passed (False).

    create: make the file when missing (and empty it if not); without it, only a file
    already there is locked, never through a symbolic link, and one that cannot be
    opened is passed over as a busy one."""
    if create:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            fd = None
        if fd is None:              # outside the except: an error in the caller's block is not chained to it
            yield False
            return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)


def _same_file(fd, path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _holder(fd):
    """'pid 123: invoke build-pg --version 13', as the holder wrote it into the lock file."""
    deadline = time.monotonic() + HOLDER_WAIT
    while True:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if text or time.monotonic() > deadline:
            return text or "a process that has not said which"
        time.sleep(0.05)


def this_process():
    """This process as a waiter is told about it: 'pid 123: invoke build-pg --version 13'."""
    argv = sys.argv or [""]
    program = Path(argv[0]).name
    if program == "__main__.py":            # python -m invoke: the package's name
        program = Path(argv[0]).parent.name
    if program in ("invoke", "inv"):
        program = os.environ.get("PGLAB_VIA", "invoke")
    command = shlex.join([program or "python", *argv[1:]])
    if len(command) > 200:
        command = command[:199] + "…"
    return f"pid {os.getpid()}: {command}"

"""Waiting for another pglab process that works on the same thing.

Two terminals (or `invoke ci` beside `invoke ext-test`) may test the same
extension on the same build, run the regression suite of one build, or bring
Debian's index up to date at once; each of these writes one folder, so the
second waits for the first and says so."""

import contextlib
import fcntl
import os
from pathlib import Path

from . import ui


@contextlib.contextmanager
def exclusive(path, waiting):
    """Hold an exclusive lock on the file PATH (created if missing); when another
    process holds it, say WAITING (one line) and wait for it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ui.note(waiting)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

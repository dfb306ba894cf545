"""Which gdb pglab runs: for traces, hang backtraces and core files alike.

The one installed beside pglab's own Python comes first: pyproject installs a
newer gdb from PyPI there, because Debian 12's gdb 13 cannot call functions in
a process on CPUs with AMX registers ("Couldn't write extended state status"),
and traces call the backend's nodeToString() and rm_identify().  Else the
system's gdb."""

import os
import shutil
import sys
from pathlib import Path

from .errors import GdbNotFound


def find_gdb(gdb=None):
    """The gdb to run: the one named, else the one beside this Python, else PATH's."""
    if gdb is None:
        beside = Path(sys.executable).parent / "gdb"
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
        gdb = "gdb"
    path = shutil.which(gdb)
    if path is None:
        raise GdbNotFound(f"gdb not found ({gdb!r}): `invoke doctor` installs it")
    return path

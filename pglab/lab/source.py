"""Where a function is defined in the learner's own build's source tree.

Labs name functions (heap_insert, ExecModifyTable); the learner reads them in the
source they built, so a lab shows `src/backend/access/heap/heapam.c:2034` of that
tree, found by its definition: the name at the start of a line, followed by "(".
"""

import re
from pathlib import Path

# src/test: pg_regress (regression_main) and the test modules, which the patch lab points into
_DIRS = ("src/backend", "src/include", "src/common", "contrib", "src/test")


def _sources(folder):
    """FOLDER's C files, then its flex and bison files (guc-file.l defines ProcessConfigFile from 16 on)."""
    if not folder.is_dir():
        return []
    return sorted(folder.rglob("*.c")) + sorted(p for ext in ("*.l", "*.y") for p in folder.rglob(ext))


def locate(source_dir, names):
    """{name: "relative/path.c:line"} for each name defined in SOURCE_DIR (missing names left out)."""
    root = Path(source_dir)
    wanted = set(names)
    found = {}
    if not wanted:
        return found
    pattern = re.compile(rb"^(" + b"|".join(re.escape(n.encode()) for n in sorted(wanted)) + rb")\(", re.M)
    for sub in _DIRS:
        for path in _sources(root / sub):
            data = path.read_bytes()
            for m in pattern.finditer(data):
                name = m.group(1).decode()
                if name not in found:
                    line = data.count(b"\n", 0, m.start()) + 1
                    found[name] = f"{path.relative_to(root)}:{line}"
            if len(found) == len(wanted):
                return found
    return found

"""new-ext: a new extension under extensions/ from one of the templates (udf,
type, bgworker, hook), with the name filled in; it builds and passes its tests
straight away.  An existing folder is never overwritten."""

import re
import shutil
from pathlib import Path

from ..errors import ExtensionError
from .discover import EXTENSIONS_DIR

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def templates():
    return sorted(p.name for p in TEMPLATES_DIR.iterdir() if p.is_dir())


def scaffold(name, template, root=EXTENSIONS_DIR):
    """Copy a template to extensions/NAME with the name filled in; never overwrites."""
    if not _NAME_RE.fullmatch(name or ""):
        raise ExtensionError(f"'{name}' is not a valid extension name: use lower-case letters, digits and _, "
                             f"starting with a letter (e.g. my_ext)")
    if template not in templates():
        raise ExtensionError(f"unknown template '{template}': use one of {', '.join(templates())}")
    dest = Path(root) / name
    if dest.exists():
        raise ExtensionError(f"{dest} already exists; pglab never overwrites an extension: choose another name")
    staging = Path(root) / f".new-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for src in sorted((TEMPLATES_DIR / template).rglob("*")):
            if "__pycache__" in src.parts:
                continue
            rel = Path(str(src.relative_to(TEMPLATES_DIR / template)).replace("__EXT__", name))
            target = staging / rel
            if src.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(src.read_text().replace("__EXT__", name))
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest

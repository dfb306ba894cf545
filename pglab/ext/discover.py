"""Which extensions there are, and what `ext-test SPEC` names.

SPEC is a name under extensions/ or a path to a PGXS extension's folder anywhere
(a contrib module copied out, a checkout), several comma-separated, or `all`.
"""

from dataclasses import dataclass
from pathlib import Path

from ..config import PROJECT_ROOT
from ..errors import ExtensionError

EXTENSIONS_DIR = PROJECT_ROOT / "extensions"


@dataclass(frozen=True)
class Extension:
    name: str
    path: Path

    @property
    def tests_dir(self):
        return self.path / "tests"


def is_extension(path):
    return (path / "Makefile").is_file() and any(path.glob("*.control"))


def discover(root=EXTENSIONS_DIR):
    """{name: Extension} for each PGXS project directly under `root`."""
    found = {}
    if Path(root).is_dir():
        for path in sorted(Path(root).iterdir()):
            if not path.name.startswith(".") and is_extension(path):
                found[path.name] = Extension(path.name, path)
    return found


def looks_like_path(spec):
    return "/" in spec or spec in (".", "..") or spec.startswith("~")


def at_path(path):
    """The extension in a folder: named by its one .control file (pgvector's
    folder holds vector.control), else by the folder."""
    folder = Path(path).expanduser().resolve()
    if not (folder / "Makefile").is_file() and not (folder / "configure").is_file() \
            and not (folder / "configure.ac").is_file():
        raise ExtensionError(f"{folder} has no Makefile (nor a configure script that writes one): point ext-test "
                             f"at a PGXS extension's folder")
    controls = sorted(folder.glob("*.control"))
    return Extension(controls[0].stem if len(controls) == 1 else folder.name, folder)


def resolve(spec, root=EXTENSIONS_DIR):
    """The extensions `spec` names (see the module docstring); several, comma-separated."""
    spec = (spec or "").strip()
    known = discover(root)
    if spec in ("", "all"):
        if not known:
            raise ExtensionError(f"no extensions under {root}: `invoke new-ext NAME --template udf` makes one")
        return list(known.values())
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    unknown = [p for p in parts if not looks_like_path(p) and p not in known]
    if unknown:
        raise ExtensionError(f"unknown extension {', '.join(unknown)}; known: {', '.join(known) or 'none'} "
                             f"(or give a folder's path, e.g. ./my_ext)")
    return [at_path(p) if looks_like_path(p) else known[p] for p in parts]

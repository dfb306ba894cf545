"""`invoke lab NAME --start`: the code a lab asks for, scaffolded with TODOs the learner fills in.

A lab's front matter says what its starter is, in one format for every lab:

    starter:
      extension: lab_udf          # new-ext's TEMPLATE scaffolded as extensions/lab_udf ...
      template: udf
      # fork: true                # ... or a copy of the build's source tree in pg_source/labs/NAME
      next: invoke ext-test lab_udf   # what to run after --start (FORK: the fork's path)
      files:                      # labs/starters/NAME/FILE goes into FILE, at one of:
        lab_udf.c: append         #   the end
        sql/lab_udf.sql: before DROP EXTENSION lab_udf;    # the first line that is this
        src/.../costsize.c: in cost_seqscan                 # inside the function, after its opening brace

In an overlay `{{heap_insert}}` becomes `heap_insert (src/backend/access/heap/heapam.c:1817)`, found in
the source of the learner's build.  The starter builds and passes its own tests; the lab's checks fail
on it until the TODOs are done.  Nothing the learner has is ever overwritten.
"""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError, PglabError
from . import source

# What a source tree holds once built or configured in place: never copied into a fork
# (a configured tree is refused by build-pg's local channel, and objects are rebuilt anyway).
# Anywhere in the tree:
BUILD_PRODUCTS = ("*.o", "*.so", "*.a", "*.bc", "*.lo", "*.gcda", "*.gcno", "*.pyc", "__pycache__", ".deps",
                  ".git", "tmp_check", "tmp_install", "results", "regression.diffs", "regression.out")
# ... and what configure writes, at these paths only (src/test/regress/GNUmakefile and
# src/pl/plperl/GNUmakefile are sources):
CONFIGURED = ("config.status", "config.log", "GNUmakefile", "src/Makefile.global", "src/Makefile.port",
              "src/include/pg_config.h", "src/include/pg_config_os.h", "src/include/pg_config_ext.h",
              "src/include/stamp-h", "src/include/stamp-ext-h", "src/port/pg_config_paths.h")


def _not_copied(top):
    """copytree's ignore: build products anywhere, configure's outputs where configure writes them."""
    anywhere = shutil.ignore_patterns(*BUILD_PRODUCTS)
    configured = {Path(top, rel) for rel in CONFIGURED}

    def ignore(folder, names):
        return set(anywhere(folder, names)) | {n for n in names if Path(folder, n) in configured}
    return ignore


_PLACES = ("append", "before ", "in ")
_EXTENSION = re.compile(r"[a-z_][a-z0-9_]{0,62}")     # new-ext's rule for a name
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")


@dataclass(frozen=True)
class Starter:
    folder: Path               # labs/starters/NAME: the overlays
    files: tuple               # ((relative path, place), ...)
    next: str
    extension: str | None = None
    template: str | None = None
    fork: bool = False

    def overlay(self, rel):
        return (self.folder / rel).read_text()


def parse(lab_path, name, data):
    """The Starter a lab's front matter describes; a LabError naming the lab file for anything wrong."""
    from ..ext import scaffold

    where = f"{lab_path}: starter"
    if not isinstance(data, dict):
        raise LabError(f"{where} must be a mapping (extension and template, or fork: true; next; files)")
    unknown = set(data) - {"extension", "template", "fork", "next", "files"}
    if unknown:
        raise LabError(f"{where} has unknown keys: {', '.join(sorted(str(k) for k in unknown))}")
    if "fork" in data and not isinstance(data["fork"], bool):
        raise LabError(f"{where}.fork: must be true or false, not {data['fork']!r}")
    fork = data.get("fork") is True
    if fork == ("extension" in data or "template" in data):
        raise LabError(f"{where} needs either extension and template, or fork: true")
    if not fork and not ({"extension", "template"} <= set(data)):
        raise LabError(f"{where} needs both extension and template")
    if not fork and (not isinstance(data["extension"], str) or not _EXTENSION.fullmatch(data["extension"])):
        raise LabError(f"{where}.extension: {data['extension']!r} is not an extension name (lower-case letters, "
                       f"digits and _, starting with a letter or _)")
    if not fork and (not isinstance(data["template"], str) or data["template"] not in scaffold.templates()):
        raise LabError(f"{where}: no template {data['template']!r} (new-ext has {', '.join(scaffold.templates())})")
    if not isinstance(data.get("next"), str) or not data["next"].startswith("invoke "):
        raise LabError(f"{where}: next must be the command to run after --start (invoke ...)")
    files = data.get("files")
    if not isinstance(files, dict) or not files:
        raise LabError(f"{where}: files must map each file of the starter to where its TODO goes")
    folder = Path(lab_path).parent / "starters" / name
    for rel, place in files.items():
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise LabError(f"{where}: files: {rel!r} is not a path inside the starter (relative, without ..)")
        if not isinstance(place, str) or not (place == "append" or place.startswith(_PLACES[1:])):
            raise LabError(f"{where}: {rel}: {place!r} is not append, before LINE or in FUNCTION")
        if not (folder / rel).is_file():
            raise LabError(f"{where}: {rel}: no overlay {folder / rel}")
    return Starter(folder=folder, files=tuple(files.items()), next=data["next"],
                   extension=data.get("extension"), template=data.get("template"), fork=fork)


@dataclass(frozen=True)
class Started:
    path: Path
    made: str                  # what was made, for the learner
    todos: tuple               # ((relative path, line of the TODO), ...)
    next: str


def start(settings, lab, *, pg=None, extensions=None):
    """Scaffold LAB's starter; a LabError (nothing changed) when there is none or it exists already."""
    st = lab.starter
    if st is None:
        raise LabError(f"lab {lab.name} has no starter: its work is done with the commands `invoke lab {lab.name}` "
                       f"shows")
    if st.fork:
        return _start_fork(settings, lab, st, pg)
    from ..ext.discover import EXTENSIONS_DIR

    return _start_extension(settings, lab, st, pg, Path(extensions or EXTENSIONS_DIR))


def _refuse_existing(dest, lab):
    if dest.exists() or dest.is_symlink():
        raise LabError(f"{dest} exists (your work, left as it is): to start over, move it away "
                       f"(mv {dest} {dest}.old) and run `invoke lab {lab.name} --start` again")


def _start_extension(settings, lab, st, pg, root):
    from ..ext import scaffold

    dest = root / st.extension
    _refuse_existing(dest, lab)
    staging = root / f".start-{st.extension}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        made = scaffold.scaffold(st.extension, st.template, root=staging)
        todos = _overlay(made, st, _source_dir(settings, pg))
        _refuse_existing(dest, lab)      # made meanwhile: still never overwritten
        made.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Started(dest, f"new-ext's {st.template} template", todos, st.next)


def _start_fork(settings, lab, st, pg):
    from ..pg.builds import find_build

    dest = settings.layout.lab_fork(lab.name)
    _refuse_existing(dest, lab)
    build = find_build(settings, pg)
    src = build.source_dir
    if not (src / "src" / "backend").is_dir():
        raise LabError(f"{build.id}'s source tree {src} is gone: `{build.rebuild_command()}` fetches it again")
    if dest.resolve().is_relative_to(src.resolve()):
        raise LabError(f"{dest} is inside {build.id}'s own source tree {src}: set the working area (root) "
                       f"elsewhere")
    staging = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(src, staging, symlinks=True, ignore=_not_copied(src))
        todos = _overlay(staging, st, staging)
        _refuse_existing(dest, lab)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    from ..config import PROJECT_ROOT

    shown = dest.relative_to(PROJECT_ROOT) if dest.is_relative_to(PROJECT_ROOT) else dest
    return Started(dest, f"a copy of {build.id}'s source tree ({src}), without build products", todos,
                   st.next.replace("FORK", str(shown)))


def _source_dir(settings, pg):
    """The source tree of the learner's build, for the overlays' {{function}} pointers (None: no build yet)."""
    from ..pg.builds import find_build

    try:
        return find_build(settings, pg).source_dir
    except PglabError:
        return None


def _overlay(tree, st, source_dir):
    """Put each overlay into TREE at its place; [(relative path, line of the TODO)]."""
    texts = {rel: st.overlay(rel) for rel, _ in st.files}
    names = sorted({n for t in texts.values() for n in _PLACEHOLDER.findall(t)})
    found = source.locate(source_dir, names) if names and source_dir is not None else {}

    def pointer(m):
        name = m.group(1)
        return f"{name} ({found[name]})" if name in found else name

    todos = []
    for rel, place in st.files:
        target = tree / rel
        if not target.is_file():
            raise LabError(f"the starter puts a TODO into {rel}, which {tree} does not have (a bug in the lab)")
        lines = target.read_text().splitlines(keepends=True)
        at = _position(lines, place, rel)
        text = _PLACEHOLDER.sub(pointer, texts[rel])
        if at == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        target.write_text("".join(lines[:at]) + text + "".join(lines[at:]))
        todos.append((rel, at + 1 + next((i for i, l in enumerate(text.splitlines()) if "TODO" in l), 0)))
    return tuple(todos)


def _position(lines, place, rel):
    """The index of the line the overlay goes before."""
    if place == "append":
        return len(lines)
    if place.startswith("before "):
        wanted = place.removeprefix("before ").strip()
        for i, line in enumerate(lines):
            if line.strip() == wanted:
                return i
        raise LabError(f"{rel} has no line {wanted!r} to put the TODO before (a bug in the lab)")
    function = place.removeprefix("in ").strip()
    head = re.compile(rf"^{re.escape(function)}\(")
    for i, line in enumerate(lines):
        if head.match(line):
            for j in range(i + 1, len(lines)):
                if lines[j].rstrip("\n") == "{":
                    return j + 1
            break
    raise LabError(f"{rel} has no definition of {function} (a function name at the start of a line, then its "
                   f"opening brace)")


def fork_builds(settings, lab_name):
    """The builds made from LAB's fork (pg_source/labs/LAB), newest first."""
    from ..pg.builds import list_builds

    fork = settings.layout.lab_fork(lab_name).resolve()
    return [b for b in list_builds(settings)
            if b.channel == "local" and b.source_dir.resolve() == fork]

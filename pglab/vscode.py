"""debug --vscode: VS Code's launch.json and tasks.json in the repository you work in.

    pglab debug --vscode [--pg 17]

writes (or merges into) .vscode/launch.json at the top of the git repository the
command runs in (else the folder itself) one configuration, "pglab: attach to a
backend (BUILD)": VS Code's C/C++ debugger attaching to a PostgreSQL process you pick,
with the build's gdb, pglab's printers and pg-* commands loaded by its setup commands
(a gdb script kept in the working area), and the extension's build copy mapped back
to your own files, so that stepping into the extension opens them.  .vscode/tasks.json
gains "pglab ext-test", which runs `pglab ext-test .`.

Existing files are merged, never clobbered: other configurations and tasks stay as
they are, pglab's own (by name) are replaced, comments are kept out of what is
read (VS Code's files are JSON with comments) and a file that cannot be read is
refused with one line, nothing written.  Each file is written whole (a temporary
file renamed into place).
"""

import json
import os
import re
from pathlib import Path

from . import out
from .config import via
from .debug import gdb_quote, gdb_script
from .errors import DebugError

TASK_LABEL = "pglab ext-test"


def repository_top(start):
    """The top of the git work tree START is in, else START itself."""
    start = Path(start).resolve()
    return next((top for top in (start, *start.parents) if (top / ".git").exists()), start)


def configuration(plan, setup_file, source_map):
    """The launch configuration: attach to a picked process with the build's gdb and pglab's set-up."""
    return {
        "name": f"pglab: attach to a backend ({plan.build_id})",
        "type": "cppdbg",
        "request": "attach",
        "program": plan.postgres,
        "processId": "${command:pickProcess}",
        "MIMode": "gdb",
        "miDebuggerPath": plan.gdb,
        "setupCommands": [
            {"description": "pretty printing", "text": "-enable-pretty-printing", "ignoreFailures": True},
            {"description": "pglab's printers and pg-* commands, the build's sources",
             "text": f"source {setup_file}", "ignoreFailures": False},
        ],
        "sourceFileMap": source_map,
    }


def run(settings, *, pg=None, breaks=(), on_error=False, start="."):
    """debug --vscode: the files written for START's repository, the build's, and the extension there if any."""
    from .debug.session import make_plan
    from .ext.discover import at_path, is_extension
    from .pg.builds import find_build

    top = repository_top(start)
    build = find_build(settings, pg)
    folder = next((f for f in (Path(start).resolve(), top) if is_extension(f)), None)
    ext = at_path(folder) if folder is not None else None
    plan = make_plan(settings, build, breaks=breaks, on_error=on_error)
    Path(plan.workdir).rmdir()              # the set-up file is kept per build, not per session
    return write(settings, build, plan, start=start, ext=ext), ext


def write(settings, build, plan, *, start, ext=None):
    """Write or merge .vscode/launch.json and tasks.json under START's repository; returns their paths."""
    top = repository_top(start)
    folder = top / ".vscode"
    launch_path, tasks_path = folder / "launch.json", folder / "tasks.json"
    launch = _read(launch_path, {"version": "0.2.0", "configurations": []})
    tasks = _read(tasks_path, {"version": "2.0.0", "tasks": []})
    source_map = {}
    if ext is not None:
        from .ext.pgxs import build_copy

        builddir, _tag = build_copy(settings, ext, build)
        source_map[str(builddir / "src")] = str(ext.path)
    setup = settings.layout.debug_sessions / f"vscode-{build.id}.gdb"
    setup.parent.mkdir(parents=True, exist_ok=True)
    # the same mapping for gdb itself (its console in VS Code, or `source` in a gdb of your own)
    mapped = "".join(f"set substitute-path {gdb_quote(a)} {gdb_quote(b)}\n" for a, b in source_map.items())
    out.write_file(setup, gdb_script(plan, attach=False) + mapped)
    ours = configuration(plan, setup, source_map)
    launch["configurations"] = [c for c in launch.get("configurations", []) if c.get("name") != ours["name"]]
    launch["configurations"].append(ours)
    task = {"label": TASK_LABEL, "type": "shell", "command": f"{via()} ext-test .",
            "group": "test", "problemMatcher": ["$gcc"]}
    tasks["tasks"] = [t for t in tasks.get("tasks", []) if t.get("label") != TASK_LABEL] + [task]
    folder.mkdir(exist_ok=True)
    out.write_file(launch_path, json.dumps(launch, indent=2) + "\n")
    out.write_file(tasks_path, json.dumps(tasks, indent=2) + "\n")
    _owned_like(top, folder, launch_path, tasks_path)
    return launch_path, tasks_path, setup


def _owned_like(top, *paths):
    """Run as root in someone's repository, the files are theirs, as the repository is."""
    if os.geteuid() != 0:
        return
    owner = top.stat()
    for path in paths:
        os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def _read(path, empty):
    """A VS Code JSON file (comments and trailing commas allowed), or EMPTY when there is none."""
    if not path.exists():
        return empty
    text = path.read_text(errors="replace")
    try:
        data = json.loads(strip_jsonc(text))
    except ValueError as exc:
        raise DebugError(f"cannot read {path} ({exc}): fix it or move it aside; nothing was written") from None
    if not isinstance(data, dict):
        raise DebugError(f"{path} is not a JSON object: fix it or move it aside; nothing was written")
    return data


_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/|,(?=\s*[}\]])', re.S)


def strip_jsonc(text):
    """JSON with comments (// and /* */) and trailing commas, as plain JSON: strings are left whole."""
    return _TOKENS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)

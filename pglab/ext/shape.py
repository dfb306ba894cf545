"""What shape of PGXS project an extension is, found the way its own make finds it.

Published extensions are not all one folder with a Makefile beside its .control:

    configure   a configure script to run first (or autogen.sh and configure.ac
                only): run once per build copy and build, as the servers'
                account, with the build's pg_config first in PATH (and named to
                the script when its --help asks for it)
    recursion   a top-level Makefile that runs `make installcheck` in subfolders
                (SUBDIRS loops, `$(MAKE) -C dir`): the folders it enters are read
                from `make -n -w installcheck`, and each one's suites run there,
                as that recursion would run them
    declared    Makefiles anywhere in the tree that declare REGRESS, ISOLATION or
                TAP_TESTS: what tells "this project declares no tests" from
                "it has tests that `make installcheck` does not reach"

Nothing here writes into the user's folder: it all happens in the build copy.
"""

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .. import boundary
from ..run import run_logged
from .pgxs import MAKEFILES, is_product, make_cmd

_DECLARES = re.compile(r"^\s*(REGRESS|ISOLATION|TAP_TESTS)\s*[:+?]?=\s*\S", re.M)
_ENTERING = re.compile(r"^\S*make(?:\[\d+\])?: Entering directory ['`](.*)'$", re.M)
_PGCONFIG_FLAG = re.compile(r"(--with-pg_?-?config)\b[=\[]", re.I)


@dataclass
class Shape:
    """Where an extension's suites are, in its build copy."""

    folders: list = field(default_factory=list)      # folders `make installcheck` runs tests in ("." first)
    declared: list = field(default_factory=list)     # folders whose Makefile declares tests
    no_installcheck: bool = False                     # the top Makefile has no installcheck target
    commands: list = field(default_factory=list)      # what `make -n installcheck` prints it would run

    def unreached(self):
        """Folders that declare tests `make installcheck` at the top never runs."""
        return [f for f in self.declared if f not in self.folders]


# ---- configure ----------------------------------------------------------------------------

def configure(build, srcdir, account, log, *, env):
    """Run the project's configure step in the build copy when it has one and it has not run for
    this build and this configure script; returns the command that ran ('' when none), and keeps
    the files it made (configured.json beside the copy) so that mirroring the user's folder
    again does not delete them.  Raises BuildError when it fails."""
    stamp_file = srcdir.parent / "configured.json"
    script = srcdir / "configure"
    steps = []
    if not script.is_file() and (srcdir / "autogen.sh").is_file() and (srcdir / "configure.ac").is_file():
        steps.append(["sh", "./autogen.sh"])
    elif not script.is_file():
        return ""
    key = hashlib.sha256(json.dumps([_digest(srcdir / n) for n in ("configure", "configure.ac", "autogen.sh")]
                                    + [str(build.pg_config), build.built_at]).encode()).hexdigest()
    try:
        kept = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        kept = {}
    if kept.get("key") == key and all((srcdir / f).exists() for f in kept.get("made", [])):
        return kept.get("command", "")
    before = _files(srcdir)
    run_env = {**env, "PG_CONFIG": str(build.pg_config), "PATH": f"{build.bindir}:{env.get('PATH', '/usr/bin:/bin')}"}
    for step in steps:
        run_logged(step, log, cwd=srcdir, env=run_env, account=account, step="autogen.sh")
    command = ["sh", "./configure", *_pgconfig_flag(srcdir, build, run_env, account)]
    run_logged(command, log, cwd=srcdir, env=run_env, account=account, step="configure")
    made = sorted(_files(srcdir) - before)
    shown = " ".join((["./autogen.sh", "&&"] if steps else []) + ["./configure", *command[2:]])
    boundary.write_file(stamp_file, json.dumps({"key": key, "made": made, "command": shown}))
    return shown


def configured_files(builddir):
    """The files the configure step made in the copy (kept when the copy is mirrored again)."""
    try:
        return set(json.loads((Path(builddir) / "configured.json").read_text()).get("made", []))
    except (OSError, ValueError):
        return set()


def _digest(path):
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _files(root):
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not is_product(dirpath, d)]
        for name in filenames:
            if not is_product(dirpath, name):
                found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def _pgconfig_flag(srcdir, build, env, account):
    """--with-pgconfig=PATH (whatever the script calls it) when its --help lists such an option."""
    try:
        done = subprocess.run(["sh", "./configure", "--help"], cwd=srcdir, env=env, capture_output=True, text=True,
                              timeout=60, **account.subprocess_kwargs())
    except subprocess.TimeoutExpired:
        return []
    m = _PGCONFIG_FLAG.search(done.stdout)
    return [f"{m.group(1)}={build.pg_config}"] if m else []


# ---- where the suites are ---------------------------------------------------------------------

def declared(srcdir):
    """Folders (relative, "." for the top) whose Makefile declares REGRESS, ISOLATION or TAP_TESTS."""
    found = []
    for dirpath, dirnames, filenames in os.walk(srcdir):
        dirnames[:] = sorted(d for d in dirnames if not is_product(dirpath, d) and not d.startswith("."))
        for name in MAKEFILES:
            if name in filenames:
                text = boundary.read_file(Path(dirpath) / name)
                if _DECLARES.search(text):
                    found.append(os.path.relpath(dirpath, srcdir))
                break
    return found


def find(build, srcdir, account, *, env, state=None):
    """The Shape of the project in the build copy SRCDIR (configure, when any, has run); kept in
    STATE (a file of root's) until a Makefile (or an included .mk) or the build changes."""
    key = _makefiles_key(build, srcdir)
    if state is not None:
        try:
            kept = json.loads(Path(state).read_text())
            if kept.get("key") == key:
                return Shape(**kept["shape"])
        except (OSError, ValueError, TypeError):
            pass
    shape = _find(build, srcdir, account, env=env)
    if state is not None:
        boundary.write_file(state, json.dumps({"key": key, "shape": shape.__dict__}))
    return shape


def _makefiles_key(build, srcdir):
    parts = [Path(__file__).stat().st_mtime_ns, str(build.pg_config), build.built_at]
    for dirpath, dirnames, filenames in os.walk(srcdir):
        dirnames[:] = sorted(d for d in dirnames if not is_product(dirpath, d))
        for name in sorted(filenames):
            if name in MAKEFILES or name.endswith(".mk"):
                st = os.lstat(os.path.join(dirpath, name))
                parts.append(f"{os.path.relpath(os.path.join(dirpath, name), srcdir)} {st.st_mtime_ns} {st.st_size}")
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()


def _find(build, srcdir, account, *, env):
    shape = Shape(declared=declared(srcdir))
    # make_cmd's --no-print-directory would hide the sub-makes' "Entering directory" lines
    dry_run = [c for c in make_cmd(build, "installcheck", extra=("-n", "-w")) if c != "--no-print-directory"]
    done = subprocess.run([str(c) for c in dry_run], cwd=srcdir, env=env, capture_output=True, text=True,
                          timeout=120, **account.subprocess_kwargs())
    if done.returncode != 0 and "No rule to make target 'installcheck'" in done.stderr:
        shape.no_installcheck = True
        return shape
    shape.commands = [line.strip() for line in done.stdout.splitlines()
                      if line.strip() and not re.match(r"^\S*make(\[\d+\])?: ", line)][:20]
    entered = []
    for m in _ENTERING.finditer(done.stdout):
        try:
            rel = os.path.relpath(m.group(1), srcdir)
        except ValueError:
            continue
        if not rel.startswith("..") and rel not in entered:
            entered.append(rel)
    shape.folders = ["."] + [f for f in entered if f != "."]
    return shape


def suite_folder(rel):
    """How a folder is named in the results: "" for the top, else "regress/"."""
    return "" if rel in (".", "") else f"{rel.rstrip('/')}/"


def refuse_custom(shape, ext):
    """The one line for a project whose installcheck runs commands of its own, not a test tool."""
    return (f"{ext.name}'s `make installcheck` runs commands of its own ({shape.commands[0][:80]}), not pg_regress, "
            f"pg_isolation_regress or prove: ext-test cannot tell its tests apart; run `make installcheck` by hand")


def refuse_unreachable(shape, ext):
    """The one line for a project whose tests its top-level installcheck cannot reach."""
    where = ", ".join(suite_folder(f) for f in shape.unreached())
    first = shape.unreached()[0]
    if shape.no_installcheck:
        return (f"{ext.name}'s top-level Makefile has no installcheck target; tests are declared in {where}: "
                f"run them by hand with `make -C {first} installcheck` (after `make install` at the top)")
    return (f"`make installcheck` at {ext.name}'s top runs no test, yet tests are declared in {where}: "
            f"run them by hand with `make -C {first} installcheck` (after `make install` at the top)")

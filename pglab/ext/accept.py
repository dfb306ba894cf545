"""ext-test --accept: a regress or isolation test's new output taken as its expected output.

After the suites ran, each test whose expected file is missing or differs from what it printed
is a candidate: its output (results/NAME.out in ext-test's build copy) is shown as a diff
against the expected file in the extension's own folder (INPUTDIR/expected/NAME.out, as
pg_regress reads it) and, once accepted, written there: the one place ext-test writes in the
user's folder, and only then.  A suite that crashed the server or hung offers nothing (its
output is not the test's answer).  A test with alternative outputs (NAME_1.out, ...) that
failed matched none of them: its base file is written, the alternatives are left as they are.
"""

import difflib
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import boundary, ui
from ..config import via
from ..errors import ExtensionError
from . import discover, published
from .pgxs import build_copy

KINDS = ("regress", "isolation")
# what a test's name may be for pglab to write NAME.out: the name comes from the test tool's output,
# which the servers' account writes, so it never names a path
_TEST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_INPUTDIR = re.compile(r"--inputdir[= ]['\"]?([^'\"\s]+)")
_MISSING = re.compile(r"^diff: \S+/expected/([^/\s]+)\.out: No such file or directory$", re.M)


@dataclass
class Candidate:
    suite: object            # the SuiteResult it comes from
    test: str
    results: Path            # what the test printed, in the build copy (the account's)
    expected: Path           # where pg_regress reads what it should print, in the user's folder
    alternatives: list = field(default_factory=list)


def mode(value, spec):
    """--accept's value for ext-test SPEC: None (not given), "ask" (--accept) or "all" (--accept=all).
    Refused at once, before anything runs (an ExtensionError): another value, a published extension
    (no folder of the user's to write in), asking with no terminal to ask in."""
    if value in (None, False):
        return None
    if value not in (True, "all"):
        raise ExtensionError(f"--accept takes nothing (ask for each test) or 'all' (--accept=all), not {value!r}")
    if published.is_published(spec):
        raise ExtensionError(f"--accept writes a test's output into its extension's folder: a published extension "
                             f"({spec}) has none of yours; copy it into a folder first")
    how = "ask" if value is True else "all"
    if how == "ask" and not sys.stdin.isatty():
        raise ExtensionError("--accept asks before it writes each expected file, and there is no terminal to ask "
                             "in: --accept=all accepts every one without asking")
    return how


def inputdir(output):
    """The --inputdir pg_regress was given (the last one counts, as in pg_regress), from make's output."""
    found = _INPUTDIR.findall(output)
    return found[-1] if found else "."


def missing(output):
    """The tests pg_regress stopped at for want of an expected file."""
    return _MISSING.findall(output)


def candidates(settings, ext, results):
    """([Candidate], [one line per suite that offers nothing and why]) for EXT's results."""
    from ..pg.builds import load_build

    found, notes = [], []
    for r in results:
        if r.extension != ext.name or r.suite not in KINDS:
            continue
        if r.status in ("crash", "hang"):
            how = "crashed the server" if r.status == "crash" else "hung"
            notes.append(f"{r.label} on {r.build} {how}: nothing of it is accepted")
            continue
        if r.status != "fail":
            continue
        builddir, _tag = build_copy(settings, ext, load_build(settings, r.build))
        folder = Path(r.folder) if r.folder else Path()
        copy = builddir / "src" / folder
        outdir = copy if r.suite == "regress" else copy / "output_iso"
        where = Path(os.path.normpath(folder / inputdir(r.output) / "expected"))
        if where.is_absolute() or where.parts[:1] == ("..",):
            notes.append(f"{r.label} on {r.build}: its expected files are outside {ext.path} ({where}): not written")
            continue
        names = [t for t, status in r.tests if status == "fail"] + missing(r.output)
        for name in dict.fromkeys(names):
            if not _TEST_NAME.fullmatch(name) or name.endswith("."):
                notes.append(f"{r.label} on {r.build}: {name!r} is not a test's name: nothing written for it")
                continue
            out = outdir / "results" / f"{name}.out"
            try:
                fd = boundary.open_in_tree(outdir, f"results/{name}.out")
            except boundary.BoundaryError as exc:
                notes.append(f"{r.label} on {r.build}: {name}'s output is not read: {exc}")
                continue
            if fd is None:
                notes.append(f"{r.label} on {r.build}: {name} left no results/{name}.out to accept")
                continue
            os.close(fd)
            target = ext.path / where / f"{name}.out"
            alternatives = sorted(p for p in target.parent.glob(f"{name}_*.out") if re.fullmatch(
                rf"{re.escape(name)}_\d+\.out", p.name))
            found.append(Candidate(r, name, out, target, alternatives))
    return found, notes


def _diff(old, new, expected, results):
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=str(expected), tofile=str(results)))


def _read_results(c):
    """What the test printed: its results file in the build copy, read by pglab.boundary's rules
    (no link on the way, a regular file of the copy's owner)."""
    fd = boundary.open_in_tree(c.results.parent.parent, f"results/{c.results.name}")
    if fd is None:
        raise ExtensionError(f"{c.results} is gone: run ext-test again")
    with os.fdopen(fd, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def _write(ext, path, text):
    """PATH written whole (a temporary file beside it, renamed over it), inside the extension's
    folder and nowhere else; the folders it needs made; as root, each folder made and the file
    owned by whoever owns the extension's folder."""
    top = Path(os.path.realpath(ext.path))
    owner = top.stat()
    missing = [p for p in [path.parent, *path.parent.parents] if p != ext.path and ext.path in p.parents
               and not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        if os.geteuid() == 0:
            os.chown(folder, owner.st_uid, owner.st_gid)
    where = Path(os.path.realpath(path.parent))
    if where != top and top not in where.parents:
        raise ExtensionError(f"{path.parent} leads out of {ext.path} (a link): nothing written there")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=where)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            os.fchmod(out.fileno(), 0o644)
            if os.geteuid() == 0:
                os.fchown(out.fileno(), owner.st_uid, owner.st_gid)
        os.replace(tmp, where / path.name)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ExtensionError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _yes(ask, question):
    """The learner's answer: yes only when they say so (end of input, Ctrl-D, is no)."""
    try:
        return ask(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def offer(ext, found, how, ask=input):
    """Show each candidate's diff and write the accepted ones; [(Candidate, accepted)]."""
    done = []
    for c in found:
        new = _read_results(c)
        old = c.expected.read_text(errors="replace") if c.expected.is_file() else None
        shown = c.expected.relative_to(ext.path)
        if old == new:
            continue
        ui.say(f"{c.suite.label} on {c.suite.build}: {c.test}"
               + (f" has no {shown} yet" if old is None else f" printed something else than {shown}"))
        ui.raw(_diff(old or "", new, shown if old is not None else "/dev/null", f"results/{c.test}.out").rstrip("\n"))
        if c.alternatives:
            ui.note(f"it matched none of its alternatives ({', '.join(p.name for p in c.alternatives)}): "
                    f"{shown.name} is the one written, they are left as they are")
        yes = how == "all" or _yes(ask, f"accept it as {shown}? [y/N] ")
        if yes:
            _write(ext, c.expected, new)
            ui.say(f"accepted: {shown}" + (" (new)" if old is None else ""), style="green")
        else:
            ui.note(f"not accepted: {shown} is as it was")
        done.append((c, yes))
    return done


def accept(settings, spec, results, how):
    """ext-test --accept, after the report: for each extension SPEC names, what cannot be offered and
    why, then each candidate's diff, asked for (or all, unasked); a last line saying what comes next."""
    offered = []
    for ext in discover.resolve(spec):
        found, notes = candidates(settings, ext, results)
        for line in notes:
            ui.note(line)
        offered += offer(ext, found, how)
    if any(yes for _c, yes in offered):
        ui.say(f"run `{via()} ext-test {spec}` again: what was accepted is now what the tests expect")
    elif not offered:
        ui.note("nothing to accept: no regress or isolation test printed something else than it expects")

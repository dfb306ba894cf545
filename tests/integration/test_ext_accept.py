"""ext-test --accept: a new test's output written as its expected file (owned as the extension's
folder is), a changed one only when the learner says yes in a terminal (refused without one,
nothing run), never from a suite that crashed the server, and a test's alternative outputs left
as they are.  On copies of the examples and fixtures, as their author's checkouts would be."""

import os
import pty
import re
import select
import shutil
import sys
import time
from pathlib import Path

import pytest

from pglab.config import PROJECT_ROOT
from tests.conftest import invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"
THREE = "SELECT 1 + 2 AS three;\n three \n-------\n     3\n(1 row)\n\n"
FOUR = "SELECT 2 + 2 AS four;\n four \n------\n    4\n(1 row)\n\n"


@pytest.fixture
def checkout(tmp_path):
    """A copy of pgl_funcs with a third regress test, `extra`, and no expected output for it; the
    folder is the learner account's, as an author's checkout is theirs."""
    path = tmp_path / "pgl_funcs"
    shutil.copytree(PROJECT_ROOT / "extensions" / "pgl_funcs", path)
    (path / "sql" / "extra.sql").write_text("SELECT 1 + 2 AS three;\n")
    makefile = path / "Makefile"
    makefile.write_text(re.sub(r"^REGRESS = (.*)$", r"REGRESS = \1 extra", makefile.read_text(), flags=re.M))
    learner = _learner()
    for p in [path, *path.rglob("*")]:
        os.lchown(p, learner, learner)
    os.chmod(tmp_path, 0o755)
    return path


def _learner():
    import pwd

    try:
        return pwd.getpwnam("pglab-learner").pw_uid
    except KeyError:
        pytest.skip("no pglab-learner account (tests/integration/test_fresh_machine.py makes it)")


def _in_terminal(*args, answers=(), timeout=300):
    """`invoke ARGS` with a terminal for stdin and stdout: each answer typed when the prompt shows;
    (exit code, what the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(PROJECT_ROOT)
        os.environ["COLUMNS"] = "200"
        os.execv(sys.executable, [sys.executable, "-m", "invoke", *args])
    shown, pending, deadline = b"", list(answers), time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:        # the child closed the terminal: it is done
                break
            if not chunk:
                break
            shown += chunk
            if pending and shown.rstrip().endswith(b"[y/N]"):
                os.write(fd, pending.pop(0).encode() + b"\n")
        assert time.monotonic() < deadline, shown.decode(errors="replace")[-3000:]
    _, status = os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))     # colours, cursor moves
    return os.waitstatus_to_exitcode(status), text.replace("\r\n", "\n")


def test_a_new_tests_output_is_written_as_its_expected_file_and_the_next_run_passes(checkout, default_build):
    expected = checkout / "expected" / "extra.out"
    first = invoke("ext-test", str(checkout), "--suite", "regress", timeout=600)
    assert first.returncode == 1
    assert re.search(r"│ regress +│ FAIL +│ 2/2 +│", first.stdout), first.stdout
    assert (f"\npgl_funcs regress on {default_build.id}: extra: no expected/extra.out yet, pg_regress stopped "
            f"there (--accept writes it from what extra printed)\n") in first.stdout
    accepted = invoke("ext-test", str(checkout), "--suite", "regress", "--accept=all", timeout=600)
    assert accepted.returncode == 1                   # the run it accepts from failed
    assert f"regress on {default_build.id}: extra has no expected/extra.out yet\n" in accepted.stdout
    assert "accepted: expected/extra.out (new)\n" in accepted.stdout
    assert expected.read_text() == THREE
    st = expected.stat()
    assert (st.st_uid, st.st_gid) == (_learner(), _learner())
    again = invoke("ext-test", str(checkout), "--suite", "regress", timeout=600)
    assert again.returncode == 0, again.stdout
    assert re.search(r"│ regress +│ pass +│ 3/3 +│", again.stdout)


def test_a_changed_output_is_written_only_when_the_learner_says_yes_in_a_terminal(checkout, default_build):
    expected = checkout / "expected" / "extra.out"
    expected.write_text(THREE)
    (checkout / "sql" / "extra.sql").write_text("SELECT 2 + 2 AS four;\n")
    piped = invoke("ext-test", str(checkout), "--suite", "regress", "--accept", timeout=600)
    assert (piped.returncode, piped.stdout, piped.stderr.strip()) == (
        1, "", "error: --accept asks before it writes each expected file, and there is no terminal to ask in: "
               "--accept=all accepts every one without asking")
    code, shown = _in_terminal("ext-test", str(checkout), "--suite", "regress", "--accept", answers=["n"])
    assert code == 1
    assert f"regress on {default_build.id}: extra printed something else than expected/extra.out\n" in shown
    assert re.search(r"--- expected/extra\.out\n\+\+\+ results/extra\.out\n@@ [^\n]+@@\n-SELECT 1 \+ 2 AS three;\n"
                     r"- three \n", shown), shown
    assert "not accepted: expected/extra.out is as it was" in shown
    assert expected.read_text() == THREE
    code, shown = _in_terminal("ext-test", str(checkout), "--suite", "regress", "--accept", answers=["y"])
    assert code == 1
    assert "accepted: expected/extra.out\n" in shown
    assert expected.read_text() == FOUR


def test_a_suite_that_crashed_the_server_offers_nothing(tmp_path, default_build):
    fixture = tmp_path / "crash_segv"
    shutil.copytree(FIXTURES / "crash_segv", fixture)
    before = {p.name: p.read_bytes() for p in (fixture / "expected").iterdir()}
    done = invoke("ext-test", str(fixture), "--suite", "regress", "--accept=all", timeout=600)
    assert done.returncode == 1
    assert re.search(r"│ regress +│ CRASH +│", done.stdout)
    assert f"regress on {default_build.id} crashed the server: nothing of it is accepted\n" in done.stdout
    assert "accepted:" not in done.stdout
    assert {p.name: p.read_bytes() for p in (fixture / "expected").iterdir()} == before


def test_alternative_outputs_are_left_as_they_are(checkout):
    expected = checkout / "expected"
    (expected / "extra.out").write_text(FOUR)
    (expected / "extra_1.out").write_text(THREE.replace("3", "33"))
    done = invoke("ext-test", str(checkout), "--suite", "regress", "--accept=all", timeout=600)
    assert done.returncode == 1
    assert ("it matched none of its alternatives (extra_1.out): extra.out is the one written, they are left as "
            "they are") in done.stdout
    assert (expected / "extra.out").read_text() == THREE
    assert (expected / "extra_1.out").read_text() == THREE.replace("3", "33")
    (expected / "extra.out").write_text(FOUR)               # the alternative matches: a pass, nothing offered
    (expected / "extra_1.out").write_text(THREE)
    passes = invoke("ext-test", str(checkout), "--suite", "regress", "--accept=all", timeout=600)
    assert passes.returncode == 0, passes.stdout
    assert "accepted" not in passes.stdout
    assert (expected / "extra.out").read_text() == FOUR


def test_accept_refuses_what_it_cannot_do(checkout):
    wrong = invoke("ext-test", str(checkout), "--accept=some")
    assert (wrong.returncode, wrong.stdout, wrong.stderr.strip()) == (
        1, "", "error: --accept takes nothing (ask for each test) or 'all' (--accept=all), not 'some'")
    published = invoke("ext-test", "debian:pg-hint-plan", "--accept=all")
    assert (published.returncode, published.stderr.strip()) == (
        1, "error: --accept writes a test's output into its extension's folder: a published extension "
           "(debian:pg-hint-plan) has none of yours; copy it into a folder first")


def test_a_new_expected_folder_is_the_learners_too(checkout, default_build):
    """An extension with no expected/ yet (its first test): the folder --accept makes is owned as
    the extension's folder is, and so is the file in it."""
    shutil.rmtree(checkout / "expected")
    makefile = checkout / "Makefile"
    makefile.write_text(re.sub(r"^REGRESS = .*$", "REGRESS = extra", makefile.read_text(), flags=re.M))
    done = invoke("ext-test", str(checkout), "--suite", "regress", "--accept=all", timeout=600)
    assert "accepted: expected/extra.out (new)\n" in done.stdout, done.stdout
    assert (checkout / "expected" / "extra.out").read_text() == THREE
    for p in (checkout / "expected", checkout / "expected" / "extra.out"):
        assert (p.stat().st_uid, p.stat().st_gid) == (_learner(), _learner()), p


def test_a_test_name_the_servers_account_wrote_never_names_a_path(tmp_path, settings, default_build):
    """The failing tests' names come from the test tool's output, which runs as the servers' account:
    one that climbs out of expected/ (with results/ a link the account planted) is refused, and
    nothing is read or written."""
    from pglab.ext import accept
    from pglab.ext.discover import at_path
    from pglab.ext.pgxs import build_copy
    from pglab.ext.report import SuiteResult

    ext_dir = tmp_path / "victim"
    shutil.copytree(PROJECT_ROOT / "extensions" / "pgl_funcs", ext_dir)
    ext = at_path(ext_dir)
    builddir, _tag = build_copy(settings, ext, default_build)
    results = builddir / "src" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "plain.out").write_text("what a test printed\n")
    outside = tmp_path / "outside.out"
    name = "L/../../../../../../../../" + str(outside.with_suffix("")).lstrip("/")
    failed = SuiteResult(ext.name, default_build.id, "regress", "fail", output="--inputdir=./",
                         tests=[(name, "fail"), ("plain", "fail")])
    found, notes = accept.candidates(settings, ext, [failed])
    assert [c.test for c in found] == ["plain"]
    assert notes == [f"regress on {default_build.id}: {name!r} is not a test's name: nothing written for it"]
    accept.offer(ext, found, "all")
    assert (ext_dir / "expected" / "plain.out").read_text() == "what a test printed\n"
    assert not outside.exists()
    shutil.rmtree(builddir, ignore_errors=True)

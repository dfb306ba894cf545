"""Four commands three labs show, run as the labs show them, in the situation each lab puts the
learner in (the lab's earlier steps done, on a working area of the test's own):

- `invoke debug --break lab_pair_cmp --sql "..."` (labs/18-type-and-operator.md) and `invoke debug
  --bgworker lab_worker` (labs/15-2-background-worker.md), typed in a terminal (tmux) and read on
  its panes, as test_debug drives them;
- `invoke ext-install ./pg_source/dist/lab_udf-1.0.0.zip --check` and `invoke ext-release lab_udf`
  (labs/20-publish.md), with what they print.

What is asserted is what the learner sees: the lines the lab tells them to look for."""

import hashlib
import re
import shlex
import subprocess
import sys
import time
import zipfile

import psycopg

from pglab import lab as lab_mod
from tests.conftest import invoke
from tests.integration import test_debug, test_lab, test_lab_starters
from tests.integration.test_debug import assert_healthy, backend_pid
from tests.integration.test_lab import run_as_shown, typed
from tests.integration.test_lab_starters import solve

pytestmark = test_debug.pytestmark       # gdb and tmux installed
area = test_lab.area                     # (settings, env, the main cluster) of a working area of the test's own
tmux = test_debug.tmux                   # a tmux server of the test's own
lab_pair = test_lab_starters.lab_pair    # extensions/lab_pair (and the others), a learner's, cleared after
lab_worker = test_lab_starters.lab_worker
lab_udf = test_lab_starters.lab_udf


def shown(lab, start):
    """(index, command): the one command LAB shows that starts with START."""
    [(i, command)] = [(i, c) for i, c in enumerate(lab.commands) if c.startswith(start)]
    return i, command


def in_terminal(env, settings, command):
    """COMMAND as the learner types it in the terminal tmux runs: .venv's invoke, the test's working area."""
    return (f"INVOKE_PGLAB_ROOT={shlex.quote(env['INVOKE_PGLAB_ROOT'])} {shlex.quote(sys.executable)} -m "
            f"{shlex.join(typed(settings, command))}")


def query(cl, statement, *args):
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        return c.execute(statement, args).fetchall()


def wait_for_rows(cl, statement, *args, timeout=60.0):
    """The rows of STATEMENT once there are any."""
    deadline = time.monotonic() + timeout
    while not (rows := query(cl, statement, *args)):
        assert time.monotonic() < deadline, f"{statement} {args}: no row after {timeout:.0f} s"
        time.sleep(0.2)
    return rows


# ---- week 18: `invoke debug --break lab_pair_cmp --sql "..."` ------------------------------------

COUNTED = r"\n count\n-------\n   899\n\(1 row\)\n"      # (2,2)..(9,999), and (1,11)..(1,991), are above (1,3)


def test_type_lab_debug_stops_in_lab_pair_cmp_under_bt_compare_then_psql_answers(area, lab_pair, tmux):
    """The lab's table and index made by its commands; its debug command typed as shown: gdb stops in
    lab_pair_cmp called by _bt_compare (what the lab says to look for), `continue` until psql answers,
    and quitting gdb leaves the backend running, with no gdb on it."""
    settings, env, cl = area
    lab = lab_mod.find("type")
    i, command = shown(lab, "invoke debug --break lab_pair_cmp ")
    run_as_shown(env, settings, lab.commands[:i])      # lab type --start, ext-test lab_pair, the table and its index
    tmux.start(in_terminal(env, settings, command))
    psql, gdb = tmux.wait_panes(2)
    screen, _ = tmux.wait_for(psql, r"pglab: running: SET enable_seqscan = off; SELECT count\(\*\) FROM lab_pairs "
                                    r"WHERE p > '\(1,3\)'\n")
    pid = backend_pid(screen)
    first = tmux.wait_first((gdb, r"Breakpoint 1, lab_pair_cmp \(", 0), (psql, COUNTED, 0))
    assert first == 0, ("the lab's query answered in psql and gdb never stopped in lab_pair_cmp:\n"
                        f"{tmux.screen(psql)[-600:]}\n---- gdb ----\n{tmux.screen(gdb)[-1500:]}")
    mark = len(tmux.screen(gdb))
    tmux.type(gdb, "bt")
    tmux.wait_for(gdb, r"\n#\d+ +0x[0-9a-f]+ in _bt_compare \(", after=mark)
    for _ in range(200):                               # the lab: `continue` until psql answers
        mark = len(tmux.screen(gdb))
        tmux.type(gdb, "continue")
        if tmux.wait_first((psql, COUNTED, 0), (gdb, r"Breakpoint 1, lab_pair_cmp \(", mark)) == 0:
            break
    else:
        tmux.wait_for(psql, COUNTED, timeout=0)        # fails with the pane
    mark = len(tmux.screen(gdb))
    tmux.key(gdb, "C-c")                               # the backend idles: Ctrl-C gives gdb's prompt
    tmux.wait_for(gdb, r"Program received signal SIGINT", after=mark)
    tmux.type(gdb, "quit")
    tmux.wait_panes(1)
    assert_healthy(cl, pid)


# ---- week 15: `invoke debug --bgworker lab_worker` -----------------------------------------------

def test_bgworker_lab_debug_attaches_to_the_worker_waiting_in_waitlatch_and_quit_leaves_it_running(
        area, lab_worker, tmux):
    """The starter built and installed, preloaded, the cluster restarted, as the lab's commands do; its
    debug command typed as shown attaches gdb to the process pg_stat_activity names lab_worker; `bt`
    shows its loop waiting in WaitLatch; `quit` detaches, and the same worker goes on with its rounds."""
    settings, env, cl = area
    lab = lab_mod.find("bgworker")
    i, command = shown(lab, "invoke debug --bgworker lab_worker")
    run_as_shown(env, settings, lab.commands[:i])      # --start, ext-test, ALTER SYSTEM, pg-stop, pg-start
    [(pid,)] = wait_for_rows(cl, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'lab_worker'")
    tmux.start(in_terminal(env, settings, command))
    [pane] = tmux.wait_panes(1)
    tmux.wait_for(pane, rf"Attaching to program: \S+/postgres, process {pid}\n")
    tmux.wait_for(pane, r"pglab: attached; the breakpoints are set\. The process runs until one is hit \(Ctrl-C "
                        r"stops it here; quit detaches\)\.")
    mark = len(tmux.screen(pane))
    tmux.key(pane, "C-c")
    tmux.wait_for(pane, r"Program received signal SIGINT[\s\S]*\(gdb\)$", after=mark)
    mark = len(tmux.screen(pane))
    tmux.type(pane, "bt")
    screen, m = tmux.wait_for(pane, r"\n#(\d+) +0x[0-9a-f]+ in lab_worker_main \(main_arg=0\) at lab_worker\.c:\d+\n",
                              after=mark)
    assert re.search(rf"\n#{int(m.group(1)) - 1} +0x[0-9a-f]+ in WaitLatch \(", screen[mark:]), screen[mark:]
    tmux.type(pane, "quit")
    assert_healthy(cl, pid)                            # no gdb on it, not stopped, the server answers
    [(since,)] = query(cl, "SELECT clock_timestamp()")
    assert wait_for_rows(cl, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'lab_worker' "
                             "AND state_change > %s", since, timeout=10) == [(pid,)]   # a round since: it runs


# ---- week 20: `invoke ext-install ./pg_source/dist/lab_udf-1.0.0.zip --check`, `invoke ext-release lab_udf`

def git_out(folder, *args):
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


def from_first_phase(stdout):
    """What ext-install printed from its first phase on.  Before it, as root, only the lines that let the
    servers' account reach the zip's copy through the test's temporary folders (made 0700 by pytest)."""
    lines = stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("▸ "))
    assert all(line.startswith("  · let the account ") for line in lines[:first]), stdout
    return "\n".join(lines[first:])


def install_said(zipped, build, created):
    """The pattern of what `ext-install ZIP --check` prints: installed, created (CREATED), checked."""
    z, b = re.escape(str(zipped)), re.escape(build)
    return "\n".join([rf"▸ pgxn install {z} into {b}",
                      rf"  ✓ pgxn install {z} into {b} done in \d+\.\d s",
                      re.escape(created),
                      rf"▸ pgxn check {z} on {b}",
                      rf"  ✓ pgxn check {z} on {b} done in \d+\.\d s \(1 passed, 0 failed\)",
                      rf"pgxn check passed on {b}: 1 test\(s\) \(lab_udf\)",
                      rf"open psql on it: invoke psql --version {b}"])


def test_publish_lab_installs_and_checks_the_zip_then_releases_the_committed_extension_as_a_dry_run(
        area, lab_udf, default_build, tmp_path):
    """Week 15's lab_udf done; the publish lab's commands as shown, in its order: META.json, the zip in
    the working area's dist/ (the lab's ./pg_source/dist/), installed, created and checked by
    ext-install --check; the extension committed in a git repository of its own, as the lab says, and
    ext-release bundling that commit into the same path and saying what it would send, sending nothing;
    the released zip installed and checked as a user would."""
    settings, env, cl = area
    run_as_shown(env, settings, ["invoke lab c-udf --start"])
    solve("c-udf", lab_udf)                             # the week-15 lab done
    lab = lab_mod.find("publish")
    i, install = shown(lab, "invoke ext-install ./pg_source/dist/lab_udf-1.0.0.zip --check")
    r, release = shown(lab, "invoke ext-release lab_udf")
    assert i < r
    run_as_shown(env, settings, lab.commands[:i])       # ext-meta, ext-meta --check, ext-bundle --allow-dirty
    zipped = settings.layout.dist / "lab_udf-1.0.0.zip"      # the working area's dist/, ext-bundle's
    assert typed(settings, install)[2] == str(zipped)        # the lab's ./pg_source/dist/lab_udf-1.0.0.zip
    assert zipped.is_file()
    build = default_build.id

    installed = invoke(*typed(settings, install)[1:], env=env)
    assert (installed.returncode, installed.stderr) == (0, ""), installed.stdout + installed.stderr
    assert re.fullmatch(install_said(zipped, build, f"created lab_udf in database postgres on cluster main of {build}"),
                        from_first_phase(installed.stdout)), installed.stdout
    assert query(cl, "SELECT extversion FROM pg_extension WHERE extname = 'lab_udf'") == [("1.0",)]

    run_as_shown(env, settings, lab.commands[i + 1:r])  # (none today)
    for git in (["init", "-q"], ["add", "-A"], ["-c", "user.name=Learner", "-c", "user.email=learner@example.org",
                                                "commit", "-q", "-m", "lab_udf 1.0.0"]):   # as the lab says
        subprocess.run(["git", *git], cwd=lab_udf, check=True, capture_output=True)
    head = git_out(lab_udf, "rev-parse", "--short", "HEAD").strip()
    committed = sorted(f"lab_udf-1.0.0/{f}" for f in git_out(lab_udf, "ls-files").split())
    # a learner without a PGXN account, as the lab's lab_udf is to stay unreleased: no PGXN_* nor ~/.netrc
    no_account = {**env, "PGXN_USER": "", "PGXN_PASSWORD": "", "PGXN_UPLOAD_URL": "", "HOME": str(tmp_path)}
    released = invoke(*typed(settings, release)[1:], env=no_account)
    assert (released.returncode, released.stderr) == (0, ""), released.stdout + released.stderr
    with zipfile.ZipFile(zipped) as z:
        assert sorted(n for n in z.namelist() if not n.endswith("/")) == committed
    assert released.stdout.splitlines() == [
        f"bundled lab_udf 1.0.0: {zipped} (from git archive of HEAD {head})",
        "would send to PGXN Manager (dry run, nothing sent):",
        "  url:    https://manager.pgxn.org/upload",
        "  user:   not set: export PGXN_USER and PGXN_PASSWORD",
        "  file:   lab_udf-1.0.0.zip",
        f"  size:   {zipped.stat().st_size} bytes",
        f"  sha256: {hashlib.sha256(zipped.read_bytes()).hexdigest()}",
        "to release it: invoke ext-release lab_udf --upload"]

    again = invoke(*typed(settings, install)[1:], env=env)          # the released zip, as a user gets it
    assert (again.returncode, again.stderr) == (0, ""), again.stdout + again.stderr
    assert re.fullmatch(install_said(zipped, build, f"lab_udf already created in database postgres on cluster main "
                                                    f"of {build}: left as it is (ALTER EXTENSION ... UPDATE moves it "
                                                    f"to the installed version)"),
                        from_first_phase(again.stdout)), again.stdout


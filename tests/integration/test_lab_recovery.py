"""The crash-recovery lab (week 12) as a learner works it: its commands as shown (a checkpoint, its
redo point read from pg_control, rows inserted, `pg-stop --immediate`, `pg-start`, `pg-log`), the
log's redo range and the page's LSN checked, the learner's redo point compared with where the log
says redo started; then what the checks refuse: a checkpoint between the change and the crash, and
a clean stop.  pg-log and pg-stop --immediate's bad input.  On a working area of the test's own."""

import re

import psycopg
import pytest

from pglab import lab as lab_mod
from pglab.cluster import Cluster
from pglab.errors import PglabError
from pglab.pg.builds import find_build
from tests.conftest import invoke
from tests.integration.test_lab import area, as_read, check, sql, typed  # noqa: F401  (area: the fixture)

LSN = r"[0-9A-F]+/[0-9A-F]+"


def lsn(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def _run(env, settings, command):
    """One command as the lab shows it: its stdout."""
    words = typed(settings, command)
    assert words[0] == "invoke", command
    done = invoke(*words[1:], env=env)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(params=["default", "18"])
def learner(request, area, settings):
    """(settings, env, cluster, build id) of a learner whose default build is the suite's default, or 18
    (INVOKE_PGLAB_VERSION, as a learner sets it): 18's initdb turns data checksums on."""
    area_settings, env, cl = area
    if request.param == "default":
        yield area_settings, env, cl, cl.build.id
        return
    try:
        build = find_build(settings, request.param)
    except PglabError:
        pytest.skip(f"no build of {request.param} here")
    other = Cluster.named(area_settings, build, "main")
    yield area_settings, {**env, "INVOKE_PGLAB_VERSION": request.param}, other, build.id
    other.stop()


def test_the_recovery_lab_from_its_commands_to_the_redo_point_the_learner_read(learner):
    settings, env, cl, pg = learner
    lab = lab_mod.find("recovery")
    assert [c.id for c in lab.checks] == ["crash-recovery", "replayed", "redo-start"]
    # the wrong answer below, the checkpoint record's own LSN, differs from the redo point from 17 on
    # (a CHECKPOINT_REDO record is written at the redo point, before the checkpoint's record)
    assert cl.build.major >= 17
    cl.start()
    status, marks, _ = check(env, "recovery")
    assert (status, marks) == (1, ["✗", "✗", "✗"])
    [clean] = lab_mod.check(settings, lab, pg=pg, only={"crash-recovery"})
    assert clean.detail == (f"the server's last start in {cl.log} replayed no WAL (it had been shut down cleanly): "
                            f"`invoke pg-stop --immediate` stops it as a crash would, then `invoke pg-start`")

    shown = {c: _run(env, settings, c) for c in lab.commands}
    [redo, checkpoint] = re.search(rf"\n +({LSN}) \| ({LSN})\n", shown[lab.commands[1]]).groups()
    assert shown[lab.commands[3]].startswith(f"stopped at once, as in a crash: <Cluster {cl.build.id} ")
    log = shown[lab.commands[5]]
    assert len(log.splitlines()) == 12
    assert re.search(r"LOG:  database system was not properly shut down; automatic recovery in progress\n", log)
    assert f"LOG:  redo starts at {redo}\n" in log
    done = re.search(rf"LOG:  redo done at ({LSN})", log).group(1)
    assert re.search(r"\n +500\n\(1 row\)", shown[lab.commands[6]])          # the rows came back
    page = lsn(re.search(rf"lsn ({LSN}) ", shown[lab.commands[7]]).group(1))
    with psycopg.connect(cl.conninfo(), autocommit=True) as c:
        checksums = c.execute("SHOW data_checksums").fetchone()[0]
    if checksums == "on":    # the count's hint bits logged the page again (FPI_FOR_HINT), after the replay
        assert page > lsn(done)
    else:
        assert lsn(redo) < page <= lsn(done)
    assert (cl.build.major >= 18) == (checksums == "on")

    status, marks, last = check(env, "recovery")
    assert (status, marks) == (1, ["✓", "✓", "✗"])
    assert last == f"next: {as_read(settings, lab.checks[2].hints[0])} (hint 1 of 2)"
    results = {r.check.id: r.detail
               for r in lab_mod.check(settings, lab, pg=pg, only={"crash-recovery", "replayed"})}
    assert results["crash-recovery"] == f"redo from {redo}; the last record replayed at {done}"
    # one record per row on block 0, the first of them making the page (INSERT+INIT)
    assert re.fullmatch(rf"\d+ record\(s\) of lab_redo's block 0 replayed from {redo} "
                        rf"\(Heap INSERT, Heap INSERT\+INIT\)", results["replayed"]), results["replayed"]
    answers = settings.layout.lab_work / "recovery.answers"
    answers.parent.mkdir(parents=True, exist_ok=True)
    answers.write_text(f"redo-start: {checkpoint}\n")
    [wrong] = lab_mod.check(settings, lab, pg=pg, only={"redo-start"})
    assert (wrong.ok, wrong.detail) == (
        False, f"your redo-start, {checkpoint}, is not what the server log shows: look again")
    answers.write_text(f"# read before the crash\nredo-start: {redo}\n")
    assert check(env, "recovery") == (0, ["✓"] * 3, "lab recovery done: every check passed")

    # a checkpoint between the change and the crash: the page is on disk, nothing of it replayed
    sql(cl, "INSERT INTO lab_redo VALUES (501, 'after')", "CHECKPOINT")
    for step in (["pg-stop", "--immediate"], ["pg-start"]):
        assert invoke(*step, env=env).returncode == 0
    [late] = lab_mod.check(settings, lab, pg=pg, only={"replayed"})
    start = re.search(rf"redo starts at ({LSN})", cl.log_since(0).rsplit("starting PostgreSQL", 1)[1]).group(1)
    assert late.ok is False
    assert re.fullmatch(rf"no record of lab_redo's block 0 in the WAL the last recovery replayed "
                        rf"\({start} to {LSN}\): change it after a CHECKPOINT, then crash the server before the "
                        rf"next one", late.detail), late.detail

    # a clean stop and start: no recovery at all
    for step in (["pg-stop"], ["pg-start"]):
        assert invoke(*step, env=env).returncode == 0
    status, marks, _ = check(env, "recovery")
    assert (status, marks) == (1, ["✗", "✗", "✗"])


def test_pg_log_and_an_immediate_stop_refuse_what_they_cannot_do(area):
    settings, env, cl = area
    never = invoke("pg-log", env=env)
    assert (never.returncode, never.stderr.strip()) == (
        1, f"error: {cl!r} has no server log yet: `invoke pg-start` starts it")
    both = invoke("pg-stop", "--immediate", "--all", env=env)
    assert (both.returncode, both.stderr.strip()) == (
        1, "error: --immediate stops one cluster (--version, --name), not --all")
    for lines in ("0", "-3", "many"):
        done = invoke("pg-log", "--lines", lines, env=env)
        assert (done.returncode, done.stderr.strip()) == (
            1, f"error: --lines takes a whole number of lines above 0, not {lines!r}")
    cl.start()
    whole = invoke("pg-log", "--all", env=env)
    assert whole.returncode == 0
    assert whole.stdout == cl.log_since(0).rstrip("\n") + "\n"
    assert re.search(r"LOG:  database system is ready to accept connections\n$", whole.stdout)


def test_an_immediate_stop_of_a_server_that_is_not_running_says_so(area):
    settings, env, cl = area
    done = invoke("pg-stop", "--immediate", env=env)
    assert (done.returncode, done.stdout, done.stderr.strip()) == (
        1, "", f"error: {cl!r} is not running: nothing to stop (`invoke pg-start` starts it)")

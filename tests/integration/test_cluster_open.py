"""Cluster.open: the build's named cluster, started, with one policy per kind of command.

Commands that start or use a server (pg-start, psql, trace, debug, ext-install) make an absent
cluster (create=True); commands that look at what the learner made (inspect, lab checks) refuse
it in one line naming the exact command that makes it, --version for a build other than the
default and --name for a cluster other than main, and leave nothing on disk (create=False).
Real builds from the shared cache, real clusters, in a working area of each test's own."""

import os

import pytest

from pglab.cluster import Cluster, State
from pglab.config import Settings
from pglab.errors import ClusterError
from pglab.pg.builds import list_builds

from ..conftest import invoke


@pytest.fixture
def area(tmp_path, monkeypatch):
    """(settings of a working area of the test's own, its folder, env for invoke); `invoke` is the
    front door the messages name (what the tests' invoke runs)."""
    monkeypatch.delenv("PGLAB_VIA", raising=False)
    root = tmp_path / "area"
    return Settings.load(root=root), root, {"INVOKE_PGLAB_ROOT": str(root)}


@pytest.fixture
def other_build(settings, default_build):
    """A plain build of the cache that is not the default one (15's when there is one)."""
    others = [b for b in list_builds(settings) if b.plain and b.id != default_build.id]
    if not others:
        pytest.skip("one build only: no build other than the default to name with --version")
    return next((b for b in others if b.major == 15), others[0])


def _found(out):
    """A lab check table's `found` column, by item (a long cell's wrapped lines joined again)."""
    found, item = {}, None
    for row in (line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")):
        if row[1].strip():
            item = row[1].strip()
            found[item] = row[3].strip()
        else:
            found[item] += " " + row[3].strip()
    return found


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*")) if folder.exists() else []


def test_the_creating_policy_makes_an_absent_cluster_and_starts_it(area, default_build):
    settings, root, _ = area
    assert Cluster.named(settings, default_build, "made").state() is State.ABSENT
    cl = Cluster.open(settings, default_build, "made", create=True)
    try:
        assert cl.base == settings.layout.cluster(default_build.id, "made")
        assert cl.initialized and cl.state() is State.RUNNING and cl.remark is None
        with cl.connect() as conn:
            assert conn.execute("select current_setting('server_version')").fetchone() == (str(default_build.release),)
        pid = cl.pid()
        again = Cluster.open(settings, default_build, "made", create=True)     # running: left as it is
        assert (again.pid(), again.remark, again.state()) == (pid, None, State.RUNNING)
        seen = Cluster.open(settings, default_build, "made", create=False)     # present: looked at
        assert seen.pid() == pid
        cl.stop()
        restarted = Cluster.open(settings, default_build, "made", create=False)   # stopped: started again
        assert restarted.state() is State.RUNNING and restarted.pid() != pid
    finally:
        cl.stop()


@pytest.mark.parametrize("name", ["main", "lab1"])
@pytest.mark.parametrize("which", ["default", "other"])
def test_the_refusing_policy_names_the_exact_command_and_makes_nothing(area, default_build, which, name, request):
    settings, root, _ = area
    build = default_build if which == "default" else request.getfixturevalue("other_build")
    before = _files(root)
    with pytest.raises(ClusterError) as refused:
        Cluster.open(settings, build, name, create=False)
    flags = ("" if which == "default" else f" --version {build.id}") + ("" if name == "main" else f" --name {name}")
    assert str(refused.value) == f"no cluster {name!r} on {build.id} yet: `invoke pg-start{flags}` creates it"
    assert _files(root) == before and not settings.layout.clusters.exists()


def test_the_refusal_says_the_front_door_the_user_runs(area, default_build, monkeypatch):
    settings, _, _ = area
    monkeypatch.setenv("PGLAB_VIA", "./lab")
    with pytest.raises(ClusterError, match=r"^no cluster 'x' on \S+ yet: `\./lab pg-start --name x` creates it$"):
        Cluster.open(settings, default_build, "x", create=False)


def test_inspect_and_lab_checks_refuse_and_the_command_they_name_makes_the_cluster(area, other_build):
    """Through the front door on a build that is not the default: both refuse in the same line, the
    line's command makes that very cluster, and then inspect finds it."""
    settings, root, env = area
    line = f"no cluster 'lab1' on {other_build.id} yet: `invoke pg-start --version {other_build.id} --name lab1` " \
           f"creates it"
    seen = invoke("inspect", "pg_class", "--pg", other_build.id, "--name", "lab1", env=env)
    assert (seen.returncode, seen.stderr.strip()) == (1, f"error: {line}"), seen.stdout
    checked = invoke("lab", "week-1", "--check", "--pg", other_build.id, "--cluster", "lab1", env=env)
    assert checked.returncode == 1 and set(_found(checked.stdout).values()) == {line}, checked.stdout + checked.stderr
    assert not settings.layout.clusters.exists()

    command = line.split("`")[1].split()[1:]
    cl = Cluster.named(settings, other_build, "lab1")
    try:
        made = invoke(*command, env=env)
        assert made.returncode == 0, made.stderr
        assert cl.state() is State.RUNNING
        seen = invoke("inspect", "pg_class", "--pg", other_build.id, "--name", "lab1", env=env)
        assert seen.returncode == 0, seen.stderr
    finally:
        cl.stop()


def test_psql_makes_an_absent_cluster_on_the_build_it_is_given(area, other_build):
    settings, _, env = area
    cl = Cluster.named(settings, other_build, "fresh")
    try:
        done = invoke("psql", "--version", other_build.id, "--name", "fresh", "-c", "select 'up ' || version()",
                      env=env)
        assert done.returncode == 0, done.stderr
        assert f"up PostgreSQL {other_build.release}" in done.stdout
        assert cl.state() is State.RUNNING
    finally:
        cl.stop()
    assert os.path.isfile(cl.datadir / "PG_VERSION")

"""The privilege boundary (docs/security.md), tried the way a hostile extension, another
local user and a killed pglab would try it.  As root only: the boundary is root's."""

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pglab import accounts
from pglab.cluster import Cluster
from pglab.config import Settings
from pglab.ext import prestart, runner
from pglab.ext.discover import at_path
from pglab.procs import alive, processes_in

from ..conftest import invoke

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "extensions" / "hostile"
PROBE = Path("/tmp/pglab-test-hostile")      # where the hostile extension records what it did
OTHER_USER = "pglab-learner"                 # another local user (test_fresh_machine's learner)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the boundary is root's: run as root")

ATTACK = """set -u
data=$(cat)
log={probe}/attack.log
for base in "$(dirname "$data")" {named}; do
  for f in server.log port pglab.conf password; do
    if ln -sf {canary} "$base/$f" 2>/dev/null; then echo "planted $base/$f"; else echo "refused $base/$f"; fi >> "$log"
  done
done
if printf '\\n_pwned := $(shell echo pwned > {canary})\\n' >> {makefile} 2>/dev/null; then
  echo "edited the build copy's Makefile" >> "$log"
fi
"""


def _area_env(area):
    return {"INVOKE_PGLAB_ROOT": str(area)}


def _who(name):
    path = PROBE / f"{name}.who"
    return path.read_text().split() if path.exists() else []


def _folder(prefix):
    """A folder the account can reach, outside pytest's own (pytest makes that 0700 again
    whenever a test session starts, and the servers here run as the account)."""
    path = Path(tempfile.mkdtemp(prefix=f"pglab-test-{prefix}-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def area():
    path = _folder("boundary")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_area():
    path = _folder("boundary")
    yield path
    invoke("pg-stop", "--all", env=_area_env(path))
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def hostile_runs(area, tmp_path_factory, default_build):
    """ext-test of the hostile extension, twice, after a named cluster was made; then that
    cluster started again.  What each step printed, and where the canary is."""
    shutil.rmtree(PROBE, ignore_errors=True)
    PROBE.mkdir()
    PROBE.chmod(0o1777)
    canary_dir = tmp_path_factory.mktemp("canary")
    canary = canary_dir / "canary"
    canary.write_text("root's own file\n")
    canary.chmod(0o644)
    env = _area_env(area)
    settings = Settings.load(root=area)
    started = invoke("pg-start", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert invoke("pg-stop", env=env).returncode == 0
    named = settings.layout.cluster(default_build.id, "main")
    builddir, _tag = runner.build_copy(settings, at_path(FIXTURE), default_build)
    (PROBE / "attack.sh").write_text(ATTACK.format(probe=PROBE, named=named, canary=canary,
                                                   makefile=builddir / "src" / "Makefile"))
    runs = [invoke("ext-test", str(FIXTURE), env=env, timeout=900) for _ in range(2)]
    started = invoke("pg-start", env=env)
    yield {"runs": runs, "started": started, "canary": canary, "named": named}
    invoke("pg-stop", "--all", env=env)
    shutil.rmtree(PROBE, ignore_errors=True)


def test_code_under_test_cannot_steer_what_root_writes(hostile_runs, area):
    for run in hostile_runs["runs"]:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert "all 5 suites passed" in run.stdout
    assert hostile_runs["started"].returncode == 0, hostile_runs["started"].stderr
    log = (PROBE / "attack.log").read_text().splitlines()
    named = hostile_runs["named"]
    refused = [line for line in log if line.startswith("refused ")]
    # every link, in the warm server's folder and in the named cluster's, on each of the two runs
    assert len(refused) == 16 and not [line for line in log if line.startswith("planted ")], log
    assert sum(line.startswith(f"refused {named}/") for line in refused) == 8
    assert log.count("edited the build copy's Makefile") == 2     # its own copy: allowed, and run only as itself
    canary = hostile_runs["canary"]
    assert canary.read_text() == "root's own file\n"
    st = canary.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644)
    for name in ("port", "pglab.conf", "password"):
        st = os.lstat(named / name)
        assert stat.S_ISREG(st.st_mode) and st.st_uid == 0, name
    log_st = os.lstat(named / "server.log")
    assert stat.S_ISREG(log_st.st_mode) and log_st.st_uid == pwd.getpwnam("pglab").pw_uid


def test_code_under_test_runs_as_pglabs_account_only(hostile_runs):
    """make (every time it reads the Makefile), the regression test's SQL, the TAP test and
    the pytest test: all as pglab's account, on a machine that has a `postgres` account."""
    assert pwd.getpwnam("postgres")            # the packaged PostgreSQL's account is there
    for name in ("make", "regress", "tap", "pytest"):
        who = _who(name)
        assert who and set(who) == {"pglab"}, (name, who)
    assert pwd.getpwnam("pglab").pw_gecos == accounts.MARK


# ---- another local user ----------------------------------------------------------------------

SQUATTER = """
import json, os, socket, sys
folder, path, count = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(folder, mode=0o700, exist_ok=True)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
s.listen(4)
print("listening", flush=True)
n = 0
while True:
    conn, _ = s.accept()
    n += 1
    open(count, "w").write(str(n))
    conn.sendall(b"ready")
    conn.recv(1 << 20)
    conn.sendall(json.dumps({"pid": 1}).encode())
"""


def _other_user():
    try:
        return pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", OTHER_USER], check=True)
        return pwd.getpwnam(OTHER_USER)


def _as_other(argv, **kw):
    user = _other_user()
    return dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/", **kw), argv


def test_another_user_cannot_answer_for_the_pre_started_pytest(own_area, tmp_path, default_build):
    area = own_area
    env = _area_env(area)
    settings = Settings.load(root=area)
    account = accounts.ensure("")
    path = prestart.socket_path(settings, account.uid)
    shutil.rmtree(path.parent, ignore_errors=True)
    counted = tmp_path / "connections"
    tmp_path.chmod(0o777)
    kw, argv = _as_other([sys.executable, "-c", SQUATTER, str(path.parent), str(path), str(counted)])
    squatter = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **kw)
    try:
        assert squatter.stdout.readline() == "listening\n"
        warning = (f"! {path.parent} is not a private folder of pglab's: pytest starts without the pre-started "
                   f"interpreter (remove the folder to have it back)")
        for _ in range(2):       # the second run would find a pre-started interpreter, were it pglab's
            done = invoke("ext-test", "pgl_funcs", "--suite", "pytest", env=env)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr
            assert warning in done.stdout.splitlines()
            assert "│ pytest " in done.stdout and "│ 10/10 " in done.stdout
        assert not counted.exists()          # nobody ever connected to it
    finally:
        squatter.kill()
        squatter.wait()
        shutil.rmtree(path.parent, ignore_errors=True)
    # with the folder pglab's own (made by the pre-started interpreter), nobody else can bind in it
    assert invoke("ext-test", "pgl_funcs", "--suite", "pytest", env=env).returncode == 0
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    st = os.lstat(path.parent)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (account.uid, 0o700)
    kw, argv = _as_other([sys.executable, "-c", f"import socket; socket.socket(socket.AF_UNIX).bind({str(path)!r} "
                                                f"+ '2')"])
    tried = subprocess.run(argv, capture_output=True, text=True, **kw)
    assert tried.returncode == 1 and tried.stderr.strip().endswith("PermissionError: [Errno 13] Permission denied")
    prestart.stop(settings)


# ---- processes ---------------------------------------------------------------------------------

def test_pg_stop_leaves_other_processes_in_the_data_folder_alone(own_area, default_build):
    env = _area_env(own_area)
    assert invoke("pg-start", env=env).returncode == 0
    data = Settings.load(root=own_area).layout.cluster(default_build.id, "main") / "data"
    shell = subprocess.Popen(["sleep", "300"], cwd=data)       # a user's shell, looking around in there
    try:
        done = invoke("pg-stop", env=env)
        assert done.returncode == 0, done.stderr
        assert shell.poll() is None and processes_in(data) == [shell.pid]
    finally:
        shell.kill()
        shell.wait()


KILLED_PGLAB = """
import sys, time
from pglab.cluster import Cluster
from pglab.config import Settings
from pglab.pg.builds import find_build
settings = Settings.load()
cluster = Cluster.throwaway(settings, find_build(settings, None), template=True)
cluster.init(); cluster.start()
print(cluster.pid(), flush=True)
time.sleep(600)
"""


def _killed_pglab(env):
    """A pglab process that started a throwaway server and was killed (SIGKILL): the server's pid."""
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PGLAB], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    line = proc.stdout.readline()
    while line.startswith("  · "):      # pglab's remarks (a folder made reachable)
        line = proc.stdout.readline()
    pid = int(line)
    proc.kill()
    proc.wait()
    assert alive(pid)
    return pid


def test_servers_of_a_killed_pglab_are_stopped(own_area, default_build):
    env = _area_env(own_area)
    settings = Settings.load(root=own_area)
    orphan = _killed_pglab(env)
    done = invoke("pg-stop", "--all", env=env)
    assert (done.returncode, done.stdout.strip()) == (0, "stopped 1 server(s)"), done.stdout + done.stderr
    assert not alive(orphan) and list(settings.layout.throwaways.iterdir()) == []
    # build-pg's and pg-clean's "in use" check stops them too, and then finds the build free
    from pglab.servers import running_on

    orphan = _killed_pglab(env)
    assert running_on(settings, default_build) == []
    assert not alive(orphan)


def test_a_running_pglabs_throwaway_server_still_counts_as_in_use(own_area, default_build):
    from pglab.servers import running_on

    settings = Settings.load(root=own_area)
    with Cluster.throwaway(settings, default_build, template=True) as cl:
        assert running_on(settings, default_build) == [f"throwaway {cl.base.name}"]

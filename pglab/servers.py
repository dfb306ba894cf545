"""Every pglab server on the machine: named clusters, throwaway clusters and
ext-test's warm servers — listing them (pg-status), stopping them (pg-stop
--all), telling whether a build is in use, and the test runs' janitor.
Starting and stopping one server is pglab.cluster's business.

ext-test's warm servers are bounded: at most `warm_servers` stay warm (the least
recently used is stopped first when another would be one too many), and one
unused for `warm_idle_minutes` stops by itself: a small watcher process, running
as the servers' account (`python -m pglab.servers`), stops it and exits once none
is left running.  pg-status says why each one is kept.

A throwaway cluster belongs to the pglab process that made it (its `owner` file:
pid and start time).  When that process died without cleaning up (SIGKILL, a
power cut), its server is an orphan: pg-stop --all and the "is this build in
use" check of build-pg and pg-clean stop it instead of counting it.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import accounts, boundary, locks
from .cluster import Cluster, State, owner_alive, warm_lock
from .errors import BuildInUse
from .procs import processes_in, reap_all, server_processes, start_time



def orphans(settings):
    """Folders of throwaway clusters whose pglab process is gone."""
    root = settings.layout.throwaways
    return [base for base in (sorted(root.iterdir()) if root.is_dir() else ())
            if base.is_dir() and not owner_alive(base)]


def stop_orphans(settings, build_id=None):
    """Stop and delete the throwaway clusters of pglab processes that are gone (of one build);
    returns how many servers ran."""
    from .pg.builds import load_build

    stopped = 0
    for base in orphans(settings):
        bid = base.name.rsplit("-", 1)[0]      # mkdtemp's BUILD-XXXXXXXX
        if build_id is not None and bid != build_id:
            continue
        build = load_build(settings, bid)
        running = bool(processes_in(base / "data"))
        if build is not None:
            Cluster(build, base, preferred_account=settings.account, throwaway=True).destroy()
        else:
            reap_all(base)
            shutil.rmtree(base, ignore_errors=True)
        stopped += running
    return stopped


def reap_orphans(settings):
    """Kill the servers of throwaway clusters whose owner is gone (or is us):
    the janitor for test runs, which leaves other runs' clusters alone.
    Returns the PIDs it had to kill."""
    killed = []
    root = settings.layout.throwaways
    for base in root.iterdir() if root.is_dir() else ():
        if not owner_alive(base, us_too=False):
            killed += reap_all(base)
    return killed


def clusters(settings):
    """Every named cluster under the working area: [(build_id, name, base)]."""
    found = []
    root = settings.layout.clusters
    if root.is_dir():
        for build_dir in sorted(root.iterdir()):
            if build_dir.name.startswith(".") or not build_dir.is_dir():
                continue
            for base in sorted(build_dir.iterdir()):
                if (base / "data").is_dir():
                    found.append((build_dir.name, base.name, base))
    return found


def running_on(settings, build):
    """Names of this build's clusters whose server runs now (named and throwaway)."""
    names = [name for bid, name, base in clusters(settings)
             if bid == build.id and Cluster(build, base, preferred_account=settings.account).state() is State.RUNNING]
    stop_orphans(settings, build.id)     # a killed pglab's: nobody else will stop them
    tmp = settings.layout.throwaways
    if tmp.is_dir():
        for base in tmp.glob(f"{build.id}-*"):
            if processes_in(base / "data"):
                names.append(f"throwaway {base.name}")
    return names


def warm_servers(settings):
    """[(build_id, tag, base)] of the servers ext-test keeps warm between runs."""
    root = settings.layout.warm_servers
    found = []
    if root.is_dir():
        for build_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for base in sorted(p for p in build_dir.iterdir() if p.is_dir() and not p.name.endswith(".lock")):
                found.append((build_dir.name, base.name, base))
    return found


def stop_warm(settings, build_id=None):
    """Stop and delete ext-test's warm servers (of one build); returns how many ran.

    They are pglab's own, so replacing or removing a build stops them freely."""
    from .pg.builds import load_build

    stopped = 0
    for bid, _tag, base in warm_servers(settings):
        if build_id is not None and bid != build_id:
            continue
        with locks.if_free(warm_lock(base)) as free:
            if not free:
                continue    # an ext-test run is using it; it decides itself whether to keep it
            build = load_build(settings, bid)
            if build is None:
                shutil.rmtree(base, ignore_errors=True)
                continue
            cl = Cluster(build, base, preferred_account=settings.account, throwaway=True)
            stopped += cl.state() is State.RUNNING
            cl.destroy()
    return stopped


def stop_all(settings):
    """pg-stop --all: every server of this working area (named, warm, and the throwaway ones of
    pglab processes that are gone; a running pglab's own are left to it); returns how many ran."""
    return stop_warm(settings) + stop_named(settings) + stop_orphans(settings)


def stop_named(settings):
    """Stop every named cluster's server; returns how many ran."""
    from .pg.builds import load_build

    stopped = 0
    for build_id, _name, base in clusters(settings):
        build = load_build(settings, build_id)
        if build is not None:
            cl = Cluster(build, base, preferred_account=settings.account)
            if cl.state() is State.RUNNING:
                cl.stop()
                stopped += 1
    return stopped


def describe_clusters(settings):
    """Rows for pg-status: build, name, state, port, pid, data directory."""
    from .pg.builds import load_build

    rows = []
    for build_id, name, base in clusters(settings):
        build = load_build(settings, build_id)
        if build is None:
            rows.append((build_id, name, "build missing (data kept)", "", "", str(base / "data")))
            continue
        cl = Cluster(build, base, preferred_account=settings.account)
        state = cl.state()
        hint = " (invoke pg-start recovers it)" if state is State.CRASHED else ""
        running = state is State.RUNNING
        rows.append((build_id, name, f"{state}{hint}", cl.port or "", cl.pid() if running else "", str(cl.datadir)))
    for build_id, tag, base in warm_servers(settings):
        build = load_build(settings, build_id)
        if build is None:
            continue
        cl = Cluster(build, base, preferred_account=settings.account)
        if cl.state() is State.RUNNING:
            rows.append((build_id, f"ext-test {tag}", f"running ({why_kept(settings, base)})", cl.port or "",
                         cl.pid(), str(cl.datadir)))
    return rows


# ---- ext-test's warm servers: the bound ----------------------------------------------------------------------------

def last_used(base):
    try:
        return float((base / "used").read_text())
    except (OSError, ValueError):
        return 0.0


def running_warm(settings):
    """[(base, last used)] of the warm servers running now, most recently used first."""
    root = settings.layout.warm_servers
    found = []
    for base in sorted(root.glob("*/*")) if root.is_dir() else ():
        pid = _postmaster(base)
        if pid is not None:
            found.append((base, last_used(base)))
    return sorted(found, key=lambda f: -f[1])


def _postmaster(base):
    """The warm server's postmaster pid when it runs, else None."""
    try:
        pid = int(boundary.read_file(base / "data" / "postmaster.pid").split("\n", 1)[0])
    except ValueError:
        return None
    return pid if pid in server_processes(base / "data") else None


def bound(settings, keep=None):
    """Stop the least recently used warm servers beyond the setting warm_servers (never the folder KEEP
    itself, nor one a run is using); returns the folders of those stopped."""
    stopped = []
    for base, _used in running_warm(settings)[settings.warm_servers:]:
        if base != keep and _stop_if_idle(base, 0.0):
            stopped.append(base)
    return stopped


def _stop_if_idle(base, idle):
    """Stop the warm server in BASE when unused for IDLE seconds and no run holds it: a fast
    shutdown (SIGINT to its postmaster), which the account may send as well as root."""
    if time.time() - last_used(base) < idle:
        return False
    with locks.if_free(warm_lock(base), create=False) as free:
        if not free:
            return False
        pid = _postmaster(base)
        if pid is None:
            return False
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while server_processes(base / "data") and time.monotonic() < deadline:
            time.sleep(0.1)
        return True


def why_kept(settings, base):
    """pg-status's words for a warm server: why it is running and until when."""
    ranked = [b for b, _used in running_warm(settings)]
    minutes = (time.time() - last_used(base)) / 60
    most = settings.warm_servers
    place = f"{ranked.index(base) + 1} of at most {most}" if base in ranked else f"at most {most}"
    return (f"kept warm for ext-test, used {minutes:.0f} min ago; stops {settings.warm_idle_minutes:g} min unused "
            f"({place})")


# ---- the watcher ----------------------------------------------------------------------------

def _watcher_file(settings):
    return settings.layout.warm_servers / "watcher.pid"


def watch(settings):
    """Start the watcher that stops warm servers left unused for warm_idle_minutes, unless one runs;
    it runs as the servers' account and exits once none is left running."""
    record = _watcher_file(settings)
    if owner_alive(record.parent, name=record.name):
        return
    account = accounts.ensure(settings.account)
    try:
        boundary.reach_python(account)
    except boundary.BoundaryError:
        return          # no watcher: the bound still holds, and pg-stop --all stops them
    proc = subprocess.Popen([sys.executable, "-m", "pglab.servers", str(settings.layout.warm_servers),
                             str(settings.warm_idle_minutes * 60)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, cwd="/",
                            env=boundary.account_env(account), **account.subprocess_kwargs())
    boundary.write_file(record, f"{proc.pid} {start_time(proc.pid)}\n")


def _watch(root, idle):
    """The watcher's loop: stop what was unused for IDLE seconds; exit when nothing runs."""
    root = Path(root)
    step = min(max(idle / 10, 0.2), 30.0)
    while True:
        running = [base for base in sorted(root.glob("*/*")) if base.is_dir() and _postmaster(base) is not None]
        if not running:
            return
        for base in running:
            _stop_if_idle(base, idle)
        time.sleep(step)


def refuse_if_running(settings, build, doing):
    """A server running on an install must not have it replaced or deleted under it."""
    stop_warm(settings, build.id)   # ext-test's own servers: pglab may stop them
    running = running_on(settings, build)
    if not running:
        return
    named = [n for n in running if not n.startswith("throwaway ")]
    if named:
        how = f"stop it first: `invoke pg-stop --version {build.id}{'' if named[0] == 'main' else ' --name ' + named[0]}`"
    else:
        how = "wait for the test run using it to finish"
    raise BuildInUse(f"cannot {doing} {build.id}: a server runs on it ({', '.join(running)}); {how}")


if __name__ == "__main__":
    _watch(sys.argv[1], float(sys.argv[2]))

"""Every pglab server on the machine: named clusters, throwaway clusters and
ext-test's warm servers — listing them (pg-status), stopping them (pg-stop
--all), telling whether a build is in use, and the test runs' janitor.
Starting and stopping one server is pglab.cluster's business."""

import fcntl
import os
import shutil

from .cluster import Cluster, State, warm_lock
from .procs import alive, processes_in, reap_all


def reap_orphans(settings):
    """Kill the servers of throwaway clusters whose owner is gone (or is us):
    the janitor for test runs, which leaves other runs' clusters alone.
    Returns the PIDs it had to kill."""
    killed = []
    root = settings.layout.throwaways
    for base in root.iterdir() if root.is_dir() else ():
        try:
            owner = int((base / "owner").read_text())
        except (OSError, ValueError):
            owner = None
        if owner is None or owner == os.getpid() or not alive(owner):
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
        with open(warm_lock(base), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue    # an ext-test run is using it; it decides itself whether to keep it
            build = load_build(settings, bid)
            if build is None:
                shutil.rmtree(base, ignore_errors=True)
                continue
            cl = Cluster(build, base, preferred_account=settings.account, throwaway=True)
            stopped += cl.state() is State.RUNNING
            cl.destroy()
    return stopped


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
            rows.append((build_id, f"ext-test {tag}", "running (kept warm)", cl.port or "", cl.pid(), str(cl.datadir)))
    return rows

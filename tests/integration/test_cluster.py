"""Clusters on a real build: unprivileged account, socket only, psycopg and psql,
stale pid files, crashes, ports in use, nothing left running."""

import os
import re
import signal
import socket
import time

import psycopg
import pytest

from pglab.cluster import Cluster, State
from pglab.procs import processes_in

from ..conftest import invoke


def _uid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("Uid:")).split()[1])


def test_throwaway_cluster_runs_sql_and_leaves_nothing(default_build, settings):
    with Cluster.throwaway(settings, default_build) as cl:
        assert repr(cl).startswith(f"<Cluster {default_build.id} port={cl.port} data=")
        pid = cl.pid()
        assert cl.state() is State.RUNNING
        if os.geteuid() == 0:
            assert _uid(pid) != 0 and _uid(pid) == cl.account.uid  # never runs as root
        with cl.connect() as conn:
            assert conn.execute("select current_user, 6 * 7").fetchone() == ("postgres", 42)
            assert conn.execute("show listen_addresses").fetchone() == ("",)  # socket only
            assert conn.execute("select inet_server_port()").fetchone() == (None,)
        assert cl.psql("-Atc", "select 'via psql'").stdout.strip() == "via psql"
        datadir, children = cl.datadir, cl.processes()
        assert pid in children and len(children) >= 4  # postmaster, checkpointer, walwriter, ...
    assert processes_in(datadir) == []
    assert not datadir.exists() and not cl.socket_dir.exists()


def test_named_cluster_via_invoke_tasks(default_build):
    started = invoke("pg-start", "--name", "itest")
    try:
        assert started.returncode == 0, started.stderr
        assert "running" in started.stdout
        status = invoke("pg-status")
        assert "itest" in status.stdout and "running" in status.stdout
        done = invoke("psql", "--name", "itest", "-c", "select 'hello from ' || current_setting('server_version')")
        assert done.returncode == 0, done.stderr
        assert f"hello from {default_build.release}" in done.stdout
    finally:
        stopped = invoke("pg-stop", "--name", "itest")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def test_stale_pid_file_is_removed_with_a_message(default_build, settings):
    cl = Cluster.throwaway(settings, default_build)
    try:
        cl.init()
        dead = 4_000_000  # above pid_max: certainly not running
        (cl.datadir / "postmaster.pid").write_text(f"{dead}\n{cl.datadir}\n")
        assert cl.state() is State.CRASHED
        remark = cl.start()
        assert remark and "stale postmaster.pid" in remark and str(dead) in remark
        assert cl.state() is State.RUNNING
    finally:
        cl.destroy()


def test_crashed_server_is_reported_and_recovers(default_build, settings):
    cl = Cluster.throwaway(settings, default_build)
    try:
        cl.init().start()
        cl.sql("create table survivors(x int); insert into survivors values (1)")
        os.kill(cl.pid(), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while cl.state() is not State.CRASHED and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cl.state() is State.CRASHED
        cl._kill_leftovers()  # children die with the postmaster
        cl.start()
        assert cl.sql("select x from survivors") == [["1"]]  # crash recovery replayed the WAL
    finally:
        cl.destroy()


def test_tcp_is_loopback_only_with_password_and_skips_a_busy_port(default_build, settings):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    cl = Cluster.throwaway(settings, default_build, tcp=True, port=port)
    try:
        cl.init().start()
        assert cl.port != port
        assert cl.sql("show listen_addresses") == [["127.0.0.1"]]
        password = (cl.base / "password").read_text().strip()
        with psycopg.connect(host="127.0.0.1", port=cl.port, user="postgres", dbname="postgres",
                             password=password) as conn:
            assert conn.execute("select inet_server_port()").fetchone() == (cl.port,)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=cl.port, user="postgres", dbname="postgres", password="wrong")
    finally:
        cl.destroy()
        busy.close()


def test_build_missing_names_the_command(settings):
    done = invoke("pg-start", "--version", "30")      # a major no channel offers: never built anywhere
    assert done.returncode == 1
    assert re.fullmatch(r"error: no build of PostgreSQL 30 \(have: [^)]+\): run `invoke build-pg --version 30`",
                        done.stderr.strip()), done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the server's account is another user only as root")
def test_a_folder_made_untraversable_just_before_the_start_is_opened_again(default_build, tmp_path):
    """What pytest does to its own temporary folder when another session starts (chmod 0700): the
    server's account cannot reach the cluster; start lets it through again and the server starts."""
    from pglab.config import Settings

    settings = Settings.load(root=tmp_path / "area")
    cl = Cluster.named(settings, default_build, "main")
    cl.init()
    write_conf, shut = cl._write_conf, []

    def tightened(port):                     # after start's own reach, just before pg_ctl, the first time only
        write_conf(port)
        if not shut:
            (tmp_path / "area").chmod(0o700)
            shut.append(port)

    cl._write_conf = tightened
    try:
        assert cl.start() is None
        assert cl.state() is State.RUNNING and shut
        assert (tmp_path / "area").stat().st_mode & 0o001
    finally:
        cl.stop()

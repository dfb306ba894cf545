"""pytest fixtures for extension tests, loaded by `invoke ext-test`.

ext-test runs an extension's tests/ with this plugin in place of
pytest-postgresql's own (`-p pglab.ext.pytest_plugin`, plugin autoloading off)
and points it at the server it runs the extension's suites on:

    postgresql          a psycopg 3 connection to a fresh database for each test
                        (pglab_tests_N), as pytest-postgresql's fixture of that name gives
    postgresql_noproc   pytest-postgresql's session-wide handle on that server
    pglab_server        host, port, data directory, server log and pg_config

Extension tests are written against pytest-postgresql's standard API, so they
also run under plain pytest-postgresql elsewhere.

ext-test starts pytest before the extension is built and the server is ready,
so that its start-up and collection overlap the build: the plugin waits for the
server file ext-test names in PGLAB_TEST_SERVER (JSON: host, port, datadir, log,
pg_config) before the first test runs.  Fresh databases come from a small pool
the previous run left on the server (a debug build takes ~50 ms to create one,
and dropping one waits for its last backend to exit); after the session a
process of its own drops the used ones and creates (and first connects to) the
next run's.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

POOL_PREFIX = "pglab_tests_"
POOL_MAX = 32
WAIT_LIMIT = 600.0


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    datadir: Path
    log: Path
    pg_config: Path

    def log_text(self):
        return self.log.read_text(errors="replace")

    def connect(self, dbname="postgres", **kw):
        return psycopg.connect(host=self.host, port=self.port, user="postgres", dbname=dbname, **kw)


_server = []
_used = [0]


def server():
    """The server ext-test named, once it is ready (waits for the file)."""
    if not _server:
        path = Path(os.environ["PGLAB_TEST_SERVER"])
        deadline = time.monotonic() + WAIT_LIMIT
        while not path.exists():
            if time.monotonic() > deadline:
                pytest.exit(f"ext-test never said the server was ready ({path})", returncode=3)
            time.sleep(0.01)
        info = json.loads(path.read_text())
        if info.get("abort"):
            pytest.exit(info["abort"], returncode=3)
        _server.append(Server(info["host"], int(info["port"]), Path(info["datadir"]), Path(info["log"]),
                              Path(info["pg_config"])))
    return _server[0]


def pytest_configure(config):
    _server.clear()
    _used[0] = 0
    if not os.environ.get("PGLAB_TEST_SERVER"):
        raise pytest.UsageError("these tests run on a pglab server: use `invoke ext-test NAME`")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    if session.items:
        server()     # collection is done: now wait for the server before the first test


def pytest_sessionfinish(session):
    if _server and _used[0]:
        _refill(_server[0], min(_used[0], POOL_MAX))


@pytest.fixture(scope="session")
def pglab_server():
    return server()


@pytest.fixture(scope="session")
def postgresql_noproc():
    from pytest_postgresql.executors.noop import NoopExecutor

    s = server()
    return NoopExecutor(host=s.host, port=s.port, user="postgres", options="", dbname="postgres")


@pytest.fixture(scope="session")
def _pglab_admin():
    with server().connect(autocommit=True) as conn:
        yield conn


@pytest.fixture
def postgresql(_pglab_admin):
    """A connection to a fresh database of its own (pglab_tests_N)."""
    name = _claim(_pglab_admin)
    _used[0] += 1
    conn = server().connect(name)
    try:
        yield conn
    finally:
        conn.close()


def _claim(admin):
    """A fresh database: one the pool holds, marked used, else a new one.

    Nothing waits here for a database to be dropped (dropping waits for the
    last backend on it to exit: up to 100 ms each on a debug build); used ones
    are dropped by the refill after the session."""
    for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s "
                                 "AND shobj_description(oid, 'pg_database') IS NULL ORDER BY oid",
                                 [POOL_PREFIX + "%"]):
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS 'used'").format(sql.Identifier(name)))
        return name
    name = f"{POOL_PREFIX}{time.time_ns()}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.execute(sql.SQL("COMMENT ON DATABASE {} IS 'used'").format(sql.Identifier(name)))
    return name


def _refill(s, count):
    """Drop the used databases and create `count` fresh ones for the next run,
    in a process of its own that outlives pytest (nobody waits for it)."""
    code = f"""
import time
import psycopg
from psycopg import sql
conn = psycopg.connect(host={s.host!r}, port={s.port}, user="postgres", dbname="postgres", autocommit=True)
rows = conn.execute("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE %s",
                    [{POOL_PREFIX + "%"!r}]).fetchall()
for name, note in rows:
    if note == "used":
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {{}} WITH (FORCE)").format(sql.Identifier(name)))
fresh = sum(1 for _name, note in rows if note is None)
for i in range({count} - fresh):
    name = f"{POOL_PREFIX}{{time.time_ns()}}"
    conn.execute(sql.SQL("CREATE DATABASE {{}}").format(sql.Identifier(name)))
    # a first connection builds the database's relation cache file; the test's own then starts faster
    psycopg.connect(host={s.host!r}, port={s.port}, user="postgres", dbname=name).close()
"""
    subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)

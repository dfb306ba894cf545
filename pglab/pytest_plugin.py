"""pytest fixtures for extension tests, loaded by `invoke ext-test`.

ext-test runs an extension's tests/ with this plugin in place of
pytest-postgresql's own (`-p no:pytest_postgresql -p pglab.pytest_plugin`) and
points it at the throwaway server it started for the extension:

    postgresql          a psycopg 3 connection to a fresh database for each test
                        (pytest-postgresql's own fixture, on the pglab server)
    postgresql_noproc   pytest-postgresql's session-wide handle on that server
    pglab_server        host, port, data directory, server log and pg_config

Extension tests are written against pytest-postgresql's standard API, so they
also run under plain pytest-postgresql elsewhere.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_postgresql import factories
from pytest_postgresql.plugin import pytest_addoption as _postgresql_options

_ENV = {name: os.environ.get(f"PGLAB_TEST_{name}") for name in ("PGHOST", "PGPORT", "SERVER_LOG", "PG_CONFIG", "DATADIR")}


def pytest_addoption(parser):
    _postgresql_options(parser)  # pytest-postgresql's settings, since its plugin is replaced


def pytest_configure(config):
    if not _ENV["PGHOST"]:
        raise pytest.UsageError("these tests run on a pglab server: use `invoke ext-test NAME`")


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    datadir: Path
    log: Path
    pg_config: Path

    def log_text(self):
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def pglab_server():
    return Server(_ENV["PGHOST"], int(_ENV["PGPORT"] or 0), Path(_ENV["DATADIR"] or "."), Path(_ENV["SERVER_LOG"] or "."),
                  Path(_ENV["PG_CONFIG"] or "."))


postgresql_noproc = factories.postgresql_noproc(host=_ENV["PGHOST"], port=_ENV["PGPORT"], user="postgres",
                                                dbname="pglab_tests")
postgresql = factories.postgresql("postgresql_noproc")

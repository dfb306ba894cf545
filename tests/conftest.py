"""Shared fixtures for pglab's own tests.

Integration tests use real builds and real clusters.  Whatever they start, the
janitor at the end of the session kills: no postgres process outlives a run.
"""

import os
import subprocess
import sys

import pytest

from pglab.servers import reap_orphans, stop_warm
from pglab.config import PROJECT_ROOT, Settings
from pglab.ext import prestart
from pglab.pg import build as build_mod


@pytest.fixture(scope="session")
def settings():
    return Settings.load()


@pytest.fixture(scope="session")
def default_build(settings):
    """The default debug build (16, or what stands in for it here); built if missing."""
    return build_mod.build_pg(settings)


@pytest.fixture(scope="session", autouse=True)
def janitor():
    yield
    s = Settings.load()
    stop_warm(s)   # ext-test's warm servers
    prestart.stop(s)   # and its pre-started pytest
    leftovers = reap_orphans(s)  # throwaway clusters this run left; a learner's named ones are left alone
    if leftovers:
        print(f"\njanitor: killed {len(leftovers)} leftover postgres processes: {leftovers}", file=sys.stderr)


def invoke(*args, timeout=1800, env=None):
    """Run `invoke ARGS` in the project, as a user would; returns CompletedProcess."""
    base = {k: v for k, v in os.environ.items() if k != "PGLAB_VIA"}  # we run invoke, not ./lab: messages say so
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**base, **(env or {})})

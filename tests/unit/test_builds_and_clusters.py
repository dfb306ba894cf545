"""The builds registry's messages and reading a cluster's state: what they say
and what they never do."""

import pytest

from pglab import accounts
from pglab.cluster import Cluster, State
from pglab.errors import ClusterError
from pglab.pg.builds import Build
from pglab.pg.versions import Release


def _build(tmp_path, **meta):
    meta = {"id": "17.11-debug", "release": "17.11", "flavour": "debug", "channel": "debian", "patches": [],
            "source_identity": "sha256:abc", **meta}
    return Build(meta["id"], Release.parse(meta["release"]), tmp_path / "install" / meta["id"], meta)


def test_the_rebuild_command_names_what_made_the_build(tmp_path):
    assert _build(tmp_path).rebuild_command() == "invoke build-pg --version 17.11"
    patched = _build(tmp_path, id="17.11-debug-p1a2b3c", patches=[{"file": "/home/me/fix planner.patch"}])
    assert patched.rebuild_command() == "invoke build-pg --version 17.11 --patch '/home/me/fix planner.patch'"
    local = _build(tmp_path, id="19devel-debug-local-pg-abc123", release="19devel", channel="local",
                   source_identity="local:/home/me/postgres", flavour="opt")
    assert local.rebuild_command() == "invoke build-pg --source /home/me/postgres --flavour opt"


def test_reading_a_clusters_state_never_creates_an_account(tmp_path, monkeypatch):
    def no_useradd(*_a, **_k):
        raise AssertionError("reading state must not create an account")

    monkeypatch.setattr(accounts, "existing", lambda preferred="": None)   # root, and no postgres or pglab yet
    monkeypatch.setattr(accounts, "ensure", no_useradd)
    monkeypatch.setattr(accounts.subprocess, "run", no_useradd)
    cl = Cluster(_build(tmp_path), tmp_path / "cluster")
    assert cl.state() is State.ABSENT
    (tmp_path / "cluster" / "data").mkdir(parents=True)
    (tmp_path / "cluster" / "data" / "PG_VERSION").write_text("17\n")
    assert cl.state() is State.STOPPED
    (tmp_path / "cluster" / "data" / "postmaster.pid").write_text("999999999\n")
    assert cl.state() is State.CRASHED
    assert cl.port is None
    with pytest.raises(ClusterError, match=r"^no account to run PostgreSQL as yet: `invoke pg-start` creates one$"):
        cl.conninfo()


def test_pg_lists_flags_name_every_feature_even_one_a_major_turns_on_by_itself(tmp_path):
    """ICU is on by default from 16: configure is not asked for it, the build has it, pg-list says so."""
    from pglab.pg.builds import _flags

    meta = {"id": "17.11-debug", "release": "17.11", "features": ["icu", "lz4", "uuid", "tap-tests"],
            "configure_args": ["--enable-debug", "--enable-cassert", "--with-lz4", "--with-uuid=e2fs",
                               "--enable-tap-tests"]}
    build = Build(meta["id"], Release.parse(meta["release"]), tmp_path, meta)
    assert _flags(build) == ["debug", "cassert", "icu", "lz4", "uuid=e2fs", "tap-tests"]

"""Build identity: what makes two builds the same build, and how they are named."""

from pathlib import Path

from pglab.pg.build import build_id, configure_args, features_for, identity, identity_hash
from pglab.pg.doctor import NEEDS
from pglab.pg.sources import SourceTree
from pglab.pg.versions import Release

TREE = SourceTree(Path("/src/17.11"), Release.parse("17.11"), "debian", "sha256:abc", "x")
ARGS = ["--enable-debug", "--enable-cassert"]


def test_same_inputs_same_identity():
    a = identity(TREE, "debug", ARGS, "-O0 -g3", [])
    b = identity(TREE, "debug", list(ARGS), "-O0 -g3", [])
    assert identity_hash(a) == identity_hash(b)
    assert build_id(a) == "17.11-debug"


def test_each_ingredient_changes_identity(tmp_path):
    base = identity_hash(identity(TREE, "debug", ARGS, "-O0 -g3", []))
    other_source = SourceTree(TREE.path, TREE.release, "git", "git:deadbeef", "y")
    assert identity_hash(identity(other_source, "debug", ARGS, "-O0 -g3", [])) != base
    assert identity_hash(identity(TREE, "debug", ARGS + ["--enable-dtrace"], "-O0 -g3", [])) != base
    assert identity_hash(identity(TREE, "debug", ARGS, "-O2 -g", [])) != base
    patch = tmp_path / "fix.patch"
    patch.write_text("--- a/x\n+++ b/x\n")
    patched = identity(TREE, "debug", ARGS, "-O0 -g3", [patch])
    assert identity_hash(patched) != base
    assert build_id(patched).startswith("17.11-debug-p") and build_id(patched) != "17.11-debug"
    patch.write_text("--- a/x\n+++ b/x\n@@\n")  # same file name, other content: another build
    assert build_id(identity(TREE, "debug", ARGS, "-O0 -g3", [patch])) != build_id(patched)


def test_channel_does_not_change_identity_when_the_tarball_is_the_same():
    via_tarball = SourceTree(TREE.path, TREE.release, "tarball", "sha256:abc", "upstream")
    assert identity_hash(identity(via_tarball, "debug", ARGS, "-O0 -g3", [])) == \
        identity_hash(identity(TREE, "debug", ARGS, "-O0 -g3", []))


def test_local_trees_are_named_after_their_folder():
    local = SourceTree(Path("/home/me/my postgres"), Release.parse("19devel"), "local", "local:/home/me/my postgres", "", True)
    bid = build_id(identity(local, "debug", ARGS, "-O0 -g3", []), local_path=local.path)
    assert bid.startswith("19devel-debug-local-my_postgres-")


def _results(**present):
    return [(need, present.get(need.name, True)) for need in NEEDS]


NO_OPTIONAL = {name: False for name in ("dtrace", "IPC::Run", "lz4", "zstd", "openssl", "libxml", "libxslt", "uuid")}


def test_configure_args_follow_the_toolchain():
    r17, r13, r14 = Release.parse("17.11"), Release.parse("13.16"), Release.parse("14.13")
    assert configure_args(r17, "debug", _results()) == [
        "--enable-debug", "--enable-cassert", "--with-lz4", "--with-zstd", "--with-openssl", "--with-libxml",
        "--with-libxslt", "--with-uuid=e2fs", "--enable-dtrace", "--enable-tap-tests"]
    assert configure_args(r17, "debug", _results(**NO_OPTIONAL)) == ARGS
    assert configure_args(r13, "debug", _results(**NO_OPTIONAL)) == ARGS + ["--with-icu"]  # the default only from 16
    assert configure_args(r17, "opt", _results(**NO_OPTIONAL)) == ["--enable-debug"]
    # lz4 exists from 14, zstd from 15: an older release is not given flags it does not know
    assert "--with-lz4" not in configure_args(r13, "debug", _results())
    assert "--with-lz4" in configure_args(r14, "debug", _results()) and \
        "--with-zstd" not in configure_args(r14, "debug", _results())


def test_features_are_recorded_by_name_including_the_defaults():
    names = [name for name, _flag in features_for(Release.parse("17.11"), _results())]
    assert names == ["icu", "lz4", "zstd", "openssl", "libxml", "libxslt", "uuid", "dtrace", "tap-tests"]
    assert dict(features_for(Release.parse("17.11"), _results()))["icu"] is None   # no flag needed from 16

"""inspect's compiled layouts: what makes a build's module compile again, and
the constants table that lets a major lack a flag."""

from pathlib import Path

from pglab.inspect import layouts
from pglab.pg.builds import Build
from pglab.pg.versions import Release

RECORD = {"identity_hash": "4b2dbb4fd0ee", "built_at": "2026-11-30T10:00:00"}


def build(build_id="15.18-debug", **record):
    """A Build as build-pg's record (pglab-build.json) describes one; nothing on disk."""
    return Build(build_id, Release.parse(build_id.split("-")[0]), Path("/nowhere") / build_id, {**RECORD, **record})


def test_a_rebuilt_or_different_build_gets_its_own_module():
    base = layouts.module_key(build())
    rebuilt = build(built_at="2026-12-01T09:00:00")
    other = build("13.23-debug")
    forked = build(fingerprint="a1b2c3")
    keys = [base, layouts.module_key(rebuilt), layouts.module_key(other), layouts.module_key(forked)]
    assert len(set(keys)) == 4
    assert layouts.module_key(build()) == base


def test_every_constant_is_guarded_so_a_major_may_lack_it():
    table = layouts._constants_table()
    assert table.count("#ifdef BTP_HAS_FULLXID\n") == 1
    assert '{"sizeof(ItemIdData)", (long) sizeof(ItemIdData)},' in table

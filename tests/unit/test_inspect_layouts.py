"""inspect's compiled layouts: what makes a build's module compile again, and
the constants table that lets a major lack a flag."""

from dataclasses import dataclass, field

from pglab.inspect import layouts


@dataclass(frozen=True)
class FakeBuild:
    id: str = "15.18-debug"
    meta: dict = field(default_factory=lambda: {"identity_hash": "4b2dbb4fd0ee", "built_at": "2026-11-30T10:00:00",
                                                "fingerprint": None})


def test_a_rebuilt_or_different_build_gets_its_own_module():
    base = layouts.module_key(FakeBuild())
    rebuilt = FakeBuild(meta={**FakeBuild().meta, "built_at": "2026-12-01T09:00:00"})
    other = FakeBuild(id="13.23-debug")
    forked = FakeBuild(meta={**FakeBuild().meta, "fingerprint": "a1b2c3"})
    keys = [base, layouts.module_key(rebuilt), layouts.module_key(other), layouts.module_key(forked)]
    assert len(set(keys)) == 4
    assert layouts.module_key(FakeBuild()) == base


def test_every_constant_is_guarded_so_a_major_may_lack_it():
    table = layouts._constants_table()
    assert table.count("#ifdef BTP_HAS_FULLXID\n") == 1
    assert '{"sizeof(ItemIdData)", (long) sizeof(ItemIdData)},' in table

"""Version specs: what a learner types and what pglab makes of it."""

import pytest

from pglab.errors import VersionError
from pglab.pg.versions import Release, VersionSpec, describe, substitutes_for

R = Release.parse


def test_release_order_follows_the_project_release_sequence():
    assert R("19devel") < R("19beta1") < R("19beta2") < R("19rc1") < R("19.0") < R("19.1")
    assert R("17.9") < R("17.11") < R("18.0")
    assert str(R("17.11")) == "17.11" and str(R("19RC1")) == "19rc1" and str(R("19devel")) == "19devel"


@pytest.mark.parametrize("text,kind,major", [("16", "major", 16), ("17.11", "exact", 17),
                                             ("19beta2", "exact", 19), ("latest", "latest", 0), (" 15 ", "major", 15)])
def test_specs_parse(text, kind, major):
    spec = VersionSpec.parse(text)
    assert (spec.kind, spec.major) == (kind, major)


@pytest.mark.parametrize("text,fragment", [("abc", "is not a PostgreSQL version"), ("17.x", "is not a PostgreSQL version"),
                                           ("", "is not a PostgreSQL version"), ("12", "13 and newer"),
                                           ("9.6", "13 and newer")])
def test_bad_specs_say_what_to_type(text, fragment):
    with pytest.raises(VersionError, match=fragment):
        VersionSpec.parse(text)


def test_major_prefers_newest_stable_and_falls_back_to_prerelease():
    offered = [R("17.10"), R("17.11"), R("19beta2"), R("19rc1"), R("18.6")]
    assert VersionSpec.parse("17").choose(offered) == R("17.11")
    assert VersionSpec.parse("19").choose(offered) == R("19rc1")
    assert VersionSpec.parse("latest").choose(offered) == R("18.6")
    assert VersionSpec.parse("17.10").choose(offered) == R("17.10")
    assert VersionSpec.parse("16").choose(offered) is None
    assert VersionSpec.parse("99").choose(offered) is None


def test_substitutes_are_nearest_stable_majors_newer_first():
    offered = [R("13.16"), R("15.18"), R("17.11"), R("18.6"), R("19rc1")]
    assert substitutes_for(16, offered) == [17, 15, 18, 13]


def test_describe_shows_newest_per_major():
    assert describe([R("17.10"), R("17.11"), R("13.16"), R("19beta2"), R("19rc1")]) == "13.16, 17.11, 19rc1"
    assert describe([]) == "nothing"

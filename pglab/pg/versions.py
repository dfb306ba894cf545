"""PostgreSQL versions: parsing "16", "17.11", "19beta2", "latest", and choosing a
release from what a source channel offers.

A *release* is one tarball PostgreSQL published (17.11, 18.0, 19rc1) or a
development tree (19devel).  A *spec* is what the user asked for: a major, an
exact release, or "latest" (the newest stable release reachable).
"""

import re
from dataclasses import dataclass

from ..errors import VersionError

OLDEST_MAJOR = 13          # pglab builds 13 and newer

# Stages sort before the first stable release of a major: devel < beta < rc < 18.0.
_STAGES = {"devel": 0, "beta": 1, "rc": 2, "": 3}
_RELEASE_RE = re.compile(r"^(\d+)(?:\.(\d+)|(devel)|(beta|rc)(\d+))$")


@dataclass(frozen=True, order=True)
class Release:
    """One PostgreSQL release, ordered as the project publishes them."""

    major: int
    stage: int = _STAGES[""]
    number: int = 0            # the minor for stable releases, N of betaN / rcN

    @classmethod
    def parse(cls, text):
        m = _RELEASE_RE.match(text.strip().lower())
        if not m:
            raise VersionError(f"'{text}' is not a PostgreSQL release: expected e.g. 17.11, 18beta2 or 19devel")
        major, minor, devel, stage, n = m.groups()
        if minor is not None:
            return cls(int(major), _STAGES[""], int(minor))
        if devel:
            return cls(int(major), _STAGES["devel"], 0)
        return cls(int(major), _STAGES[stage], int(n))

    @property
    def stable(self):
        return self.stage == _STAGES[""]

    def __str__(self):
        if self.stable:
            return f"{self.major}.{self.number}"
        name = next(k for k, v in _STAGES.items() if v == self.stage)
        return f"{self.major}{name}" + ("" if name == "devel" else str(self.number))


@dataclass(frozen=True)
class VersionSpec:
    """What the user asked for.  kind is 'major', 'exact' or 'latest'."""

    kind: str
    major: int = 0
    release: Release = None
    explicit: bool = True      # False when it came from the configured default

    @classmethod
    def parse(cls, text, *, explicit=True):
        raw = str(text).strip().lower()
        if raw == "latest":
            return cls("latest", explicit=explicit)
        if raw.isdigit():
            major = int(raw)
            _check_major(major, text)
            return cls("major", major, explicit=explicit)
        try:
            release = Release.parse(raw)
        except VersionError:
            raise VersionError(
                f"'{text}' is not a PostgreSQL version: use a major (16), a release (17.11, 19beta2) or 'latest'"
            ) from None
        _check_major(release.major, text)
        return cls("exact", release.major, release, explicit=explicit)

    def matches(self, release):
        if self.kind == "exact":
            return release == self.release
        if self.kind == "major":
            return release.major == self.major
        return release.stable

    def ranked(self, releases):
        """The releases this spec accepts, best first.

        A major prefers its newest stable release and takes a pre-release only when
        nothing stable exists yet (19 before 19.0 is out means 19rc1, then 19beta2)."""
        offered = sorted({r for r in releases if self.matches(r)}, reverse=True)
        stable = [r for r in offered if r.stable]
        return stable or offered

    def choose(self, releases):
        """The best release this spec selects from those offered, or None."""
        ranked = self.ranked(releases)
        return ranked[0] if ranked else None

    def __str__(self):
        if self.kind == "latest":
            return "latest"
        return str(self.release) if self.kind == "exact" else str(self.major)


def _check_major(major, text):
    if major < OLDEST_MAJOR:
        raise VersionError(f"version '{text}': pglab builds PostgreSQL {OLDEST_MAJOR} and newer")


def substitutes_for(major, releases):
    """Stable majors on offer, nearest to `major` first (newer wins a tie):
    for 16 that is 17, then 15, then 18, 14, ..."""
    majors = {r.major for r in releases if r.stable and r.major != major}
    return sorted(majors, key=lambda m: (abs(m - major), -m))


def describe(releases):
    """'13.16, 15.18, 17.11, 18.6, 19rc1': the newest release of each major on offer."""
    newest = {}
    for r in releases:
        newest[r.major] = max(r, newest.get(r.major, r))
    return ", ".join(str(newest[m]) for m in sorted(newest)) or "nothing"

"""Channel order, skipping and substitution, with fake channels; the parsers of
what real channels answer (apt config, Sources indexes, .dsc, git tags, listings)."""

import pytest

from pglab.config import Settings
from pglab.errors import SourceError
from pglab.sources import ChannelSkip, SourceTree, channels_for, obtain
from pglab.sources.debian import mirror_from_apt, parse_dsc_checksums, parse_sources_index, upstream_release
from pglab.sources.git import parse_tags, tag_for
from pglab.sources.tarball import parse_listing
from pglab.versions import Release, VersionSpec

R = Release.parse


class Fake:
    def __init__(self, name, offers=None, skip=None, refuse=None):
        self.name, self.offers, self.skip, self.refuse = name, offers or [], skip, refuse
        self.fetched = []

    def catalog(self):
        if self.skip:
            raise ChannelSkip(self.skip)
        return [R(o) for o in self.offers]

    def refuses(self, spec):
        return self.refuse

    def fetch(self, release):
        self.fetched.append(str(release))
        return SourceTree(None, release, self.name, f"fake:{release}", self.name)


def test_first_channel_that_has_it_wins_and_skips_are_explained():
    chans = [Fake("local", skip="no --source path given"), Fake("cache", ["15.18"]),
             Fake("git", skip="unreachable"), Fake("debian", ["17.11", "15.18"])]
    got = obtain(VersionSpec.parse("17"), chans)
    assert got.tree.channel == "debian" and str(got.tree.release) == "17.11"
    assert got.notes == ["local: no --source path given", "cache: no 17 here (offers 15.18)", "git: unreachable"]
    assert chans[1].fetched == [] and got.substituted_for is None


def test_cache_is_preferred_over_the_network():
    cache, debian = Fake("cache", ["17.11"]), Fake("debian", ["17.11"])
    got = obtain(VersionSpec.parse("17.11"), [cache, debian])
    assert got.tree.channel == "cache" and debian.fetched == []


def test_refusing_channel_is_not_asked():
    cache = Fake("cache", ["17.11"], refuse="'latest' is decided by a remote listing")
    got = obtain(VersionSpec.parse("latest"), [cache, Fake("debian", ["18.6", "17.11"])])
    assert str(got.tree.release) == "18.6" and cache.fetched == []


def test_implicit_default_is_substituted_by_nearest_and_recorded():
    chans = [Fake("cache", skip="nothing cached yet"), Fake("debian", ["13.16", "15.18", "17.11", "19rc1"])]
    got = obtain(VersionSpec.parse("16", explicit=False), chans)
    assert str(got.tree.release) == "17.11" and got.substituted_for == "16"
    got = obtain(VersionSpec.parse("16", explicit=False), [Fake("debian", ["13.16", "15.18"])])
    assert str(got.tree.release) == "15.18"


def test_explicit_version_never_substitutes_and_lists_reachable():
    chans = [Fake("git", skip="unreachable"), Fake("debian", ["13.16", "15.18", "17.11"])]
    with pytest.raises(SourceError, match=r"16 cannot be obtained here; reachable: 13.16, 15.18, 17.11"):
        obtain(VersionSpec.parse("16"), chans)
    assert chans[1].fetched == []


def test_nothing_answering_says_so():
    with pytest.raises(SourceError, match="no source channel answered.*git: unreachable"):
        obtain(VersionSpec.parse("17"), [Fake("git", skip="unreachable")])


def test_channel_selection(tmp_path):
    s = Settings(root=tmp_path)
    assert [c.name for c in channels_for("auto", s)] == ["local", "cache", "git", "tarball", "debian"]
    assert [c.name for c in channels_for("debian", s)] == ["debian"]
    only = channels_for(str(tmp_path), s)
    assert [c.name for c in only] == ["local"] and only[0].path == tmp_path


def test_debian_versions_map_to_upstream_releases():
    assert upstream_release("17.11-0+deb13u1") == R("17.11")
    assert upstream_release("19~rc1-1") == R("19rc1")
    assert upstream_release("19~beta2-1") == R("19beta2")
    assert upstream_release("1:18.6-3") == R("18.6")
    assert upstream_release("garbage") is None


def test_mirror_is_read_from_both_apt_formats(tmp_path):
    etc = tmp_path
    (etc / "sources.list.d").mkdir()
    (etc / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/x.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n")
    uri, keyring = mirror_from_apt(etc)
    assert uri == "http://mirror.example/debian" and str(keyring) == "/usr/share/keyrings/x.gpg"
    other = tmp_path / "other"
    (other / "sources.list.d").mkdir(parents=True)
    (other / "sources.list").write_text("deb http://sec.example/debian-security bookworm-security main\n"
                                        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ bookworm main contrib\n")
    uri, keyring = mirror_from_apt(other)
    assert uri == "http://one.example/debian" and str(keyring) == "/k.gpg"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ChannelSkip, match="no Debian mirror"):
        mirror_from_apt(empty)


def test_sources_index_parsing_keeps_only_server_majors():
    text = ("Package: postgresql-17\nBinary: libpq5\nVersion: 17.11-0+deb13u1\nDirectory: pool/main/p/postgresql-17\n\n"
            "Package: postgresql-common\nVersion: 262\n\n"
            "Package: postgresql-19\nVersion: 19~rc1-1\n\n"
            "Package: postgresql-17-pgvector\nVersion: 0.8.0-1\n")
    found = parse_sources_index(text, "sid")
    assert [(e["package"], e["release"], e["suite"]) for e in found] == [
        ("postgresql-17", "17.11", "sid"), ("postgresql-19", "19rc1", "sid")]


def test_dsc_checksums():
    dsc = ("Format: 3.0 (quilt)\nChecksums-Sha256:\n aa 10 postgresql-17_17.11.orig.tar.bz2\n"
           " bb 20 postgresql-17_17.11-0+deb13u1.debian.tar.xz\nHomepage: x\n")
    assert parse_dsc_checksums(dsc) == {"postgresql-17_17.11.orig.tar.bz2": "aa",
                                        "postgresql-17_17.11-0+deb13u1.debian.tar.xz": "bb"}


def test_git_tags_and_listing():
    out = "abc\trefs/tags/REL_17_11\nabd\trefs/tags/REL_19_BETA2\nabe\trefs/tags/REL9_6_1\nabf\trefs/tags/REL_19_RC1\n"
    assert parse_tags(out) == [R("17.11"), R("19beta2"), R("19rc1")]
    assert [tag_for(R(t)) for t in ("17.11", "18.0", "19beta2", "19rc1")] == ["REL_17_11", "REL_18_0", "REL_19_BETA2", "REL_19_RC1"]
    html = '<a href="v17.11/">v17.11/</a> <a href="v19rc1/">v19rc1/</a> <a href="v9.6.24/">x</a> <a href="vabc/">'
    assert parse_listing(html) == [R("17.11"), R("19rc1")]


def test_print_uris_parsing():
    from pglab.sources.debian import parse_print_uris

    text = ("Need to get 23.9 MB of source archives.\n"
            "'http://m.example/debian/pool/main/p/postgresql-19/postgresql-19_19%7erc1-1.dsc' postgresql-19_19~rc1-1.dsc 4903 SHA256:" + "a" * 64 + "\n"
            "'http://m.example/debian/pool/main/p/postgresql-19/postgresql-19_19%7erc1.orig.tar.bz2' postgresql-19_19~rc1.orig.tar.bz2 23831435 SHA256:" + "b" * 64 + "\n")
    assert parse_print_uris(text) == {
        "postgresql-19_19~rc1-1.dsc": ("http://m.example/debian/pool/main/p/postgresql-19/postgresql-19_19%7erc1-1.dsc", "a" * 64),
        "postgresql-19_19~rc1.orig.tar.bz2": ("http://m.example/debian/pool/main/p/postgresql-19/postgresql-19_19%7erc1.orig.tar.bz2", "b" * 64)}


def test_a_listed_release_that_cannot_be_fetched_falls_back_to_the_next_best():
    class Flaky(Fake):
        def fetch(self, release):
            if str(release) == "19rc1":
                raise SourceError("download of postgresql-19_19~rc1.orig.tar.bz2 failed: Not Found")
            return super().fetch(release)

    chan = Flaky("debian", ["19beta2", "19rc1", "18.6"])
    got = obtain(VersionSpec.parse("19"), [chan])
    assert str(got.tree.release) == "19beta2"
    assert got.notes == ["debian: 19rc1 is listed but could not be fetched (download of postgresql-19_19~rc1.orig.tar.bz2 failed: Not Found)"]
    with pytest.raises(SourceError, match="19rc1 is listed but could not be fetched"):
        obtain(VersionSpec.parse("19rc1"), [Flaky("debian", ["19rc1"])])

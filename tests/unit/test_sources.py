"""Channel order, skipping and substitution, with fake channels; the parsers of
what real channels answer (apt config, Sources indexes, .dsc, git tags, listings);
the Debian channel and its source-package fetch over a fake apt and a local pool."""

import collections
import functools
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pglab.config import PROJECT_ROOT, Settings
from pglab.errors import SourceError
from pglab.servers import refuse_if_running
from pglab.pg.sources import (Channel, ChannelSkip, Memo, SourceTree, Unfetchable, channels_for, download, obtain,
                              record_cached)
from pglab.pg.sources import debian
from pglab.pg.sources.archive import (Archive, archive_from_apt, compare_versions, mirror_from_apt,
                                      parse_dsc_checksums, parse_sources_index, upstream_release)
from pglab.pg.sources.cache import CacheChannel
from pglab.pg.sources.debian import DebianChannel, fetch_source_package
from pglab.pg.sources.git import GitChannel, first_error, parse_tags, tag_commits, tag_for
from pglab.pg.sources.tarball import TarballChannel, parse_listing
from pglab.pg.versions import Release, VersionSpec

R = Release.parse
MISSING = "its files are missing (404)"


class Fake(Channel):
    def __init__(self, name, offers=None, skip=None, refuse=None, broken=()):
        self.name, self.offers, self.skip, self.refuse = name, offers or [], skip, refuse
        self.broken = set(broken)       # listed, but their files are gone
        self.fetched = []

    def catalog(self):
        if self.skip:
            raise ChannelSkip(self.skip)
        return [R(o) for o in self.offers]

    def refuses(self, spec):
        return self.refuse

    def fetch(self, release):
        self.fetched.append(str(release))
        if str(release) in self.broken:
            raise Unfetchable(f"download of postgresql-{release}.tar.bz2 failed: 404 Not Found", MISSING)
        return SourceTree(None, release, self.name, f"fake:{release}", self.name)


class Pooled(Fake):
    """A Fake that also delivers releases it does not list (as Debian's pool does)."""

    def __init__(self, name, offers, pool, **kw):
        super().__init__(name, offers, **kw)
        self.pool = [R(p) for p in pool]

    def unlisted(self, spec, catalog):
        return [r for r in self.pool if spec.matches(r) and r not in catalog]


def test_first_channel_that_has_it_wins_and_skips_are_explained():
    chans = [Fake("local", skip="no --source path given"), Fake("cache", ["15.18"]),
             Fake("git", skip="unreachable"), Fake("debian", ["17.11", "15.18"])]
    got = obtain(VersionSpec.parse("17"), chans)
    assert got.tree.channel == "debian" and str(got.tree.release) == "17.11"
    assert got.notes == ["local: no --source path given", "cache: no 17 here (offers 15.18)", "git: unreachable"]
    assert chans[1].fetched == [] and got.substituted_for is None and got.warning is None


def test_cache_is_preferred_over_the_network():
    cache, debian_ = Fake("cache", ["17.11"]), Fake("debian", ["17.11"])
    got = obtain(VersionSpec.parse("17.11"), [cache, debian_])
    assert got.tree.channel == "cache" and debian_.fetched == []


def test_refusing_channel_is_not_asked():
    cache = Fake("cache", ["17.11"], refuse="'latest' is decided by a remote listing")
    got = obtain(VersionSpec.parse("latest"), [cache, Fake("debian", ["18.6", "17.11"])])
    assert str(got.tree.release) == "18.6" and cache.fetched == []


def test_implicit_default_is_substituted_by_nearest_and_recorded(capsys):
    chans = [Fake("cache", skip="nothing cached yet"), Fake("debian", ["13.16", "15.18", "17.11", "19rc1"])]
    got = obtain(VersionSpec.parse("16", explicit=False), chans)
    assert str(got.tree.release) == "17.11" and got.substituted_for == "16"
    assert got.warning == ("PostgreSQL 16 cannot be obtained here (no channel offers it); "
                           "building 17.11 instead (recorded in the build's metadata)")
    assert f"! {got.warning}\n" in capsys.readouterr().out
    got = obtain(VersionSpec.parse("16", explicit=False), [Fake("debian", ["13.16", "15.18"])])
    assert str(got.tree.release) == "15.18"


def test_a_substitute_says_in_one_line_what_was_tried_why_it_failed_and_what_is_built(capsys):
    chan = Fake("debian", ["13.16", "15.18", "17.12", "18.6"], broken={"17.12"})
    got = obtain(VersionSpec.parse("16", explicit=False), [Fake("cache", skip="nothing cached yet"), chan])
    line = ("PostgreSQL 16 cannot be obtained here (no channel offers it); 17.12 is listed by debian but its files "
            "are missing (404); building 15.18 instead (recorded in the build's metadata)")
    assert got.warning == line and str(got.tree.release) == "15.18" and got.substituted_for == "16"
    out = capsys.readouterr().out.splitlines()
    assert [l for l in out if l.startswith("!")] == [f"! {line}"]   # one line, not one per attempt
    assert [l for l in out if not l.startswith("!")] == ["  · cache: nothing cached yet",
                                                         "  · debian: no 16 here (offers 13.16, 15.18, 17.12, 18.6)"]
    assert chan.fetched == ["17.12", "15.18"]


def test_a_substitute_prefers_another_release_of_the_same_major_to_a_farther_major():
    chan = Fake("debian", ["13.23", "15.18", "15.20", "17.12", "18.6"], broken={"17.12", "15.20"})
    got = obtain(VersionSpec.parse("16", explicit=False), [chan])
    assert chan.fetched == ["17.12", "15.20", "15.18"]   # not 18.6, the next major out
    assert got.warning == (
        "PostgreSQL 16 cannot be obtained here (no channel offers it); "
        f"17.12 is listed by debian but {MISSING}; 15.20 is listed by debian but {MISSING}; "
        "building 15.18 instead (recorded in the build's metadata)")


def test_a_substitute_is_taken_from_what_a_channel_delivers_unlisted_before_a_farther_major(capsys):
    chan = Pooled("debian", ["13.23", "15.18", "17.12", "18.6"], pool=["17.11"], broken={"17.12"})
    got = obtain(VersionSpec.parse("16", explicit=False), [Fake("cache", skip="nothing cached yet"), chan])
    assert chan.fetched == ["17.12", "17.11"]
    assert (str(got.tree.release), got.substituted_for) == ("17.11", "16")
    assert got.warning == ("PostgreSQL 16 cannot be obtained here (no channel offers it); "
                           f"17.12 is listed by debian but {MISSING}; building 17.11 instead (recorded in the "
                           "build's metadata)")
    chan = Pooled("debian", ["15.18", "17.12"], pool=["17.11"], broken={"17.12", "17.11"})
    got = obtain(VersionSpec.parse("16", explicit=False), [chan])
    assert str(got.tree.release) == "15.18" and got.notes[-1] == f"debian: not listed, looked for too: 17.11 {MISSING}"


def test_an_explicit_major_or_release_is_taken_unlisted_once_the_listed_ones_failed():
    chan = Pooled("debian", ["17.12"], pool=["17.11", "17.10"], broken={"17.12"})
    got = obtain(VersionSpec.parse("17"), [chan])
    assert str(got.tree.release) == "17.11" and chan.fetched == ["17.12", "17.11"]
    assert got.notes == [f"debian: 17.12 is listed but {MISSING}"]
    got = obtain(VersionSpec.parse("17.10"), [Fake("cache", ["17.11"]), chan])
    assert str(got.tree.release) == "17.10" and got.notes == ["cache: no 17.10 here (offers 17.11)"]
    with pytest.raises(SourceError, match=r"^PostgreSQL 17.9 cannot be obtained here; reachable: 17.12"):
        obtain(VersionSpec.parse("17.9"), [chan])


def test_explicit_version_never_substitutes_and_lists_reachable():
    chans = [Fake("git", skip="unreachable"), Fake("debian", ["13.16", "15.18", "17.11"])]
    with pytest.raises(SourceError, match=r"16 cannot be obtained here; reachable: 13.16, 15.18, 17.11"):
        obtain(VersionSpec.parse("16"), chans)
    assert chans[1].fetched == []


def test_nothing_answering_says_so():
    with pytest.raises(SourceError, match="no source channel answered.*git: unreachable"):
        obtain(VersionSpec.parse("17"), [Fake("git", skip="unreachable")])


def test_a_listed_release_that_cannot_be_fetched_falls_back_to_the_next_best():
    class Flaky(Fake):
        def fetch(self, release):
            if str(release) == "19rc1":
                raise SourceError("download of postgresql-19_19~rc1.orig.tar.bz2 failed: Not Found")
            return super().fetch(release)

    chan = Flaky("debian", ["19beta2", "19rc1", "18.6"])
    got = obtain(VersionSpec.parse("19"), [chan])
    assert str(got.tree.release) == "19beta2"
    assert got.notes == ["debian: 19rc1 is listed but could not be fetched "
                         "(download of postgresql-19_19~rc1.orig.tar.bz2 failed: Not Found)"]
    got = obtain(VersionSpec.parse("15"), [Fake("debian", ["15.18", "15.20"], broken={"15.20"})])
    assert str(got.tree.release) == "15.18" and got.notes == [f"debian: 15.20 is listed but {MISSING}"]


def test_the_only_release_failing_is_one_line_saying_what_and_why():
    chan = Fake("tarball", ["13.16"], broken={"13.16"})
    with pytest.raises(SourceError) as exc:
        obtain(VersionSpec.parse("13"), [chan])
    assert str(exc.value) == f"PostgreSQL 13 cannot be obtained here: 13.16 is listed by tarball but {MISSING}"


def test_channel_selection(tmp_path):
    s = Settings(root=tmp_path)
    assert [c.name for c in channels_for("auto", s)] == ["local", "cache", "git", "tarball", "debian"]
    assert [c.name for c in channels_for("debian", s)] == ["debian"]
    only = channels_for(str(tmp_path), s)
    assert [c.name for c in only] == ["local"] and only[0].path == tmp_path


def test_build_pg_refresh_reaches_every_channel_debian_included(tmp_path, monkeypatch):
    from pglab.pg import build

    seen = {}

    def stop(spec, channels):
        seen.update({c.name: c.refresh for c in channels})
        raise SourceError("stopped before fetching")

    monkeypatch.setattr(build, "obtain", stop)
    monkeypatch.setattr(build.doctor, "ensure", lambda **kw: [])
    for refresh in (False, True):
        with pytest.raises(SourceError, match="stopped"):
            build.build_pg(Settings(root=tmp_path), version="17", refresh=refresh, in_use=refuse_if_running)
        assert seen == {"local": refresh, "cache": refresh, "git": refresh, "tarball": refresh, "debian": refresh}


# ---- parsers ------------------------------------------------------------------------

def test_debian_versions_map_to_upstream_releases():
    assert upstream_release("17.11-0+deb13u1") == R("17.11")
    assert upstream_release("19~rc1-1") == R("19rc1")
    assert upstream_release("19~beta2-1") == R("19beta2")
    assert upstream_release("1:18.6-3") == R("18.6")
    assert upstream_release("garbage") is None


VERSION_PAIRS = [("0.8.7-1", "0.8.0-1"), ("1.10-1", "1.9-1"), ("19~rc1-1", "19-1"), ("19~beta2-1", "19~rc1-1"),
                 ("1:0.1-1", "9.9-1"), ("17.12-0+deb13u1", "17.12-0"), ("2.18-2", "2.18-10"), ("1.0", "1.0-0"),
                 ("1.0a-1", "1.0-1"), ("1.0+git20240101-1", "1.0-1"), ("0.8.0-1", "0.8.0-1")]


@pytest.mark.parametrize("a,b", VERSION_PAIRS)
def test_debian_version_order_agrees_with_dpkg(a, b):
    ours = compare_versions(a, b)
    for op, holds in (("lt", ours < 0), ("eq", ours == 0), ("gt", ours > 0)):
        assert (subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0) == holds, (a, op, b)


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


def test_the_security_and_updates_pockets_come_from_the_machines_apt_configuration(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /k.gpg\n\n"
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
        "Signed-By: /s.gpg\n")
    (tmp_path / "sources.list.d" / "vendor.list").write_text("deb http://vendor.example/apt nodistro-updates main\n")
    archive = archive_from_apt(tmp_path)
    lines = archive.sources_list().splitlines()
    assert lines[:5] == [f"deb-src [signed-by=/k.gpg] http://mirror.example/debian {s} main"
                         for s in ("bullseye", "bookworm", "trixie", "sid", "experimental")]
    assert lines[5:] == [line for s in ("bullseye", "bookworm", "trixie") for line in (
        f"deb-src [signed-by=/k.gpg] http://mirror.example/debian {s}-updates main",
        f"deb-src [signed-by=/s.gpg] http://sec.example/debian-security {s}-security main")]
    plain = tmp_path / "plain"
    (plain / "sources.list.d").mkdir(parents=True)
    (plain / "sources.list").write_text("deb [signed-by=/k.gpg] http://mirror.example/debian bookworm main\n")
    assert archive_from_apt(plain) == Archive("http://mirror.example/debian", Path("/k.gpg"))
    assert len(archive_from_apt(plain).sources_list().splitlines()) == 5   # no pockets it does not use


def test_sources_index_parsing_keeps_only_server_majors():
    text = ("Package: postgresql-17\nBinary: libpq5\nVersion: 17.11-0+deb13u1\nDirectory: pool/main/p/postgresql-17\n"
            "Checksums-Sha256:\n " + "a" * 64 + " 4522 postgresql-17_17.11-0+deb13u1.dsc\n\n"
            "Package: postgresql-common\nVersion: 262\n\n"
            "Package: postgresql-19\nVersion: 19~rc1-1\n\n"
            "Package: postgresql-17-pgvector\nVersion: 0.8.0-1\n")
    found = parse_sources_index(text, "sid", "http://m.example/debian")
    assert [(e["package"], e["release"], e["suite"]) for e in found] == [
        ("postgresql-17", "17.11", "sid"), ("postgresql-19", "19rc1", "sid")]
    assert found[0]["directory"] == "pool/main/p/postgresql-17" and found[0]["uri"] == "http://m.example/debian"
    assert found[0]["files"] == {"postgresql-17_17.11-0+deb13u1.dsc": [4522, "a" * 64]}


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


def test_a_failed_clone_is_explained_by_gits_first_error_not_its_fallout():
    stderr = ("remote: fatal: bad tree object 0123456789abcdef0123456789abcdef01234567        \n"
              "remote: aborting due to possible repository corruption on the remote side.\n"
              "fatal: early EOF\nfatal: fetch-pack: invalid index-pack output\n")
    assert first_error(stderr) == "fatal: bad tree object 0123456789abcdef0123456789abcdef01234567"
    assert first_error("warning: Could not find remote branch REL_13_99 to clone.\n"
                       "fatal: Remote branch REL_13_99 not found in upstream origin\n") == \
        "fatal: Remote branch REL_13_99 not found in upstream origin"
    assert first_error("") == "git failed"


# ---- the Debian channel over a fake apt and a local pool ------------------------------

class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def pool(tmp_path):
    """A folder served over HTTP on 127.0.0.1, standing in for a Debian mirror's pool."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _tarball(top, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def publish(pool_dir, package, version, upstream_files, *, upload=True, dsc_lies=False, sign=None):
    """Put a source package in the pool (unless upload=False) and return its Sources paragraph;
    `sign` clear-signs the .dsc, as an uploader does."""
    upstream = version.split(":")[-1].rsplit("-", 1)[0]
    top = f"{package}-{upstream}"
    orig = _tarball(top, upstream_files)
    patches = _tarball("debian", {"patches/series": "fix-everything.patch\n"})
    orig_name, deb_name = f"{package}_{upstream}.orig.tar.gz", f"{package}_{version}.debian.tar.xz"
    dsc_sum = _sha(b"something else") if dsc_lies else _sha(orig)
    dsc = (f"Format: 3.0 (quilt)\nSource: {package}\nVersion: {version}\nChecksums-Sha256:\n"
           f" {dsc_sum} {len(orig)} {orig_name}\n {_sha(patches)} {len(patches)} {deb_name}\n").encode()
    dsc = sign(dsc) if sign else dsc
    dsc_name = f"{package}_{version}.dsc"
    directory = f"pool/main/{package[0]}/{package}"
    if upload:
        (pool_dir / directory).mkdir(parents=True, exist_ok=True)
        for name, data in ((dsc_name, dsc), (orig_name, orig), (deb_name, patches)):
            (pool_dir / directory / name).write_bytes(data)
    files = "".join(f" {_sha(d)} {len(d)} {n}\n" for n, d in ((dsc_name, dsc), (orig_name, orig), (deb_name, patches)))
    return (f"Package: {package}\nBinary: postgresql-17-{package}\nVersion: {version}\nFormat: 3.0 (quilt)\n"
            f"Directory: {directory}\nChecksums-Sha256:\n{files}")


class FakeApt(DebianChannel):
    """The Debian channel with apt faked: `apt-get update` writes the given Sources
    indexes ({suite: (uri, text)}) into the private state; the files are served from a local pool."""

    def __init__(self, settings, indexes):
        super().__init__(settings, archive=Archive("http://fake.invalid/debian"))
        self.indexes = indexes
        self.calls = []

    def _apt(self, *args, cwd=None):
        self.calls.append(args[1])
        lists = self.state / "lists"
        if args[1] == "update":
            for suite, (_uri, text) in self.indexes.items():
                (lists / f"fake_dists_{suite}_main_source_Sources").write_text(text)
            return subprocess.CompletedProcess(args, 0, "", "")
        assert args[1] == "indextargets"
        out = "".join(f"{lists}/fake_dists_{suite}_main_source_Sources\t{uri}/\t{suite}\tyes\n"
                      for suite, (uri, _text) in self.indexes.items())
        return subprocess.CompletedProcess(args, 0, out, "")


def test_debian_release_list_is_cached_and_refresh_asks_again(tmp_path, pool, monkeypatch):
    _dir, url = pool
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    s = Settings(root=tmp_path / "root")
    pg = "Package: postgresql-17\nVersion: {}-0+deb13u1\nDirectory: pool/main/p/postgresql-17\n"
    chan = FakeApt(s, {"trixie": (url, pg.format("17.11"))})
    assert chan.catalog() == [R("17.11")] and chan.calls == ["update", "indextargets"]
    chan.indexes["trixie"] = (url, pg.format("17.12"))     # the archive moves on
    again = FakeApt(s, chan.indexes)
    assert again.catalog() == [R("17.11")] and again.calls == []   # fresh: apt is not asked
    refreshed = FakeApt(s, chan.indexes)
    refreshed.refresh = True                                       # build-pg --refresh
    assert refreshed.catalog() == [R("17.12")] and refreshed.calls == ["update", "indextargets"]
    assert FakeApt(s, chan.indexes).catalog() == [R("17.12")]


def test_debian_release_list_is_rebuilt_when_the_archive_gains_pockets(tmp_path, pool, monkeypatch):
    _dir, url = pool
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    s = Settings(root=tmp_path / "root")
    indexes = {"bullseye": (url, "Package: postgresql-13\nVersion: 13.16-0+deb11u1\n")}
    assert FakeApt(s, indexes).catalog() == [R("13.16")]
    indexes["bullseye-security"] = (url, "Package: postgresql-13\nVersion: 13.23-0+deb11u4\n")
    wider = FakeApt(s, indexes)
    wider._archive = Archive("http://fake.invalid/debian", security="http://fake.invalid/debian-security")
    assert wider.catalog() == [R("13.16"), R("13.23")] and wider.calls == ["update", "indextargets"]


def configure_of(release):
    """A configure script as far as pglab reads it: the version the tree says it is."""
    return f"#!/bin/sh\nPACKAGE_NAME='PostgreSQL'\nPACKAGE_VERSION='{release}'\n"


def _pg_paragraph(pool_dir, release, debian_version, *, upload=True):
    return publish(pool_dir, "postgresql-17", debian_version, {"configure": configure_of(release), "README": release},
                   upload=upload)


def test_debian_fetch_tries_every_pocket_that_lists_the_release(tmp_path, pool, monkeypatch):
    pool_dir, url = pool
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    s = Settings(root=tmp_path / "root")
    missing = _pg_paragraph(pool_dir, "17.12", "17.12-0+deb13u1", upload=False)
    security_dir = pool_dir / "security"
    security_dir.mkdir()
    present = _pg_paragraph(security_dir, "17.12", "17.12-0+deb13u1")
    chan = FakeApt(s, {"trixie": (url, missing), "trixie-security": (f"{url}/security", present)})
    assert chan.catalog() == [R("17.12")]
    tree = chan.fetch(R("17.12"))
    assert (tree.path / "README").read_text() == "17.12" and not (tree.path / "debian").exists()
    assert tree.origin == ("Debian postgresql-17 17.12-0+deb13u1 (trixie-security): upstream tarball, "
                           "Debian's patches not applied")
    assert tree.identity == "sha256:" + chan._load()["postgresql"][1]["files"]["postgresql-17_17.12.orig.tar.gz"][1]

    nowhere = FakeApt(Settings(root=tmp_path / "other"), {"trixie": (url, missing), "trixie-security": (url, missing)})
    nowhere.catalog()
    with pytest.raises(Unfetchable) as exc:
        nowhere.fetch(R("17.12"))
    assert exc.value.why == MISSING and "(tried trixie, trixie-security)" in str(exc.value)
    assert not (tmp_path / "other" / "downloads" / "debian" / "postgresql-17_17.12-0+deb13u1").exists()
    assert not list((tmp_path / "other").glob("src/*"))


class Uploader:
    """An OpenPGP key of a test's own (gpg, in a short-lived home), as a Debian uploader's."""

    def __init__(self, name):
        import os
        import tempfile
        self.home = Path(tempfile.mkdtemp(prefix="pglab-gpg-"))     # short: gpg-agent's socket lives here
        self.env = {**os.environ, "GNUPGHOME": str(self.home)}
        self.gpg("--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", name, "ed25519", "sign", "never")
        self.keyring = self.home / "keyring.gpg"
        self.keyring.write_bytes(self.gpg("--export").stdout)

    def gpg(self, *args, stdin=None):
        return subprocess.run(["gpg", "--batch", "--quiet", *args], input=stdin, env=self.env,
                              capture_output=True, check=True)

    def sign(self, data):
        return self.gpg("--clearsign", stdin=data).stdout

    def close(self):
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=self.env, capture_output=True)
        import shutil
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def uploaders():
    """(a Debian developer, a stranger): two keys; the channel trusts the first's keyring."""
    pair = Uploader("Pat Uploader <pat@example.org>"), Uploader("Sam Stranger <sam@example.org>")
    yield pair
    for u in pair:
        u.close()


def _pool_case(tmp_path, pool, monkeypatch, uploaders, *, signer=0, dsc_lies=False, keyring=True):
    """17.12 listed, its files missing; 17.11 in the pool only, its .dsc signed by uploaders[signer]."""
    pool_dir, url = pool
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    listed = _pg_paragraph(pool_dir, "17.12", "17.12-0+deb13u1", upload=False)
    publish(pool_dir, "postgresql-17", "17.11-0+deb13u1", {"configure": configure_of("17.11"), "README": "17.11"},
            sign=uploaders[signer].sign, dsc_lies=dsc_lies)
    s = Settings(root=tmp_path / "root")
    chan = FakeApt(s, {"trixie": (url, listed)})
    chan.keyrings = (uploaders[0].keyring,) if keyring else (tmp_path / "no-keyring.gpg",)
    return s, chan


def test_debian_takes_an_earlier_release_from_the_pool_signed_by_a_developer(tmp_path, pool, monkeypatch, uploaders):
    s, chan = _pool_case(tmp_path, pool, monkeypatch, uploaders)
    got = obtain(VersionSpec.parse("17"), [chan])
    tree = got.tree
    assert (tree.release, tree.channel, (tree.path / "README").read_text()) == (R("17.11"), "debian", "17.11")
    assert tree.origin == ("Debian postgresql-17 17.11-0+deb13u1 (in trixie's pool, no longer in its index; "
                           ".dsc signed by Pat Uploader <pat@example.org>): upstream tarball, Debian's patches not applied")
    orig = pool[0] / "pool/main/p/postgresql-17/postgresql-17_17.11.orig.tar.gz"
    assert tree.identity == f"sha256:{_sha(orig.read_bytes())}"
    assert got.notes == [f"debian: 17.12 is listed but {MISSING}"]
    assert obtain(VersionSpec.parse("17"), [chan]).tree.identity == tree.identity     # downloaded once, checked again
    default = obtain(VersionSpec.parse("16", explicit=False), [chan])                   # the default's stand-in
    assert (default.tree.identity, default.substituted_for) == (tree.identity, "16")


def test_debian_refuses_a_pool_release_signed_by_a_stranger(tmp_path, pool, monkeypatch, uploaders):
    s, chan = _pool_case(tmp_path, pool, monkeypatch, uploaders, signer=1)
    with pytest.raises(SourceError) as exc:
        obtain(VersionSpec.parse("17"), [chan])
    assert str(exc.value) == f"PostgreSQL 17 cannot be obtained here: 17.12 is listed by debian but {MISSING}"
    assert not list((s.layout.downloads / "debian").glob("*/*.dsc")) and not list(s.layout.sources.glob("17*"))


def test_debian_refuses_a_pool_tarball_its_signed_dsc_does_not_name(tmp_path, pool, monkeypatch, uploaders):
    s, chan = _pool_case(tmp_path, pool, monkeypatch, uploaders, dsc_lies=True)
    chan.catalog()
    [release] = chan.unlisted(VersionSpec.parse("17"), [R("17.12")])[:1]
    with pytest.raises(Unfetchable) as exc:
        chan.fetch(release)
    assert exc.value.why.startswith("postgresql-17_17.11.orig.tar.gz does not match postgresql-17_17.11-0+deb13u1.dsc, "
                                    "signed by Pat Uploader <pat@example.org> (SHA-256 ")
    assert not list((s.layout.downloads / "debian").glob("*/*.orig.tar.gz")) and not list(s.layout.sources.glob("17*"))


def test_debian_pool_release_without_the_keyring_says_what_installs_it(tmp_path, pool, monkeypatch, uploaders):
    s, chan = _pool_case(tmp_path, pool, monkeypatch, uploaders, keyring=False)
    chan.catalog()
    assert chan.unlisted(VersionSpec.parse("17"), [R("17.12")]) == [R("17.11"), R("17.10"), R("17.9")]
    with pytest.raises(Unfetchable) as exc:
        chan.fetch(R("17.11"))
    assert exc.value.why == "cannot be checked: debian-keyring is not installed (`invoke doctor` installs it)"
    with pytest.raises(Unfetchable) as exc:
        chan.fetch(R("17.10"))
    assert exc.value.why == f"is not in the pool either ({MISSING})"


def test_debian_looks_in_the_pool_only_before_a_listed_point_release(tmp_path, pool, monkeypatch, uploaders):
    s, chan = _pool_case(tmp_path, pool, monkeypatch, uploaders)
    chan.catalog()
    assert chan.unlisted(VersionSpec.parse("17.12"), [R("17.12")]) == []     # listed: tried already
    assert chan.unlisted(VersionSpec.parse("17.13"), [R("17.12")]) == []     # newer than any listed
    assert chan.unlisted(VersionSpec.parse("17.11"), [R("17.12")]) == [R("17.11")]
    assert chan.unlisted(VersionSpec.parse("19"), [R("19rc1")]) == []        # a pre-release: no point releases
    assert chan.unlisted(VersionSpec.parse("17"), [R("17.12"), R("17.10")]) == [R("17.11"), R("17.9")]
    assert chan.unlisted(VersionSpec.parse("17"), [R("15.18")]) == []        # nothing of 17 listed: no pool folder


def test_download_says_a_missing_file_is_missing(tmp_path, pool):
    _dir, url = pool
    with pytest.raises(Unfetchable) as exc:
        download(f"{url}/pool/nothing.tar.gz", tmp_path / "nothing.tar.gz")
    assert exc.value.why == MISSING and not (tmp_path / "nothing.tar.gz").exists()


def _published(tmp_path, pool, monkeypatch, *packages, suite="sid"):
    pool_dir, url = pool
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    s = Settings(root=tmp_path / "root")
    return s, FakeApt(s, {suite: (url, "\n\n".join(packages) + "\n")})


def test_source_package_newest_version_unpacked_without_debian_patches(tmp_path, pool, monkeypatch):
    pool_dir, _url = pool
    s, chan = _published(tmp_path, pool, monkeypatch,
                         publish(pool_dir, "hypopg", "1.4.1-2", {"hypopg.control": "1.4.1"}),
                         publish(pool_dir, "hypopg", "1.4.10-1", {"hypopg.control": "1.4.10"}),
                         publish(pool_dir, "pgvector", "0.8.0-1", {"vector.control": "x"}))
    path, info = fetch_source_package(s, "hypopg", channel=chan)
    assert path == s.layout.published / "hypopg_1.4.10-1"
    assert sorted(p.name for p in path.iterdir()) == ["hypopg.control"]          # upstream's tree only
    assert (path / "hypopg.control").read_text() == "1.4.10"
    assert (info.package, info.version, info.upstream, info.suite) == ("hypopg", "1.4.10-1", "1.4.10", "sid")
    assert info.origin.endswith("/pool/main/h/hypopg/hypopg_1.4.10.orig.tar.gz")
    assert info.sha256 == _sha((s.layout.downloads / "debian" / "hypopg_1.4.10-1" / "hypopg_1.4.10.orig.tar.gz").read_bytes())
    assert sorted(p.name for p in (s.layout.downloads / "debian" / "hypopg_1.4.10-1").iterdir()) == [
        "hypopg_1.4.10-1.dsc", "hypopg_1.4.10.orig.tar.gz"]                       # no .debian.tar.xz

    # cached: the same tree, with nothing downloaded again
    (s.layout.downloads / "debian" / "hypopg_1.4.10-1" / "hypopg_1.4.10.orig.tar.gz").unlink()
    again, info2 = fetch_source_package(s, "hypopg", channel=chan)
    assert again == path and info2 == info
    assert not (s.layout.downloads / "debian" / "hypopg_1.4.10-1" / "hypopg_1.4.10.orig.tar.gz").exists()
    older, _ = fetch_source_package(s, "hypopg", "1.4.1", channel=chan)        # an upstream version
    assert (older / "hypopg.control").read_text() == "1.4.1"


def test_source_package_listed_but_missing_falls_back_to_the_next_version(tmp_path, pool, monkeypatch, capsys):
    pool_dir, _url = pool
    s, chan = _published(tmp_path, pool, monkeypatch,
                         publish(pool_dir, "pgvector", "0.8.7-1", {"vector.control": "new"}, upload=False),
                         publish(pool_dir, "pgvector", "0.8.0-1", {"vector.control": "old"}))
    path, info = fetch_source_package(s, "pgvector", channel=chan)
    assert info.version == "0.8.0-1" and (path / "vector.control").read_text() == "old"
    assert f"Debian pgvector: 0.8.7-1 (sid) is listed but {MISSING}; taking 0.8.0-1 (sid)" in capsys.readouterr().out


@pytest.mark.parametrize("ask,message", [
    ("no-such-ext", "Debian's source archive has no source package no-such-ext"),
    ("postgresql-17-pgvector", "Debian's source archive has no source package postgresql-17-pgvector; "
                               "it is a binary package built from the source package pgvector"),
])
def test_source_package_that_does_not_exist_is_one_line(tmp_path, pool, monkeypatch, ask, message):
    pool_dir, _url = pool
    s, chan = _published(tmp_path, pool, monkeypatch, publish(pool_dir, "pgvector", "0.8.0-1", {"vector.control": "x"}))
    with pytest.raises(SourceError) as exc:
        fetch_source_package(s, ask, channel=chan)
    assert str(exc.value) == message
    assert not list(s.layout.published.glob("*"))   # nothing published, no lock or staging left


def test_source_package_that_does_not_match_its_checksums_is_refused(tmp_path, pool, monkeypatch):
    pool_dir, _url = pool
    s, chan = _published(tmp_path, pool, monkeypatch, publish(pool_dir, "pgvector", "0.8.0-1", {"x": "y"}))
    tarball = pool_dir / "pool/main/p/pgvector/pgvector_0.8.0.orig.tar.gz"
    tarball.write_bytes(tarball.read_bytes() + b"tampered")
    with pytest.raises(SourceError) as exc:
        fetch_source_package(s, "pgvector", channel=chan)
    assert str(exc.value).startswith("Debian source package pgvector cannot be fetched: 0.8.0-1 (sid) is listed but "
                                     "pgvector_0.8.0.orig.tar.gz does not match Debian's signed index")
    assert not list(s.layout.published.glob("*"))   # nothing published, no lock or staging left
    assert not (s.layout.downloads / "debian" / "pgvector_0.8.0-1" / "pgvector_0.8.0.orig.tar.gz").exists()

    s2, chan2 = _published(tmp_path / "b", pool, monkeypatch,
                           publish(pool_dir, "hypopg", "1.4.1-2", {"x": "y"}, dsc_lies=True))
    with pytest.raises(SourceError, match=r"1.4.1-2 \(sid\) is listed but its .dsc and Debian's signed index disagree"):
        fetch_source_package(s2, "hypopg", channel=chan2)
    assert not list(s2.layout.published.glob("*"))


# ---- every channel checks that it got what was asked ------------------------------------

def _dsc_text(source, version, orig_name, orig):
    return (f"Format: 3.0 (quilt)\nSource: {source}\nVersion: {version}\nChecksums-Sha256:\n"
            f" {_sha(orig)} {len(orig)} {orig_name}\n").encode()


POOL = "pool/main/p/postgresql-17"
ASKED = "not postgresql-17 17.11 (postgresql-17_17.11.orig.tar.*); removed"


@pytest.mark.parametrize("served,describes", [
    ("older", "postgresql-17 17.10-0+deb13u1 (postgresql-17_17.10.orig.tar.gz)"),
    ("another package", "postgresql-16 16.10-0+deb13u1 (postgresql-16_16.10.orig.tar.gz)"),
    ("another tarball", "postgresql-17 17.11-0+deb13u1 (postgresql-17_17.10.orig.tar.gz)"),
])
def test_debian_refuses_a_signed_pool_dsc_of_another_release_under_the_requested_name(
        tmp_path, pool, monkeypatch, uploaders, served, describes):
    """A mirror hands back, as 17.11's .dsc, one a developer signed for something else: an
    older point release, another major, or 17.11 with 17.10's tarball.  Refused in one line;
    17.10, which the pool carries under its own name, is then taken for what it is."""
    s, chan = _pool_case(tmp_path, pool, monkeypatch, uploaders)
    publish(pool[0], "postgresql-17", "17.10-0+deb13u1", {"configure": configure_of("17.10"), "README": "17.10"},
            sign=uploaders[0].sign)
    older = pool[0] / POOL / "postgresql-17_17.10.orig.tar.gz"
    dsc = {"older": (pool[0] / POOL / "postgresql-17_17.10-0+deb13u1.dsc").read_bytes(),
           "another package": uploaders[0].sign(_dsc_text("postgresql-16", "16.10-0+deb13u1",
                                                          "postgresql-16_16.10.orig.tar.gz", b"16.10")),
           "another tarball": uploaders[0].sign(_dsc_text("postgresql-17", "17.11-0+deb13u1",
                                                          older.name, older.read_bytes()))}[served]
    (pool[0] / POOL / "postgresql-17_17.11-0+deb13u1.dsc").write_bytes(dsc)
    why = f"has a .dsc signed by Pat Uploader <pat@example.org> for {describes}, {ASKED}"

    chan.catalog()
    assert chan.unlisted(VersionSpec.parse("17.11"), [R("17.12")]) == [R("17.11")]
    with pytest.raises(Unfetchable) as exc:
        chan.fetch(R("17.11"))
    assert (str(exc.value), exc.value.why) == (
        f"postgresql-17_17.11-0+deb13u1.dsc: signed by Pat Uploader <pat@example.org>, but for {describes}, {ASKED}",
        why)
    assert not list(s.layout.sources.glob("*")) and not list(s.layout.downloads.rglob("*17.11*"))

    got = obtain(VersionSpec.parse("17"), [chan])
    assert (got.tree.release, (got.tree.path / "README").read_text()) == (R("17.10"), "17.10")
    assert got.notes == [f"debian: 17.12 is listed but {MISSING}", f"debian: not listed, looked for too: 17.11 {why}"]
    assert sorted(p.name for p in s.layout.sources.iterdir()) == ["17.10", "17.10.json"]


def _tar_bz2(top, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upstream_site(folder, release, tarball):
    """The release tarball site's layout for one release: vN/, its tarball and .sha256."""
    name = f"postgresql-{release}.tar.bz2"
    (folder / f"v{release}").mkdir(parents=True)
    (folder / f"v{release}" / name).write_bytes(tarball)
    (folder / f"v{release}" / f"{name}.sha256").write_text(f"{_sha(tarball)}  {name}\n")


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def test_the_tarball_channel_refuses_another_releases_tree_under_the_requested_name(tmp_path, pool):
    """13.22's tree, as postgresql-13.23.tar.bz2 with a .sha256 that matches it."""
    site, url = pool
    upstream_site(site, "13.23", _tar_bz2("postgresql-13.22", {"configure": configure_of("13.22")}))
    s = Settings(root=tmp_path / "root", tarball_url=url)
    with pytest.raises(SourceError) as exc:
        obtain(VersionSpec.parse("13.23"), [TarballChannel(s)])
    assert str(exc.value) == (
        "PostgreSQL 13.23 cannot be obtained here: 13.23 is listed by tarball but delivers a tree that says it is "
        f"PostgreSQL 13.22 (configure's PACKAGE_VERSION), not 13.23 (from {url}/v13.23/postgresql-13.23.tar.bz2); "
        "nothing of it was kept")
    assert _files(s.layout.root) == [] and list(s.layout.sources.iterdir()) == []   # no tree, staging, lock or tarball


def test_the_tarball_channel_refuses_a_tree_that_names_no_version(tmp_path, pool):
    site, url = pool
    upstream_site(site, "13.23", _tar_bz2("postgresql-13.23", {"configure": "#!/bin/sh\n"}))
    s = Settings(root=tmp_path / "root", tarball_url=url)
    with pytest.raises(Unfetchable) as exc:
        TarballChannel(s).fetch(R("13.23"))
    assert exc.value.why == ("delivers a tree that names no version (configure's PACKAGE_VERSION), not 13.23 "
                             f"(from {url}/v13.23/postgresql-13.23.tar.bz2); nothing of it was kept")
    assert _files(s.layout.root) == []


def _git_repo(folder, tag, files):
    """A repository with one commit of `files`, tagged `tag`."""
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@pglab.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@pglab.invalid", "PATH": "/usr/bin:/bin"}
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    for args in (["init", "--quiet"], ["add", "-A"], ["commit", "--quiet", "-m", "stamp"], ["tag", tag]):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True)
    return folder


def test_the_git_channel_refuses_a_tag_whose_tree_says_another_release(tmp_path):
    repo = _git_repo(tmp_path / "postgresql", "REL_13_23", {"configure": configure_of("13.22")})
    s = Settings(root=tmp_path / "root", git_url=str(repo))
    with pytest.raises(SourceError) as exc:
        obtain(VersionSpec.parse("13.23"), [GitChannel(s)])
    assert str(exc.value) == (
        "PostgreSQL 13.23 cannot be obtained here: 13.23 is listed by git but delivers a tree that says it is "
        f"PostgreSQL 13.22 (configure's PACKAGE_VERSION), not 13.23 (from {repo} REL_13_23); nothing of it was kept")
    assert _files(s.layout.root) == []


def test_the_git_channel_checks_the_clone_is_the_commit_its_tag_was_listed_with(tmp_path):
    repo = _git_repo(tmp_path / "postgresql", "REL_13_23", {"configure": configure_of("13.23")})
    s = Settings(root=tmp_path / "root", git_url=str(repo))
    chan = GitChannel(s)
    assert chan.catalog() == [R("13.23")]
    listed = chan.commits["REL_13_23"]
    chan.commits["REL_13_23"] = "0" * 40            # the tag moved between ls-remote and the clone
    with pytest.raises(Unfetchable) as exc:
        chan.fetch(R("13.23"))
    assert exc.value.why == f"its clone is of commit {listed}, not the {'0' * 40} its tag was listed with"
    assert _files(s.layout.root) == []
    chan.commits["REL_13_23"] = listed
    tree = chan.fetch(R("13.23"))
    assert (tree.identity, tree.origin) == (f"git:{listed}", f"{repo} REL_13_23")


def test_an_annotated_tag_is_listed_with_its_commit():
    out = ("1" * 40 + "\trefs/tags/REL_17_11\n" + "2" * 40 + "\trefs/tags/REL_17_11^{}\n"
           + "3" * 40 + "\trefs/tags/REL_19_RC1\n")
    assert tag_commits(out) == {"REL_17_11": "2" * 40, "REL_19_RC1": "3" * 40}
    assert parse_tags(out) == [R("17.11"), R("19rc1")]


def test_the_debian_channel_refuses_a_listed_tarball_whose_tree_says_another_release(tmp_path, pool, monkeypatch):
    pool_dir, url = pool
    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    listed = publish(pool_dir, "postgresql-17", "17.12-0+deb13u1", {"configure": configure_of("17.11")})
    s = Settings(root=tmp_path / "root")
    chan = FakeApt(s, {"trixie": (url, listed)})
    with pytest.raises(SourceError) as exc:
        obtain(VersionSpec.parse("17.12"), [chan])
    assert str(exc.value) == (
        "PostgreSQL 17.12 cannot be obtained here: 17.12 is listed by debian but delivers a tree that says it is "
        "PostgreSQL 17.11 (configure's PACKAGE_VERSION), not 17.12 (from Debian postgresql-17 17.12-0+deb13u1 "
        "(trixie): upstream tarball, Debian's patches not applied); nothing of it was kept")
    assert list(s.layout.sources.iterdir()) == []
    assert not list(s.layout.downloads.rglob("*.orig.tar.gz"))


def test_the_cache_refuses_and_drops_a_tree_that_says_another_release(tmp_path):
    s = Settings(root=tmp_path / "root")
    tree = s.layout.sources / "13.23"
    tree.mkdir(parents=True)
    (tree / "configure").write_text(configure_of("13.22"))
    record_cached(s, tree, R("13.23"), channel="tarball", identity="sha256:" + "a" * 64, origin="http://x/13.23")
    with pytest.raises(SourceError) as exc:
        obtain(VersionSpec.parse("13.23"), [CacheChannel(s)])
    assert str(exc.value) == (
        "PostgreSQL 13.23 cannot be obtained here: 13.23 is listed by cache but delivers a tree that says it is "
        f"PostgreSQL 13.22 (configure's PACKAGE_VERSION), not 13.23 (from {tree}, fetched from http://x/13.23); "
        "removed from the cache")
    assert list(s.layout.sources.iterdir()) == []


# ---- one fetch per release, however many processes ask ------------------------------------

class _Counting(SimpleHTTPRequestHandler):
    """Counts the GETs of each path, and serves archives slowly (`delay` s): long enough
    for a second process to come to a release's lock while the first holds it."""

    delay = 0.0
    counts = None

    def do_GET(self):
        self.counts[self.path] += 1
        if self.path.endswith((".tar.bz2", ".tar.gz")):
            time.sleep(self.delay)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_site(tmp_path):
    """(folder, url, counts): a folder served on 127.0.0.1 whose archives take 3 s to come."""
    root = tmp_path / "site"
    root.mkdir()
    counts = collections.Counter()
    handler = type("Handler", (_Counting,), {"delay": 3.0, "counts": counts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_port}", counts
    server.shutdown()
    server.server_close()


def _together(script, *args):
    """Two processes running `script ARGS` started together: [(process, stdout)], each run to its end."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}     # the scripts import this module's FakeApt
    procs = [subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        done.append((proc, out))
    return done


def _first_and_second(done, doing):
    """(first, second): the process that did `doing` (a phase line) and the one that waited."""
    [first] = [(p, out) for p, out in done if f"▸ {doing}\n" in out]
    [second] = [(p, out) for p, out in done if p is not first[0]]
    return first, second


FETCH_RELEASE = """import sys
from pathlib import Path
from pglab.config import Settings
from pglab.pg.sources import obtain
from pglab.pg.sources.tarball import TarballChannel
from pglab.pg.versions import VersionSpec
settings = Settings(root=Path(sys.argv[1]), tarball_url=sys.argv[2])
tree = obtain(VersionSpec.parse(sys.argv[3]), [TarballChannel(settings)]).tree
print("got", tree.path, tree.channel, tree.identity)
"""


def test_two_processes_fetching_one_release_download_and_unpack_it_once(tmp_path, slow_site):
    site, url, counts = slow_site
    tarball = _tar_bz2("postgresql-13.23", {"configure": configure_of("13.23"), "README": "13.23"})
    upstream_site(site, "13.23", tarball)
    script = tmp_path / "fetch.py"
    script.write_text(FETCH_RELEASE)
    root = tmp_path / "root"
    done = _together(script, root, url, "13.23")

    (first, first_out), (second, second_out) = _first_and_second(done, "download postgresql-13.23.tar.bz2")
    assert first_out.count("▸ unpack postgresql-13.23.tar.bz2\n") == 1
    assert "▸ download" not in second_out and "▸ unpack" not in second_out
    waiting = (f"  · another pglab is fetching PostgreSQL 13.23: waiting for it "
               f"(pid {first.pid}: {_as_shown(f'fetch.py {root} {url} 13.23')})")
    assert [l for l in second_out.splitlines() if "waiting" in l] == [waiting]
    assert "waiting" not in first_out
    got = f"got {root}/src/13.23 tarball sha256:{_sha(tarball)}\n"
    assert first_out.endswith(got) and second_out.endswith(got)
    assert counts["/v13.23/postgresql-13.23.tar.bz2"] == 1
    assert sorted(p.name for p in (root / "src").iterdir()) == ["13.23", "13.23.json"]   # no staging, no lock
    assert sorted(p.name for p in (root / "downloads").iterdir()) == ["postgresql-13.23.tar.bz2"]   # no part file
    assert (root / "src" / "13.23" / "README").read_text() == "13.23"

    # fetched: a third run takes the cached tree without downloading or unpacking again
    again = subprocess.run([sys.executable, str(script), root, url, "13.23"], capture_output=True, text=True, check=True)
    assert again.stdout == got and counts["/v13.23/postgresql-13.23.tar.bz2"] == 1


FETCH_PUBLISHED = """import sys
from pathlib import Path
from pglab.config import Settings
from pglab.pg.sources import debian
from pglab.pg.sources.debian import fetch_source_package
from tests.unit.test_sources import FakeApt
debian.shutil.which = lambda name: f"/usr/bin/{name}"
settings = Settings(root=Path(sys.argv[1]))
channel = FakeApt(settings, {"sid": (sys.argv[2], Path(sys.argv[3]).read_text())})
path, info = fetch_source_package(settings, "hypopg", channel=channel)
print("got", path, info.version, info.sha256)
"""


def test_two_processes_fetching_one_published_extension_download_and_unpack_it_once(tmp_path, slow_site):
    site, url, counts = slow_site
    index = tmp_path / "Sources"
    index.write_text(publish(site, "hypopg", "1.4.1-2", {"hypopg.control": "1.4.1"}) + "\n")
    script = tmp_path / "fetch.py"
    script.write_text(FETCH_PUBLISHED)
    root = tmp_path / "root"
    done = _together(script, root, url, index)

    (first, first_out), (second, second_out) = _first_and_second(done, "download hypopg_1.4.1.orig.tar.gz")
    assert first_out.count("▸ unpack hypopg_1.4.1.orig.tar.gz\n") == 1
    assert "▸ download" not in second_out and "▸ unpack" not in second_out
    waiting = (f"  · another pglab is fetching Debian's hypopg 1.4.1-2: waiting for it "
               f"(pid {first.pid}: {_as_shown(f'fetch.py {root} {url} {index}')})")
    assert [l for l in second_out.splitlines() if "another pglab is fetching" in l] == [waiting]
    orig = (site / "pool/main/h/hypopg/hypopg_1.4.1.orig.tar.gz").read_bytes()
    got = f"got {root}/published/hypopg_1.4.1-2 1.4.1-2 {_sha(orig)}\n"
    assert first_out.endswith(got) and second_out.endswith(got)
    assert counts["/pool/main/h/hypopg/hypopg_1.4.1.orig.tar.gz"] == 1
    assert sorted(p.name for p in (root / "published").iterdir()) == ["hypopg_1.4.1-2", "hypopg_1.4.1-2.json"]
    assert (root / "published" / "hypopg_1.4.1-2" / "hypopg.control").read_text() == "1.4.1"


def test_an_unreachable_address_is_remembered_for_that_address_only(tmp_path):
    """A tarball site found unreachable is not asked again for a while; another site (the
    setting changed: a mirror, a local copy) is asked at once."""
    memo = Memo(Settings(root=tmp_path))
    memo.failed("tarball", "upstream tarballs unreachable (example.invalid: no such host)", "https://example.invalid/src")
    assert memo.recent_failure("tarball", "https://example.invalid/src").startswith(
        "upstream tarballs unreachable (example.invalid: no such host) (0 min ago; --refresh retries now)")
    assert memo.recent_failure("tarball", "http://127.0.0.1:8080/source") is None
    assert memo.recent_failure("git", "https://example.invalid/src") is None


def _as_shown(command):
    """A waiting line's command as pglab.locks shows it: cut at 200 characters (a long temporary path)."""
    return command if len(command) <= 200 else command[:199] + "…"

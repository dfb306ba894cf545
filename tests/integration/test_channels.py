"""The upstream channels end to end, against a local copy of upstream's layout.

Upstream (the release tarballs and the git repository) is what a user with a
network takes PostgreSQL 14 and 16 from, and this machine cannot reach it; so
it is rebuilt here from one real release.  Debian's orig tarball of 13.N *is*
upstream's postgresql-13.N.tar.bz2 (same bytes, same SHA-256):

  - an HTTP server on 127.0.0.1 lays it out as the tarball site does: a listing
    with v13.N/ among other versions, the tarball and its .sha256 in sha256sum
    format; a second tree serves a .sha256 that does not match;
  - a bare git repository holds the unpacked tree (less what its .gitignore files
    leave out, as upstream's repository does) at tag REL_13_N, served by
    `git daemon` on 127.0.0.1, plus a tag REL_13_<N-1> whose tree is missing, so
    that ls-remote lists it but a clone of it fails (made once per tarball and
    kept under the temp dir: the same bytes give the same repository).

build-pg then builds from each into a temporary working area, as a user would
(INVOKE_PGLAB_* environment), and a cluster starts on the result.  The
working area keeps one path from run to run so that ccache serves the second
build and later runs (a cold debug build of 13 takes about 5 minutes on 2 cores).

The same area, emptied, then sees several pglab processes at once: two build-pg
of the release and an `invoke ci` beside them must fetch, unpack and build it
once, the second waiting for the first and saying so; two ext-test of one
published extension must fetch and unpack it once.  Who goes first is decided
by a gate the test holds (the tarball site holds the tarball back; the test
holds the extension's download lock) until the second is seen waiting.
"""

import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pglab import locks
from pglab.cluster import Cluster
from pglab.config import Settings
from pglab.errors import SourceError
from pglab.ext import prestart
from pglab.pg.builds import Build
from pglab.pg.sources import sha256_of
from pglab.pg.sources.debian import fetch_source_package
from pglab.pg.versions import Release
from pglab.servers import stop_warm

from ..conftest import invoke, shared_tmp, stable_path
from .conftest import free_port, invoke_in_background, release_13_tarball, serve_folder, serve_gated, wait_until

_GIT_ENV = {"GIT_AUTHOR_NAME": "pglab test", "GIT_AUTHOR_EMAIL": "test@pglab.invalid",
            "GIT_COMMITTER_NAME": "pglab test", "GIT_COMMITTER_EMAIL": "test@pglab.invalid",
            "GIT_AUTHOR_DATE": "1722880000 +0000", "GIT_COMMITTER_DATE": "1722880000 +0000"}


def _git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **_GIT_ENV}).stdout.strip()


def _git_daemon(base):
    """`git daemon` serving `base` on 127.0.0.1; (process, port) once it accepts connections."""
    for _attempt in range(5):
        port = free_port()
        proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                                 f"--base-path={base}", "--export-all", "--informative-errors", str(base)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return proc, port
            except OSError:
                time.sleep(0.1)
        proc.terminate()
        proc.wait()
    pytest.fail("git daemon would not start on 127.0.0.1")


def _upstream_git(tarball, sha, release, previous):
    """A folder holding postgresql.git as upstream's repository would for this release: the
    unpacked tree at tag REL_13_N (less what its .gitignore files leave out), and a tag
    REL_13_<N-1> naming a commit whose tree is missing.  Its commits have fixed authors and
    dates, so the same tarball gives the same repository: it is kept under the temp dir by
    the tarball's SHA-256 and made once (about 6 s), then only read (git daemon, clones)."""
    kept = shared_tmp(f"pglab-test-upstream-git-{sha[:16]}")
    tag = f"REL_13_{release.number}"
    if (kept / "postgresql.git" / "refs" / "tags" / tag).is_file():
        return kept
    staging = Path(tempfile.mkdtemp(prefix=f"{kept.name}.", dir=kept.parent))
    tree = staging / f"postgresql-{release}"
    subprocess.run(["tar", "-xjf", str(tarball), "-C", str(staging)], check=True)
    repo = staging / "postgresql.git"
    _git("init", "--quiet", "--bare", str(repo))
    _git("config", "pack.compression", "1", cwd=repo)   # clones here are local: spend no time squeezing
    _git("config", "gc.auto", "0", cwd=repo)            # nor repacking the one big commit
    work = ["--git-dir", str(repo), "--work-tree", str(tree)]
    _git(*work, "add", "-A")
    _git(*work, "commit", "--quiet", "-m", f"Stamp {release}.")
    _git("--git-dir", str(repo), "tag", tag)
    broken = subprocess.run(["git", "--git-dir", str(repo), "hash-object", "-t", "commit", "-w", "--literally", "--stdin"],
                            input=f"tree {'0123456789abcdef' * 2}01234567\nauthor pglab test <test@pglab.invalid> "
                                  f"1722880000 +0000\ncommitter pglab test <test@pglab.invalid> 1722880000 +0000\n\n"
                                  f"Stamp {previous}.\n", capture_output=True, text=True, check=True).stdout.strip()
    _git("--git-dir", str(repo), "update-ref", f"refs/tags/REL_13_{previous.number}", broken)
    shutil.rmtree(tree)
    staging.chmod(0o755)
    try:
        staging.rename(kept)          # another run may have made it meanwhile: same bytes, keep theirs
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return kept


@pytest.fixture(scope="module")
def upstream(settings, tmp_path_factory):
    """Upstream's tarball site and git repository for one 13.N release, on 127.0.0.1."""
    release, tarball, sha = release_13_tarball(settings)
    top = tmp_path_factory.mktemp("upstream")
    name = f"postgresql-{release}.tar.bz2"
    previous = Release(13, release.stage, release.number - 1)

    # the tarball site: /source/v13.N/ with the tarball and its .sha256, among other versions
    site = top / "site"
    for folder, digest in (("source", sha), ("tampered", "0" * 64)):
        (site / folder / f"v{release}").mkdir(parents=True)
        (site / folder / f"v{release}" / name).symlink_to(tarball)
        (site / folder / f"v{release}" / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    for other in ("v9.6.24", f"v{previous}"):   # an old-style version, and one listed whose files are gone
        (site / "source" / other).mkdir()
    server = serve_folder(site)

    # the git repository: the unpacked tree at REL_13_N; REL_13_<N-1> names a commit whose tree is gone
    base = _upstream_git(tarball, sha, release, previous)
    tag = f"REL_13_{release.number}"
    commit = _git("--git-dir", str(base / "postgresql.git"), "rev-parse", tag)
    daemon, port = _git_daemon(base)

    yield SimpleNamespace(
        release=release, previous=previous, sha256=sha, commit=commit, tag=tag, site=site, tarball=tarball,
        tarball_url=f"http://127.0.0.1:{server.server_port}/source",
        tampered_url=f"http://127.0.0.1:{server.server_port}/tampered",
        git_url=f"git://127.0.0.1:{port}/postgresql.git")
    daemon.terminate()
    daemon.wait()
    server.shutdown()
    server.server_close()
    shutil.rmtree(top, ignore_errors=True)


def _env(root, upstream, tarball_url=None):
    return {"INVOKE_PGLAB_ROOT": str(root), "INVOKE_PGLAB_CACHE": str(root), "INVOKE_PGLAB_GIT_URL": upstream.git_url,
            "INVOKE_PGLAB_TARBALL_URL": tarball_url or upstream.tarball_url}


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    """A working area for the real builds (a debug 13 is about 1 GB with its tree), empty
    but for configure's kept results, at the same path on every run so that ccache and
    those results serve the next run (conftest.stable_path)."""
    with stable_path("pglab-test-channels", tmp_path_factory.mktemp("work-area"), keep=("configure",)) as (root, _):
        yield root
        s = Settings.load(root=root, cache=root)
        stop_warm(s)            # ext-test's warm servers and pre-started pytest, before the area is emptied
        prestart.stop(s)


def _built(root, upstream, channel, identity, origin, done):
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert f"source: PostgreSQL {upstream.release} from {channel} — {origin}" in done.stdout
    build = Build.load(root / "install" / f"{upstream.release}-debug")
    meta = build.meta
    assert (meta["channel"], meta["source_identity"], meta["origin"]) == (channel, identity, origin)
    assert meta["requested"] == "13" and meta["substituted_for"] is None
    version = subprocess.run([str(build.pg_config), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"PostgreSQL {upstream.release}"
    with Cluster.throwaway(Settings.load(root=root, cache=root), build) as cl:
        assert cl.sql("show server_version") == [[str(upstream.release)]]
        assert cl.sql("select count(*) > 0 from pg_class") == [["t"]]
    return build


@pytest.mark.slow
def test_tarball_channel_builds_a_release_end_to_end(upstream, area):
    started = time.monotonic()
    done = invoke("build-pg", "--version", "13", "--source", "tarball", env=_env(area, upstream))
    origin = f"{upstream.tarball_url}/v{upstream.release}/postgresql-{upstream.release}.tar.bz2"
    _built(area, upstream, "tarball", f"sha256:{upstream.sha256}", origin, done)
    print(f"\ntarball channel: build-pg took {time.monotonic() - started:.0f} s")


@pytest.mark.slow
def test_git_channel_builds_a_release_end_to_end(upstream, area):
    started = time.monotonic()
    done = invoke("build-pg", "--version", "13", "--source", "git", env=_env(area, upstream))
    assert f"▸ git clone {upstream.tag}" in done.stdout
    _built(area, upstream, "git", f"git:{upstream.commit}", f"{upstream.git_url} {upstream.tag}", done)
    assert (area / "src" / str(upstream.release) / ".git").is_dir()   # a clone, not an unpacked tarball
    # the same configure script as the tarball's (built above, in this area): its results were kept
    # (a run before this one may have kept them already: the area keeps configure/ from run to run)
    assert "▸ configure (results kept from an earlier build)" in done.stdout
    log = (area / "builds" / f"{upstream.release}-debug" / "logs" / "configure.log").read_text()
    assert re.search(r"^configure: loading cache .*/config\.cache$", log, re.M), log[:2000]
    print(f"\ngit channel: build-pg took {time.monotonic() - started:.0f} s")


def _refused(root, done, line):
    """One clear line, exit code 1, and nothing left in the working area."""
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    errors = [l for l in done.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.fullmatch(line, errors[0]), errors[0]
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()) == []
    assert not list(root.glob("src/*")) and not list(root.glob("install/*")) and not list(root.glob("builds/*"))


def test_a_tarball_that_does_not_match_its_published_sha256_is_refused(upstream, tmp_path):
    done = invoke("build-pg", "--version", "13", "--source", "tarball",
                  env=_env(tmp_path, upstream, tarball_url=upstream.tampered_url))
    name = f"postgresql-{upstream.release}.tar.bz2"
    _refused(tmp_path, done, re.escape(
        f"error: PostgreSQL 13 cannot be obtained here: {upstream.release} is listed by tarball but {name} does not "
        f"match its published SHA-256 (published {'0' * 64}, downloaded {upstream.sha256}; the download was removed)"))


def test_a_tarball_of_another_release_under_the_requested_name_is_refused(upstream, tmp_path):
    """The site serves 13.<N-1>'s tree as postgresql-13.N.tar.bz2, with a .sha256 that matches it."""
    release, previous, name = upstream.release, upstream.previous, f"postgresql-{upstream.release}.tar.bz2"
    site = tmp_path / "site"
    (site / f"v{release}").mkdir(parents=True)
    configure = tmp_path / "configure"
    configure.write_text(f"#!/bin/sh\nPACKAGE_NAME='PostgreSQL'\nPACKAGE_VERSION='{previous}'\n")
    with tarfile.open(site / f"v{release}" / name, "w:bz2") as tar:
        tar.add(configure, f"postgresql-{previous}/configure")
    digest = sha256_of(site / f"v{release}" / name)
    (site / f"v{release}" / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    server = serve_folder(site)
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        done = invoke("build-pg", "--version", "13", "--source", "tarball",
                      env=_env(tmp_path / "area", upstream, tarball_url=url))
    finally:
        server.shutdown()
        server.server_close()
    _refused(tmp_path / "area", done, re.escape(
        f"error: PostgreSQL 13 cannot be obtained here: {release} is listed by tarball but delivers a tree that says "
        f"it is PostgreSQL {previous} (configure's PACKAGE_VERSION), not {release} (from {url}/v{release}/{name}); "
        f"nothing of it was kept"))


def test_a_listed_tarball_whose_files_are_gone_is_refused(upstream, tmp_path):
    done = invoke("build-pg", "--version", str(upstream.previous), "--source", "tarball", env=_env(tmp_path, upstream))
    _refused(tmp_path, done, re.escape(
        f"error: PostgreSQL {upstream.previous} cannot be obtained here: {upstream.previous} is listed by tarball "
        f"but has no published SHA-256 (404); reachable: {upstream.release} (each channel's answer is listed above)"))


def test_a_release_without_a_tag_is_refused(upstream, tmp_path):
    done = invoke("build-pg", "--version", "14", "--source", "git", env=_env(tmp_path, upstream))
    assert f"· git: no 14 here (offers {upstream.release})" in done.stdout
    _refused(tmp_path, done, re.escape(
        f"error: PostgreSQL 14 cannot be obtained here; reachable: {upstream.release} "
        f"(each channel's answer is listed above)"))


def test_a_listed_tag_whose_clone_fails_is_refused(upstream, tmp_path):
    done = invoke("build-pg", "--version", str(upstream.previous), "--source", "git", env=_env(tmp_path, upstream))
    tag = f"REL_13_{upstream.previous.number}"
    _refused(tmp_path, done, re.escape(
        f"error: PostgreSQL {upstream.previous} cannot be obtained here: {upstream.previous} is listed by git but "
        f"git clone of {tag} failed (fatal: bad tree object ") + r"[0-9a-f]{40}" + re.escape(
        f"); reachable: {upstream.release} (each channel's answer is listed above)"))


def _fetched_fresh(settings, folder, package):
    """(Settings, path, info) of PACKAGE fetched into a cache of its own under FOLDER (Debian's index
    copied from the session's cache, not asked again): what a first fetch leaves, whatever an earlier
    pglab left in the machine's cache."""
    s = Settings.load(root=folder, cache=folder)
    shutil.copytree(settings.layout.apt_state, s.layout.apt_state, symlinks=True)
    try:
        path, info = fetch_source_package(s, package)
    except SourceError as exc:
        pytest.skip(f"Debian's {package} cannot be fetched here: {exc}")
    return s, path, info


def test_a_published_extension_is_fetched_from_debian_as_upstream_released_it(settings, tmp_path):
    """ext-test's way to a published extension: Debian's source package, upstream's tree."""
    s, path, info = _fetched_fresh(settings, tmp_path, "pgvector")
    assert info.package == "pgvector" and path == s.layout.published / f"pgvector_{info.version}"
    control = (path / "vector.control").read_text()
    assert re.search(rf"^default_version = '{re.escape(info.upstream)}'$", control, re.M), control
    assert not (path / "debian").exists()                        # Debian's packaging stays out
    tarball = next(s.layout.debian_downloads("pgvector", info.version).glob("*.orig.tar.*"))
    assert sha256_of(tarball) == info.sha256
    again, info2 = fetch_source_package(s, "pgvector")
    assert (again, info2) == (path, info)


# ---- several pglab processes at once ------------------------------------------------------

def _empty_but(root, keep):
    for child in root.iterdir():
        if child.name not in keep:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def _lines_with(text, part):
    return [line for line in text.splitlines() if part in line]


@pytest.mark.slow
def test_two_build_pgs_and_a_ci_at_once_fetch_unpack_and_build_the_release_once(upstream, area, tmp_path):
    """Two `build-pg --version 13 --source tarball` started together on an area that has
    not fetched the release, then `ci --pg 13` while they work: one download, one unpack,
    one build; the others wait, naming the process they wait for, and use what it made."""
    _empty_but(area, keep=("configure",))      # nothing fetched or built; ccache still serves the compile
    release, name = upstream.release, f"postgresql-{upstream.release}.tar.bz2"
    server = serve_gated(upstream.site)
    url = f"http://127.0.0.1:{server.server_port}/source"
    env = _env(area, upstream, tarball_url=url)
    build_pg = ("build-pg", "--version", "13", "--source", "tarball")
    fetching = f"another pglab is fetching PostgreSQL {release}: waiting for it"
    started = time.monotonic()
    pair, ci = [invoke_in_background(*build_pg, env=env) for _ in range(2)], None
    try:
        # one of them downloads (the site holds the tarball back) while the other waits for it
        wait_until(lambda: server.counts[f"/source/v{release}/{name}"] == 1
                   and any(line.startswith(f"  · {fetching} (pid ") for r in pair for line in r.lines),
                   "one build-pg downloading while the other waits for it", pair)
        server.gate.set()
        wait_until(lambda: (area / "src" / f"{release}.json").exists(), f"{release} in the cache", pair)
        ci = invoke_in_background("ci", "--pg", "13", "--ext", "pgl_funcs", "--out", str(tmp_path / "ci"), env=env)
        done = [r.finish(timeout=1800) for r in pair]
        ci_done = ci.finish(timeout=1800)
    finally:
        server.gate.set()
        for running in [*pair, ci]:
            if running is not None:
                running.stop()
        server.shutdown()
        server.server_close()
    for d in [*done, ci_done]:
        assert d.returncode == 0, d.stdout[-3000:] + d.stderr
    print(f"\ntwo build-pg and a ci at once: {time.monotonic() - started:.0f} s")

    # one download and one unpack, by one build-pg; the other waited for it, and ci came after
    everything = "".join(d.stdout for d in done) + ci_done.stdout
    assert server.counts[f"/source/v{release}/{name}"] == 1
    assert everything.count(f"▸ download {name}\n") == 1 and everything.count(f"▸ unpack {name}\n") == 1
    [fetcher] = [i for i in (0, 1) if f"▸ download {name}\n" in done[i].stdout]
    waiter = 1 - fetcher
    assert f"▸ unpack {name}\n" in done[fetcher].stdout
    assert _lines_with(done[waiter].stdout, fetching) == [
        f"  · {fetching} (pid {pair[fetcher].pid}: invoke {' '.join(build_pg)})"]
    assert _lines_with(done[fetcher].stdout, fetching) == [] and _lines_with(ci_done.stdout, fetching) == []

    # one build; the other build-pg and ci waited for it, naming it, and found it made
    bid = f"{release}-debug"
    assert everything.count("▸ make world-bin") == 1 and everything.count(f"built {bid} in ") == 1
    [builder] = [i for i in (0, 1) if "▸ make world-bin" in done[i].stdout]
    building = f"  · another build-pg is building {bid}: waiting for it (pid {pair[builder].pid}: invoke {' '.join(build_pg)})"
    up_to_date = f"up to date: {bid} at {area / 'install' / bid}"
    for d in (done[1 - builder], ci_done):
        assert _lines_with(d.stdout, "another build-pg") == [building] and up_to_date in d.stdout.splitlines()
    matrix = (tmp_path / "ci" / "matrix.md").read_text()
    assert re.fullmatch(r"\| extension \| 13 \|\n\|---\|---\|\n\| pgl_funcs \| pass \d+ s \|\n", matrix), matrix

    # the tree is the tarball's, whole, with nothing beside it; the build works
    with tarfile.open(upstream.tarball) as tar:
        members = {m.name.split("/", 1)[1]: m.size for m in tar if m.isreg() and "/" in m.name}
    tree = area / "src" / str(release)
    assert {str(p.relative_to(tree)): p.stat().st_size for p in tree.rglob("*") if p.is_file()} == members
    assert sorted(p.name for p in (area / "src").iterdir()) == [str(release), f"{release}.json"]
    assert sorted(p.name for p in (area / "downloads").iterdir()) == [name]
    _built(area, upstream, "tarball", f"sha256:{upstream.sha256}", f"{url}/v{release}/{name}", done[builder])


@pytest.mark.slow
def test_two_ext_tests_of_one_published_extension_fetch_and_unpack_it_once(upstream, area, settings, tmp_path):
    """Two `ext-test debian:hypopg@VERSION` started together on an area whose published/ is
    empty: one downloads and unpacks it while the other waits for it, naming it; both pass.
    VERSION is the one this machine's mirror serves (not every listed one is)."""
    reference, _path, info = _fetched_fresh(settings, tmp_path / "reference", "hypopg")
    version, upstream_name = info.version, f"hypopg_{info.upstream}.orig.tar.gz"
    bid = f"{upstream.release}-debug"
    built = invoke("build-pg", "--version", "13", "--source", "tarball", env=_env(area, upstream))  # made above
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    s = Settings.load(root=area, cache=area)
    for made in (s.layout.published, s.layout.downloads / "debian", s.layout.apt_state):
        shutil.rmtree(made, ignore_errors=True)
    shutil.copytree(settings.layout.apt_state, s.layout.apt_state, symlinks=True)   # Debian's index, not again
    gate = s.layout.debian_downloads("hypopg", version)
    args = ("ext-test", f"debian:hypopg@{version}", "--pg", bid)
    env = _env(area, upstream)
    fetching = f"another pglab is fetching Debian's hypopg {version}: waiting for it"
    downloading = f"  · another pglab is downloading hypopg {version}: waiting for it ({locks.this_process()})"
    pair = []
    try:
        # this test holds the download: the first ext-test waits for it with the extension's
        # lock held, so the second comes to that lock while the first fetches
        with locks.exclusive(gate.with_name(f".{gate.name}.lock"), "unused", remove=True):
            pair += [invoke_in_background(*args, env=env) for _ in range(2)]
            wait_until(lambda: any(downloading in r.lines for r in pair)
                       and any(line.startswith(f"  · {fetching} (pid ") for r in pair for line in r.lines),
                       "one ext-test fetching while the other waits for it", pair)
        done = [r.finish(timeout=1200) for r in pair]
    finally:
        for running in pair:
            running.stop()
    for d in done:
        assert d.returncode == 0, d.stdout[-3000:] + d.stderr

    [first] = [i for i in (0, 1) if downloading in done[i].stdout.splitlines()]
    second = 1 - first
    assert _lines_with(done[second].stdout, "another pglab is") == [
        f"  · {fetching} (pid {pair[first].pid}: invoke {' '.join(args)})"]
    assert _lines_with(done[first].stdout, "another pglab is") == [downloading]
    both = done[0].stdout + done[1].stdout
    assert both.count(f"▸ download {upstream_name}\n") == 1 and both.count(f"▸ unpack {upstream_name}\n") == 1
    assert f"▸ unpack {upstream_name}\n" in done[first].stdout
    verdicts = [[line for line in d.stdout.splitlines() if re.fullmatch(r"all \d+ suites passed \(\d+ tests?\)", line)]
                for d in done]
    assert verdicts[0] == verdicts[1] and len(verdicts[0]) == 1, [d.stdout[-2000:] for d in done]
    assert sorted(p.name for p in s.layout.published.iterdir()) == [f"hypopg_{version}", f"hypopg_{version}.json"]
    # what this mirror serves of it (the .dsc too, where it has it), as a fetch of its own left it
    assert sorted(p.name for p in gate.iterdir()) == sorted(
        p.name for p in reference.layout.debian_downloads("hypopg", version).iterdir())
    assert upstream_name in [p.name for p in gate.iterdir()]

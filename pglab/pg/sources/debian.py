"""The Debian channel: PostgreSQL's upstream tarball as Debian's source archive carries it.

apt does the index work, with a private state directory under pg_source/apt/ (the
machine's own apt state is never touched) and the archive read from the machine's
apt configuration: its mirror, and the -updates and -security pockets of Debian's
stable releases where the machine uses them (stable point releases and security
fixes of postgresql-NN arrive there first).  apt checks the Sources indexes against
the archive's signature; pglab checks the .dsc and the upstream tarball against
those indexes, the tarball once more against the .dsc, and unpacks it as it is,
without Debian's patches, so the tree is upstream's.

A mirror can list a point release before (or without) carrying its files, and
keeps earlier ones in its pool after the index stopped listing them.  When no listed
release of a major can be had (or an earlier point release is asked for by name),
the channel looks in the listed one's pool folder for the point releases before it
(the .dsc named as the listed one is, with an earlier upstream version), and takes
one whose .dsc carries a good signature from a key of debian-keyring (Debian's
developers, the uploaders) and describes the release asked for: its Source is the
postgresql-NN asked for, its Version's upstream part the release, and its upstream
tarball the one named for that release (a mirror could otherwise hand back another
signed release under this one's name).  The tarball is then checked against that
.dsc, and the build's origin says so.

`fetch_source_package` does the same for any source package (published
extensions such as pgvector or hypopg), for ext-test.
"""

import functools
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ... import locks, ui
from ...errors import ChannelSkip, SourceError, Unfetchable
from ..versions import Release
from .channel import Channel, Memo
from .store import download, place_tree, release_lock, reuse_cached, sha256_of, unpack_into_cache
from .archive import (read_index, upstream_tarball, archive_from_apt, compare_versions, find_source_records,
                      is_upstream_tarball, parse_dsc, parse_dsc_checksums, parse_sources_index, source_of_binary,
                      upstream_version)

CATALOG_FORMAT = 2       # catalog.json's layout; another one is rebuilt, not misread
KEYRINGS = (Path("/usr/share/keyrings/debian-keyring.gpg"),)   # Debian developers' keys (debian-keyring)
POOL_LOOKBACK = 3        # earlier point releases looked for in the pool when none listed can be had


class DebianChannel(Channel):
    name = "debian"

    def __init__(self, settings, archive=None, keyrings=KEYRINGS):
        super().__init__(settings)
        self.state = settings.layout.apt_state
        self.catalog_file = self.state / "catalog.json"
        self._archive = archive
        self.keyrings = keyrings
        self._unlisted = {}      # Release -> the pool places unlisted() offered it at

    @property
    def archive(self):
        if self._archive is None:
            self._archive = archive_from_apt()
        return self._archive

    def _apt(self, *args, cwd=None):
        st = self.state
        opts = {
            "Dir::Etc::SourceList": st / "sources.list", "Dir::Etc::SourceParts": st / "sources.list.d",
            "Dir::Etc::Preferences": st / "preferences", "Dir::Etc::PreferencesParts": st / "preferences.d",
            "Dir::State": st, "Dir::State::Lists": st / "lists", "Dir::State::status": st / "status",
            "Dir::Cache": st / "cache", "Acquire::Languages": "none",
        }
        if os.geteuid() == 0:
            opts["APT::Sandbox::User"] = "root"  # the private directories are root's
        cmd = [args[0]]
        for key, value in opts.items():
            cmd += ["-o", f"{key}={value}"]
        return subprocess.run(cmd + list(args[1:]), cwd=cwd, capture_output=True, text=True,
                              env={**os.environ, "LC_ALL": "C"})

    def _prepare(self, sources):
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        (self.state / "status").touch()
        (self.state / "sources.list").write_text(sources)

    def _load(self):
        try:
            data = json.loads(self.catalog_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("format") == CATALOG_FORMAT else None

    def _indexes(self):
        """[(path, uri, suite)] of the signed Sources indexes apt holds, in sources.list order."""
        done = self._apt("apt-get", "indextargets", "--format", "$(FILENAME)\t$(REPO_URI)\t$(RELEASE)\t$(TRUSTED)",
                         "Created-By: Sources")
        found = []
        for line in done.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[3] == "yes" and Path(parts[0]).is_file():
                found.append((Path(parts[0]), parts[1].rstrip("/"), parts[2]))
        return found

    def update(self):
        """The private apt state, brought up to date: apt-get update when the
        archive's sources changed, the last update is older than memo_hours, or
        --refresh asks.  Returns the catalog: {"postgresql": [entries]}."""
        sources = self.archive.sources_list()
        data = self._load()
        if (data and not self.refresh and data.get("sources") == sources
                and time.time() - self.catalog_file.stat().st_mtime < self.settings.memo_hours * 3600):
            return data
        seen = self._mtime()
        with locks.exclusive(self.state / "update.lock", "another pglab is updating its Debian index: waiting for it"):
            fresh = self._load()
            if fresh and self._mtime() != seen and fresh.get("sources") == sources:   # it did while we waited
                self.refresh = False
                return fresh
            return self._update(sources)

    def _mtime(self):
        try:
            return self.catalog_file.stat().st_mtime_ns
        except OSError:
            return None

    def _update(self, sources):
        self._prepare(sources)
        with ui.phase("apt-get update (Debian's source archive, private state)"):
            done = self._apt("apt-get", "update")
        indexes = self._indexes()
        if not indexes:
            reason = next((l for l in done.stderr.splitlines() if l.startswith(("E:", "W:"))), "apt-get update failed")
            raise ChannelSkip(f"Debian's source archive unreachable: {reason}")
        entries = []
        for path, uri, suite in indexes:
            entries += parse_sources_index(read_index(path, b"\nPackage: postgresql-"), suite, uri)
        data = {"format": CATALOG_FORMAT, "sources": sources, "postgresql": entries}
        part = self.catalog_file.with_name(f"catalog.json.{os.getpid()}")
        part.write_text(json.dumps(data, indent=1) + "\n")
        part.replace(self.catalog_file)
        self.refresh = False  # asked once in this run: that is what --refresh means
        return data

    def catalog(self):
        if shutil.which("apt-get") is None:
            raise ChannelSkip("apt-get not found (not a Debian-like system)")
        _ = self.archive   # no mirror configured: a skip to report, not a network failure to remember
        memo = Memo(self.settings)
        recent = memo.recent_failure(self.name)
        if recent:
            raise ChannelSkip(recent)
        try:
            data = self.update()
        except ChannelSkip as skip:
            memo.failed(self.name, str(skip))
            raise
        releases = sorted({Release.parse(e["release"]) for e in data["postgresql"]})
        if not releases:
            raise ChannelSkip("Debian's source archive lists no postgresql-NN source package")
        return releases

    def download(self, records):
        """The upstream tarball (and .dsc, when there) of the first of `records`
        (one source version, as each index lists it) whose files can be had;
        Debian's own packaging is not needed.  Returns (dsc or None, tarball,
        record); raises Unfetchable."""
        if not records:  # another build-pg refreshed the list in between
            raise Unfetchable("Debian's source archive no longer lists it", "it is no longer listed")
        failures = []
        for record in records:
            try:
                return self._download_one(record)
            except Unfetchable as exc:
                failures.append((record, exc))
        record, first = failures[0]
        tried = ", ".join(r["suite"] for r, _exc in failures)
        raise Unfetchable(f"{record['package']} {record['version']}: {first} (tried {tried})", first.why)

    def _download_one(self, record):
        """The upstream tarball, checked against Debian's signed index, and the
        .dsc when the mirror has it (then the tarball is checked against it too:
        some mirrors carry only part of the pool).  (dsc or None, tarball, record)."""
        package, version = record["package"], record["version"]
        dsc = next((n for n in record["files"] if n.endswith(".dsc")), None)
        tarball = upstream_tarball(record)
        if tarball is None:
            raise Unfetchable(f"{package} {version}: the index lists no upstream tarball",
                              "the index lists no upstream tarball for it")
        where = self.settings.layout.debian_downloads(package, version)
        with locks.exclusive(where.with_name(f".{where.name}.lock"),
                             f"another pglab is downloading {package} {version}: waiting for it", remove=True):
            where.mkdir(parents=True, exist_ok=True)
            try:
                self._fetch_checked(record, tarball, where)
                try:
                    self._fetch_checked(record, dsc, where) if dsc else None
                except Unfetchable:
                    dsc = None      # the tarball alone, as Debian's signed index vouches for it
            finally:
                if not any(where.iterdir()):
                    where.rmdir()  # nothing came: leave no empty folder behind
        if dsc is not None:
            sums = parse_dsc_checksums((where / dsc).read_text(errors="replace"))
            if sums.get(tarball) != record["files"][tarball][1]:
                raise Unfetchable(f"{dsc}: names another {tarball} than Debian's signed index",
                                  f"its .dsc and Debian's signed index disagree about {tarball}")
        return (where / dsc if dsc else None), where / tarball, record

    def _fetch_checked(self, record, name, where, vouched_by="Debian's signed index"):
        """Download one file of a record unless it is there already; it must have
        the SHA-256 the record gives (from Debian's signed index, or a signed .dsc)."""
        digest = record["files"][name][1]
        target = where / name
        if target.exists() and sha256_of(target) == digest:
            return target
        download(f"{record['uri']}/{record['directory']}/{quote(name)}", target)
        actual = sha256_of(target)
        if actual != digest:
            target.unlink()
            raise Unfetchable(f"{name}: SHA-256 {actual} does not match {vouched_by}; removed",
                              f"{name} does not match {vouched_by} (SHA-256 {actual}; removed)")
        return target

    def unlisted(self, spec, catalog):
        """Stable releases of `spec` the index does not list but the pool may still
        carry, newest first: for a major, the POOL_LOOKBACK point releases before its
        newest listed one; for an exact release, that one, when a newer one of its
        major is listed.  Each is looked for at the pool folders (and Debian revision)
        of that listed one."""
        listed = sorted((r for r in catalog if r.major == spec.major and r.stable), reverse=True)
        if spec.kind == "major" and listed:
            newest = listed[0]
            wanted = [Release(newest.major, newest.stage, n)
                      for n in range(newest.number - 1, max(newest.number - 1 - POOL_LOOKBACK, -1), -1)]
        elif spec.kind == "exact" and spec.release.stable and listed and listed[0] > spec.release:
            newest, wanted = listed[0], [spec.release]
        else:
            return []
        records = [e for e in (self._load() or {}).get("postgresql", []) if e["release"] == str(newest)]
        offered = []
        for release in wanted:
            if release in listed:
                continue            # listed: obtain() tried it already
            places = {}
            for r in records:
                version = f"{release}-{r['version'].rsplit('-', 1)[1]}"
                places.setdefault((r["uri"], r["directory"], version), {**r, "version": version,
                                                                         "release": str(release)})
            self._unlisted[release] = list(places.values())
            offered.append(release)
        return offered

    def _fetch_unlisted(self, release):
        failures = []
        for place in self._unlisted[release]:
            try:
                return self._fetch_from_pool(place)
            except Unfetchable as exc:
                failures.append(exc)
        raise failures[0]

    def _fetch_from_pool(self, place):
        """A release the index does not list, from the pool: its .dsc, signed by a key of
        self.keyrings, must describe that release (source package, upstream version and
        upstream tarball) and names the upstream tarball's SHA-256."""
        package, version = place["package"], place["version"]
        release = Release.parse(place["release"])
        dsc = f"{package}_{version}.dsc"
        where = self.settings.layout.debian_downloads(package, version)
        with locks.exclusive(where.with_name(f".{where.name}.lock"),
                             f"another pglab is downloading {package} {version}: waiting for it", remove=True):
            where.mkdir(parents=True, exist_ok=True)
            try:
                if not (where / dsc).exists():
                    try:
                        download(f"{place['uri']}/{place['directory']}/{quote(dsc)}", where / dsc)
                    except Unfetchable as exc:
                        raise Unfetchable(str(exc), f"is not in the pool either ({exc.why})") from None
                signer, text = verify_signed(where / dsc, self.keyrings)
                tarball, digest = dsc_tarball(where / dsc, text, signer, package, upstream_version(version))
                origin = (f"Debian {package} {version} (in {place['suite']}'s pool, no longer in its index; .dsc "
                          f"signed by {signer}): upstream tarball, Debian's patches not applied")
                tree = reuse_cached(self.settings, release, {f"sha256:{digest}": origin}, channel=self.name)
                if tree is not None:
                    return tree
                record = {**place, "files": {tarball: [None, digest]}}
                self._fetch_checked(record, tarball, where, vouched_by=f"{dsc}, signed by {signer}")
            finally:
                if not any(where.iterdir()):
                    where.rmdir()
        return unpack_into_cache(self.settings, where / tarball, release, channel=self.name,
                                 identity=f"sha256:{digest}", origin=origin)

    def download_release(self, release):
        """The .dsc and upstream tarball of a PostgreSQL release the catalog lists:
        (dsc, tarball, record)."""
        return self.download(self._records(release))

    def _records(self, release):
        data = self._load() or self.update()
        return [e for e in data["postgresql"] if e["release"] == str(release)]

    def fetch(self, release):
        with release_lock(self.settings, release):
            if release in self._unlisted:
                return self._fetch_unlisted(release)
            records = self._records(release)
            origins = {}
            for record in records:
                tarball = upstream_tarball(record)
                if tarball is not None:
                    origins.setdefault(f"sha256:{record['files'][tarball][1]}", _origin(record))
            tree = reuse_cached(self.settings, release, origins, channel=self.name)
            if tree is not None:
                return tree
            _dsc, tarball, record = self.download(records)
            return unpack_into_cache(self.settings, tarball, release, channel=self.name,
                                     identity=f"sha256:{record['files'][tarball.name][1]}", origin=_origin(record))

    # -- any source package

    def source_records(self, package):
        """Every index's record of source package `package`, newest version first."""
        records = []
        for path, uri, suite in self._indexes():
            text = read_index(path, f"\nPackage: {package}\n".encode())
            records += find_source_records(text, package, suite, uri)
        return sorted(records, key=functools.cmp_to_key(lambda a, b: compare_versions(b["version"], a["version"])))

    def source_of(self, binary):
        for path, _uri, _suite in self._indexes():
            source = source_of_binary(read_index(path, binary.encode()), binary)
            if source:
                return source
        return None


def _origin(record):
    return (f"Debian {record['package']} {record['version']} ({record['suite']}): upstream tarball, "
            f"Debian's patches not applied")


def dsc_tarball(path, text, signer, package, upstream):
    """(upstream tarball, its SHA-256) of a signed .dsc (`text`), when it describes
    source package `package` at upstream version `upstream` with that version's
    upstream tarball; otherwise Unfetchable (a mirror handing back another signed
    release under this one's name), and the .dsc removed."""
    fields = parse_dsc(text)
    sums = parse_dsc_checksums(text)
    origs = [n for n in sums if is_upstream_tarball(n)]
    if not origs:
        path.unlink(missing_ok=True)
        raise Unfetchable(f"{path.name} names no upstream tarball; removed", "has a .dsc that names no upstream tarball")
    wanted = f"{package}_{upstream}.orig.tar."
    tarball = next((n for n in origs if n.startswith(wanted)), None)
    source, version = fields.get("Source", ""), fields.get("Version", "")
    if source == package and upstream_version(version) == upstream and tarball is not None:
        return tarball, sums[tarball]
    path.unlink(missing_ok=True)
    says = f"{source or '(no Source)'} {version or '(no Version)'} ({', '.join(origs)})"
    asked = f"{package} {upstream} ({wanted}*)"
    raise Unfetchable(f"{path.name}: signed by {signer}, but for {says}, not {asked}; removed",
                      f"has a .dsc signed by {signer} for {says}, not {asked}; removed")


def verify_signed(path, keyrings):
    """(signer, the signed text) of an OpenPGP clear-signed file whose signature gpgv
    finds good with one of `keyrings`; otherwise Unfetchable, and the file removed."""
    rings = [k for k in keyrings if Path(k).is_file()]
    if not rings:
        raise Unfetchable(f"{path.name}: no keyring to check it against ({', '.join(map(str, keyrings))})",
                          "cannot be checked: debian-keyring is not installed (`invoke doctor` installs it)")
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise Unfetchable(f"{path.name}: gpgv not found", "cannot be checked: gpgv is not installed (apt-get install gpgv)")
    with tempfile.TemporaryDirectory(prefix="pglab-gpgv-") as home:
        out = Path(home) / "signed.txt"
        cmd = [gpgv, "--homedir", home, "--status-fd", "1", "--output", str(out)]
        for ring in rings:
            cmd += ["--keyring", str(ring)]
        done = subprocess.run(cmd + [str(path)], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        status = [line.split(" ", 2)[1:] for line in done.stdout.splitlines() if line.startswith("[GNUPG:] ")]
        good = next((rest for key, *rest in status if key == "GOODSIG"), None)
        if done.returncode != 0 or good is None or not any(key == "VALIDSIG" for key, *_ in status):
            path.unlink(missing_ok=True)
            said = (done.stderr.strip().splitlines() or ["no signature"])[-1].removeprefix("gpgv: ")
            raise Unfetchable(f"{path.name}: signature not good with {', '.join(map(str, rings))} ({said}); removed",
                              f"has a .dsc whose signature does not check out ({said})")
        signer = good[0].split(" ", 1)[1] if " " in good[0] else good[0]
        return signer, out.read_text(errors="replace")


@dataclass(frozen=True)
class Published:
    """A published source package, unpacked as its upstream released it."""

    package: str       # Debian's source package name: pgvector, hypopg, postgresql-hll
    version: str       # Debian's version: 0.8.0-1
    upstream: str      # the upstream release: 0.8.0
    suite: str         # the Debian suite (or pocket) it came from
    sha256: str        # of the upstream tarball, as the .dsc and Debian's signed index give it
    origin: str        # the tarball's URL
    path: Path         # the unpacked tree


def fetch_source_package(settings, package, version=None, *, channel=None):
    """Fetch a Debian source package's upstream tree (without Debian's patches).

    `version` is a Debian version (0.8.0-1) or an upstream one (0.8.0); without it,
    the newest version listed outside experimental whose files can be had.  The
    tree is unpacked once into the working area's published/PACKAGE_VERSION/ and
    reused.  Returns (path, Published); raises SourceError in one line."""
    channel = channel or DebianChannel(settings)
    if shutil.which("apt-get") is None:
        raise SourceError(f"cannot fetch the Debian source package {package}: apt-get not found (not a Debian-like system)")
    try:
        channel.update()
    except ChannelSkip as skip:
        raise SourceError(f"cannot fetch the Debian source package {package}: {skip}") from None
    records = channel.source_records(package)
    if not records:
        source = channel.source_of(package)
        hint = f"; it is a binary package built from the source package {source}" if source else ""
        raise SourceError(f"Debian's source archive has no source package {package}{hint}")
    if version:
        chosen = [r for r in records if version in (r["version"], upstream_version(r["version"]))]
        if not chosen:
            listed = ", ".join(dict.fromkeys(r["version"] for r in records))
            raise SourceError(f"Debian's source archive has no {package} {version} (it lists {listed})")
    else:
        # experimental last: a pre-release only when no released version can be had
        chosen = sorted(records, key=lambda r: r["suite"] == "experimental")
    versions = list(dict.fromkeys(r["version"] for r in chosen))
    failures = []
    for debian_version in versions:
        group = [r for r in chosen if r["version"] == debian_version]
        dest = settings.layout.published / f"{package}_{debian_version}"
        found = _published(dest)
        if found is not None:
            return dest, found
        with locks.exclusive(settings.layout.published_lock(dest.name),
                             f"another pglab is fetching Debian's {package} {debian_version}: waiting for it",
                             remove=True):
            found = _published(dest)        # another process fetched it while this one waited
            if found is not None:
                return dest, found
            try:
                _dsc, tarball, record = channel.download(group)
            except Unfetchable as exc:
                failures.append(f"{debian_version} ({', '.join(r['suite'] for r in group)}) is listed but {exc.why}")
                continue
            if failures:
                ui.note(f"Debian {package}: {'; '.join(failures)}; taking {debian_version} ({record['suite']})")
            info = Published(package, debian_version, upstream_version(debian_version), record["suite"],
                             record["files"][tarball.name][1],
                             f"{record['uri']}/{record['directory']}/{quote(tarball.name)}", dest)
            place_tree(tarball, dest)
            meta = Path(f"{dest}.json")
            part = meta.with_name(f"{meta.name}.{os.getpid()}")
            part.write_text(json.dumps({k: str(v) for k, v in info.__dict__.items() if k != "path"}, indent=1) + "\n")
            part.replace(meta)      # the tree is complete: now it is a published one
            return dest, info
    raise SourceError(f"Debian source package {package} cannot be fetched: {'; '.join(failures)}")


def _published(dest):
    """The Published unpacked at `dest`, or None: complete once its .json is there."""
    try:
        info = json.loads(Path(f"{dest}.json").read_text())
    except (OSError, ValueError):
        return None
    return Published(**{**info, "path": dest}) if dest.is_dir() else None

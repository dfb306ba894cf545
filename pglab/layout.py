"""Every path pglab uses; nothing else computes them.

The build cache holds what any clone on the machine can share, found by build
identity (/var/cache/pglab as root, else ~/.cache/pglab; setting `cache`):

    downloads/            tarballs; downloads/debian/PKG_VER/ (.dsc, upstream tarball);
                          downloads/pgxn/NAME_VER/ (while pgxnclient fetches)
    src/<release>/        unpacked sources (+ <release>.json: where each came from); .<release>.lock
                          while one is fetched, .unpack-<release>-XXXX/ and .clone-<release>-XXXX/
                          the fetching process's own staging, renamed into place when complete
    src/.patched/         copies of a source with --patch files applied
    builds/<build>/       VPATH build trees and their logs/; <build>.lock
    configure/KEY.cache   configure's results, kept per script, flags and installed software
    install/<build>/      installed prefixes, complete when pglab-build.json is there
    apt/                  the Debian channel's private apt state
    published/PKG_VER/    published extensions' sources (Debian's source archive, PGXN);
                          .PKG_VER.lock while one is fetched
    channel-memo.json     network channels found unreachable recently
    inspect/<build>/      inspect's page layouts, compiled against the build's headers

The working area holds this clone's own (pg_source/; setting `root`):

    clusters/<build>/<n>/ named clusters;  .templates/<build>/ initdb'd once per build;
                          .tmp/ throwaway clusters; .warm/<build>/<ext>/ ext-test's warm servers
    ext-builds/<build>/   extension build copies (ext-test)
    check/<build>/        pg-check output
    debug/                invoke debug's session files (gdb script, psqlrc)
    labs/                 what a learner saves for the labs' checks; labs-progress.json: what passed
    labs/<lab>/           a lab's fork of the build's source tree (`invoke lab planner-fork --start`)
    ci-results/           invoke ci's reports
    dist/                 ext-bundle's NAME-VERSION.zip files
    pgxn/<build>/         where pgxnclient runs for ext-install (logs, a failed check's diffs)
    test-workers/gwN/     a working area of its own for each of `invoke test`'s workers
"""

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildMissing, ClusterError, LabError

# what a name the user gives may hold before it becomes a folder's name
_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")


def check_name(value, what, error):
    """VALUE, when it can be one path component (letters, digits, '.', '_', '-'; not '.' or '..'),
    else ERROR saying so: a name never reaches outside the folder it is made in."""
    text = str(value)
    if not _COMPONENT.fullmatch(text) or text in (".", ".."):
        raise error(f"{text!r} is not a {what}: a name is letters, digits, '.', '_' and '-' (not . or ..)")
    return text


def _build(build_id):
    return check_name(build_id, "build id (`invoke pg-list` shows the builds)", BuildMissing)


@dataclass(frozen=True)
class Layout:
    root: Path            # the working area
    cache: Path           # the build cache

    @property
    def downloads(self):
        return self.cache / "downloads"

    def debian_downloads(self, package, version):
        """One Debian source package version's .dsc and upstream tarball."""
        return self.downloads / "debian" / f"{package}_{version}"

    def pgxn_downloads(self, name, version):
        """Where pgxnclient puts one `pgxn:NAME[@VERSION]`'s archive (emptied once unpacked)."""
        return self.downloads / "pgxn" / f"{name}_{version or 'latest'}"

    @property
    def sources(self):
        return self.cache / "src"

    def source_lock(self, release):
        """Held while a release is fetched and unpacked into src/."""
        return self.sources / f".{release}.lock"

    @property
    def patched_sources(self):
        return self.sources / ".patched"

    @property
    def builds(self):
        return self.cache / "builds"

    def build_dir(self, build_id):
        return self.builds / _build(build_id)

    def build_lock(self, build_id):
        return self.builds / f"{_build(build_id)}.lock"

    def configure_cache(self, key):
        """configure's results (autoconf's cache file), kept per script, flags and system."""
        return self.cache / "configure" / f"{key}.cache"

    @property
    def installs(self):
        return self.cache / "install"

    def install_lock(self, build_id, extension):
        """Held while an extension of that name is built, installed into the build and tested:
        `make install` puts every extension of one name in the same place of the build, whichever
        working area (clone, repository's .pglab/) it comes from, so the lock is the cache's."""
        return self.cache / "locks" / f"install-{_build(build_id)}-{extension}.lock"

    def prefix(self, build_id):
        return self.installs / _build(build_id)

    def inspect_modules(self, build_id):
        """inspect's page layouts compiled against the build's headers (cffi modules)."""
        return self.cache / "inspect" / _build(build_id)

    @property
    def clusters(self):
        return self.root / "clusters"

    def cluster(self, build_id, name):
        return self.clusters / _build(build_id) / check_name(name, "cluster name", ClusterError)

    @property
    def templates(self):
        return self.clusters / ".templates"

    def template(self, build_id):
        return self.templates / _build(build_id)

    @property
    def throwaways(self):
        return self.clusters / ".tmp"

    @property
    def warm_servers(self):
        return self.clusters / ".warm"

    def warm_server(self, build_id, tag):
        return self.warm_servers / _build(build_id) / tag

    @property
    def ext_builds(self):
        return self.root / "ext-builds"

    def ext_build(self, build_id, folder):
        return self.ext_builds / _build(build_id) / folder

    def check(self, build_id):
        return self.root / "check" / _build(build_id)

    @property
    def published(self):
        return self.cache / "published"

    def published_lock(self, name):
        """Held while published/NAME is fetched and unpacked."""
        return self.published / f".{name}.lock"

    @property
    def apt_state(self):
        return self.cache / "apt"

    @property
    def channel_memo(self):
        return self.cache / "channel-memo.json"

    @property
    def debug_sessions(self):
        """`invoke debug`'s per-session files: the gdb script, the psqlrc, the plan."""
        return self.root / "debug"

    @property
    def lab_work(self):
        """What a learner saves for the labs' checks (traces, notes)."""
        return self.root / "labs"

    def lab_fork(self, lab_name):
        """A lab's copy of the learner's source tree, which the learner edits and builds with --source."""
        return self.lab_work / check_name(lab_name, "lab name", LabError)

    @property
    def ci_results(self):
        return self.root / "ci-results"

    @property
    def dist(self):
        return self.root / "dist"

    def pgxn_work(self, build_id):
        return self.root / "pgxn" / _build(build_id)

    def derived_from(self, build_id):
        """What pglab made from a build and deletes with it (not named clusters)."""
        return [self.build_dir(build_id), self.template(build_id), self.warm_servers / build_id,
                self.ext_builds / build_id, self.check(build_id), self.inspect_modules(build_id)]

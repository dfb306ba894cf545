"""Publishing on PGXN: the bundle, pgxnclient's install/load/check, the upload.

    bundle    META.json checked, then NAME-VERSION.zip with one top folder
              NAME-VERSION/: `git archive` of HEAD when the folder is in a git
              work tree (uncommitted changes refused unless allow_dirty), else
              the folder's files; build products never
    install   pgxnclient's `install` into a pglab build, `load` on a cluster of
              that build, and with check=True its `check` on a throwaway one
    release   the bundle, and what goes to PGXN Manager; with upload=True the
              multipart POST pgxn-tools' release makes (basic auth)

PGXN itself is reached through pgxnclient only; pgxnclient cannot upload, so the
upload is the one HTTP request made here.  Its URL is the PGXN_UPLOAD_URL
environment variable (default UPLOAD_URL); credentials come from PGXN_USER (or
PGXN_USERNAME, as pgxn-tools names it) and PGXN_PASSWORD, else from ~/.netrc.
"""

import base64
import fnmatch
import hashlib
import netrc
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import accounts, archives, boundary, ui
from ..cluster import Cluster, last_line
from ..errors import BuildError, ExtensionError
from ..postmortem import RegressTally, supervise
from ..run import run_logged
from . import pgxn_meta
from .discover import Extension, looks_like_path
from .pgxn_spec import load, loads
from .pgxs import MAKEFILES, OBJECTS, OUTPUTS, is_product, makefile_vars, sync_copy, sync_source, temp_config

UPLOAD_URL = "https://manager.pgxn.org/upload"


def pgxn_command():
    """pgxnclient's command, installed with pglab: `pgxnclient`, which runs its builtin commands
    itself.  (`pgxn` hands them to scripts whose first line names the Python of whichever venv
    first built pgxnclient's wheel, kept in pip's cache: another venv's, or one long gone.)"""
    return Path(sys.executable).parent / "pgxnclient"


def dist_dir(settings):
    """Where ext-bundle writes zips by default: the working area's dist/."""
    return settings.layout.dist


# ---- the bundle ---------------------------------------------------------------------------

@dataclass
class Bundle:
    path: Path
    name: str
    version: str
    files: list            # the zip's entries, top folder included
    how: str               # what was archived: git archive of HEAD, the working tree, the folder

    @property
    def size(self):
        return self.path.stat().st_size

    @property
    def sha256(self):
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def checked_meta(ext):
    """ext's META.json as a document, refused (ExtensionError) when missing,
    invalid, or at another version than the control file's default_version."""
    path = ext.path / "META.json"
    if not path.is_file():
        raise ExtensionError(f"{ext.path} has no META.json: `invoke ext-meta {ext.path}` writes one from the "
                             f"control file and the Makefile")
    doc, problems = load(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ExtensionError(f"{path} does not follow the PGXN Meta Spec: {problems[0]}{more}; "
                             f"`invoke ext-meta --check {path}` lists every problem")
    mismatches = pgxn_meta.version_mismatches(ext, doc)
    if mismatches:
        raise ExtensionError(f"{'; '.join(mismatches)}: make them agree (a release is the control file's "
                             f"default_version), then bundle again")
    return doc


def _is_product(rel, top):
    """A path under the extension's folder TOP that a build or test run made (pglab.ext.pgxs.is_product)."""
    folder = Path(top)
    for part in Path(rel).parts:
        if is_product(folder, part):
            return True
        folder = folder / part
    return False


def _products_in(names):
    """The paths among NAMES (a zip's, relative to its top) that a build or test run made: as
    is_product decides, with the zip's own Makefiles saying where test output belongs."""
    with_makefile = {str(Path(n).parent) for n in names if Path(n).name in MAKEFILES}
    found = []
    for name in names:
        parts = Path(name).parts
        for i, part in enumerate(parts):
            folder = str(Path(*parts[:i])) if i else "."
            if any(fnmatch.fnmatch(part, p) for p in OBJECTS) or (part in OUTPUTS and folder in with_makefile):
                found.append(name)
                break
    return found


def _git(folder, *args, check=True):
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True)
    if check and done.returncode != 0:
        raise ExtensionError(f"git {' '.join(args)} failed in {folder}: "
                             f"{last_line(done.stderr.decode(errors='replace'))}")
    return done


def git_files(folder):
    """The folder's files git tracks or would (tracked, and new ones not ignored),
    or None when the folder is not in a git work tree (or git ignores all of it)."""
    try:
        inside = _git(folder, "rev-parse", "--is-inside-work-tree", check=False)
    except OSError:
        return None      # no git: the folder is bundled as it is
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        return None
    listed = _git(folder, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".").stdout
    return sorted({f for f in listed.decode().split("\0") if f}) or None


def uncommitted(folder):
    """git status of the folder: ["M file", "?? file"], build products aside."""
    out = _git(folder, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".").stdout
    top = _git(folder, "rev-parse", "--show-toplevel").stdout.decode().strip()    # porcelain's paths start there
    entries, parts = [], out.decode(errors="replace").split("\0")
    i = 0
    while i < len(parts):
        entry = parts[i]
        i += 1
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":
            i += 1       # a rename's source follows
        if status == "??" and _is_product(path, top):
            continue
        entries.append(f"{status.strip()} {path}")
    return entries


def bundle(settings, ext, *, allow_dirty=False, out=None):
    """Validate, then write OUT/NAME-VERSION.zip (default: the working area's dist/)."""
    doc = checked_meta(ext)
    top = f"{doc['name']}-{doc['version']}"
    out_dir = Path(os.path.expanduser(out)).resolve() if out else dist_dir(settings)
    with tempfile.TemporaryDirectory(prefix="pglab-bundle-") as tmp:
        staged = Path(tmp) / f"{top}.zip"
        listed = git_files(ext.path)
        if listed:
            dirty = uncommitted(ext.path)
            if dirty and not allow_dirty:
                shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
                raise ExtensionError(f"{ext.path} has uncommitted changes ({shown}): commit them, or bundle what "
                                     f"is on disk with --allow-dirty")
            if not dirty:
                _git(ext.path, "archive", "--format=zip", f"--prefix={top}/", "-o", str(staged), "HEAD", ".")
                commit = _git(ext.path, "rev-parse", "--short", "HEAD").stdout.decode().strip()
                how = f"git archive of HEAD {commit}"
            else:
                files = [f for f in listed if (ext.path / f).is_file() and not _is_product(f, ext.path)]
                _write_zip(staged, ext.path, top, files)
                how = f"the working tree, {len(dirty)} uncommitted change(s) included"
        else:
            _write_zip(staged, ext.path, top, _folder_files(ext.path, skip=(out_dir,), name=doc["name"]))
            how = "the folder's files, build products left out (not in a git work tree)"
        with zipfile.ZipFile(staged) as archive:
            names = archive.namelist()
        _check_contents(names, top, doc)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{top}.zip"
        partial = out_dir / f".{top}.zip.partial"
        shutil.copyfile(staged, partial)
        partial.replace(target)
    return Bundle(target, doc["name"], doc["version"], names, how)


def _folder_files(folder, *, skip, name):
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not is_product(here, d) and (here / d).resolve() not in skip)
        for f in sorted(filenames):
            rel = (here / f).relative_to(folder)
            if not is_product(here, f) and not fnmatch.fnmatch(f, f"{name}-*.zip"):
                files.append(str(rel))
    return files


def _write_zip(path, folder, top, files):
    """A zip of `files` (relative to folder, sorted) under top/, each folder's
    entry before its files (pgxnclient makes folders from their entries)."""
    stamp = time.localtime(folder.stat().st_mtime)[:6]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        made = set()

        def folder_entry(parts):
            name = "/".join((top, *parts)) + "/"
            if name not in made:
                made.add(name)
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.external_attr = (0o40755 << 16) | 0x10
                archive.writestr(info, b"")

        folder_entry(())
        for rel in files:
            parts = Path(rel).parts
            for i in range(1, len(parts)):
                folder_entry(parts[:i])
            info = zipfile.ZipInfo.from_file(folder / rel, f"{top}/{rel}", strict_timestamps=False)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (folder / rel).read_bytes())


def _check_contents(names, top, doc):
    inside = {n.removeprefix(f"{top}/").rstrip("/"): n for n in names if n.removeprefix(f"{top}/").rstrip("/")}
    products = [inside[rel] for rel in _products_in(list(inside))]
    if products:
        raise ExtensionError(f"build products are committed: {', '.join(products[:3])}; `git rm --cached` them "
                             f"(and list them in .gitignore), then bundle again")
    for required in ("META.json", "Makefile"):
        if f"{top}/{required}" not in names:
            raise ExtensionError(f"the bundle would have no {top}/{required} (is it marked export-ignore in "
                                 f".gitattributes?); nothing written")
    for ext_name, entry in doc["provides"].items():
        for key in ("file", "docfile"):
            rel = entry.get(key)
            if rel and f"{top}/{rel.removeprefix('./')}" not in names:
                raise ExtensionError(f"META.json's provides.{ext_name}.{key} is {rel}, which is not in the bundle: "
                                     f"fix the path, or commit the file")


# ---- pgxnclient: install, load, check ----------------------------------------------------

@dataclass
class Distribution:
    """What a spec names: a local zip or folder (path set), or a name on PGXN."""

    spec: str              # what pgxnclient is given (a local one's path holds a /)
    path: Path = None
    top: str = ""
    meta: dict = None
    given: str = None      # what the user named, when pgxnclient is given a copy of it

    @property
    def label(self):
        return self.given or self.spec

    @property
    def local(self):
        return self.path is not None

    @property
    def extensions(self):
        return list((self.meta or {}).get("provides", {})) or ([self.meta["name"]] if self.meta else [])


def distribution(spec):
    """The Distribution `spec` names; a local zip must have one top folder holding
    META.json and the Makefile, as PGXN expects."""
    if not (looks_like_path(spec) or spec.endswith(".zip")):
        return Distribution(spec)
    path = Path(os.path.expanduser(spec)).resolve()
    if not path.exists():
        raise ExtensionError(f"{spec}: no such file or folder (a distribution is a zip from `invoke ext-bundle`, "
                             f"or a folder holding META.json)")
    if path.is_dir():
        files = {p.name for p in path.iterdir() if p.is_file()}
        found = _read_parts(spec, path.name, files, lambda n: (path / n).read_bytes())
        return Distribution(str(path), path, path.name, *found)
    if not zipfile.is_zipfile(path):
        raise ExtensionError(f"{spec} is not a zip file: give the zip `invoke ext-bundle` wrote, or a folder")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        at_top = sorted({n.split("/", 1)[0] + ("/" if "/" in n else "") for n in names})
        loose = [n for n in at_top if not n.endswith("/")]
        if loose or len(at_top) != 1:
            raise ExtensionError(f"{spec} has no top folder: {', '.join((loose or at_top)[:4])} sit at the top of "
                                 f"the zip; PGXN expects everything under one folder NAME-VERSION/ "
                                 f"(`invoke ext-bundle` makes such a zip)")
        top = at_top[0].rstrip("/")
        files = {n[len(top) + 1:] for n in names if n.count("/") == 1 and not n.endswith("/")}
        found = _read_parts(spec, f"{top}/", files, lambda n: archive.read(f"{top}/{n}"))
    return Distribution(str(path), path, top, *found)


def _read_parts(spec, where, files, read):
    for required in ("META.json", "Makefile"):
        if required not in files:
            raise ExtensionError(f"{spec} has no {required} in {where}: PGXN needs both at the top of a "
                                 f"distribution (`invoke ext-meta` writes META.json)")
    meta, problems = loads(read("META.json").decode("utf-8", errors="replace"))
    if meta is None or not isinstance(meta, dict):
        raise ExtensionError(f"{spec}: its META.json is not a JSON object ({problems[0] if problems else ''})")
    return (meta,)


def check_settings(settings, dist, build):
    """The server settings the distribution's tests ask for, as ext-test finds
    them: make reads its Makefile (in a copy in pglab's area) for --temp-config."""
    copy = workdir(settings, build) / "unpacked"
    shutil.rmtree(copy, ignore_errors=True)
    if dist.path.is_dir():
        sync_source(dist.path, copy / dist.top)
    else:
        try:
            done = archives.extract(dist.path, copy)
        except archives.ArchiveError as exc:
            raise ExtensionError(str(exc)) from None
        if done.skipped:
            ui.warn(f"{dist.path.name}: {done.summary()}")
    folder = copy / dist.top
    main = (dist.extensions or [dist.top])[0]
    conf, _files = temp_config(main, makefile_vars(build, folder, account=_account(settings)), folder)
    return conf


def _pgxn_args(dist):
    mirror = os.environ.get("PGXN_MIRROR")
    return ["--mirror", mirror] if mirror and not dist.local else []


def _pgxn_failure(action, dist, text, log=None):
    mirror = os.environ.get("PGXN_MIRROR") if not dist.local else None
    errors = [l.removeprefix("ERROR: ").strip() for l in text.splitlines() if l.startswith("ERROR: ")]
    why = errors[-1] if errors else last_line(text) or "no output"
    if "network error" in why or "service unavailable" in why or "server error" in why:
        return ExtensionError(f"PGXN{' (' + mirror + ')' if mirror else ''} cannot be reached from here ({why}): "
                              f"install a local distribution instead, e.g. `invoke ext-install "
                              f"pg_source/dist/NAME-VERSION.zip` (`invoke ext-bundle` makes one)")
    if "resource not found" in why or "no suitable version" in why:
        return ExtensionError(f"PGXN has no distribution {dist.label} ({why})")
    return ExtensionError(f"pgxn {action} {dist.label} failed: {why}" + (f" (log: {log})" if log else ""))


def pgxn_install(settings, dist, build):
    """pgxnclient's `install` of the distribution into the build (make, make install).  As root
    pgxnclient runs as the server's account and its `make install` goes to a staging folder
    (its --sudo names `env DESTDIR=STAGE`), which root then installs (pglab.boundary)."""
    account = _account(settings)
    log = workdir(settings, build) / "install.log"
    log.unlink(missing_ok=True)
    cmd = [pgxn_command(), "install", *_pgxn_args(dist), dist.spec, "--pg_config", build.pg_config]
    stage = None
    if account.switching:
        stage = workdir(settings, build) / "stage"
        boundary.remove(stage)
        boundary.account_dir(account, stage)
        boundary.stage_folders(account, stage, build.prefix)
        cmd += ["--sudo", f"env DESTDIR={shlex.quote(str(stage))}"]
    with ui.phase(f"pgxn install {pgxn_meta.shown(dist.label)} into {build.id}"):
        try:
            run_logged(cmd, log, cwd=run_dir(settings, build, account), step="pgxn install", account=account,
                       env=boundary.account_env(account, home=boundary.account_home(settings, account)))
            if stage is not None:
                boundary.install_staged(account, stage, build.prefix)
        except BuildError as exc:
            text = log.read_text(errors="replace")
            if "network error" not in text:
                ui.raw(exc.tail)
            raise _pgxn_failure("install", dist, text, log) from None
        except boundary.BoundaryError as exc:
            raise ExtensionError(f"pgxn install {dist.label}: {exc}; nothing was installed") from None
        finally:
            if stage is not None:
                boundary.remove(stage)


def pgxn_load(settings, dist, build, cluster, dbname="postgres"):
    """pgxnclient's `load` (CREATE EXTENSION) in `dbname` on the running cluster;
    returns the extensions created (a local distribution's already there are left be)."""
    extra = []
    if dist.local:
        present = {row[0] for row in cluster.sql("select extname from pg_extension", dbname=dbname)}
        todo = [e for e in dist.extensions if e not in present]
        if not todo:
            return []
        extra = todo if len(todo) != len(dist.extensions) else []
    account = _account(settings)
    done = subprocess.run([str(c) for c in [pgxn_command(), "load", *_pgxn_args(dist), "-d", dbname, "--yes",
                                            dist.spec, "--pg_config", build.pg_config, *extra]],
                          cwd=run_dir(settings, build, account), env=boundary.account_env(account, **cluster.env),
                          capture_output=True, stdin=subprocess.DEVNULL, text=True, timeout=600,
                          **account.subprocess_kwargs())
    if done.returncode != 0:
        raise _pgxn_failure("load", dist, done.stderr + done.stdout)
    return extra or dist.extensions or [dist.spec]


@dataclass
class CheckResult:
    passed: list
    failed: list
    output: str
    diffs: Path = None


def pgxn_check(settings, dist, build, cluster, *, idle_timeout=None):
    """pgxnclient's `check` (make installcheck) against the running cluster,
    supervised like every suite pglab runs; raises ExtensionError when it fails."""
    account = _account(settings)
    cwd = run_dir(settings, build, account)
    idle_timeout = idle_timeout or settings.ext_idle_timeout
    for name in ("regression.diffs", "regression.out"):
        (cwd / name).unlink(missing_ok=True)       # pgxnclient copies a failed run's here
    tally = RegressTally()
    with ui.phase(f"pgxn check {pgxn_meta.shown(dist.label)} on {build.id}") as phase:
        outcome = supervise([pgxn_command(), "check", *_pgxn_args(dist), dist.spec, "--pg_config", build.pg_config],
                            tally=tally, cwd=cwd, env=boundary.account_env(account, **cluster.env), cluster=cluster,
                            idle_timeout=idle_timeout, account=account)
        phase.detail = f"{len(tally.passed)} passed, {len(tally.failed)} failed"
    log = workdir(settings, build) / "check.log"
    boundary.write_file(log, outcome.output)
    result = CheckResult(tally.passed, tally.failed, outcome.output)
    if boundary.read_file(cwd / "regression.diffs"):
        result.diffs = cwd / "regression.diffs"
    if outcome.crash:
        raise ExtensionError(f"pgxn check crashed the server on {build.id} in {outcome.crash.test or 'a test'} "
                             f"({outcome.crash.signal}); server log: {cluster.log}")
    if outcome.hung:
        raise ExtensionError(f"pgxn check hung on {build.id}: no test finished for {idle_timeout:.0f} s "
                             f"(stalled in {outcome.stalled}); output: {log}")
    if tally.failed:
        if result.diffs:
            ui.raw("\n".join(boundary.read_file(result.diffs).splitlines()[:40]))
        total = len(tally.failed) + len(tally.passed)
        raise ExtensionError(f"pgxn check failed on {build.id}: {len(tally.failed)} of {total} tests failed "
                             f"({', '.join(tally.failed)}); diffs: {result.diffs or log}")
    if outcome.returncode != 0:
        raise _pgxn_failure("check", dist, outcome.output, log)
    return result


def workdir(settings, build):
    """pglab's folder for pgxnclient's runs on `build` (its logs; root's): never the user's folder."""
    path = settings.layout.pgxn_work(build.id)
    path.mkdir(parents=True, exist_ok=True)
    if path.lstat().st_uid != os.geteuid():     # an earlier pglab gave it to the account: made afresh
        boundary.remove(path)
        path.mkdir()
    return path


def run_dir(settings, build, account):
    """Where pgxnclient runs, as the account (its folder: a failed check's regression.diffs)."""
    return boundary.account_dir(account, workdir(settings, build) / "run", 0o755)


def _account(settings):
    return accounts.ensure(settings.account)


@dataclass
class Installed:
    dist: Distribution
    build: object
    cluster: Cluster
    loaded: list
    check: CheckResult = None


def install(settings, spec, build, *, cluster_name="main", check=False):
    """pgxn install into `build`, pgxn load on its cluster `cluster_name` (started
    if stopped, as `invoke psql` does); with check, pgxn check on a throwaway
    cluster with the server settings the distribution's tests name."""
    dist = distribution(spec)
    if dist.local and dist.path.is_dir():
        # pgxnclient builds (and checks) a folder in place: give it a copy (the account's, as root),
        # keep the user's folder clean
        copy = workdir(settings, build) / "src" / dist.path.name
        copy.parent.mkdir(exist_ok=True)
        sync_copy(Extension(dist.path.name, dist.path), copy, _account(settings))
        dist = replace(dist, spec=str(copy))
    elif dist.local:
        # pgxnclient runs as the account: a copy of the zip it can read, wherever the user keeps theirs
        copy = workdir(settings, build) / "zips" / dist.path.name
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(dist.path, copy)
        os.chmod(copy, 0o644)
        boundary.reach(_account(settings), copy)
        dist = replace(dist, spec=str(copy), path=copy, given=dist.spec)
    pgxn_install(settings, dist, build)
    cluster = Cluster.open(settings, build, cluster_name, create=True)
    loaded = pgxn_load(settings, dist, build, cluster)
    if loaded:
        ui.say(f"created {', '.join(loaded)} in database postgres on cluster {cluster_name} of {build.id}")
    else:
        ui.say(f"{', '.join(dist.extensions)} already created in database postgres on cluster {cluster_name} of "
               f"{build.id}: left as it is (ALTER EXTENSION ... UPDATE moves it to the installed version)")
    result = Installed(dist, build, cluster, loaded)
    if check:
        with Cluster.throwaway(settings, build, template=True, conf=check_settings(settings, dist, build)) as scratch:
            result.check = pgxn_check(settings, dist, build, scratch)
    return result


# ---- release ------------------------------------------------------------------------------

def upload_url():
    return os.environ.get("PGXN_UPLOAD_URL") or UPLOAD_URL


@dataclass
class Credentials:
    user: str = ""
    password: str = field(default="", repr=False)
    source: str = ""

    def __bool__(self):
        return bool(self.user and self.password)

    def describe(self):
        """Who, and from where; never the password."""
        if self:
            return f"{self.user} (from {self.source})"
        if self.user:
            return f"{self.user} (from {self.source}), but no password: export PGXN_PASSWORD"
        return "not set: export PGXN_USER and PGXN_PASSWORD"


def credentials(url):
    """PGXN Manager's user and password: PGXN_USER (or PGXN_USERNAME) and
    PGXN_PASSWORD, else ~/.netrc's entry for the URL's host."""
    user_var = next((v for v in ("PGXN_USER", "PGXN_USERNAME") if os.environ.get(v)), None)
    if user_var or os.environ.get("PGXN_PASSWORD"):
        return Credentials(os.environ.get(user_var or "PGXN_USER", ""), os.environ.get("PGXN_PASSWORD", ""),
                           f"{user_var or 'PGXN_USER'} and PGXN_PASSWORD")
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        entry = netrc.netrc().authenticators(host)
    except (OSError, netrc.NetrcParseError):
        entry = None
    if entry and entry[0] and entry[2]:
        return Credentials(entry[0], entry[2], f"~/.netrc (machine {host})")
    return Credentials()


def multipart(fields, files):
    """(body, content type) of a multipart/form-data request."""
    boundary = f"pglab-{secrets.token_hex(16)}"
    parts = []
    for name, value in fields.items():
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode())
    for name, (filename, data, kind) in files.items():
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                     f"Content-Type: {kind}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(bundle_, url, creds, *, timeout=120):
    """POST the zip to PGXN Manager as pgxn-tools' release does; returns the answer's status."""
    if not creds:
        missing = "PGXN_PASSWORD" if creds.user else "PGXN_USER and PGXN_PASSWORD"
        host = urllib.parse.urlsplit(url).hostname
        raise ExtensionError(f"no PGXN Manager credentials: export {missing} (or add {host} to ~/.netrc); "
                             f"nothing was sent")
    body, kind = multipart({"submit": "Release It!"},
                           {"archive": (bundle_.path.name, bundle_.path.read_bytes(), "application/zip")})
    token = base64.b64encode(f"{creds.user}:{creds.password}".encode()).decode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": kind, "Authorization": f"Basic {token}", "X-Requested-With": "XMLHttpRequest",
        "User-Agent": "pglab ext-release"})
    release = f"{bundle_.name} {bundle_.version}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        said = last_line(exc.read().decode(errors="replace"))[:200]
        if exc.code == 401:
            raise ExtensionError(f"PGXN Manager refused the credentials of {creds.user} (HTTP 401; from "
                                 f"{creds.source}): check them, then release again") from None
        if exc.code == 409:
            raise ExtensionError(f"PGXN Manager already has {release} (HTTP 409): a release is never replaced; "
                                 f"bump the version in the control file and META.json") from None
        raise ExtensionError(f"PGXN Manager did not take {release} (HTTP {exc.code}{': ' + said if said else ''})") \
            from None
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise ExtensionError(f"PGXN Manager cannot be reached at {url} ({why}); nothing was released") from None


def release(settings, ext, *, send=False):
    """The bundle, the URL and credentials it would go to; sent when `send`.
    Returns (Bundle, url, Credentials, HTTP status or None)."""
    made = bundle(settings, ext)
    url = upload_url()
    creds = credentials(url)
    status = upload(made, url, creds) if send else None
    return made, url, creds, status


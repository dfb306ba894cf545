"""The privilege boundary: how work and files cross between root and the account.

As root, pglab runs everything that is not its own code (an extension's make, its
test suites, the servers and so whatever their SQL runs) as the server's account
(pglab.accounts).  Root keeps its own files in folders only root can write, and
never writes, chowns or runs make in a folder the account can write.  Work
crosses the boundary only here:

    account_dir       a folder for the account, made by root inside a folder of
                      root's (so the account can never swap it for a link)
    write_file        root's own files, written whole (temporary name, rename)
    read_file         what the account wrote, read without following links
    copy_in           a user's tree mirrored into the account's build copy: root
                      reads, `tar` running as the account writes
    install_staged    `make install DESTDIR=STAGE` run as the account, then root
                      copies the regular files under the build's prefix into
                      place, refusing links, hard links and anything outside it
                      (what packagers do: build unprivileged, install as root)
    account_env       the environment handed to the account: root's, less its
                      secrets and its identity

Not as root (the account is the caller), nothing crosses and the same calls do
the plain thing.  docs/security.md has the table of who runs what.
"""

import errno
import fnmatch
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .errors import PglabError

# what never reaches the account's processes: root's identity and secrets
_HIDDEN = re.compile(r"^(SSH_|GPG_|GNUPGHOME$|DBUS_|XDG_RUNTIME_DIR$|SUDO_|MAIL$|.*(PASSWORD|PASSWD|TOKEN|SECRET|"
                     r"CREDENTIAL|_KEY$).*)", re.I)


class BoundaryError(PglabError):
    """Something the account made that root will not take (a link, a path outside the prefix)."""


def account_env(account, *, home=None, **extra):
    """Root's environment as the account should see it: without root's secrets (PGXN_PASSWORD,
    SSH_AUTH_SOCK, ...), with the account's own name and HOME (account_home, for make's ccache;
    else none, and ccache off); EXTRA on top."""
    env = {k: v for k, v in os.environ.items() if not (account.switching and _HIDDEN.match(k))}
    if account.switching:
        env.update(USER=account.name, LOGNAME=account.name, HOME=str(home or "/nonexistent"))
        env.pop("CCACHE_DIR", None)
        if home is None:
            env["CCACHE_DISABLE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def account_home(settings, account):
    """A home for the account's builds (ccache keeps its cache there), in the build cache: a
    folder of the account's inside root's, never a guessable name in the shared /tmp."""
    if not account.switching:
        return None
    parent = settings.layout.cache / "home"
    parent.mkdir(parents=True, exist_ok=True)
    return account_dir(account, parent / account.name, 0o700)


def reach(account, *paths):
    """Let the account reach PATHS: as root, the folders in the way that it cannot traverse get
    o+x (traverse, not list), each said in one line; a folder root cannot change is an error."""
    if not account.switching:
        return
    from . import ui

    for path in paths:
        blocked = account.cannot_reach(path)
        while blocked is not None:
            try:
                os.chmod(blocked, blocked.stat().st_mode | 0o001)
            except OSError as exc:
                raise BoundaryError(
                    f"the account '{account.name}' that runs PostgreSQL cannot enter {blocked} ({exc}); "
                    f"run `chmod o+x {blocked}` or set pglab.root (INVOKE_PGLAB_ROOT) to a directory it can reach"
                ) from None
            ui.note(f"let the account '{account.name}' traverse {blocked} (chmod o+x) to reach {path}")
            blocked = account.cannot_reach(path)


def reach_python(account):
    """Let the account run this Python with pglab and its packages (pytest, the pre-started
    interpreter and the warm servers' watcher run as the account): `reach` for the venv and the
    pglab package."""
    import sys

    here = Path(__file__).resolve().parent
    reach(account, Path(sys.executable).parent / "python", here / "__init__.py",
          *(Path(p) / "." for p in sys.path if p.startswith(sys.prefix) and Path(p).is_dir()))


def account_dir(account, path, mode=0o700):
    """PATH as a folder of the account's, empty if new; its parent must be root's (not as root:
    just the folder).  An existing PATH that is not a folder of the account's is replaced."""
    path = Path(path)
    if not account.switching:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        return path
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    if os.lstat(parent).st_uid != os.geteuid():
        raise BoundaryError(f"{parent} is not root's: pglab makes the account's folders only inside root's")
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == account.uid:
            _fchmod_dir(path, mode)
            return path
        remove(path)
    except FileNotFoundError:
        pass
    os.mkdir(path, 0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, account.uid, account.gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path


def _fchmod_dir(path, mode):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def account_file(account, path, mode=0o600):
    """PATH created afresh as an empty file of the account's (in a folder of root's): the
    server's log, which pg_ctl opens as the account.  Kept when it is already the account's."""
    path = Path(path)
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_uid == account.uid and st.st_nlink == 1:
            return path
        path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        if account.switching:
            os.fchown(fd, account.uid, account.gid)
    finally:
        os.close(fd)
    return path


def remove(path):
    """Delete PATH (a file, a link or a tree) without following links."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)     # fd-based on Linux: never follows a link inside the tree
    else:
        path.unlink()


def write_file(path, text, mode=0o644):
    """Write PATH whole: a temporary file beside it, renamed over it (a link at PATH is replaced, not followed)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            os.fchmod(out.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_bytes(path, offset=0):
    """The bytes (from OFFSET on) of a file the account may have written, or b'' when there is
    none: never through a link (a link planted at PATH reads as nothing), never a device or FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return b""
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return b""
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return b""
        f.seek(offset)
        return f.read()


def read_file(path):
    """read_bytes as text (undecodable bytes replaced)."""
    return read_bytes(path).decode("utf-8", errors="replace")


def open_in_tree(top, rel, *, links=()):
    """A read-only fd of TOP/REL (a relation's file in a data directory), or None when there is
    none.  Each folder on the way is opened without following a link, but for those whose path
    matches one of LINKS (fnmatch: "pg_tblspc/*", a tablespace); no '..'; the file must be a
    regular one of TOP's owner.  Else BoundaryError: what the server says is a relation's path
    never makes root read another file."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        raise BoundaryError(f"{rel} is not a path inside {top}")
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    owner = os.fstat(fd).st_uid
    try:
        for i, part in enumerate(parts):
            here = "/".join(parts[:i + 1])
            last = i == len(parts) - 1
            flags = os.O_RDONLY | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            if not any(fnmatch.fnmatch(here, pattern) for pattern in links):
                flags |= os.O_NOFOLLOW
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise BoundaryError(f"{top}/{here} is a link or not a folder: inspect reads no further")                         from None
                raise
            os.close(fd)
            fd = nxt
            st = os.fstat(fd)
            if st.st_uid != owner or (last and not stat.S_ISREG(st.st_mode)):
                raise BoundaryError(f"{top}/{here} is not the server's own file")
        result, fd = fd, None
        return result
    finally:
        if fd is not None:
            os.close(fd)


# ---- the build copy ----------------------------------------------------------------------

def _listing(root, skip):
    """{relative path: (mtime_ns, size)} of the regular files under root, lstat only; and its folders."""
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not skip(dirpath, d)]
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            dirs.add(rel)
        for name in filenames:
            if skip(dirpath, name):
                continue
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            files[os.path.normpath(os.path.join(rel, name))] = (st.st_mtime_ns, st.st_size)
    return files, dirs


def copy_in(account, src, dest, skip):
    """Mirror the user's tree SRC into the account's folder DEST, leaving out what SKIP(folder,
    name) says is a build product, in either tree; returns True when anything changed.  Unchanged
    files keep their mtime, so make rebuilds only what changed.  As root, root only reads SRC
    (following links, as a copy does) and lists DEST; `tar` and `rm` running as the account write it."""
    src, dest = Path(src), Path(dest)
    want, want_dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames[:] = [d for d in dirnames if not skip(dirpath, d)]
        rel = os.path.relpath(dirpath, src)
        if rel != ".":
            want_dirs.add(rel)
        for name in filenames:
            if not skip(dirpath, name):
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except FileNotFoundError:      # a dangling link in the user's tree: nothing to copy
                    continue
                if stat.S_ISREG(st.st_mode):
                    want[os.path.normpath(os.path.join(rel, name))] = (full, st)
    have, have_dirs = _listing(dest, skip)
    changed = sorted(rel for rel, (_full, st) in want.items() if have.get(rel) != (st.st_mtime_ns, st.st_size))
    stale = sorted(rel for rel in have if rel not in want)
    stale_dirs = sorted(have_dirs - want_dirs, key=lambda d: -d.count("/"))     # products' were left out
    new_dirs = sorted(want_dirs - have_dirs)
    if changed or new_dirs:
        _untar_as(account, dest, [(rel, *want[rel]) for rel in changed], new_dirs)
    if stale:
        _as(account, ["rm", "-f", "--", *stale], cwd=dest)
    for folder in stale_dirs:   # only empty ones: a folder the tests made (results/) is a product
        _as(account, ["rmdir", "--ignore-fail-on-non-empty", "--", folder], cwd=dest, check=False)
    return bool(changed or stale)


def _as(account, argv, *, cwd, check=True, **kw):
    done = subprocess.run(argv, cwd=cwd, env=account_env(account), capture_output=True, text=True,
                          **account.subprocess_kwargs(), **kw)
    if check and done.returncode != 0:
        raise BoundaryError(f"{argv[0]} in {cwd} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return done


def _untar_as(account, dest, files, dirs):
    """Write FILES [(rel, full path, stat)] and DIRS into DEST as the account, mtimes to the nanosecond."""
    proc = subprocess.Popen(["tar", "--extract", "--file=-", f"--directory={dest}", "--no-same-owner"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=account_env(account), **account.subprocess_kwargs())
    try:
        with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for rel in dirs:
                info = tarfile.TarInfo(rel)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            for rel, full, st in files:
                info = tarfile.TarInfo(rel)
                info.size, info.mode = st.st_size, stat.S_IMODE(st.st_mode) & 0o755 | 0o600
                info.pax_headers = {"mtime": f"{st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}"}
                with open(full, "rb") as f:
                    tar.addfile(info, f)
    finally:
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.wait()
    if proc.returncode != 0:
        raise BoundaryError(f"copying into {dest} failed: {(err.strip().splitlines() or ['tar failed'])[-1]}")


# ---- staged installs ---------------------------------------------------------------------------

def _open_dir(parent_fd, name):
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)


def stage_folders(account, stage, prefix):
    """The prefix's folders made again under STAGE (as the account), for `make install DESTDIR=STAGE`:
    an install rule that writes into a folder of the prefix without making it (include/server,
    say) finds it there, as it does when it installs straight into the prefix."""
    folders = [f"{stage}{dirpath}" for dirpath, _dirs, _files in os.walk(prefix)]
    done = subprocess.run(["xargs", "-0", "mkdir", "-p", "--"], input="\0".join(folders), text=True,
                          capture_output=True, env=account_env(account), **account.subprocess_kwargs())
    if done.returncode != 0:
        raise BoundaryError(f"cannot make the staging folders in {stage}: "
                            f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")


def ready_stage(account, stage, prefix, key):
    """STAGE ready for `make install DESTDIR=STAGE`: a folder of the account's holding the prefix's
    folders (stage_folders) and no file.  The folders are made again only when KEY (which build of the
    prefix) differs from what the last clean install recorded (stage_kept); otherwise what that install
    left is deleted (as the account) and its folders are reused."""
    stage = Path(stage)
    mark = stage.parent / f".{stage.name}-kept"
    try:
        kept = mark.read_text() == key
        mark.unlink()       # recorded again only after this install is clean
    except FileNotFoundError:
        kept = False
    if kept:
        st = os.lstat(stage) if os.path.lexists(stage) else None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == account.uid:
            done = subprocess.run(["find", str(stage), "-mindepth", "1", "!", "-type", "d", "-delete"],
                                  capture_output=True, env=account_env(account), **account.subprocess_kwargs())
            if done.returncode == 0:
                return stage
    remove(stage)
    account_dir(account, stage)
    stage_folders(account, stage, prefix)
    return stage


def stage_kept(stage, key):
    """Record that STAGE's folders are the prefix's (build KEY) after a clean install (ready_stage)."""
    stage = Path(stage)
    write_file(stage.parent / f".{stage.name}-kept", key)


def install_staged(account, stage, prefix):
    """Copy what `make install DESTDIR=STAGE` put under STAGE/PREFIX into PREFIX; returns the
    files installed (relative to PREFIX).  Everything is checked before anything is copied:
    only regular files and folders, made by the account, no hard links, nothing outside the
    prefix; else BoundaryError naming the first offender and nothing is installed."""
    prefix = Path(prefix)
    top = os.open(stage, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    opened = [top]
    try:
        fd, walked = top, Path(stage)
        for part in prefix.parts[1:]:            # down STAGE/var/cache/... one folder at a time, no links
            others = [n for n in os.listdir(fd) if n != part]
            if others:
                raise BoundaryError(f"make install wrote outside the build's prefix {prefix}: "
                                    f"{'/' / (walked / others[0]).relative_to(stage)}")
            try:
                fd = _open_dir(fd, part)
            except FileNotFoundError:
                return []
            except OSError:
                raise BoundaryError(f"make install left a link where the prefix's folder {part} should be") from None
            opened.append(fd)
            walked = walked / part
        plan = []
        for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=fd, follow_symlinks=False):
            for name in filenames:
                rel = os.path.normpath(os.path.join(dirpath, name))
                try:
                    ffd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
                except OSError:
                    raise BoundaryError(f"make install left a link, not a file: {prefix / rel} "
                                        f"(pglab installs regular files only)") from None
                opened.append(ffd)
                st = os.fstat(ffd)
                if not stat.S_ISREG(st.st_mode):
                    raise BoundaryError(f"make install left something that is not a file: {prefix / rel}")
                if account.switching and (st.st_uid != account.uid or st.st_nlink != 1):
                    raise BoundaryError(f"make install left a file the build did not make: {prefix / rel}")
                plan.append((rel, ffd, stat.S_IMODE(st.st_mode)))
            for name in dirnames:
                plan.append((os.path.normpath(os.path.join(dirpath, name)), None, 0o755))
        plan.sort(key=lambda item: (item[1] is not None, item[0]))      # folders first
        for rel, ffd, mode in plan:
            target = prefix / rel
            if ffd is None:
                if target.is_symlink():
                    raise BoundaryError(f"{target} is a link: pglab does not install through it")
                target.mkdir(exist_ok=True)
                continue
            _copy_fd(ffd, target, 0o755 if mode & 0o111 else 0o644)
        return [rel for rel, ffd, _mode in plan if ffd is not None]
    finally:
        for fd_ in reversed(opened):
            os.close(fd_)


def _copy_fd(src_fd, target, mode):
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.lseek(src_fd, 0, os.SEEK_SET)
        with os.fdopen(fd, "wb") as out:
            while chunk := os.read(src_fd, 1 << 20):
                out.write(chunk)
            os.fchmod(out.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

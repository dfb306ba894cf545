"""The OS account PostgreSQL servers run as.

PostgreSQL refuses to run as root, so under root pglab runs servers as an
unprivileged account: an existing `postgres`, else a `pglab` system account that
`ensure()` creates.  Reading state never creates anything: `existing()` only looks.
"""

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ClusterError

FALLBACK = "pglab"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    @property
    def switching(self):
        """True when commands for the server must change to this account."""
        return self.uid != os.geteuid()

    def subprocess_kwargs(self):
        """Popen arguments that run a command as this account (none when it is us)."""
        if not self.switching:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path):
        if self.switching:
            os.chown(path, self.uid, self.gid)

    def give(self, path):
        """Hand a tree to this account (files pglab wrote there as root)."""
        if not self.switching:
            return
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, self.uid, self.gid)
            for name in filenames + dirnames:
                full = os.path.join(dirpath, name)
                if os.lstat(full).st_uid != self.uid:
                    os.lchown(full, self.uid, self.gid)

    def cannot_reach(self, path):
        """The first directory above `path` this account cannot traverse, or None."""
        for parent in reversed(Path(path).resolve().parents):
            st = parent.stat()
            if st.st_uid == self.uid:
                ok = st.st_mode & 0o100
            elif st.st_gid == self.gid:
                ok = st.st_mode & 0o010
            else:
                ok = st.st_mode & 0o001
            if not ok:
                return parent
        return None


def _candidates(preferred):
    return [preferred] if preferred else ["postgres", FALLBACK]


def _entry(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def existing(preferred=""):
    """The account servers run as, if it exists now (the caller when not root)."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return Account(me.pw_name, me.pw_uid, me.pw_gid)
    for name in _candidates(preferred):
        account = _entry(name)
        if account is not None:
            return account
    return None


def ensure(preferred=""):
    """The account servers run as, created (as a system account) when missing."""
    account = existing(preferred)
    if account is not None:
        return account
    name = preferred or FALLBACK
    done = subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/nonexistent", "--no-create-home",
                           "--shell", "/usr/sbin/nologin", "--comment", "pglab PostgreSQL servers", name],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(f"could not create the account {name} to run PostgreSQL as: {done.stderr.strip()}")
    return _entry(name)

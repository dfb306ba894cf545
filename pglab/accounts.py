"""The OS account PostgreSQL servers, and every piece of code pglab did not write, run as.

PostgreSQL refuses to run as root, so under root pglab runs its servers as an
unprivileged account, and with them everything that runs an extension's or a
learner's code: their make, their test suites (pglab.boundary says how work and
files cross between root and the account).  That account is one pglab creates
itself (`pglab`, a system account with no home and no shell, marked by its
comment), never an existing one: on a machine with a packaged PostgreSQL the
`postgres` account owns production data, and code under test must not run as it.
An account of that name that pglab did not make is refused.  Not as root, the
account is the caller.  Reading state never creates anything: `existing()` only looks.
"""

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ClusterError

NAME = "pglab"                        # the default; the setting `account` names another
MARK = "pglab PostgreSQL servers"     # the comment pglab's accounts are made with


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


def _entry(name):
    """The account NAME if it exists and is one pglab made; None if it does not exist."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_uid == 0 or entry.pw_gecos != MARK:
        raise ClusterError(f"the account '{name}' exists and pglab did not make it (it may own other data, and "
                           f"code under test runs as pglab's account): set pglab.account (INVOKE_PGLAB_ACCOUNT) to "
                           f"a name no account has, and pglab creates that account")
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def existing(preferred=""):
    """The account servers run as, if it exists now (the caller when not root)."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return Account(me.pw_name, me.pw_uid, me.pw_gid)
    return _entry(preferred or NAME)


def ensure(preferred=""):
    """The account servers run as, created (as a system account) when missing."""
    account = existing(preferred)
    if account is not None:
        return account
    name = preferred or NAME
    done = subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/nonexistent", "--no-create-home",
                           "--shell", "/usr/sbin/nologin", "--comment", MARK, name],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(f"could not create the account {name} to run PostgreSQL as: {done.stderr.strip()}")
    return _entry(name)

"""The server an extension's suites run against, kept warm between ext-test runs.

Starting a server is most of what a short edit → verdict loop would cost, and a
running server serves a rebuilt extension as it is: each new backend loads the
library file `make install` just replaced, and each suite creates its databases
afresh.  So a server stays running after ext-test (clusters/.warm/<build>/<ext>)
and the next run reuses it when that is safe:

- its settings (the --temp-config file), the build and the extension's control
  file are what they were when it started;
- when the extension's library is preloaded (shared_preload_libraries), the
  library is the one the postmaster loaded;
- the last run left nothing behind that a fresh server would not have (roles,
  tablespaces, databases, slots, prepared transactions, ALTER SYSTEM), and no
  backend crashed or hung.

Anything else gets a fresh server from the build's template.  `--fresh` asks
for one every time; `invoke pg-stop --all` stops the warm ones.

They are bounded (pglab.servers): at most a few stay warm, the least recently
used stopped first, and one left unused stops by itself.
"""

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass

from .. import boundary, locks
from ..cluster import Cluster, State, template_for, warm_lock
from ..servers import bound, watch

# what a run may leave behind and a fresh server would not have
_LEFTOVERS_SQL = """
select 'role ' || rolname from pg_roles where rolname !~ '^pg_' and rolname <> current_user
union all select 'tablespace ' || spcname from pg_tablespace where spcname not in ('pg_default', 'pg_global')
union all select 'database ' || datname from pg_database
 where datname not in ('postgres', 'template0', 'template1') and datname !~ '^(contrib|isolation)_regression$'
   and datname !~ '^pglab_tests'
union all select 'replication slot ' || slot_name from pg_replication_slots
union all select 'prepared transaction ' || gid from pg_prepared_xacts
union all select 'ALTER SYSTEM ' || name from pg_settings where sourcefile like '%postgresql.auto.conf'
"""


def stamp_for(build, conf, srcdir, ext_name):
    """What a warm server's fitness depends on."""
    parts = {"build": build.built_at, "fingerprint": build.fingerprint, "conf": conf}
    control = srcdir / f"{ext_name}.control"
    parts["control"] = hashlib.sha256(control.read_bytes()).hexdigest() if control.is_file() else ""
    preload = str(conf.get("shared_preload_libraries", "")).strip("'\" ")
    if preload:
        libdir = build.pkglibdir()   # where PGXS installs them, so a reinstall restarts the server
        libs = {}
        for lib in (l.strip() for l in preload.split(",") if l.strip()):
            path = libdir / f"{lib.removeprefix('$libdir/')}.so"
            # its bytes, not its time: make install copies it on every run, changed or not
            libs[lib] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        parts["preloaded"] = libs
    return json.dumps(parts, sort_keys=True)


@dataclass
class Warm:
    cluster: Cluster
    remark: str          # reused, or why it was (re)started
    keep: bool = True    # set False when a run crashed or hung the server


@contextmanager
def server(settings, build, ext_tag, conf, *, stamp, fresh=False):
    """A running cluster for the suites; kept warm afterwards unless unsafe.

    Yields a Warm handle; clear its `keep` when the run crashed or hung the server."""
    base = settings.layout.warm_server(build.id, ext_tag)
    base.parent.mkdir(parents=True, exist_ok=True)
    with locks.held(warm_lock(base)):    # one run at a time on a warm server; pg-stop --all leaves a busy one be
        yield from _serve(settings, build, base, conf, stamp, fresh)


def _serve(settings, build, base, conf, stamp, fresh):
    cl = Cluster(build, base, preferred_account=settings.account, conf=conf, core_dumps=True, throwaway=True)
    stamp_file = base / "stamp"
    previous = stamp_file.read_text() if stamp_file.exists() else None
    state = cl.state()
    if not fresh and state is State.RUNNING and previous == stamp:
        remark = "reused the warm server"
    else:
        if state is not State.ABSENT:
            cl.destroy()
        remark = ("started a server" if previous is None or fresh else
                  "restarted the server: " + ("it had stopped" if state is not State.RUNNING else
                                              "its settings, build, control file or preloaded library changed"))
        cl.template = template_for(build, settings)
        try:
            cl.init()
            cl.start()
        except BaseException:
            cl.destroy()
            raise
        stamp_file.write_text(stamp)
    handle = Warm(cl, remark)
    try:
        yield handle
        handle.keep = handle.keep and not fresh and cl.state() is State.RUNNING and not leftovers(cl)
    except BaseException:
        handle.keep = False
        raise
    finally:
        if not handle.keep:
            cl.destroy()
        else:
            boundary.write_file(base / "used", f"{time.time()}\n")
    if handle.keep:
        bound(settings, keep=base)
        watch(settings)


def leftovers(cl):
    """What the last run left that a fresh server would not have."""
    from ..errors import PglabError

    try:
        return [row[0] for row in cl.sql(_LEFTOVERS_SQL)]
    except PglabError as exc:
        return [f"the server did not answer ({exc})"]

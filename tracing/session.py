"""Batch-mode entry point: `python import pglab_tracing.session as s; s.main(CONFIG)`.

Run by the driver as `gdb -nx -batch -x .../loader.py -ex ... -p PID` (loader.py
registers this package as pglab_tracing).  The config (JSON) names
the target, the events file, the ready file and options.  The sequence:

  1. pass PostgreSQL's signals silently; make SIGWINCH (which PostgreSQL
     never uses) the driver's "stop tracing" request, stopped on and never
     passed on.  SIGINT is passed silently: a backend only gets one as a
     query cancel, which must reach it; the driver never sends one.
  2. install the target's breakpoints, write the ready file.
  3. `continue` until SIGWINCH or the backend exits; at stops that a
     breakpoint asked for, run the deferred inferior calls and continue.
  4. stop listening to SIGWINCH (the driver repeats it until gdb exits; a
     repeat must not interrupt the finishers' inferior calls), run the
     target's finishers (snapshots, name lookups), delete every
     breakpoint we made, write "trace_end", detach.  Step 4 runs on every
     path; gdb -batch itself detaches (not kills) an attached process when
     it exits, which covers the rest.
"""

import importlib
import json
import os

import gdb

from . import common, targets, version

STOP_SIGNAL = "SIGWINCH"
PASS_SIGNALS = ("SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPIPE", "SIGURG", "SIGCHLD", "SIGHUP",
                "SIGTERM", "SIGQUIT", "SIGINT", "SIGIO", "SIGPROF", "SIGVTALRM", "SIGXFSZ")

_last_stop = [None]


def _on_stop(event):
    _last_stop[0] = event


def configure_gdb():
    for cmd in ("set pagination off", "set confirm off", "set width 0", "set height 0",
                "set breakpoint pending on", "set print pretty off",
                # a crash inside one of our inferior calls must not leave the
                # backend parked in the middle of it
                "set unwindonsignal on", "set unwind-on-terminating-exception on",
                f"handle {' '.join(PASS_SIGNALS)} nostop noprint pass",
                # "noprint" would imply "nostop"; the text goes to_string anyway
                f"handle {STOP_SIGNAL} stop print nopass"):
        gdb.execute(cmd, to_string=True)


def alive():
    inf = gdb.selected_inferior()
    return inf is not None and inf.pid != 0


def run_loop(ctx):
    """Resume the backend until the driver's stop signal or its exit."""
    while True:
        _last_stop[0] = None
        try:
            gdb.execute("continue", to_string=True)
        except gdb.error:
            if not alive():
                return "exited"
            raise
        if not alive():
            return "exited"
        event = _last_stop[0]
        if isinstance(event, gdb.SignalEvent):
            if event.stop_signal == STOP_SIGNAL:
                return "stopped"
            ctx.em.emit("signal", signal=event.stop_signal)
        ctx.run_deferred()


def install(ctx, target):
    """Set the breakpoints of a target (a registered name or a function name)."""
    entry = targets.resolve(target)
    module = importlib.import_module(f".{entry.module}", __package__)
    if entry is targets.FUNCTION:
        return module.install(ctx, targets.function_name(target))
    return module.install(ctx)


def main(config_path):
    with open(config_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    em = common.Emitter(cfg["events"], cfg.get("pid"))
    ctx = None
    reason = "error"
    try:
        configure_gdb()
        gdb.events.stop.connect(_on_stop)
        profile = version.profile(int(cfg["version_num"]))
        em.emit("trace_start", target=cfg["target"], version_num=profile.version_num,
                gdb=gdb.VERSION, bt=bool(cfg.get("bt")), tracer=os.path.dirname(os.path.abspath(__file__)))
        common.require_debug_info()
        ctx = common.Context(em, profile, bt=bool(cfg.get("bt")), extra=cfg.get("extra"))
        installed = install(ctx, cfg["target"])
        em.emit("ready", breakpoints=installed)
        em.flush()
        with open(cfg["ready"], "w", encoding="utf-8") as fh:
            fh.write("ready\n")
        reason = run_loop(ctx)
    except gdb.GdbError as exc:
        em.emit("error", message=str(exc), fatal=True, code=getattr(exc, "code", "setup"))
    except gdb.error as exc:
        em.emit("error", message=str(exc), fatal=True, code="gdb")
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        _shutdown(ctx, em, reason)


def _shutdown(ctx, em, reason):
    live = alive()
    try:
        if live:
            try:
                gdb.execute(f"handle {STOP_SIGNAL} nostop noprint nopass", to_string=True)
            except gdb.error as exc:
                em.emit("warning", message=f"at trace end: {exc}")
        if ctx is not None:
            if live:
                ctx.run_deferred()
            for fn in ctx.finishers:
                try:
                    fn(live and alive())
                except (gdb.error, gdb.MemoryError, ValueError, KeyError, TypeError) as exc:
                    em.emit("warning", message=f"at trace end: {exc}")
            ctx.delete_breakpoints()
        em.emit("trace_end", reason=reason, backend_alive=alive(), counts=dict(em.counts))
    finally:
        em.close()
        if alive():
            gdb.execute("detach", to_string=True)
        try:
            gdb.events.stop.disconnect(_on_stop)
        except (ValueError, RuntimeError):
            pass

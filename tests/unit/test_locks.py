"""pglab.locks: a second pglab on the same thing says it waits and for whom, then waits."""

import os
import subprocess
import sys
import time

from pglab import locks


def test_a_held_lock_is_waited_for_with_one_line(tmp_path, capsys):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, sys, time
fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(1.0)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        start = time.monotonic()
        with locks.exclusive(path, "another pglab holds it: waiting for it"):
            waited = time.monotonic() - start       # ours only once the holder let go (after 1 s)
    finally:
        holder.kill()
        holder.wait()
    assert waited > 0.5
    assert "· another pglab holds it: waiting for it" in capsys.readouterr().out


def test_a_free_lock_is_taken_without_a_word(tmp_path, capsys):
    with locks.exclusive(tmp_path / "sub" / "y.lock", "waiting"):
        pass
    assert capsys.readouterr().out == ""


HOLDER = """import sys, time
from pglab import locks
with locks.exclusive(sys.argv[1], "unused", remove=sys.argv[2] == "remove"):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _hold(tmp_path, path, *, remove=False, seconds=1.0):
    """A process holding PATH through locks.exclusive (as another pglab would), once it holds it."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), "remove" if remove else "keep", str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def _can_lock(path, *, shared=False):
    """Whether another process could take the lock (exclusive, or SHARED) on the file at PATH now."""
    mode = "LOCK_SH" if shared else "LOCK_EX"
    done = subprocess.run([sys.executable, "-c", f"""
import fcntl, os, sys
fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.{mode} | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
"""])
    return done.returncode == 0


def test_the_waiting_line_names_the_process_waited_for(tmp_path, capsys):
    path = tmp_path / "release.lock"
    holder = _hold(tmp_path, path)
    try:
        with locks.exclusive(path, "another pglab is fetching PostgreSQL 13.23: waiting for it"):
            assert path.read_text() == locks.this_process()     # the next waiter reads this process's name
    finally:
        holder.wait()
    assert capsys.readouterr().out == (f"  · another pglab is fetching PostgreSQL 13.23: waiting for it "
                                       f"(pid {holder.pid}: holder.py {path} keep 1.0)\n")
    assert path.read_text() == ""          # let go: nobody holds it, nobody is named


def test_a_lock_file_removed_as_it_is_let_go_is_not_held_twice(tmp_path, capsys):
    path = tmp_path / "release.lock"
    holder = _hold(tmp_path, path, remove=True)
    try:
        with locks.exclusive(path, "waiting for it", remove=True):
            # the holder removed the file it held; this process holds the one at PATH now,
            # so a third process cannot take the lock beside it
            assert path.exists() and not _can_lock(path)
    finally:
        holder.wait()
    assert not path.exists() and _can_lock(path)
    assert capsys.readouterr().out == f"  · waiting for it (pid {holder.pid}: holder.py {path} remove 1.0)\n"


def test_the_process_is_named_as_the_user_typed_it(monkeypatch):
    monkeypatch.delenv("PGLAB_VIA", raising=False)
    monkeypatch.setattr(sys, "argv", ["/work/.venv/lib/python3.11/site-packages/invoke/__main__.py", "build-pg",
                                      "--version", "13", "--patch", "my fix.patch"])
    assert locks.this_process() == f"pid {os.getpid()}: invoke build-pg --version 13 --patch 'my fix.patch'"
    monkeypatch.setenv("PGLAB_VIA", "./lab")
    monkeypatch.setattr(sys, "argv", ["/work/.venv/bin/invoke", "ci", "--pg", "13"])
    assert locks.this_process() == f"pid {os.getpid()}: ./lab ci --pg 13"


# ---- the one place that takes file locks ------------------------------------------------------

def test_no_module_but_locks_takes_file_locks():
    import ast
    from pathlib import Path

    import pglab

    root = Path(pglab.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "locks.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            what = None
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "fcntl" for a in node.names):
                what = "imports fcntl"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "fcntl":
                what = "imports from fcntl"
            elif isinstance(node, ast.Attribute) and node.attr in ("flock", "lockf"):
                what = f"calls {node.attr}"
            elif isinstance(node, ast.Name) and node.id in ("flock", "lockf"):
                what = f"calls {node.id}"
            if what:
                offenders.append((str(path.relative_to(root.parent)), node.lineno, what))
    assert not offenders, "file locks are pglab.locks's alone; taken elsewhere: " + "; ".join(
        f"{file}:{line} {what}" for file, line, what in sorted(offenders))


QUIET_HOLDER = """import sys, time
from pglab import locks
with locks.held(sys.argv[1], shared=sys.argv[2] == "shared"):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _hold_quietly(tmp_path, path, *, shared=False, seconds=1.0):
    """A process holding PATH through locks.held (exclusive or shared), once it holds it."""
    script = tmp_path / "quiet_holder.py"
    script.write_text(QUIET_HOLDER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), "shared" if shared else "exclusive",
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_held_waits_for_an_exclusive_holder_without_a_word(tmp_path, capsys):
    path = tmp_path / "warm.lock"
    holder = _hold_quietly(tmp_path, path, seconds=1.0)
    try:
        start = time.monotonic()
        with locks.held(path):
            waited = time.monotonic() - start
            assert not _can_lock(path) and not _can_lock(path, shared=True)     # exclusive: nobody beside it
    finally:
        holder.kill()
        holder.wait()
    assert waited > 0.5
    assert capsys.readouterr().out == ""
    assert _can_lock(path)                  # let go on leaving


def test_held_shared_admits_a_second_shared_holder_and_no_exclusive_one(tmp_path):
    path = tmp_path / "template.lock"
    holder = _hold_quietly(tmp_path, path, shared=True, seconds=5.0)
    try:
        start = time.monotonic()
        with locks.held(path, shared=True):
            assert time.monotonic() - start < 2.0       # no wait for the other shared holder
            assert _can_lock(path, shared=True) and not _can_lock(path)
    finally:
        holder.kill()
        holder.wait()
    assert _can_lock(path)


def test_held_shared_waits_for_an_exclusive_holder(tmp_path):
    path = tmp_path / "template.lock"
    holder = _hold_quietly(tmp_path, path, seconds=1.0)
    try:
        start = time.monotonic()
        with locks.held(path, shared=True):
            waited = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert waited > 0.5


def test_if_free_passes_over_a_held_lock_at_once(tmp_path):
    path = tmp_path / "warm.lock"
    holder = _hold_quietly(tmp_path, path, seconds=5.0)
    try:
        start = time.monotonic()
        with locks.if_free(path) as free:
            assert not free
        with locks.if_free(path, create=False) as free:
            assert not free
        assert time.monotonic() - start < 2.0           # never waits
    finally:
        holder.kill()
        holder.wait()


def test_if_free_holds_a_free_lock_until_left(tmp_path):
    path = tmp_path / "warm.lock"
    with locks.if_free(path) as free:
        assert free and path.exists()
        assert not _can_lock(path)
    assert _can_lock(path)
    with locks.if_free(path, create=False) as free:
        assert free and not _can_lock(path)
    assert _can_lock(path)


def test_if_free_without_create_passes_over_a_missing_file_or_a_link(tmp_path):
    missing = tmp_path / "gone.lock"
    with locks.if_free(missing, create=False) as free:
        assert not free
    assert not missing.exists()
    real = tmp_path / "real.lock"
    real.touch()
    link = tmp_path / "link.lock"
    link.symlink_to(real)
    with locks.if_free(link, create=False) as free:
        assert not free
    assert _can_lock(real)

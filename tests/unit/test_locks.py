"""pglab.locks: a second pglab on the same thing says it waits, then waits."""

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

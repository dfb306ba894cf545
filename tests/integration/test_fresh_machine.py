"""A fresh Debian 12 as a newcomer meets it: Debian's own python3 (3.11.2, older than
the Python that comes first in root's PATH on pglab's CI machine) and an ordinary
user, not root.

The learner is an OS account the test makes (pglab-learner) with Debian's default
PATH; their clone is a fresh clone of this repository, set up by `./lab` itself, in a
folder whose name holds a space and a non-ASCII letter ("mes labs é"), as people's do.
Their build of 13 is made from upstream's tarball site (rebuilt on 127.0.0.1 from
the real release, tests/integration/conftest.py), so the unpack path runs on every
run; the build itself stays in the learner's own build cache (~/.cache/pglab) from
run to run, as a learner's would.

Which interpreter `./lab` chooses when Debian's is missing or too old is checked in a
mount namespace of the test's own, where /usr/bin/python3 is replaced (root only).
"""

import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from pglab.config import PROJECT_ROOT

from .conftest import release_13_tarball, serve_folder

LEARNER = "pglab-learner"
DEBIAN_PYTHON = "/usr/bin/python3"
DEBIAN_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games"     # a Debian user's PATH (/etc/profile)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making the learner's account and mount namespaces "
                                                          "needs root (`./lab test` as root runs these)")


def _debian_python_version():
    return subprocess.run([DEBIAN_PYTHON, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _clone(parent):
    path = Path(parent) / "pglab"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(path)], check=True)
    return path


# ---- which Python ./lab takes ----------------------------------------------------------

def _fake_python(folder, name, version):
    """An executable that answers `-c CODE` with VERSION (or fails, for None) and can make no venv."""
    path = folder / name
    answer = f"echo {version}" if version else "exit 1"
    path.write_text(f"#!/bin/sh\ncase \"$1\" in -c) {answer} ;; *) echo 'no venv here' >&2; exit 1 ;; esac\n")
    path.chmod(0o755)
    return path


def _lab_without_debians_python(clone, path):
    """./lab --version in a mount namespace whose /usr/bin/python3 cannot run (a broken or absent Debian python)."""
    broken = clone.parent / "broken-python3"
    broken.write_text("#!/bin/sh\nexit 127\n")
    broken.chmod(0o755)
    script = f"mount --bind {shlex.quote(str(broken))} {DEBIAN_PYTHON} && exec ./lab --version"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=clone,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PATH": path})


def test_lab_takes_the_newest_suitable_python_when_debians_cannot_run(tmp_path):
    clone = _clone(tmp_path)
    bins = tmp_path / "bin"
    bins.mkdir()
    _fake_python(bins, "python3", "3.11.5")
    newest = _fake_python(bins, "python3.12", "3.12.9")
    _fake_python(bins, "python3.10", None)          # below requires-python: its check prints nothing
    done = _lab_without_debians_python(clone, f"{bins}:/usr/bin:/bin")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"▸ create .venv (Python 3.12.9, {newest})"]
    assert done.stderr.splitlines()[0] == (f"! create .venv (Python 3.12.9, {newest}) failed; "
                                           f"the last lines of {clone / '.venv-setup.log'}:")


def test_lab_says_what_to_install_when_no_python_suits(tmp_path):
    clone = _clone(tmp_path)
    bins = tmp_path / "bin"
    bins.mkdir()
    _fake_python(bins, "python3", None)
    done = _lab_without_debians_python(clone, f"{bins}:/usr/bin:/bin")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", (
        "error: pglab needs Python 3.11 or newer and this machine has none (Debian 12's python3 is 3.11: "
        "sudo apt-get install python3 python3-venv; or set PGLAB_PYTHON)\n"))
    assert not (clone / ".venv").exists()


# ---- the learner: an ordinary user on Debian's python3 -----------------------------------

@pytest.fixture(scope="module")
def learner():
    """The learner's account (made once; its home, and so its build cache, kept from run to run)."""
    try:
        entry = pwd.getpwnam(LEARNER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", "pglab test learner",
                        LEARNER], check=True, capture_output=True)
        entry = pwd.getpwnam(LEARNER)
    return entry


class Learner:
    """Runs commands as the learner, in their clone, with a Debian user's environment."""

    def __init__(self, entry, clone, env=None):
        self.entry, self.clone, self.env = entry, clone, dict(env or {})

    @property
    def cache(self):
        return Path(self.entry.pw_dir) / ".cache" / "pglab"

    def environment(self, extra=None):
        return {"HOME": self.entry.pw_dir, "USER": LEARNER, "LOGNAME": LEARNER, "PATH": DEBIAN_PATH,
                "LANG": "C.UTF-8", "SHELL": "/bin/bash", **self.env, **(extra or {})}

    def popen(self, argv, **kw):
        return subprocess.Popen(argv, cwd=self.clone, user=self.entry.pw_uid, group=self.entry.pw_gid,
                                extra_groups=[], env=self.environment(kw.pop("env", None)), **kw)

    def run(self, *argv, timeout=900, env=None):
        return subprocess.run(list(argv), cwd=self.clone, user=self.entry.pw_uid, group=self.entry.pw_gid,
                              extra_groups=[], env=self.environment(env), capture_output=True, text=True,
                              timeout=timeout)

    def lab(self, *args, timeout=900):
        return self.run("./lab", *args, timeout=timeout)


@pytest.fixture(scope="module")
def upstream_13(settings, tmp_path_factory):
    """upstream's tarball site for one 13.N release, on 127.0.0.1, readable by the learner."""
    release, tarball, sha = release_13_tarball(settings)
    site = tmp_path_factory.mktemp("upstream-site")
    name = f"postgresql-{release}.tar.bz2"
    (site / "source" / f"v{release}").mkdir(parents=True)
    shutil.copyfile(tarball, site / "source" / f"v{release}" / name)
    (site / "source" / f"v{release}" / f"{name}.sha256").write_text(f"{sha}  {name}\n")
    server = serve_folder(site)
    yield release, f"http://127.0.0.1:{server.server_port}/source"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fresh(learner, upstream_13):
    """The learner's fresh clone, in a folder of theirs; removed at the end with what it started."""
    parent = Path(tempfile.mkdtemp(prefix="pglab-learner-"))
    try:
        clone = _clone(parent / "mes labs é")
        subprocess.run(["chown", "-R", f"{learner.pw_uid}:{learner.pw_gid}", str(parent)], check=True)
        release, url = upstream_13
        yield Learner(learner, clone, env={"INVOKE_PGLAB_TARBALL_URL": url}), release
    finally:
        clone = parent / "mes labs é" / "pglab"
        if (clone / ".venv").is_dir():
            subprocess.run(["./lab", "pg-stop", "--all"], cwd=clone, user=learner.pw_uid,
                           group=learner.pw_gid, extra_groups=[], capture_output=True, timeout=300,
                           env=Learner(learner, clone).environment())
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.slow
def test_set_up_takes_debians_python_as_an_ordinary_user(fresh):
    user, _release = fresh
    done = user.lab("--version", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    version = _debian_python_version()
    assert [re.sub(r"\d+ s$", "N s", line) for line in done.stdout.splitlines()] == [
        f"▸ create .venv (Python {version}, {DEBIAN_PYTHON})",
        f"  ✓ create .venv (Python {version}, {DEBIAN_PYTHON}) done in N s",
        "▸ install pglab and its Python dependencies into .venv",
        "  ✓ install pglab and its Python dependencies into .venv done in N s",
        done.stdout.splitlines()[-1]]
    assert re.fullmatch(r"Invoke \d+\.\d+\.\d+", done.stdout.splitlines()[-1])
    venv_python = user.run(".venv/bin/python", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])")
    assert venv_python.stdout.strip() == version
    assert (user.clone / ".venv").stat().st_uid == user.entry.pw_uid


@pytest.mark.slow
def test_build_pg_unpacks_a_release_tarball_as_an_ordinary_user(fresh):
    user, release = fresh
    for kept in ("src", "downloads"):      # the unpack path runs every time; the build is kept
        subprocess.run(["rm", "-rf", str(user.cache / kept)], check=True)
    prefix = user.cache / "install" / f"{release}-debug"
    built_before = (prefix / "pglab-build.json").is_file()     # by this test's first run on this machine
    done = user.lab("build-pg", "--version", "13", "--source", "tarball", timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert f"  ✓ unpack postgresql-{release}.tar.bz2 done in " in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    tree = user.cache / "src" / str(release)
    assert (tree / "configure").is_file() and tree.stat().st_uid == user.entry.pw_uid
    assert (prefix / "pglab-build.json").is_file() and prefix.stat().st_uid == user.entry.pw_uid
    said = f"up to date: {release}-debug at {prefix}" if built_before else f"built {release}-debug in "
    assert said in done.stdout, done.stdout


@pytest.mark.slow
def test_ext_test_of_an_example_as_an_ordinary_user(fresh):
    user, release = fresh
    done = user.lab("ext-test", "pgl_funcs", "--pg", "13", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert re.search(rf"pgl_funcs +│ {re.escape(str(release))}-debug +│ regress +│ pass", done.stdout), done.stdout


@pytest.mark.slow
def test_trace_as_an_ordinary_user(fresh):
    user, _release = fresh
    done = user.lab("trace", "heap_insert", "--pg", "13",
                    "--sql", "CREATE TEMP TABLE t(a int); INSERT INTO t VALUES (42)", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert ["t", "heap_insert", "(0,1)"] in [row[:3] for row in rows], done.stdout


@pytest.mark.slow
def test_debug_tells_an_ordinary_user_to_run_gdb_as_themselves(fresh):
    """Outside tmux, debug prints the gdb command for a second terminal: for the learner's own
    backend, run as the learner (no root), and run so it attaches and stops in heap_insert."""
    user, _release = fresh
    assert user.lab("psql", "--version", "13", "--command", "CREATE TABLE IF NOT EXISTS t (a int)").returncode == 0
    psql = user.popen(["./lab", "debug", "--pg", "13", "--break", "heap_insert"], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    gdb = None
    try:
        lines = []
        while not any(line.startswith("    ") and "session.gdb" in line for line in lines):
            line = psql.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert re.search(r"pglab: this session's backend is PID \d+\. In a second terminal, run:$",
                         "".join(lines), re.M), "".join(lines)
        command = shlex.split(lines[-1].strip())
        assert command[0] != "sudo" and command[0].endswith("gdb"), command
        gdb = user.popen(command + ["-batch"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while "gdb is attached" not in psql.stdout.readline():
            assert time.monotonic() < deadline
        psql.stdin.write("INSERT INTO t VALUES (8);\n")
        psql.stdin.close()
        out, _ = gdb.communicate(timeout=120)
        assert re.search(r"Breakpoint 1, heap_insert \(", out), out
        assert psql.wait(timeout=120) == 0
    finally:
        for proc in (gdb, psql):
            if proc is not None and proc.poll() is None:
                proc.kill()


@pytest.mark.slow
def test_inspect_as_an_ordinary_user(fresh):
    """A page of the table the debug test filled, decoded from its bytes, in the learner's
    cluster (whose folder lies in the clone: a space and a non-ASCII letter on the way)."""
    user, release = fresh
    done = user.lab("inspect", "t", "--pg", "13", "--format", "json", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    page = json.loads(done.stdout)["pages"][0]
    assert [(item["lp"], item["t_ctid"], item["values"][0]["value"]) for item in page["items"]] == [(1, "(0,1)", 8)]

"""ext-test pgxn:NAME's fetch, with pgxnclient's `pgxn download` stood in for by a script
that writes the archive PGXN would serve: each spec downloads into a folder of its own,
under its own lock, once however many processes ask; nothing is taken from another
spec's download."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pglab.config import PROJECT_ROOT, Settings
from pglab.errors import ExtensionError
from pglab.ext import published

FAKE_PGXN = """#!{python}
import os, sys, time, zipfile
from pathlib import Path
args = sys.argv[1:]                                  # download --target FOLDER SPEC
target, spec = Path(args[args.index("--target") + 1]), args[-1]
name, _, version = spec.partition("==")
version = version or "1.0.0"
with open(os.environ["FAKE_PGXN_LOG"], "a") as log:
    log.write(f"{{spec}}\\n")
time.sleep(float(os.environ.get("FAKE_PGXN_SECONDS", "0")))
def member(name):                                   # a regular file, as PGXN's archives have them
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o100644 << 16
    return info
for n in range(int(os.environ.get("FAKE_PGXN_ARCHIVES", "1"))):
    with zipfile.ZipFile(target / f"{{name}}-{{version}}{{'-' + str(n) if n else ''}}.zip", "w") as z:
        z.writestr(member(f"{{name}}-{{version}}/{{name}}.control"), f"default_version = '{{version}}'\\n")
        z.writestr(member(f"{{name}}-{{version}}/Makefile"), f"EXTENSION = {{name}}\\n")
"""


@pytest.fixture
def pgxn(tmp_path, monkeypatch):
    """A stand-in for pgxnclient's command (bin/pgxn) that pglab runs; its log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pgxn").write_text(FAKE_PGXN.format(python=sys.executable))
    (bin_dir / "pgxn").chmod(0o755)
    log = tmp_path / "pgxn.log"
    monkeypatch.setenv("FAKE_PGXN_LOG", str(log))
    monkeypatch.setattr(published, "pgxn_command", lambda: bin_dir / "pgxn")
    return bin_dir, log


def test_a_spec_downloads_into_a_folder_of_its_own_and_takes_no_other_archive(tmp_path, pgxn):
    s = Settings(root=tmp_path / "root")
    stale = s.layout.pgxn_downloads("hypopg", None)
    stale.mkdir(parents=True)
    with zipfile.ZipFile(stale / "other-9.9.zip", "w") as z:       # what a killed run left there
        info = zipfile.ZipInfo("other-9.9/other.control")
        info.external_attr = 0o100644 << 16
        z.writestr(info, "default_version = '9.9'\n")
    path = published.pgxn_download(s, "hypopg")
    assert path == s.layout.published / "pgxn_hypopg_latest"
    assert (path / "hypopg.control").read_text() == "default_version = '1.0.0'\n"
    assert not s.layout.pgxn_downloads("hypopg", None).exists()          # emptied once unpacked
    assert sorted(p.name for p in s.layout.published.iterdir()) == ["pgxn_hypopg_latest"]   # no staging, no lock
    assert published.pgxn_download(s, "hypopg") == path and pgxn[1].read_text() == "hypopg\n"   # fetched once


def test_a_download_that_leaves_more_than_one_archive_is_refused(tmp_path, pgxn, monkeypatch):
    monkeypatch.setenv("FAKE_PGXN_ARCHIVES", "2")
    s = Settings(root=tmp_path / "root")
    folder = s.layout.pgxn_downloads("hypopg", "1.4.1")
    with pytest.raises(ExtensionError) as exc:
        published.pgxn_download(s, "hypopg", "1.4.1")
    assert str(exc.value) == (f"pgxn download hypopg==1.4.1 left 2 archives in {folder} "
                              "(hypopg-1.4.1-1.zip, hypopg-1.4.1.zip), not one")
    assert not folder.exists() and not list(s.layout.published.glob("*"))


FETCH = """import sys
from pathlib import Path
from pglab.config import Settings
from pglab.ext import published
published.pgxn_command = lambda: Path(sys.argv[2])
name, _, version = sys.argv[3].partition("@")
print("got", published.pgxn_download(Settings(root=Path(sys.argv[1])), name, version or None))
"""


def _fetch_together(tmp_path, bin_dir, *specs):
    """One process per spec, started together: [(process, stdout)]."""
    script = tmp_path / "fetch.py"
    script.write_text(FETCH)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "FAKE_PGXN_SECONDS": "2"}
    root = tmp_path / "root"
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(bin_dir / "pgxn"), spec],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for spec in specs]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
        done.append((proc, out))
    return root, script, done


def test_two_processes_fetching_one_spec_download_it_once(tmp_path, pgxn):
    bin_dir, log = pgxn
    root, script, done = _fetch_together(tmp_path, bin_dir, "hypopg", "hypopg")
    got = f"got {root}/published/pgxn_hypopg_latest\n"
    [(first, fetched)] = [(p, out) for p, out in done if "▸ unpack hypopg-1.0.0.zip\n" in out]
    [(_second, waited)] = [(p, out) for p, out in done if p is not first]
    assert fetched.startswith("▸ unpack hypopg-1.0.0.zip\n") and fetched.endswith(got) and "waiting" not in fetched
    assert waited == (f"  · another pglab is fetching pgxn:hypopg: waiting for it "
                      f"(pid {first.pid}: fetch.py {root} {bin_dir / 'pgxn'} hypopg)\n{got}")
    assert log.read_text() == "hypopg\n"                # one `pgxn download`
    assert sorted(p.name for p in (root / "published").iterdir()) == ["pgxn_hypopg_latest"]


def test_two_processes_fetching_two_specs_each_get_their_own(tmp_path, pgxn):
    bin_dir, log = pgxn
    root, _script, done = _fetch_together(tmp_path, bin_dir, "hypopg", "pg_hint@1.2.0")
    assert [out.splitlines()[-1] for _proc, out in done] == [f"got {root}/published/pgxn_hypopg_latest",
                                                              f"got {root}/published/pgxn_pg_hint_1.2.0"]
    assert not any("waiting" in out for _proc, out in done)      # neither waits for the other
    assert sorted(log.read_text().splitlines()) == ["hypopg", "pg_hint==1.2.0"]
    assert (root / "published" / "pgxn_hypopg_latest" / "hypopg.control").read_text() == "default_version = '1.0.0'\n"
    assert (root / "published" / "pgxn_pg_hint_1.2.0" / "pg_hint.control").read_text() == "default_version = '1.2.0'\n"
    assert list((root / "downloads" / "pgxn").iterdir()) == []

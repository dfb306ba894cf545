"""Publishing on PGXN, as a user meets it: ext-meta, ext-bundle, ext-install and
ext-release through `invoke`, and every example's bundle taken through
pgxnclient itself (install, load, check) against a running pglab cluster.
Bad input ends in one line and a non-zero exit with nothing of the user's
changed; the upload goes to a local HTTP server that records the request."""

import base64
import email.parser
import email.policy
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from pglab.cluster import Cluster
from pglab.config import PROJECT_ROOT
from pglab.ext.discover import discover
from pglab.ext.pgxn_meta import parse_control
from pglab.ext.pgxs import makefile_vars, parse_conf
from pglab.pg.builds import resolve_builds

from ..conftest import invoke

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pgxn"
PGXN = Path(sys.executable).parent / "pgxn"


@pytest.fixture
def git_env(tmp_path, monkeypatch):
    """A git identity of the test's own, whatever this machine's is (ext-meta reads it)."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Ada Lovelace\n\temail = ada@example.org\n[init]\n\tdefaultBranch = main\n")
    env = {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def committed(src, dest):
    """A copy of `src` as a git repository of its own with everything committed."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("results", "*.o", "*.so", "__pycache__"))
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=pglab tests", "-c", "user.email=tests@example.org", "commit", "-q", "-m", "release")
    return dest


def tree_digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and ".git" not in p.parts}


def lines(text):
    return [l.rstrip() for l in text.splitlines()]


# ---- ext-meta -----------------------------------------------------------------------------

def test_ext_meta_writes_a_valid_meta_json_from_the_control_file_makefile_and_license(tmp_path, git_env):
    ext = shutil.copytree(FIXTURES / "pgxn_sql", tmp_path / "pgxn_sql")
    done = invoke("ext-meta", str(ext), env=git_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines(done.stdout) == [
        f"{ext}/META.json: written",
        "  added: name, abstract, version, maintainer, license, provides, prereqs, generated_by, meta-spec",
        "  · version 0.9.0 from pgxn_sql.control's default_version '0.9'",
        "  · maintainer Ada Lovelace <ada@example.org> from git's user.name and user.email",
        "  · license postgresql from LICENSE",
        "  · prereqs: PostgreSQL 13.0.0 or later (the oldest major pglab builds; raise it if yours needs a newer "
        "one), and plpgsql from the control file's requires",
        "  valid (PGXN Meta Spec 1.0.0)"]
    assert json.loads((ext / "META.json").read_text()) == {
        "name": "pgxn_sql", "abstract": "a SQL function that doubles, packaged for PGXN", "version": "0.9.0",
        "maintainer": "Ada Lovelace <ada@example.org>", "license": "postgresql",
        "provides": {"pgxn_sql": {"file": "sql/pgxn_sql--0.9.sql", "docfile": "README.md", "version": "0.9.0",
                                  "abstract": "a SQL function that doubles, packaged for PGXN"}},
        "prereqs": {"runtime": {"requires": {"PostgreSQL": "13.0.0", "plpgsql": 0}}},
        "generated_by": "pglab ext-meta", "meta-spec": {"version": "1.0.0", "url": "https://pgxn.org/meta/spec.txt"}}
    before = (ext / "META.json").read_text()
    again = invoke("ext-meta", str(ext), env=git_env)
    assert again.returncode == 0
    assert lines(again.stdout)[0] == f"{ext}/META.json: already complete, not rewritten"
    assert (ext / "META.json").read_text() == before


def test_ext_meta_keeps_every_value_the_examples_authors_wrote(examples_only):
    for name, ext in discover().items():
        before = (ext.path / "META.json").read_text()
        done = invoke("ext-meta", name)
        assert done.returncode == 0, done.stdout + done.stderr
        assert lines(done.stdout)[:2] == [f"extensions/{name}/META.json: already complete, not rewritten",
                                          f"  kept as written: {', '.join(json.loads(before))}"]
        assert lines(done.stdout)[-1] == "  valid (PGXN Meta Spec 1.0.0)"
        assert (ext.path / "META.json").read_text() == before


def test_ext_meta_check_names_each_problem_by_its_json_path(tmp_path):
    meta = tmp_path / "META.json"
    doc = json.loads((PROJECT_ROOT / "extensions" / "pgl_funcs" / "META.json").read_text())
    doc["version"] = "1.1"
    doc["license"] = "gpl"
    del doc["provides"]["pgl_funcs"]["file"]
    doc["prereqs"]["runtime"]["requires"]["PostgreSQL"] = ">= 13"
    doc["meta-spec"]["version"] = "2.0.0"
    meta.write_text(json.dumps(doc, indent=3))
    done = invoke("ext-meta", "--check", str(meta))
    assert done.returncode == 1
    assert lines(done.stdout) == [
        '$.version: "1.1" is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0); write "1.1.0"',
        '$.license: "gpl" is not a license PGXN knows (postgresql, mit, apache_2_0, bsd, gpl_3, ...; or '
        '{"NAME": "URL"} for another)',
        "$.provides.pgl_funcs.file: required",
        '$.prereqs.runtime.requires.PostgreSQL: ">= 13" is not a version range (0 for any version, a version such '
        'as "13.0.0" for that or later, or operators: ">= 13.0.0, < 19.0.0")',
        '$.meta-spec.version: "2.0.0" is not 1.0.x: PGXN reads Meta Spec 1.0 (write "1.0.0")']
    assert done.stderr.strip() == f"{meta}: 5 problem(s) against the PGXN Meta Spec 1.0.0"
    meta.write_text('{"name": "pgl_funcs"\n')
    broken = invoke("ext-meta", "--check", str(meta))
    assert (broken.returncode, lines(broken.stdout)) == (
        1, ["$: not JSON: Expecting ',' delimiter (line 2, column 1)"])
    valid = invoke("ext-meta", "--check", "pgl_funcs")
    assert (valid.returncode, valid.stdout.strip()) == (
        0, "extensions/pgl_funcs/META.json: valid (PGXN Meta Spec 1.0.0)")


def test_ext_meta_never_rewrites_a_meta_json_it_cannot_read(tmp_path):
    ext = shutil.copytree(FIXTURES / "pgxn_fails", tmp_path / "pgxn_fails")
    (ext / "META.json").write_text('{"name": "pgxn_fails", }\n')
    before = tree_digest(ext)
    done = invoke("ext-meta", str(ext))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {ext}/META.json is not a JSON object (not JSON: Expecting property name enclosed in double quotes "
        f"(line 1, column 24)); ext-meta never rewrites what it cannot read: fix it, or move it away to have it "
        f"written afresh")
    assert tree_digest(ext) == before


# ---- ext-bundle ---------------------------------------------------------------------------

def test_a_bundle_is_git_archive_of_head_under_one_top_folder(tmp_path):
    ext = committed(PROJECT_ROOT / "extensions" / "pgl_funcs", tmp_path / "pgl_funcs")
    (ext / "pgl_funcs.o").write_bytes(b"\x7fELF")          # a build product, ignored by .gitignore
    (ext / "results").mkdir()
    done = invoke("ext-bundle", str(ext), "--out", str(tmp_path / "dist"))
    assert done.returncode == 0, done.stdout + done.stderr
    zip_path = tmp_path / "dist" / "pgl_funcs-1.1.0.zip"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ext, capture_output=True, text=True).stdout
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert archive.read("pgl_funcs-1.1.0/pgl_funcs.c") == (ext / "pgl_funcs.c").read_bytes()
    tracked = subprocess.run(["git", "ls-files"], cwd=ext, capture_output=True, text=True).stdout.split()
    assert sorted(n for n in names if not n.endswith("/")) == sorted(f"pgl_funcs-1.1.0/{f}" for f in tracked)
    assert {n.split("/")[0] for n in names} == {"pgl_funcs-1.1.0"}
    assert done.stdout.strip() == (f"bundled pgl_funcs 1.1.0: {zip_path} ({len(names)} entries, "
                                   f"{_human(zip_path.stat().st_size)}; from git archive of HEAD {head.strip()})")


def _human(n):
    from pglab import ui

    return ui.human_size(n)


def test_a_dirty_tree_is_refused_unless_allowed(tmp_path):
    ext = committed(PROJECT_ROOT / "extensions" / "pgl_rational", tmp_path / "pgl_rational")
    with open(ext / "pgl_rational.c", "a") as f:
        f.write("/* work in progress */\n")
    (ext / "notes.sql").write_text("-- new\n")
    out = tmp_path / "dist"
    before = tree_digest(ext)
    done = invoke("ext-bundle", str(ext), "--out", str(out))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: {ext} has uncommitted changes (M pgl_rational.c, ?? notes.sql): commit "
                                   f"them, or bundle what is on disk with --allow-dirty")
    assert not out.exists() and tree_digest(ext) == before
    dirty = invoke("ext-bundle", str(ext), "--out", str(out), "--allow-dirty")
    assert dirty.returncode == 0, dirty.stderr
    assert dirty.stdout.strip().endswith("from the working tree, 2 uncommitted change(s) included)")
    with zipfile.ZipFile(out / "pgl_rational-1.0.0.zip") as archive:
        assert archive.read("pgl_rational-1.0.0/pgl_rational.c").endswith(b"/* work in progress */\n")
        assert "pgl_rational-1.0.0/notes.sql" in archive.namelist()


def test_a_version_that_disagrees_with_the_control_file_is_refused(tmp_path):
    ext = shutil.copytree(PROJECT_ROOT / "extensions" / "pgl_worker", tmp_path / "pgl_worker")
    control = ext / "pgl_worker.control"
    control.write_text(control.read_text().replace("default_version = '1.0'", "default_version = '1.1'"))
    done = invoke("ext-bundle", str(ext), "--out", str(tmp_path / "dist"))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: META.json's version is \"1.0.0\" but pgl_worker.control's default_version is '1.1' (1.1.0); "
        "provides.pgl_worker.version is \"1.0.0\" but pgl_worker.control's default_version is '1.1' (1.1.0): "
        "make them agree (a release is the control file's default_version), then bundle again")
    assert not (tmp_path / "dist").exists()


def test_a_missing_or_broken_meta_json_is_refused(tmp_path):
    ext = shutil.copytree(FIXTURES / "pgxn_fails", tmp_path / "pgxn_fails")
    out = tmp_path / "dist"
    (ext / "META.json").unlink()
    missing = invoke("ext-bundle", str(ext), "--out", str(out))
    assert (missing.returncode, missing.stderr.strip()) == (
        1, f"error: {ext} has no META.json: `invoke ext-meta {ext}` writes one from the control file and the Makefile")
    (ext / "META.json").write_text(json.dumps({"name": "pgxn_fails", "version": "1.0.0"}))
    broken = invoke("ext-bundle", str(ext), "--out", str(out))
    assert (broken.returncode, broken.stderr.strip()) == (
        1, f"error: {ext}/META.json does not follow the PGXN Meta Spec: $.abstract: required (and 4 more); "
           f"`invoke ext-meta --check {ext}/META.json` lists every problem")
    assert not out.exists()


def test_outside_git_the_folder_is_bundled_without_build_products(tmp_path):
    ext = shutil.copytree(FIXTURES / "pgxn_fails", tmp_path / "pgxn_fails")
    for product in ("pgxn_fails.o", "regression.diffs", "results/pgxn_fails.out", "log/x.log"):
        (ext / product).parent.mkdir(exist_ok=True)
        (ext / product).write_text("x")
    done = invoke("ext-bundle", str(ext), "--out", str(tmp_path / "dist"))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "dist" / "pgxn_fails-1.0.0.zip") as archive:
        assert archive.namelist() == [
            "pgxn_fails-1.0.0/", "pgxn_fails-1.0.0/META.json", "pgxn_fails-1.0.0/Makefile",
            "pgxn_fails-1.0.0/pgxn_fails--1.0.sql", "pgxn_fails-1.0.0/pgxn_fails.control",
            "pgxn_fails-1.0.0/expected/", "pgxn_fails-1.0.0/expected/pgxn_fails.out",
            "pgxn_fails-1.0.0/sql/", "pgxn_fails-1.0.0/sql/pgxn_fails.sql"]


# ---- the round trip through pgxnclient ----------------------------------------------------

def _pgxn(*args, env=None, cwd=None):
    return subprocess.run([str(PGXN), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=900,
                          env={**os.environ, **(env or {})})


def _server_settings(folder):
    """What the example's tests need from the server, as its README says: NAME.conf beside the Makefile."""
    conf = folder / f"{folder.name}.conf"
    return parse_conf(conf.read_text()) if conf.is_file() else {}


@pytest.mark.slow
def test_every_example_bundles_installs_loads_and_passes_pgxn_check(settings, default_build, tmp_path,
                                                                     examples_only):
    """ext-bundle's zip, then pgxnclient alone: install into the build, load on a running
    cluster of it, check (make installcheck) against it.  Every example on the quick
    start's build; on the other built majors pgl_worker, whose tests need a preload
    (every example on every major is `invoke ci`'s matrix, which .ci/run runs)."""
    builds = resolve_builds(settings, "all")
    assert default_build.major in [b.major for b in builds]
    for name, ext in discover().items():
        on = builds if name == "pgl_worker" else [default_build]
        copy = committed(ext.path, tmp_path / "src" / name)
        version = json.loads((copy / "META.json").read_text())["version"]
        bundled = invoke("ext-bundle", str(copy), "--out", str(tmp_path / "dist"))
        assert bundled.returncode == 0, bundled.stderr
        zip_spec = f"./dist/{name}-{version}.zip"          # pgxnclient needs a / in a local spec
        conf = _server_settings(copy)
        if name == "pgl_worker":
            assert conf["shared_preload_libraries"] == "'pgl_worker'"
        default_version = parse_control((copy / f"{name}.control").read_text())["default_version"]
        tests = makefile_vars(default_build, copy)["REGRESS"].split()
        for build in on:
            where = f"{name} on {build.id}"
            installed = _pgxn("install", zip_spec, "--pg_config", build.pg_config, cwd=tmp_path)
            assert installed.returncode == 0, where + installed.stdout[-2000:] + installed.stderr[-2000:]
            sharedir = subprocess.run([str(build.pg_config), "--sharedir"], capture_output=True, text=True)
            assert (Path(sharedir.stdout.strip()) / "extension" / f"{name}.control").is_file(), where
            with Cluster.throwaway(settings, build, template=True, conf=conf) as cl:
                loaded = _pgxn("load", "-d", "postgres", zip_spec, "--pg_config", build.pg_config, env=cl.env,
                               cwd=tmp_path)
                assert loaded.returncode == 0 and loaded.stdout.strip() == "CREATE EXTENSION", where + loaded.stderr
                assert cl.sql(f"select extversion from pg_extension where extname = '{name}'") == \
                    [[default_version]], where
                checked = _pgxn("check", zip_spec, "--pg_config", build.pg_config, env=cl.env, cwd=tmp_path)
                assert checked.returncode == 0, where + checked.stdout[-3000:] + checked.stderr[-2000:]
                assert f"All {len(tests)} tests passed." in checked.stdout, where + checked.stdout[-2000:]
                passed = [l for l in checked.stdout.splitlines() if " ok " in l or l.startswith("ok ")]
                for test in tests:
                    assert any(test in l for l in passed), f"{where}: {test}"
        assert not (tmp_path / "regression.diffs").exists()


@pytest.mark.slow
def test_ext_install_installs_loads_and_checks_on_a_cluster_of_the_build(settings, default_build, tmp_path,
                                                                        git_env):
    ext = shutil.copytree(FIXTURES / "pgxn_sql", tmp_path / "pgxn_sql")
    assert invoke("ext-meta", str(ext), env=git_env).returncode == 0
    assert invoke("ext-bundle", str(ext), "--out", str(tmp_path)).returncode == 0
    name = f"pgxn-test-{os.getpid()}"
    try:
        done = invoke("ext-install", str(tmp_path / "pgxn_sql-0.9.0.zip"), "--pg", default_build.id, "--name", name,
                      "--check")
        assert done.returncode == 0, done.stdout + done.stderr
        out = lines(done.stdout)
        assert out[0] == f"▸ pgxn install {tmp_path}/pgxn_sql-0.9.0.zip into {default_build.id}"   # not below cwd
        assert f"created pgxn_sql in database postgres on cluster {name} of {default_build.id}" in out
        assert out[-2:] == [f"pgxn check passed on {default_build.id}: 1 test(s) (pgxn_sql)",
                            f"open psql on it: invoke psql --version {default_build.id} --name {name}"]
        cl = Cluster.named(settings, default_build, name)
        assert cl.sql("select pgxn_sql_double(21)") == [["42"]]
        again = invoke("ext-install", str(tmp_path / "pgxn_sql-0.9.0.zip"), "--pg", default_build.id, "--name", name)
        assert again.returncode == 0
        assert (f"pgxn_sql already created in database postgres on cluster {name} of {default_build.id}: left as it "
                f"is (ALTER EXTENSION ... UPDATE moves it to the installed version)") in lines(again.stdout)
    finally:
        Cluster.named(settings, default_build, name).destroy()


@pytest.mark.slow
def test_a_failing_check_says_which_test_failed_and_where_the_diffs_are(settings, default_build, tmp_path):
    ext = shutil.copytree(FIXTURES / "pgxn_fails", tmp_path / "pgxn_fails")
    before = tree_digest(ext)
    assert invoke("ext-bundle", str(ext), "--out", str(tmp_path)).returncode == 0
    name = f"pgxn-test-{os.getpid()}"
    try:
        done = invoke("ext-install", str(tmp_path / "pgxn_fails-1.0.0.zip"), "--pg", default_build.id,
                      "--name", name, "--check")
    finally:
        Cluster.named(settings, default_build, name).destroy()
    diffs = settings.layout.root / "pgxn" / default_build.id / "run" / "regression.diffs"   # where pgxnclient ran, as the account
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: pgxn check failed on {default_build.id}: 1 of 1 tests failed "
                                   f"(pgxn_fails); diffs: {diffs}")
    assert "-                42" in done.stdout and "+                41" in done.stdout
    assert tree_digest(ext) == before and not (PROJECT_ROOT / "regression.diffs").exists()


def test_a_zip_without_a_top_folder_is_refused_and_nothing_is_installed(default_build, tmp_path):
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as archive:
        for path in sorted((FIXTURES / "pgxn_fails").rglob("*")):
            if path.is_file():
                archive.write(path, str(path.relative_to(FIXTURES / "pgxn_fails")))
    done = invoke("ext-install", str(flat), "--pg", default_build.id)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: {flat} has no top folder: META.json, Makefile, pgxn_fails--1.0.sql, "
                                   f"pgxn_fails.control sit at the top of the zip; PGXN expects everything under "
                                   f"one folder NAME-VERSION/ (`invoke ext-bundle` makes such a zip)")
    assert "pgxn install" not in done.stdout


def test_a_name_when_pgxn_is_unreachable_is_one_line(default_build):
    done = invoke("ext-install", "pair", "--pg", default_build.id, env={"PGXN_MIRROR": "http://127.0.0.1:9/"})
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: PGXN (http://127.0.0.1:9/) cannot be reached from here (network error: [Errno 111] Connection "
        "refused): install a local distribution instead, e.g. `invoke ext-install pg_source/dist/NAME-VERSION.zip` "
        "(`invoke ext-bundle` makes one)")


# ---- ext-release --------------------------------------------------------------------------

class _Recorder(http.server.BaseHTTPRequestHandler):
    requests = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}\n' if self.status == 200 else b"Unauthorized\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def manager():
    """A stand-in for PGXN Manager on loopback that records each request."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.requests, _Recorder.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_ext_release_is_a_dry_run_until_asked_and_then_posts_the_zip(tmp_path, manager):
    ext = committed(FIXTURES / "pgxn_fails", tmp_path / "pgxn_fails")
    url = f"http://127.0.0.1:{manager.server_port}/upload"
    env = {"INVOKE_PGLAB_ROOT": str(tmp_path / "area"), "PGXN_UPLOAD_URL": url, "PGXN_USER": "ada",
           "PGXN_PASSWORD": "correct horse battery", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    zip_path = tmp_path / "area" / "dist" / "pgxn_fails-1.0.0.zip"
    dry = invoke("ext-release", str(ext), env=env)
    assert dry.returncode == 0, dry.stderr
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert lines(dry.stdout)[1:] == [
        "would send to PGXN Manager (dry run, nothing sent):",
        f"  url:    {url}",
        "  user:   ada (from PGXN_USER and PGXN_PASSWORD)",
        "  file:   pgxn_fails-1.0.0.zip",
        f"  size:   {zip_path.stat().st_size} bytes",
        f"  sha256: {digest}",
        f"to release it: invoke ext-release {ext} --upload"]
    assert manager.RequestHandlerClass.requests == []

    sent = invoke("ext-release", str(ext), "--upload", env=env)
    assert sent.returncode == 0, sent.stderr
    assert lines(sent.stdout)[1] == "sent to PGXN Manager:" and lines(sent.stdout)[-1] == \
        "released pgxn_fails 1.0.0 (HTTP 200)"
    assert "correct horse battery" not in sent.stdout + sent.stderr + dry.stdout + dry.stderr
    [request] = manager.RequestHandlerClass.requests
    assert request["path"] == "/upload"
    assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ada:correct horse battery").decode()
    assert request["headers"]["X-Requested-With"] == "XMLHttpRequest"
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {request['headers']['Content-Type']}\r\n\r\n".encode() + request["body"])
    parts = {p.get_param("name", header="content-disposition"): p for p in form.iter_parts()}
    assert parts["archive"].get_filename() == "pgxn_fails-1.0.0.zip"
    assert parts["archive"].get_content_type() == "application/zip"
    assert parts["archive"].get_payload(decode=True) == zip_path.read_bytes()
    assert parts["submit"].get_payload(decode=True) == b"Release It!"

    manager.RequestHandlerClass.status = 401
    refused = invoke("ext-release", str(ext), "--upload", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("error: PGXN Manager refused the credentials of ada (HTTP 401; from PGXN_USER "
                                      "and PGXN_PASSWORD): check them, then release again")
    nobody = invoke("ext-release", str(ext), "--upload",
                    env={**env, "PGXN_USER": "", "PGXN_PASSWORD": "", "HOME": str(tmp_path)})   # no ~/.netrc
    assert nobody.returncode == 1 and len(manager.RequestHandlerClass.requests) == 2
    assert nobody.stderr.strip().startswith("error: no PGXN Manager credentials: export PGXN_USER and PGXN_PASSWORD")

"""pglab.boundary and pglab.accounts: what crosses between root and the servers' account.

The account here is a uid with no name (4242): root chowns the test's files to it and
runs tar as it, as pglab does with its own account."""

import os
import pwd
import stat

import pytest

from pglab import accounts, boundary
from pglab.accounts import Account
from pglab.errors import ClusterError
from pglab.ext.pgxs import is_product

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="files of another uid: root only")
OTHER = Account("tester", 4242, 4242)


def _own(path, account=OTHER):
    for dirpath, dirnames, filenames in os.walk(path):
        os.lchown(dirpath, account.uid, account.gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), account.uid, account.gid)


def _stage(tmp_path, prefix, files):
    """A DESTDIR staging tree holding FILES {path under prefix: (bytes, mode)}, the account's."""
    stage = tmp_path / "stage"
    for rel, (data, mode) in files.items():
        path = stage / prefix.relative_to("/") / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    _own(stage)
    return stage


@pytest.fixture
def prefix(tmp_path):
    path = tmp_path / "install" / "17.11-debug"
    (path / "lib").mkdir(parents=True)
    return path


@AS_ROOT
def test_staged_files_are_installed_under_the_prefix(tmp_path, prefix):
    stage = _stage(tmp_path, prefix, {"lib/postgresql/ext.so": (b"\x7fELF", 0o775),
                                      "share/extension/ext.control": (b"comment = 'x'\n", 0o666)})
    assert sorted(boundary.install_staged(OTHER, stage, prefix)) == ["lib/postgresql/ext.so",
                                                                     "share/extension/ext.control"]
    so, control = prefix / "lib/postgresql/ext.so", prefix / "share/extension/ext.control"
    assert so.read_bytes() == b"\x7fELF" and control.read_text() == "comment = 'x'\n"
    assert [(p.stat().st_uid, stat.S_IMODE(p.stat().st_mode)) for p in (so, control)] == [(0, 0o755), (0, 0o644)]


@AS_ROOT
@pytest.mark.parametrize("trick, message", [
    ("symlink", "make install left a link, not a file: {prefix}/share/extension/ext--1.0.sql "
                "(pglab installs regular files only)"),
    ("hardlink", "make install left a file the build did not make: {prefix}/share/extension/ext--1.0.sql"),
    ("root's", "make install left a file the build did not make: {prefix}/share/extension/ext--1.0.sql"),
    ("outside", "make install wrote outside the build's prefix {prefix}: /etc"),
    ("folder link", "make install left a link where the prefix's folder 17.11-debug should be"),
])
def test_a_staged_install_with_anything_but_the_accounts_files_installs_nothing(tmp_path, prefix, trick, message):
    stage = _stage(tmp_path, prefix, {"lib/postgresql/ext.so": (b"\x7fELF", 0o755)})
    secret = tmp_path / "secret"
    secret.write_text("root's secret\n")
    target = stage / prefix.relative_to("/") / "share/extension/ext--1.0.sql"
    target.parent.mkdir(parents=True)
    if trick == "symlink":
        target.symlink_to(secret)
    elif trick == "hardlink":
        os.link(secret, target)
        os.lchown(secret, OTHER.uid, OTHER.gid)     # even one of its own, linked elsewhere
    elif trick == "root's":
        target.write_text("made by root\n")
        os.lchown(target, 0, 0)
    elif trick == "outside":
        (stage / "etc").mkdir()
        (stage / "etc" / "passwd").write_text("x\n")
    elif trick == "folder link":
        real = stage / prefix.relative_to("/")
        real.rename(tmp_path / "elsewhere")
        real.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(boundary.BoundaryError) as caught:
        boundary.install_staged(OTHER, stage, prefix)
    assert str(caught.value) == message.format(prefix=prefix)
    assert sorted(p.name for p in prefix.rglob("*")) == ["lib"]      # nothing installed
    assert secret.read_text() == "root's secret\n"


def _tree(root):
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@AS_ROOT
def test_copy_in_mirrors_the_users_tree_as_the_account(tmp_path):
    src, dest = tmp_path / "ext", tmp_path / "build" / "src"
    (src / "sql").mkdir(parents=True)
    (src / "ext.c").write_text("int x;\n")
    (src / "sql" / "ext.sql").write_text("SELECT 1;\n")
    (src / "ext.o").write_text("a build product\n")
    dest.parent.mkdir()
    boundary.account_dir(OTHER, dest, 0o755)
    boundary.reach(OTHER, dest)
    assert boundary.copy_in(OTHER, src, dest, is_product) is True
    assert _tree(dest) == {"ext.c": "int x;\n", "sql/ext.sql": "SELECT 1;\n"}
    assert {p.stat().st_uid for p in [dest, *dest.rglob("*")]} == {OTHER.uid}
    assert (dest / "ext.c").stat().st_mtime_ns == (src / "ext.c").stat().st_mtime_ns
    assert boundary.copy_in(OTHER, src, dest, is_product) is False          # nothing changed
    (src / "sql" / "ext.sql").unlink()
    (src / "ext.c").write_text("int y;\n")
    assert boundary.copy_in(OTHER, src, dest, is_product) is True
    assert _tree(dest) == {"ext.c": "int y;\n"}


@AS_ROOT
def test_a_clean_installs_stage_keeps_its_folders_for_the_next_and_loses_its_files(tmp_path, prefix):
    (prefix / "include" / "server").mkdir(parents=True)
    builds = tmp_path / "build"
    builds.mkdir()
    boundary.reach(OTHER, builds)
    stage = boundary.ready_stage(OTHER, builds / "stage", prefix, "build 1")
    inside = stage / prefix.relative_to("/")
    assert sorted(str(p.relative_to(inside)) for p in inside.rglob("*")) == ["include", "include/server", "lib"]
    assert {p.lstat().st_uid for p in [stage, *stage.rglob("*")]} == {OTHER.uid}
    (inside / "lib" / "ext.so").write_bytes(b"\x7fELF")     # what make install leaves
    boundary.stage_kept(stage, "build 1")
    (inside / "lib" / "planted").symlink_to("/etc/passwd")
    _own(stage)
    folder = os.lstat(inside / "include" / "server").st_ino

    again = boundary.ready_stage(OTHER, builds / "stage", prefix, "build 1")
    assert sorted(str(p.relative_to(inside)) for p in inside.rglob("*")) == ["include", "include/server", "lib"]
    assert os.lstat(inside / "include" / "server").st_ino == folder          # kept, not made again
    assert again == stage and os.lstat("/etc/passwd").st_uid == 0

    # no stage_kept this time (the install failed or was refused): the next starts afresh
    (stage / "etc").mkdir()
    _own(stage)
    boundary.ready_stage(OTHER, builds / "stage", prefix, "build 1")
    assert sorted(p.name for p in stage.iterdir()) == [prefix.parts[1]]
    boundary.stage_kept(stage, "build 1")
    (prefix / "share").mkdir()          # a new build of the prefix: its folders are staged again
    boundary.ready_stage(OTHER, builds / "stage", prefix, "build 2")
    assert (inside / "share").is_dir() and os.lstat(inside / "include" / "server").st_ino != folder


@AS_ROOT
def test_account_dir_is_made_inside_roots_folders_only(tmp_path):
    made = boundary.account_dir(OTHER, tmp_path / "theirs", 0o750)
    st = os.lstat(made)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (OTHER.uid, 0o750)
    with pytest.raises(boundary.BoundaryError) as caught:
        boundary.account_dir(OTHER, made / "inner")
    assert str(caught.value) == f"{made} is not root's: pglab makes the account's folders only inside root's"
    planted = tmp_path / "planted"
    planted.symlink_to("/etc")
    boundary.account_dir(OTHER, planted)                 # a link at the name is replaced, never followed
    assert not planted.is_symlink() and os.lstat(planted).st_uid == OTHER.uid
    assert os.lstat("/etc").st_uid == 0


def test_read_file_never_follows_a_link(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root's secret\n")
    (tmp_path / "server.log").symlink_to(secret)
    (tmp_path / "real.log").write_text("LOG: ready\n")
    assert boundary.read_file(tmp_path / "server.log") == ""
    assert boundary.read_file(tmp_path / "real.log") == "LOG: ready\n"
    assert boundary.read_bytes(tmp_path / "real.log", 5) == b"ready\n"
    assert boundary.read_file(tmp_path / "missing.log") == ""


def test_open_in_tree_reads_inside_the_data_folder_only(tmp_path):
    data = tmp_path / "data"
    (data / "base" / "5").mkdir(parents=True)
    (data / "base" / "5" / "16384").write_bytes(b"page")
    (tmp_path / "space" / "PG_17" / "5").mkdir(parents=True)
    (tmp_path / "space" / "PG_17" / "5" / "16390").write_bytes(b"tablespace page")
    (data / "pg_tblspc").mkdir()
    (data / "pg_tblspc" / "16389").symlink_to(tmp_path / "space")
    (data / "base" / "6").symlink_to("/etc")
    (data / "base" / "5" / "16385").symlink_to("/etc/passwd")

    def read(rel):
        fd = boundary.open_in_tree(data, rel, links=("pg_tblspc/*",))
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read()

    assert read("base/5/16384") == b"page"
    assert read("pg_tblspc/16389/PG_17/5/16390") == b"tablespace page"
    assert read("base/5/99999") is None
    for rel, message in (("base/6/passwd", f"{data}/base/6 is a link or not a folder: inspect reads no further"),
                         ("base/5/16385", f"{data}/base/5/16385 is a link or not a folder: inspect reads no further"),
                         ("../../etc/passwd", f"../../etc/passwd is not a path inside {data}"),
                         ("/etc/passwd", f"/etc/passwd is not a path inside {data}")):
        with pytest.raises(boundary.BoundaryError) as caught:
            read(rel)
        assert str(caught.value) == message


def test_the_account_sees_none_of_roots_secrets(monkeypatch):
    for name, value in {"PGXN_PASSWORD": "s3cret", "GITHUB_TOKEN": "t", "SSH_AUTH_SOCK": "/run/ssh",
                        "AWS_SECRET_ACCESS_KEY": "k", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}.items():
        monkeypatch.setenv(name, value)
    env = boundary.account_env(OTHER, PGHOST="/tmp/x")
    assert {k: env.get(k) for k in ("PGXN_PASSWORD", "GITHUB_TOKEN", "SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY")} == \
        dict.fromkeys(("PGXN_PASSWORD", "GITHUB_TOKEN", "SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY"))
    assert (env["PATH"], env["LANG"], env["USER"], env["HOME"], env["CCACHE_DISABLE"], env["PGHOST"]) == \
        ("/usr/bin:/bin", "C.UTF-8", "tester", "/nonexistent", "1", "/tmp/x")
    me = Account("me", os.geteuid(), os.getegid())          # not switching: nothing to hide from oneself
    assert boundary.account_env(me)["PGXN_PASSWORD"] == "s3cret"


def _passwd(name, uid, gecos):
    return pwd.struct_passwd((name, "x", uid, uid, gecos, "/nonexistent", "/usr/sbin/nologin"))


def test_an_account_pglab_did_not_make_is_refused(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(accounts.pwd, "getpwnam", lambda name: _passwd(name, 101, "PostgreSQL administrator,,,"))
    with pytest.raises(ClusterError) as caught:
        accounts.existing("postgres")
    assert str(caught.value) == (
        "the account 'postgres' exists and pglab did not make it (it may own other data, and code under test runs "
        "as pglab's account): set pglab.account (INVOKE_PGLAB_ACCOUNT) to a name no account has, and pglab "
        "creates that account")
    monkeypatch.setattr(accounts.pwd, "getpwnam", lambda name: _passwd(name, 999, accounts.MARK))
    assert accounts.existing() == Account("pglab", 999, 999)


def test_the_default_account_is_pglabs_own_not_postgres(monkeypatch):
    asked = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)

    def getpwnam(name):
        asked.append(name)
        raise KeyError(name)

    monkeypatch.setattr(accounts.pwd, "getpwnam", getpwnam)
    assert accounts.existing() is None and asked == ["pglab"]

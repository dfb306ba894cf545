"""pglab.archives: every archive pglab unpacks, by the same rules on every Python it
accepts (no absolute paths, no `..`, no links out of the tree, no device nodes, no
owners kept)."""

import io
import os
import stat
import tarfile
import zipfile

import pytest

from pglab.archives import ArchiveError, extract, member_path

MTIME = 1_700_000_000


def _tar(path, members):
    """members: (TarInfo fields, data or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for fields, data in members:
            info = tarfile.TarInfo(fields.pop("name"))
            info.mtime = MTIME
            for key, value in fields.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _tree(root):
    """Every path under root (relative), with what it is."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            found[rel] = "link" if os.path.islink(full) else ("dir" if os.path.isdir(full) else "file")
    return found


def test_a_source_tarball_unpacks_whole_with_modes_and_times(tmp_path):
    archive = _tar(tmp_path / "pg.tar.gz", [
        ({"name": "postgresql-13.99", "type": tarfile.DIRTYPE, "mode": 0o775}, None),
        ({"name": "postgresql-13.99/configure", "mode": 0o775}, b"#!/bin/sh\n"),
        ({"name": "postgresql-13.99/src/backend/parser/gram.c", "mode": 0o664}, b"/* generated */\n"),
        ({"name": "postgresql-13.99/README.link", "type": tarfile.SYMTYPE, "linkname": "configure"}, None),
        ({"name": "postgresql-13.99/configure.same", "type": tarfile.LNKTYPE,
          "linkname": "postgresql-13.99/configure"}, None),
    ])
    done = extract(archive, tmp_path / "out")
    top = tmp_path / "out" / "postgresql-13.99"
    assert (done.files, done.skipped) == (4, [])
    assert stat.S_IMODE((top / "configure").stat().st_mode) == 0o755      # group write dropped, exec kept
    assert stat.S_IMODE((top / "src/backend/parser/gram.c").stat().st_mode) == 0o644
    assert stat.S_IMODE(top.stat().st_mode) == 0o755
    assert (top / "src/backend/parser/gram.c").stat().st_mtime == MTIME   # make must not regenerate it
    assert top.stat().st_mtime == MTIME
    assert os.readlink(top / "README.link") == "configure"
    assert (top / "configure.same").stat().st_ino == (top / "configure").stat().st_ino


def test_unsafe_members_are_left_out_and_named(tmp_path):
    outside = tmp_path / "outside"
    archive = _tar(tmp_path / "evil.tar.gz", [
        ({"name": "top/ok.txt", "mode": 0o6777, "uid": 4242, "gid": 4242, "uname": "mallory", "gname": "mallory"},
         b"fine\n"),
        ({"name": "/etc/pglab-test-absolute", "mode": 0o644}, b"x"),
        ({"name": "top/../../outside/escaped", "mode": 0o644}, b"x"),
        ({"name": "top/null", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, None),
        ({"name": "top/disk", "type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}, None),
        ({"name": "top/pipe", "type": tarfile.FIFOTYPE}, None),
        ({"name": "top/passwd", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, None),
        ({"name": "top/up", "type": tarfile.SYMTYPE, "linkname": "../../outside"}, None),
        ({"name": "top/shadow", "type": tarfile.LNKTYPE, "linkname": "/etc/shadow"}, None),
        ({"name": "top/up/planted", "mode": 0o644}, b"x"),
    ])
    done = extract(archive, tmp_path / "out")
    assert done.skipped == [
        ("/etc/pglab-test-absolute", "an absolute path or '..'"),
        ("top/../../outside/escaped", "an absolute path or '..'"),
        ("top/null", "a character device"),
        ("top/disk", "a block device"),
        ("top/pipe", "a FIFO"),
        ("top/passwd", "a link to the absolute path /etc/passwd"),
        ("top/up", "a link out of the tree (../../outside)"),
        ("top/shadow", "a hard link to /etc/shadow, which is not a file unpacked before it"),
    ]
    # top/up was left out, so top/up/planted is an ordinary folder inside the tree
    assert _tree(tmp_path / "out") == {"top": "dir", "top/ok.txt": "file", "top/up": "dir",
                                       "top/up/planted": "file"}
    assert not outside.exists() and not os.path.exists("/etc/pglab-test-absolute")
    ok = (tmp_path / "out/top/ok.txt").stat()
    assert (ok.st_uid, ok.st_gid) == (os.getuid(), os.getgid())        # no owner kept
    assert stat.S_IMODE(ok.st_mode) == 0o755                               # no setuid, setgid, group/other write
    assert done.summary().startswith("left out 8 member(s) that are unsafe to unpack: /etc/pglab-test-absolute "
                                     "(an absolute path or '..'); top/../../outside/escaped")
    assert done.summary().endswith(" and 5 more")


def test_a_link_that_later_members_turn_outward_is_removed(tmp_path):
    # p -> q/r and a -> p/../.. (the tree's top, when made); then p becomes a plain folder,
    # so a would lead to the folder above the tree
    archive = _tar(tmp_path / "turn.tar.gz", [
        ({"name": "q/r", "type": tarfile.DIRTYPE, "mode": 0o755}, None),
        ({"name": "p", "type": tarfile.SYMTYPE, "linkname": "q/r"}, None),
        ({"name": "a", "type": tarfile.SYMTYPE, "linkname": "p/../.."}, None),
        ({"name": "p", "type": tarfile.DIRTYPE, "mode": 0o755}, None),
    ])
    done = extract(archive, tmp_path / "out")
    assert done.skipped == [("a", "a link out of the tree (p/../..)")]
    assert _tree(tmp_path / "out") == {"q": "dir", "q/r": "dir", "p": "dir"}


def test_a_file_is_never_written_through_an_earlier_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    archive = _tar(tmp_path / "over.tar.gz", [
        ({"name": "file", "mode": 0o644}, b"a\n"),
        ({"name": "link", "type": tarfile.SYMTYPE, "linkname": "file"}, None),
        ({"name": "link", "mode": 0o644}, b"replaced\n"),
    ])
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "file")          # a link already at a member's name
    done = extract(archive, out)
    assert done.skipped == []
    assert victim.read_text() == "keep\n"
    assert (out / "file").read_text() == "a\n" and not (out / "file").is_symlink()
    assert (out / "link").read_text() == "replaced\n" and not (out / "link").is_symlink()


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, mode, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 6))
            info.create_system = 3
            info.external_attr = mode << 16
            z.writestr(info, data)
    return path


def test_zip_members_follow_the_same_rules(tmp_path):
    archive = _zip(tmp_path / "ext-1.0.0.zip", [
        ("ext-1.0.0/configure", stat.S_IFREG | 0o4777, b"#!/bin/sh\n"),
        ("ext-1.0.0/ext.control", stat.S_IFREG | 0o644, b"comment = 'x'\n"),
        ("ext-1.0.0/docs", stat.S_IFLNK | 0o777, b"ext.control"),
        ("ext-1.0.0/etc", stat.S_IFLNK | 0o777, b"/etc"),
        ("../escaped", stat.S_IFREG | 0o644, b"x"),
        ("ext-1.0.0/fifo", stat.S_IFIFO | 0o644, b""),
    ])
    done = extract(archive, tmp_path / "out")
    top = tmp_path / "out/ext-1.0.0"
    assert done.skipped == [("ext-1.0.0/etc", "a link to the absolute path /etc"),
                            ("../escaped", "an absolute path or '..'"),
                            ("ext-1.0.0/fifo", "not a file, folder or link")]
    assert stat.S_IMODE((top / "configure").stat().st_mode) == 0o755     # exec kept, setuid dropped
    assert os.readlink(top / "docs") == "ext.control"
    assert not (tmp_path / "escaped").exists()


def test_a_broken_archive_is_one_line(tmp_path):
    bad = tmp_path / "postgresql-13.99.tar.bz2"
    bad.write_bytes(b"BZh91AY&SY not really")
    with pytest.raises(ArchiveError) as caught:
        extract(bad, tmp_path / "out")
    assert str(caught.value) == "postgresql-13.99.tar.bz2 cannot be unpacked: file could not be opened successfully"


@pytest.mark.parametrize("name, expected", [
    ("a/b", "a/b"), ("./a//b/", "a/b"), ("a/./b", "a/b"),
    ("/a", None), ("a/../b", None), ("..", None), ("", None), (".", None), ("a\\..\\b", None), ("a\0b", None),
])
def test_member_paths(name, expected):
    got = member_path(name)
    assert (str(got) if got is not None else None) == expected

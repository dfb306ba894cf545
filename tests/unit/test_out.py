"""--out's writer (pglab.out): a file written whole or not at all, a folder replaced only
when pglab made it, and nothing of the user's deleted or left half-written."""

import os
import re
import stat

import pytest

from pglab import out
from pglab.errors import PglabError


def tree(root):
    """{relative path: content (files) or None (folders)} under ROOT."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            found[os.path.relpath(os.path.join(folder, d), root)] = None
        for f in files:
            path = os.path.join(folder, f)
            found[os.path.relpath(path, root)] = open(path, "rb").read()
    return found


def test_a_folder_of_the_users_is_refused_and_nothing_in_it_deleted(tmp_path):
    home = tmp_path / "home"
    (home / "src").mkdir(parents=True)
    (home / "notes.txt").write_text("mine\n")
    (home / "src" / "a.c").write_text("int a;\n")
    before = tree(tmp_path)
    with pytest.raises(PglabError) as err:
        with out.folder(home) as stage:
            (stage / "matrix.md").write_text("| x |\n")
    assert str(err.value) == (f"{home} holds 2 entries pglab did not write (notes.txt, src): pglab replaces only a "
                              f"folder it made; give a new or an empty folder")
    assert tree(tmp_path) == before


def test_check_folder_refuses_up_front_and_names_a_few_entries(tmp_path):
    for n in range(5):
        (tmp_path / f"f{n}").write_text("")
    with pytest.raises(PglabError) as err:
        out.check_folder(tmp_path)
    assert str(err.value) == (f"{tmp_path} holds 5 entries pglab did not write (f0, f1, f2, ...): pglab replaces "
                              f"only a folder it made; give a new or an empty folder")


def test_a_new_folder_is_made_with_its_parents_and_marked(tmp_path):
    dest = tmp_path / "a" / "b" / "results"
    with out.folder(dest) as stage:
        (stage / "matrix.md").write_text("one\n")
    assert tree(tmp_path) == {"a": None, "a/b": None, "a/b/results": None, "a/b/results/matrix.md": b"one\n",
                              f"a/b/results/{out.MARKER}": out.MARKER_TEXT.encode()}
    assert stat.S_IMODE(dest.stat().st_mode) == 0o777 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_folder_pglab_made_is_replaced_whole(tmp_path):
    dest = tmp_path / "results"
    with out.folder(dest) as stage:
        (stage / "old.txt").write_text("first run\n")
    with out.folder(dest) as stage:
        (stage / "new.txt").write_text("second run\n")
    assert tree(tmp_path) == {"results": None, "results/new.txt": b"second run\n",
                              f"results/{out.MARKER}": out.MARKER_TEXT.encode()}


def test_an_empty_folder_is_taken(tmp_path):
    (tmp_path / "results").mkdir()
    with out.folder(tmp_path / "results") as stage:
        (stage / "x").write_text("x")
    assert sorted(tree(tmp_path)) == ["results", f"results/{out.MARKER}", "results/x"]


def test_a_failure_while_filling_leaves_the_previous_folder_and_no_staging(tmp_path):
    dest = tmp_path / "results"
    with out.folder(dest) as stage:
        (stage / "kept.txt").write_text("kept\n")
    before = tree(tmp_path)
    with pytest.raises(KeyError):
        with out.folder(dest) as stage:
            (stage / "half.txt").write_text("half")
            raise KeyError("the run broke")
    assert tree(tmp_path) == before


def test_a_failure_leaves_no_folder_it_made_for_the_output(tmp_path):
    with pytest.raises(KeyError):
        with out.folder(tmp_path / "a" / "b" / "results"):
            raise KeyError("the run broke")
    with pytest.raises(KeyError):
        with out.file(tmp_path / "c" / "d" / "trace.json") as f:
            f.write("{")
            raise KeyError("the run broke")
    assert tree(tmp_path) == {}


def test_a_file_is_replaced_whole_and_keeps_its_mode(tmp_path):
    target = tmp_path / "trace.json"
    target.write_text("old\n")
    target.chmod(0o640)
    with pytest.raises(KeyError):
        with out.file(target) as f:
            f.write("new, half")
            raise KeyError("the run broke")
    assert tree(tmp_path) == {"trace.json": b"old\n"}
    out.write_file(target, "new\n")
    assert tree(tmp_path) == {"trace.json": b"new\n"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_new_file_gets_the_usual_mode(tmp_path):
    out.write_file(tmp_path / "x" / "page.svg", "<svg/>")
    assert stat.S_IMODE((tmp_path / "x" / "page.svg").stat().st_mode) == 0o666 & ~_umask()


def test_a_device_is_written_to_as_it_is():
    out.write_file("/dev/null", "anything\n")
    assert os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("make, message", [
    (lambda p: (p / "f").write_text(""), "cannot write {p}/f/x.json: {p}/f is not a folder"),
    (lambda p: (p / "x.json").mkdir(), "cannot write {p}/x.json: it is a folder (give a file's path)"),
])
def test_a_file_that_cannot_be_written_is_refused_before_anything_is_made(tmp_path, make, message):
    make(tmp_path)
    target = tmp_path / "f" / "x.json" if (tmp_path / "f").exists() else tmp_path / "x.json"
    before = tree(tmp_path)
    with pytest.raises(PglabError) as err:
        out.check_file(target)
    assert str(err.value) == message.format(p=tmp_path)
    assert tree(tmp_path) == before


def test_a_file_as_the_folder_is_refused(tmp_path):
    (tmp_path / "results").write_text("a file\n")
    with pytest.raises(PglabError) as err:
        out.check_folder(tmp_path / "results")
    assert str(err.value) == f"cannot write into {tmp_path}/results: it is not a folder"


def test_the_working_areas_own_folder_is_replaced_marked_or_not(tmp_path):
    dest = tmp_path / "ci-results"
    dest.mkdir()
    (dest / "matrix.md").write_text("from an older pglab\n")
    with out.folder(dest, ours=True) as stage:
        (stage / "matrix.md").write_text("now\n")
    assert (dest / "matrix.md").read_text() == "now\n"


def test_a_symlinked_folder_stands_for_its_target(tmp_path):
    real = tmp_path / "real"
    with out.folder(real) as stage:
        (stage / "one").write_text("1")
    (tmp_path / "link").symlink_to(real)
    with out.folder(tmp_path / "link") as stage:
        (stage / "two").write_text("2")
    assert (tmp_path / "link").is_symlink() and sorted(os.listdir(real)) == [out.MARKER, "two"]
    assert not [p for p in os.listdir(tmp_path) if re.match(r"\.(real|link)\.", p)]


def test_a_folder_to_add_files_to_may_hold_others_but_not_be_a_file(tmp_path):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "other-1.0.zip").write_text("")
    assert out.check_into(tmp_path / "dist") == tmp_path / "dist"
    (tmp_path / "a file").write_text("")
    for path, message in ((tmp_path / "a file", f"cannot write into {tmp_path}/a file: it is not a folder"),
                          (tmp_path / "a file" / "dist", f"cannot write {tmp_path}/a file/dist: {tmp_path}/a file is "
                                                         f"not a folder")):
        with pytest.raises(PglabError) as err:
            out.check_into(path)
        assert str(err.value) == message

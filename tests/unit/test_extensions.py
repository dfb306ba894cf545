"""The logic around PGXS that ext-test relies on: REGRESS_OPTS, temp configs,
compiler paths, mirrors, names."""


import pytest

from pglab.errors import PglabError
from pglab.extensions import (Extension, _user_path, discover, parse_conf, resolve, split_regress_opts,
                              sync_source, temp_config)


def test_temp_config_is_taken_out_of_regress_opts_in_both_spellings():
    assert split_regress_opts({"REGRESS_OPTS": "--temp-config=./x.conf --load-extension=foo"}) == \
        (["--load-extension=foo"], "./x.conf")
    assert split_regress_opts({"REGRESS_OPTS": "--temp-config /src/contrib/pss/pss.conf --dbname=contrib_regression"}) == \
        (["--dbname=contrib_regression"], "/src/contrib/pss/pss.conf")
    assert split_regress_opts({}) == ([], None)


def test_temp_config_of_a_contrib_module_copied_out_falls_back_to_its_own_folder(tmp_path):
    (tmp_path / "pss.conf").write_text("shared_preload_libraries = 'pss'  # needed\npss.max = 100\n")
    ext = Extension("pss", tmp_path)
    values = {"REGRESS_OPTS": "--temp-config /gone/contrib/pss/pss.conf"}
    assert temp_config(ext, values, tmp_path) == {"shared_preload_libraries": "'pss'", "pss.max": "100"}
    assert temp_config(Extension("other", tmp_path), {}, tmp_path) == {}


def test_conf_parsing_keeps_quoted_values_and_drops_comments():
    assert parse_conf("# c\na = 'x, y'\nb = \"on\"\n\nc=3 # why\n") == {"a": "'x, y'", "b": "on", "c": "3"}


def test_compiler_lines_point_at_the_users_file(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "mine.c").write_text("")
    mirror = tmp_path / "mirror"
    ext = Extension("mine", user)
    assert _user_path("mine.c:3:5: error: x", mirror, ext) == f"{user}/mine.c:3:5: error: x"
    assert _user_path(f"{mirror}/mine.c:3:5: warning: y", mirror, ext) == f"{user}/mine.c:3:5: warning: y"
    assert _user_path("   3 | int x = y;", mirror, ext) == "   3 | int x = y;"


def test_mirror_copies_sources_only_and_follows_changes(tmp_path):
    src, dest = tmp_path / "ext", tmp_path / "mirror"
    (src / "sql").mkdir(parents=True)
    (src / "a.c").write_text("int a;")
    (src / "sql" / "a.sql").write_text("select 1;")
    (src / "a.o").write_text("stale object from a hand-run make")
    (src / "results").mkdir()
    ext = Extension("ext", src)
    sync_source(ext, dest)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == ["a.c", "sql", "sql/a.sql"]
    (dest / "a.o").write_text("our own object")       # built in the mirror: kept
    (src / "sql" / "a.sql").unlink()                   # deleted by the user: deleted in the mirror
    sync_source(ext, dest)
    assert (dest / "a.o").read_text() == "our own object" and not (dest / "sql" / "a.sql").exists()


def test_discovery_and_unknown_names(tmp_path):
    for name in ("good", ".new-half"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Makefile").write_text("")
        (tmp_path / name / f"{name}.control").write_text("")
    (tmp_path / "not_an_ext").mkdir()
    assert list(discover(tmp_path)) == ["good"]
    with pytest.raises(PglabError, match="unknown extension nope; known: good"):
        resolve(["nope"], root=tmp_path)
    with pytest.raises(PglabError, match="has no Makefile"):
        resolve(path=tmp_path / "not_an_ext")

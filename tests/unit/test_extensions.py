"""The logic around PGXS that ext-test relies on: which --temp-config files
pg_regress would see, what they say, compiler paths, the build copy, names,
suite selection and the counting of finished tests in each tool's output."""


import pytest

from pglab.errors import ExtensionError, PglabError
from pglab.ext.discover import Extension, discover, resolve
from pglab.ext.pgxs import parse_conf, sync_source, temp_config, temp_config_files, user_path
from pglab.ext.runner import parse_suites
from pglab.ext.suites import ProveTally, PytestTally
from pglab.postmortem import RegressTally


def test_temp_configs_are_found_wherever_pg_regress_sees_them_in_both_spellings():
    assert temp_config_files({"REGRESS_OPTS": "--temp-config=./x.conf --load-extension=foo"}) == ["./x.conf"]
    assert temp_config_files({"REGRESS_OPTS": "--dbname=r", "EXTRA_REGRESS_OPTS": "--temp-config /a/b.conf"}) == \
        ["/a/b.conf"]
    assert temp_config_files({"ISOLATION_OPTS": "--temp-config=iso.conf", "REGRESS_OPTS": "--temp-config=iso.conf"}) \
        == ["iso.conf"]
    assert temp_config_files({}) == []


def test_temp_config_pointing_into_the_pgxs_tree_means_the_file_beside_the_makefile(tmp_path):
    (tmp_path / "pss.conf").write_text("shared_preload_libraries = 'pss'  # needed\npss.max = 100\n")
    values = {"EXTRA_REGRESS_OPTS": "--temp-config=/usr/lib/postgresql/pgxs//pss.conf"}
    settings, used = temp_config("pss", values, tmp_path)
    assert settings == {"shared_preload_libraries": "'pss'", "pss.max": "100"} and used == [tmp_path / "pss.conf"]
    assert temp_config("other", {}, tmp_path) == ({}, [])
    (tmp_path / "other.conf").write_text("work_mem = '8MB'\n")
    assert temp_config("other", {}, tmp_path) == ({"work_mem": "'8MB'"}, [tmp_path / "other.conf"])


def test_a_named_temp_config_that_is_missing_is_one_clear_error(tmp_path):
    with pytest.raises(ExtensionError, match=r"^--temp-config conf\.add: no such file \(looked in "):
        temp_config("x", {"REGRESS_OPTS": "--temp-config conf.add"}, tmp_path)


def test_conf_parsing_keeps_quoted_values_and_drops_comments():
    assert parse_conf("# c\na = 'x, y'\nb = \"on\"\n\nc=3 # why\n") == {"a": "'x, y'", "b": "on", "c": "3"}


def test_compiler_lines_point_at_the_users_file(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "mine.c").write_text("")
    copy = tmp_path / "copy"
    assert user_path("mine.c:3:5: error: x", copy, user) == f"{user}/mine.c:3:5: error: x"
    assert user_path(f"{copy}/mine.c:3:5: warning: y", copy, user) == f"{user}/mine.c:3:5: warning: y"
    assert user_path("   3 | int x = y;", copy, user) == "   3 | int x = y;"


def test_the_build_copy_holds_sources_only_and_follows_changes(tmp_path):
    src, dest = tmp_path / "ext", tmp_path / "copy"
    (src / "sql").mkdir(parents=True)
    (src / "Makefile").write_text("REGRESS = a\n")
    (src / "a.c").write_text("int a;")
    (src / "sql" / "a.sql").write_text("select 1;")
    (src / "a.o").write_text("stale object from a hand-run make")
    (src / "results").mkdir()                                # a hand-run installcheck's, beside the Makefile
    assert sync_source(src, dest) is True
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == ["Makefile", "a.c", "sql", "sql/a.sql"]
    assert sync_source(src, dest) is False                # nothing changed
    (dest / "a.o").write_text("our own object")           # built in the copy: kept
    (dest / "results").mkdir()
    (dest / "results" / "a.out").write_text("a test's output")   # PGXS's results/: kept
    (src / "sql" / "a.sql").unlink()                       # deleted by the user: deleted in the copy
    assert sync_source(src, dest) is True
    assert (dest / "a.o").read_text() == "our own object" and not (dest / "sql" / "a.sql").exists()
    assert (dest / "results" / "a.out").read_text() == "a test's output"


def test_what_ext_test_names(tmp_path):
    for name in ("good", ".new-half", "also"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Makefile").write_text("")
        (tmp_path / name / f"{name}.control").write_text("")
    (tmp_path / "not_an_ext").mkdir()
    assert list(discover(tmp_path)) == ["also", "good"]
    assert [e.name for e in resolve("all", root=tmp_path)] == ["also", "good"]
    assert resolve("good,also", root=tmp_path) == [Extension("good", tmp_path / "good"),
                                                   Extension("also", tmp_path / "also")]
    assert resolve(str(tmp_path / "good")) == [Extension("good", tmp_path / "good")]
    with pytest.raises(PglabError, match="^unknown extension nope; known: also, good "):
        resolve("nope", root=tmp_path)
    with pytest.raises(PglabError, match=r"has no Makefile \(nor a configure script that writes one\): point ext-test at a PGXS extension.s folder$"):
        resolve(str(tmp_path / "not_an_ext"))


def test_suite_selection():
    assert parse_suites(None) == ("regress", "isolation", "tap", "pytest")
    assert parse_suites("tap, regress") == ("tap", "regress")
    with pytest.raises(PglabError, match="^unknown suite unit: choose from regress, isolation, tap, pytest$"):
        parse_suites("regress,unit")


def test_pg_regress_output_of_every_format_is_counted_and_names_the_running_test():
    tally = RegressTally(["setup", "one", "two", "last"])
    tally.feed("test setup                        ... ok           12 ms\nparallel group (2 tests):  one two\n")
    assert tally.current == "one"
    tally.feed("     two                          ... FAILED       30 ms\n     one   ")
    assert (tally.passed, tally.failed, tally.current) == (["setup"], ["two"], "one")
    tally.feed("                        ... ok           31 ms\n")
    assert tally.current == "last"
    tally.feed("ok 4         - last                                       10 ms\n"
               "not ok 5     - extra                                      10 ms\n# 2 of 5 tests failed.\n")
    assert (tally.passed, tally.failed, tally.skipped) == (["setup", "one", "last"], ["two", "extra"], [])


def test_prove_verbose_output_counts_top_level_tests_per_file():
    tally = ProveTally()
    tally.feed("t/001_node.pl .. \n# a diagnostic\nok 1 - the function answers\n    ok 1 - nested, not counted\n"
               "not ok 2 - the node runs\nok 3 # skip no lz4\nnot ok 4 - later # TODO not yet\n1..4\nDubious\nt/002_more.pl .. \nok 1\n1..1\nok\n")
    assert tally.passed == ["t/001_node.pl: the function answers", "t/001_node.pl: later", "t/002_more.pl: ?"]
    assert tally.failed == ["t/001_node.pl: the node runs"]
    assert tally.skipped == ["t/001_node.pl: ?"]
    assert tally.current == "t/002_more.pl"


def test_pytest_verbose_output_names_the_test_that_started_last():
    tally = PytestTally()
    tally.feed("tests/test_a.py::test_one PASSED\ntests/test_a.py::test_two ")
    assert tally.current == "tests/test_a.py::test_two" and tally.passed == ["tests/test_a.py::test_one"]
    tally.feed("FAILED\ntests/test_a.py::test_three SKIPPED (no lz4)\n")
    assert tally.failed == ["tests/test_a.py::test_two"] and tally.skipped == ["tests/test_a.py::test_three"]


def test_the_warm_server_restarts_when_a_preloaded_library_changes_not_when_it_is_reinstalled(tmp_path):
    import os
    from types import SimpleNamespace

    from pglab.ext.server import stamp_for

    libdir = tmp_path / "lib" / "postgresql"       # where PGXS installs, as pg_config --pkglibdir says
    libdir.mkdir(parents=True)
    build = SimpleNamespace(built_at="then", fingerprint="", pkglibdir=lambda: libdir)
    conf = {"shared_preload_libraries": "'lab_worker'"}
    (libdir / "lab_worker.so").write_bytes(b"first build")
    first = stamp_for(build, conf, tmp_path, "lab_worker")
    os.utime(libdir / "lab_worker.so", (1, 1))      # make install copies it again, the same bytes
    assert stamp_for(build, conf, tmp_path, "lab_worker") == first
    (libdir / "lab_worker.so").write_bytes(b"second build")
    assert stamp_for(build, conf, tmp_path, "lab_worker") != first


def test_sources_named_like_test_output_are_copied(tmp_path):
    """Test output is a product only where PGXS writes it, beside a Makefile: a folder of sources
    called log/ and an expected file for a test called regression are sources."""
    src, dest = tmp_path / "ext", tmp_path / "copy"
    (src / "src" / "lib" / "log").mkdir(parents=True)
    (src / "expected").mkdir()
    (src / "Makefile").write_text("REGRESS = regression\n")
    (src / "src" / "lib" / "log" / "log.h").write_text("#define LOG 1\n")
    (src / "expected" / "regression.out").write_text("ok\n")
    (src / "log").mkdir()                                    # beside the Makefile: pg_regress's
    (src / "log" / "postmaster.log").write_text("LOG: ...\n")
    assert sync_source(src, dest) is True
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "Makefile", "expected/regression.out", "src/lib/log/log.h"]

"""pg-check: PostgreSQL's own regression suite through pglab."""

import pytest

from pglab.check import parse_line

from ..conftest import invoke


def test_result_lines_of_old_and_new_pg_regress():
    assert parse_line("ok 12        - join                                      345 ms") == ("join", True)
    assert parse_line("not ok 3     + boolean                                    12 ms") == ("boolean", False)
    assert parse_line("test tablespace                ... ok          234 ms") == ("tablespace", True)
    assert parse_line("     join                         ... FAILED      345 ms") == ("join", False)
    assert parse_line("parallel group (20 tests):  select_into select_distinct") is None


@pytest.mark.slow
def test_full_regression_suite_passes_on_the_default_build(default_build):
    done = invoke("pg-check")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "tests passed" in done.stdout


def test_selected_tests_get_their_setup(default_build):
    done = invoke("pg-check", "--test", "boolean", "--test", "int4")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "all 3 tests passed" in done.stdout or "all 2 tests passed" in done.stdout

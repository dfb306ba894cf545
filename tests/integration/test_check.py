"""pg-check: PostgreSQL's own regression suite through pglab."""

from pglab.pgcheck import schedule_tests
from pglab.postmortem import parse_regress_line

from ..conftest import invoke


def test_result_lines_of_old_and_new_pg_regress():
    assert parse_regress_line("ok 12        - join                                      345 ms") == ("join", "pass")
    assert parse_regress_line("not ok 3     + boolean                                    12 ms") == ("boolean", "fail")
    assert parse_regress_line("test tablespace                ... ok          234 ms") == ("tablespace", "pass")
    assert parse_regress_line("     join                         ... FAILED      345 ms") == ("join", "fail")
    assert parse_regress_line("test hash_part                  ... ignored     12 ms") == ("hash_part", "skip")
    assert parse_regress_line("parallel group (20 tests):  select_into select_distinct") is None


def test_selected_tests_get_their_setup(default_build):
    done = invoke("pg-check", "--test", "boolean", "--test", "int4")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    schedule = default_build.source_dir / "src" / "test" / "regress" / "parallel_schedule"
    expected = 3 if "test_setup" in schedule_tests(schedule) else 2   # test_setup, where the release has it
    assert f"all {expected} tests passed on {default_build.id}" in done.stdout

"""A flag that takes a number, given something else, is refused in one line that names that
flag and what it takes (--backend a process id, --block a block number, ...), before the
task does anything: the task bodies are called with no context at all, which they never reach."""

import pytest
from invoke import Exit

from pglab.tasks import ns

REFUSED = [
    ("build-pg", (), {"jobs": "0"}, "error: --jobs takes a number of parallel jobs, 1 or more, not '0'"),
    ("build-pg", (), {"jobs": "two"}, "error: --jobs takes a number of parallel jobs, 1 or more, not 'two'"),
    ("debug", (), {"backend": "0"}, "error: --backend takes a process id (a number above 0), not '0'"),
    ("debug", (), {"backend": "1.5"}, "error: --backend takes a process id (a number above 0), not '1.5'"),
    ("inspect", ("t",), {"block": "-1"}, "error: --block takes a block number, 0 or more, not '-1'"),
    ("inspect", ("t",), {"block": "x"}, "error: --block takes a block number, 0 or more, not 'x'"),
    ("inspect", ("t",), {"block": "0x10"}, "error: --block takes a block number, 0 or more, not '0x10'"),
    ("trace", ("heap_insert",), {"timeout": "0"}, "error: --timeout takes a number of seconds above 0, not '0'"),
    ("trace", ("heap_insert",), {"timeout": "inf"}, "error: --timeout takes a number of seconds above 0, not 'inf'"),
    ("ext-test", ("pgl_funcs",), {"idle_timeout": "nan"},
     "error: --idle-timeout takes a number of seconds above 0, not 'nan'"),
    ("test", (), {"jobs": "0"},
     "error: --jobs 0: give a number of workers, 1 or more (1 runs the tests in this process)"),
]


@pytest.mark.parametrize("name, args, kwargs, message", REFUSED)
def test_a_number_flag_names_itself_and_what_it_takes(name, args, kwargs, message):
    with pytest.raises(Exit) as refused:
        ns[name].body(None, *args, **kwargs)
    assert (refused.value.code, refused.value.message) == (1, message)


def test_debug_and_inspect_name_their_own_flags():
    """--backend (debug) and --block (inspect) each say what they take, never the other's words."""
    with pytest.raises(Exit) as backend:
        ns["debug"].body(None, backend="x")
    with pytest.raises(Exit) as block:
        ns["inspect"].body(None, "t", block="x")
    assert backend.value.message == "error: --backend takes a process id (a number above 0), not 'x'"
    assert block.value.message == "error: --block takes a block number, 0 or more, not 'x'"

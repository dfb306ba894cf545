"""The gdb side's pure parts, imported as pglab_tracing.X in a process with no
gdb: the targets registry, the version tables, infomask and WAL naming."""

import subprocess
import sys
from pathlib import Path

import pytest

from pglab_tracing import infomask, targets, version, walnames

PURE = ("targets", "version", "nodes", "infomask", "walnames", "executor", "loader")


def test_pure_modules_import_without_gdb():
    code = ("import sys\n"
            + "".join(f"import pglab_tracing.{m}\n" for m in PURE)
            + "assert 'gdb' not in sys.modules, 'gdb was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ the registry

def test_the_registry_names_every_target_once():
    assert targets.names() == ["heap_insert", "wal", "query", "locks", "memctx", "hooks"]
    package = Path(targets.__file__).parent
    for t in targets.TARGETS + (targets.FUNCTION,):
        assert (package / f"{t.module}.py").is_file(), t
        assert t.events and t.hints, t


def test_names_resolve_to_targets_or_functions():
    assert targets.resolve("wal") is targets.BY_NAME["wal"]
    assert targets.resolve("ExecInsert") is targets.FUNCTION
    assert targets.resolve("function:wal") is targets.FUNCTION
    assert targets.function_name("function:wal") == "wal"
    assert targets.function_name("ExecInsert") == "ExecInsert"


def test_the_target_list_is_written_in_one_place():
    """The names are spelled in the registry only: the session, the driver's
    hints and the task help read it."""
    root = Path(__file__).resolve().parents[2]
    sources = list((root / "tracing").glob("*.py")) + list((root / "pglab" / "trace").rglob("*.py")) + \
        [root / "tasks.py"]
    spelled = [p.relative_to(root).as_posix() for p in sources if '"memctx"' in p.read_text()]
    assert spelled == ["tracing/targets.py"]


# ------------------------------------------------------------------ version tables

def test_profile_per_major():
    p13, p15, p16, p17, p18 = (version.profile(v) for v in (130016, 150018, 160010, 170011, 180006))
    assert (p13.major, p18.version_num) == (13, 180006)
    assert p13.analyze_and_rewrite_functions == ("pg_analyze_and_rewrite", "pg_analyze_and_rewrite_params")
    assert p15.analyze_and_rewrite_functions == ("pg_analyze_and_rewrite_fixedparams",
                                                 "pg_analyze_and_rewrite_varparams", "pg_analyze_and_rewrite_withcb")
    assert p13.xlog_insert_record_args == ("rdata", "fpw_lsn", "flags", "num_fpi")
    assert p15.xlog_insert_record_args[-1] == "topxid_included"
    assert (p17.portal_run_once_arg, p17.executor_run_once_arg) == ("run_once", "execute_once")
    assert (p18.portal_run_once_arg, p18.executor_run_once_arg) == (None, None)
    assert "logLockFailure" not in p17.lock_acquire_args and p18.lock_acquire_args[-1] == "logLockFailure"
    assert p15.memctx_create_args[2] == "methods" and p16.memctx_create_args[2] == "method_id"
    assert (p16.memctx_delete_recursive, p17.memctx_delete_recursive) == (True, False)
    assert "BumpContextCreate" not in p16.memctx_creators and "BumpContextCreate" in p17.memctx_creators
    assert p13.anchors["XLogInsertRecord"] == "return EndPos;"


def test_profile_refuses_majors_before_13():
    with pytest.raises(ValueError, match="PostgreSQL 12 is older than the oldest supported major"):
        version.profile(120022)


# ------------------------------------------------------------------ infomask and WAL names

def test_infomask_names():
    assert infomask.decode_infomask(0x0801, 0) == ["HEAP_HASNULL", "HEAP_XMAX_INVALID"]
    assert infomask.decode_infomask(0x0902, 0x8003) == ["HEAP_HASVARWIDTH", "HEAP_XMIN_COMMITTED",
                                                        "HEAP_XMAX_INVALID", "HEAP_ONLY_TUPLE"]
    assert infomask.natts(0x8003) == 3
    assert infomask.decode_infomask(0, 0) == []


def test_wal_names():
    assert walnames.fallback_identify("Heap", 0x80) == "INSERT+INIT"
    assert walnames.fallback_identify("Heap", 0x00) == "INSERT"
    assert walnames.fallback_identify("Heap", 0x40) == "HOT_UPDATE"
    assert walnames.fallback_identify("Transaction", 0x00) == "COMMIT"
    assert walnames.fallback_identify("Btree", 0x00) == "INSERT_LEAF"
    assert walnames.fallback_identify("Btree", 0x01) == "INSERT_LEAF"     # xlog.c's own low bits ignored
    assert walnames.fallback_identify("Gist", 0x00) is None
    assert walnames.unknown_name(0xA3) == "UNKNOWN (a0)"
    assert walnames.lsn_text(0x1557AD8) == "0/01557AD8"
    assert walnames.lsn_text((5 << 32) | 0xFF) == "5/000000FF"

"""Everything the tracer knows about how PostgreSQL majors 13..19 differ.

Other modules never compare version numbers themselves: they ask the Profile
for the function names, argument names and source anchors of the running
server.  Each entry below says which release changed what, so that a new
major means editing this file only.  Names that may be missing from a given
build are still checked against its debug info at install time (see
common.find_function), so a wrong guess here degrades to "not traced", never
to reading the wrong argument.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    version_num: int
    major: int
    # parse_analyze() and pg_analyze_and_rewrite() were split into
    # *_fixedparams / *_varparams / *_withcb in 15 (commit 791b1b71da).
    parse_analyze_functions: tuple
    analyze_and_rewrite_functions: tuple
    # PortalRun(..., bool run_once, ...) and ExecutorRun(..., bool execute_once)
    # lost that argument in 18; None where it does not exist.
    portal_run_once_arg: str | None
    executor_run_once_arg: str | None
    # XLogInsertRecord(rdata, fpw_lsn, flags, num_fpi [, topxid_included 15+]).
    xlog_insert_record_args: tuple
    # LockAcquireExtended gained logLockFailure in 18.
    lock_acquire_args: tuple
    # MemoryContextCreate(node, tag, methods, parent, name) until 15;
    # 16 replaced the methods pointer by a MemoryContextMethodID.
    memctx_create_args: tuple
    # 17 deletes a subtree iteratively through the static MemoryContextDeleteOnly();
    # before that MemoryContextDelete() recursed through MemoryContextDeleteChildren().
    memctx_delete_recursive: bool
    # The per-type creators; BumpContextCreate appeared in 17.
    memctx_creators: tuple
    # Source lines (a substring, searched inside the function's own lines) after
    # which the function's results are complete; breaking there instead of at
    # the return saves one stop per call.  Unchanged 13..19; checked at runtime.
    anchors: dict = field(default_factory=dict)
    # Hook variables worth reporting; all exist 13..19 unless noted.
    hooks: tuple = ()


_HOOKS_COMMON = (
    "ClientAuthentication_hook",
    "post_parse_analyze_hook",
    "planner_hook",
    "create_upper_paths_hook",
    "set_rel_pathlist_hook",
    "set_join_pathlist_hook",
    "join_search_hook",
    "get_relation_info_hook",
    "ExecutorStart_hook",
    "ExecutorRun_hook",
    "ExecutorFinish_hook",
    "ExecutorEnd_hook",
    "ExecutorCheckPerms_hook",
    "ProcessUtility_hook",
    "ExplainOneQuery_hook",
    "explain_get_index_name_hook",
    "object_access_hook",
    "object_access_hook_str",       # 15+
    "emit_log_hook",
    "shmem_startup_hook",
    "shmem_request_hook",           # 15+
    "needs_fmgr_hook",
    "fmgr_hook",
    "check_password_hook",
    "row_security_policy_hook_permissive",
    "row_security_policy_hook_restrictive",
    "ExplainPerNode_hook",          # 19 (explain extensions)
    "explain_per_plan_hook",        # 18+
    "explain_per_node_hook",        # 18+
    "explain_validate_options_hook",  # 18+
)


def profile(version_num: int) -> Profile:
    """The Profile for a server_version_num such as 170011."""
    major = version_num // 10000
    if major < 13:
        raise ValueError(f"PostgreSQL {major} is older than the oldest supported major (13)")
    if major >= 15:
        parse_analyze = ("parse_analyze_fixedparams", "parse_analyze_varparams", "parse_analyze_withcb")
        analyze_rewrite = ("pg_analyze_and_rewrite_fixedparams", "pg_analyze_and_rewrite_varparams",
                           "pg_analyze_and_rewrite_withcb")
        xlog_args = ("rdata", "fpw_lsn", "flags", "num_fpi", "topxid_included")
    else:
        parse_analyze = ("parse_analyze", "parse_analyze_varparams")
        analyze_rewrite = ("pg_analyze_and_rewrite", "pg_analyze_and_rewrite_params")
        xlog_args = ("rdata", "fpw_lsn", "flags", "num_fpi")
    lock_args = ("locktag", "lockmode", "sessionLock", "dontWait", "reportMemoryError", "locallockp")
    if major >= 18:
        lock_args += ("logLockFailure",)
    creators = ("AllocSetContextCreateInternal", "SlabContextCreate", "GenerationContextCreate")
    if major >= 17:
        creators += ("BumpContextCreate",)
    return Profile(
        version_num=version_num,
        major=major,
        parse_analyze_functions=parse_analyze,
        analyze_and_rewrite_functions=analyze_rewrite,
        portal_run_once_arg=None if major >= 18 else "run_once",
        executor_run_once_arg=None if major >= 18 else "execute_once",
        xlog_insert_record_args=xlog_args,
        lock_acquire_args=lock_args,
        memctx_create_args=("node", "tag", "method_id" if major >= 16 else "methods", "parent", "name"),
        memctx_delete_recursive=major < 17,
        memctx_creators=creators,
        anchors={
            "heap_insert": "pgstat_count_heap_insert(",
            "heap_multi_insert": "pgstat_count_heap_insert(",
            "XLogInsertRecord": "return EndPos;",
        },
        hooks=_HOOKS_COMMON,
    )

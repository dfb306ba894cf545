/*-------------------------------------------------------------------------
 *
 * lab_hook.c
 *	  An executor hook: count the queries this session runs.
 *
 * Start here: _PG_init saves the previous ExecutorEnd_hook and installs
 * ours; ours does its work and then calls the previous hook (or
 * standard_ExecutorEnd), so other extensions keep working.  The counter is
 * private to each backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "fmgr.h"
#include "utils/guc.h"

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "lab_hook",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

/* GUC variable */
static bool lab_hook_enabled = false;

/* Executor runs seen while enabled (queries run by functions count too). */
static int64 lab_hook_queries = 0;

/* Executor starts in this backend since the library was loaded. */
static int64 lab_hook_starts = 0;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

void		_PG_init(void);
static void lab_hook_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void lab_hook_ExecutorEnd(QueryDesc *queryDesc);


void
_PG_init(void)
{
	DefineCustomBoolVariable("lab_hook.enabled",
							 "Count executed queries.",
							 NULL,
							 &lab_hook_enabled,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("lab_hook");
#else
	EmitWarningsOnPlaceholders("lab_hook");
#endif

	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = lab_hook_ExecutorStart;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = lab_hook_ExecutorEnd;
}

static void
lab_hook_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	lab_hook_starts++;

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
lab_hook_ExecutorEnd(QueryDesc *queryDesc)
{
	if (lab_hook_enabled)
		lab_hook_queries++;

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* lab_hook_queries() RETURNS int8: the count so far */
PG_FUNCTION_INFO_V1(lab_hook_count);
Datum
lab_hook_count(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(lab_hook_queries);
}

/* lab_hook_reset() RETURNS void */
PG_FUNCTION_INFO_V1(lab_hook_reset);
Datum
lab_hook_reset(PG_FUNCTION_ARGS)
{
	lab_hook_queries = 0;
	PG_RETURN_VOID();
}


/* lab_hook_started() RETURNS int8: executor starts so far */
PG_FUNCTION_INFO_V1(lab_hook_started);
Datum
lab_hook_started(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(lab_hook_starts);
}

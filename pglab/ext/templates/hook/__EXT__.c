/*-------------------------------------------------------------------------
 *
 * __EXT__.c
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
					.name = "__EXT__",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

/* GUC variable */
static bool __EXT___enabled = false;

/* Executor runs seen while enabled (queries run by functions count too). */
static int64 __EXT___queries = 0;

static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

void		_PG_init(void);
static void __EXT___ExecutorEnd(QueryDesc *queryDesc);


void
_PG_init(void)
{
	DefineCustomBoolVariable("__EXT__.enabled",
							 "Count executed queries.",
							 NULL,
							 &__EXT___enabled,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("__EXT__");
#else
	EmitWarningsOnPlaceholders("__EXT__");
#endif

	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = __EXT___ExecutorEnd;
}

static void
__EXT___ExecutorEnd(QueryDesc *queryDesc)
{
	if (__EXT___enabled)
		__EXT___queries++;

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* __EXT___queries() RETURNS int8: the count so far */
PG_FUNCTION_INFO_V1(__EXT___count);
Datum
__EXT___count(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(__EXT___queries);
}

/* __EXT___reset() RETURNS void */
PG_FUNCTION_INFO_V1(__EXT___reset);
Datum
__EXT___reset(PG_FUNCTION_ARGS)
{
	__EXT___queries = 0;
	PG_RETURN_VOID();
}

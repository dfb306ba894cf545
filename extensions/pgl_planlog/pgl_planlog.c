/*-------------------------------------------------------------------------
 *
 * pgl_planlog.c
 *	  auto_explain in miniature: remember the plans of top-level queries.
 *
 * When pgl_planlog.enabled is on, every top-level query's plan is recorded,
 * at the end of its execution, in a small ring buffer private to the
 * backend; pgl_planlog_entries() shows it.  pgl_planlog.message_level can
 * also send each plan to the client or the server log.
 *
 * What to look at:
 *
 *	- hook chaining: _PG_init saves whatever was in each hook variable
 *	  (another extension, e.g. pg_stat_statements, may have been there first)
 *	  and each of our hooks calls that saved function, or the standard_*
 *	  function when there was none.  Forgetting this silently disables the
 *	  other extension;
 *	- nesting: a query run by a function inside another query also goes
 *	  through the executor.  Like pg_stat_statements we count how deep we are
 *	  in planner/ExecutorRun/ExecutorFinish, and record only at depth 0.  The
 *	  counter is decremented in PG_FINALLY so that an error cannot leave it
 *	  wrong for the rest of the session;
 *	- hook signatures change between releases (ExecutorRun lost its
 *	  execute_once argument in 18, planner gained an ExplainState in 19): one
 *	  #if per signature.
 *
 * extensions/pgl_planlog/pgl_planlog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/parallel.h"
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_state.h"
#endif
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "pgl_planlog",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

/* How many plans the ring buffer keeps. */
#define PLANLOG_SIZE 16

typedef struct PlanlogEntry
{
	int64		seq;			/* 1 for the first plan recorded, 2, ... */
	TimestampTz logged_at;
	char	   *query;			/* the statement's text */
	char	   *top_node;		/* first line of the plan */
	double		plan_rows;		/* planner's row estimate for the top node */
	double		total_cost;		/* and its total cost */
	char	   *plan;			/* EXPLAIN (COSTS OFF) text */
} PlanlogEntry;

/* Backend-local state: each session has its own buffer. */
static PlanlogEntry ring[PLANLOG_SIZE];
static int64 recorded = 0;		/* plans recorded so far */
static MemoryContext planlog_context = NULL;

/* Depth of planner/executor calls; 0 means top level. */
static int	nesting_level = 0;

/* GUC variables */
static bool pgl_planlog_enabled = false;
static int	pgl_planlog_message_level = -1; /* -1: don't emit */

static const struct config_enum_entry message_level_options[] = {
	{"off", -1, false},
	{"debug1", DEBUG1, false},
	{"log", LOG, false},
	{"notice", NOTICE, false},
	{NULL, 0, false}
};

/* The hooks that were installed before ours. */
static planner_hook_type prev_planner_hook = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

void		_PG_init(void);

#if PG_VERSION_NUM >= 190000
static PlannedStmt *pgl_planlog_planner(Query *parse, const char *query_string,
										int cursorOptions,
										ParamListInfo boundParams,
										ExplainState *es);
#else
static PlannedStmt *pgl_planlog_planner(Query *parse, const char *query_string,
										int cursorOptions,
										ParamListInfo boundParams);
#endif
#if PG_VERSION_NUM >= 180000
static void pgl_planlog_ExecutorRun(QueryDesc *queryDesc,
									ScanDirection direction, uint64 count);
#else
static void pgl_planlog_ExecutorRun(QueryDesc *queryDesc,
									ScanDirection direction, uint64 count,
									bool execute_once);
#endif
static void pgl_planlog_ExecutorFinish(QueryDesc *queryDesc);
static void pgl_planlog_ExecutorEnd(QueryDesc *queryDesc);
static void record_plan(QueryDesc *queryDesc);
static char *statement_text(QueryDesc *queryDesc);
static void free_entry(PlanlogEntry *entry);


/*
 * Module load: define the settings and install the hooks.  This runs once
 * per process, at LOAD, at the first call of one of our SQL functions, or at
 * startup with session_preload_libraries / shared_preload_libraries.
 */
void
_PG_init(void)
{
	DefineCustomBoolVariable("pgl_planlog.enabled",
							 "Record the plan of each top-level query.",
							 NULL,
							 &pgl_planlog_enabled,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("pgl_planlog.message_level",
							 "Also emit each recorded plan at this message level.",
							 "off, debug1, log or notice.",
							 &pgl_planlog_message_level,
							 -1,
							 message_level_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pgl_planlog");
#else
	EmitWarningsOnPlaceholders("pgl_planlog");
#endif

	planlog_context = AllocSetContextCreate(TopMemoryContext,
											"pgl_planlog entries",
											ALLOCSET_SMALL_SIZES);

	/* Chain: remember the previous hook, then put ours in its place. */
	prev_planner_hook = planner_hook;
	planner_hook = pgl_planlog_planner;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = pgl_planlog_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = pgl_planlog_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = pgl_planlog_ExecutorEnd;
}

/*
 * planner_hook: we only keep count of the depth.  Planning can run queries
 * (a function evaluated while simplifying constants may use SPI) and those
 * must not count as top level.
 */
#if PG_VERSION_NUM >= 190000
static PlannedStmt *
pgl_planlog_planner(Query *parse, const char *query_string, int cursorOptions,
					ParamListInfo boundParams, ExplainState *es)
#else
static PlannedStmt *
pgl_planlog_planner(Query *parse, const char *query_string, int cursorOptions,
					ParamListInfo boundParams)
#endif
{
	PlannedStmt *result;

	nesting_level++;
	PG_TRY();
	{
#if PG_VERSION_NUM >= 190000
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions,
									   boundParams, es);
		else
			result = standard_planner(parse, query_string, cursorOptions,
									  boundParams, es);
#else
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions,
									   boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions,
									  boundParams);
#endif
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();

	return result;
}

/* ExecutorRun_hook: functions called by the query run at depth 1. */
#if PG_VERSION_NUM >= 180000
static void
pgl_planlog_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
						uint64 count)
#else
static void
pgl_planlog_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
						uint64 count, bool execute_once)
#endif
{
	nesting_level++;
	PG_TRY();
	{
#if PG_VERSION_NUM >= 180000
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count);
		else
			standard_ExecutorRun(queryDesc, direction, count);
#else
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
#endif
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

/* ExecutorFinish_hook: AFTER triggers run here, also at depth 1. */
static void
pgl_planlog_ExecutorFinish(QueryDesc *queryDesc)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

/*
 * ExecutorEnd_hook: the query is done but its plan state still exists, so
 * this is where EXPLAIN can print it.  Record first, then let the next hook
 * (or standard_ExecutorEnd) free everything.
 */
static void
pgl_planlog_ExecutorEnd(QueryDesc *queryDesc)
{
	/*
	 * Parallel workers run their part of the plan through these hooks too;
	 * only the leader records.  Plain EXPLAIN already shows the plan.
	 */
	if (pgl_planlog_enabled && nesting_level == 0 && !IsParallelWorker() &&
		(queryDesc->estate->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		record_plan(queryDesc);

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/*
 * The text of just this statement: a query string sent by a client may hold
 * several statements, and the PlannedStmt knows where its own one is.
 */
static char *
statement_text(QueryDesc *queryDesc)
{
	const char *src = queryDesc->sourceText;
	int			location = queryDesc->plannedstmt->stmt_location;
	int			len = queryDesc->plannedstmt->stmt_len;

	if (src == NULL)
		return pstrdup("");
	if (location < 0)
	{
		/* position unknown: use the whole string */
		location = 0;
		len = 0;
	}
	if (location < (int) strlen(src))
		src += location;
	if (len <= 0)
		len = strlen(src);

	/* Trim white space on both ends. */
	while (len > 0 && isspace((unsigned char) *src))
	{
		src++;
		len--;
	}
	while (len > 0 && isspace((unsigned char) src[len - 1]))
		len--;

	return pnstrdup(src, len);
}

static void
free_entry(PlanlogEntry *entry)
{
	if (entry->query)
		pfree(entry->query);
	if (entry->top_node)
		pfree(entry->top_node);
	if (entry->plan)
		pfree(entry->plan);
	memset(entry, 0, sizeof(PlanlogEntry));
}

/* Print the plan as EXPLAIN would and store it in the ring buffer. */
static void
record_plan(QueryDesc *queryDesc)
{
	Plan	   *top = queryDesc->plannedstmt->planTree;
	PlanlogEntry *entry = &ring[recorded % PLANLOG_SIZE];
	MemoryContext oldcxt;
	ExplainState *es;
	char	   *newline;

	/* Scratch work in the query's memory, freed with it. */
	oldcxt = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);

	es = NewExplainState();
	es->format = EXPLAIN_FORMAT_TEXT;
	/* Costs go in their own columns; keep the text stable. */
	es->costs = false;
	ExplainPrintPlan(es, queryDesc);

	/* EXPLAIN text ends with a newline: drop it. */
	if (es->str->len > 0 && es->str->data[es->str->len - 1] == '\n')
		es->str->data[--es->str->len] = '\0';

	/* Entries must outlive the query: copy them into our own context. */
	MemoryContextSwitchTo(planlog_context);
	free_entry(entry);
	entry->seq = ++recorded;
	entry->logged_at = GetCurrentTimestamp();
	entry->query = statement_text(queryDesc);
	entry->plan = pstrdup(es->str->data);
	newline = strchr(entry->plan, '\n');
	entry->top_node = newline ? pnstrdup(entry->plan, newline - entry->plan)
		: pstrdup(entry->plan);
	entry->plan_rows = top->plan_rows;
	entry->total_cost = top->total_cost;

	MemoryContextSwitchTo(oldcxt);

	if (pgl_planlog_message_level >= 0)
		ereport(pgl_planlog_message_level,
				(errmsg("pgl_planlog: plan of \"%s\":\n%s",
						entry->query, entry->plan),
				 errhidestmt(true)));
}

/*
 * pgl_planlog_entries() RETURNS TABLE (...): the ring buffer, oldest first.
 * A materialize-mode SRF, as in pgl_funcs.
 */
PG_FUNCTION_INFO_V1(pgl_planlog_entries);
Datum
pgl_planlog_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		first = Max(recorded - PLANLOG_SIZE, 0);

#if PG_VERSION_NUM >= 150000
	InitMaterializedSRF(fcinfo, 0);
#else
	{
		TupleDesc	tupdesc;
		MemoryContext oldcontext;

		if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
			!(rsinfo->allowedModes & SFRM_Materialize))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("materialize mode required, but it is not allowed in this context")));
		oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		rsinfo->returnMode = SFRM_Materialize;
		rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
		rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
		MemoryContextSwitchTo(oldcontext);
	}
#endif

	for (int64 i = first; i < recorded; i++)
	{
		PlanlogEntry *entry = &ring[i % PLANLOG_SIZE];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = Int64GetDatum(entry->seq);
		values[1] = TimestampTzGetDatum(entry->logged_at);
		values[2] = CStringGetTextDatum(entry->query);
		values[3] = CStringGetTextDatum(entry->top_node);
		values[4] = Float8GetDatum(entry->plan_rows);
		values[5] = Float8GetDatum(entry->total_cost);
		values[6] = CStringGetTextDatum(entry->plan);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	return (Datum) 0;
}

/* pgl_planlog_reset() RETURNS void: forget everything recorded so far. */
PG_FUNCTION_INFO_V1(pgl_planlog_reset);
Datum
pgl_planlog_reset(PG_FUNCTION_ARGS)
{
	for (int i = 0; i < PLANLOG_SIZE; i++)
		free_entry(&ring[i]);
	recorded = 0;
	PG_RETURN_VOID();
}

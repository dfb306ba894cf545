/*-------------------------------------------------------------------------
 *
 * pgl_funcs.c
 *	  C-language SQL functions, one of each kind a learner meets first.
 *
 * Every function here uses the version-1 calling convention: it receives a
 * FunctionCallInfo ("PG_FUNCTION_ARGS") and returns a Datum.  The SQL-level
 * declarations are in pgl_funcs--1.0.sql and pgl_funcs--1.0--1.1.sql; what
 * the SQL declaration says (STRICT or not, RETURNS SETOF, ...) decides what
 * the C code may assume, so read the two side by side.
 *
 *	  pgl_add(int4, int4)		strict scalar, overflow raised with a SQLSTATE
 *	  pgl_greet(text)			NOT strict: looks at PG_ARGISNULL itself
 *	  pgl_reverse(text)			text in, text out, multibyte aware
 *	  pgl_array_sum(int4[])		array argument, NULL elements skipped
 *	  pgl_series(int4, int4, int4)	set-returning, value-per-call protocol
 *	  pgl_split(text, text)		set-returning, materialize mode (version 1.1)
 *
 * extensions/pgl_funcs/pgl_funcs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

/*
 * One magic block per shared library.  It lets the server refuse a library
 * built against another major version instead of crashing on it.  Since
 * PostgreSQL 18 the block can also carry a name and version, which
 * pg_get_loaded_modules() reports.
 */
#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "pgl_funcs",
					.version = "1.1"
);
#else
PG_MODULE_MAGIC;
#endif

/* State kept between the calls of the value-per-call SRF pgl_series(). */
typedef struct SeriesState
{
	int64		current;		/* int64, so "current + step" cannot overflow */
	int64		stop;
	int64		step;
} SeriesState;

static void init_materialized_srf(FunctionCallInfo fcinfo);


/*
 * pgl_add(a int4, b int4) RETURNS int4, declared STRICT.
 *
 * Because the function is STRICT, the executor never calls it with a NULL
 * argument: it returns NULL itself.  So we can read both arguments without
 * checking PG_ARGISNULL.
 */
PG_FUNCTION_INFO_V1(pgl_add);
Datum
pgl_add(PG_FUNCTION_ARGS)
{
	int32		a = PG_GETARG_INT32(0);
	int32		b = PG_GETARG_INT32(1);
	int32		result;

	/*
	 * Signed overflow is undefined behaviour in C; the helpers from
	 * common/int.h detect it without relying on it.  The SQLSTATE is the one
	 * the built-in int4pl raises (22003), so clients can treat both alike.
	 */
	if (pg_add_s32_overflow(a, b, &result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("integer out of range"),
				 errdetail("%d + %d does not fit in an integer.", a, b)));

	PG_RETURN_INT32(result);
}

/*
 * pgl_greet(name text) RETURNS text, declared NOT strict (CALLED ON NULL
 * INPUT).
 *
 * A non-strict function is called even when arguments are NULL, and must
 * test PG_ARGISNULL before touching PG_GETARG_*: the Datum of a NULL
 * argument is garbage (often 0), and detoasting it would crash.
 */
PG_FUNCTION_INFO_V1(pgl_greet);
Datum
pgl_greet(PG_FUNCTION_ARGS)
{
	char	   *name;

	if (PG_ARGISNULL(0))
		name = "stranger";
	else
		name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("Hello, %s!", name)));
}

/*
 * pgl_reverse(t text) RETURNS text, STRICT.
 *
 * A text value is a varlena: a length header followed by bytes in the
 * database encoding, with no terminating NUL.  PG_GETARG_TEXT_PP may return
 * a "packed" value with a 1-byte header, so read it with VARDATA_ANY and
 * VARSIZE_ANY_EXHDR.  Reversing byte by byte would break multibyte
 * characters, so we step over whole characters.
 */
PG_FUNCTION_INFO_V1(pgl_reverse);
Datum
pgl_reverse(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *src = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	const char *end = src + len;
	text	   *result;
	char	   *dst;

	result = (text *) palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	dst = VARDATA(result) + len;

	while (src < end)
	{
		int			charlen;

		/*
		 * Newer releases offer bounds-checked variants of pg_mblen(); older
		 * ones only have pg_mblen(), which trusts the string to be valid
		 * (stored text always is: it was verified on input).
		 */
#if PG_VERSION_NUM >= 190000
		charlen = pg_mblen_range(src, end);
#else
		charlen = pg_mblen(src);
#endif
		dst -= charlen;
		memcpy(dst, src, charlen);
		src += charlen;
	}

	PG_RETURN_TEXT_P(result);
}

/*
 * pgl_array_sum(a int4[]) RETURNS int8, STRICT.
 *
 * STRICT only protects us against a NULL array, not against NULL elements
 * inside it; deconstruct_array reports those in a separate bool array.  We
 * skip them, as the aggregate sum() skips NULL rows.
 */
PG_FUNCTION_INFO_V1(pgl_array_sum);
Datum
pgl_array_sum(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int64		sum = 0;

	/* The SQL signature already guarantees int4[]; this is a cheap guard. */
	if (ARR_ELEMTYPE(arr) != INT4OID)
		elog(ERROR, "pgl_array_sum expects an int4[] argument");

	/* int4: 4 bytes, passed by value, 'i' (int) alignment. */
	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &nelems);

	for (int i = 0; i < nelems; i++)
	{
		if (!nulls[i])
			sum += DatumGetInt32(elems[i]);
	}

	PG_RETURN_INT64(sum);
}

/*
 * pgl_series(start int4, stop int4, step int4 DEFAULT 1) RETURNS SETOF int4.
 *
 * The value-per-call protocol: the executor calls us once per row.  State
 * that must survive between calls lives in funcctx->multi_call_memory_ctx;
 * anything palloc'd in the current context is freed after each call.
 */
PG_FUNCTION_INFO_V1(pgl_series);
Datum
pgl_series(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	SeriesState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		int32		step = PG_GETARG_INT32(2);

		/* Validate before SRF_FIRSTCALL_INIT, so nothing is half set up. */
		if (step == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("step size cannot be zero")));

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);

		state = (SeriesState *) palloc(sizeof(SeriesState));
		state->current = PG_GETARG_INT32(0);
		state->stop = PG_GETARG_INT32(1);
		state->step = step;
		funcctx->user_fctx = state;

		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (SeriesState *) funcctx->user_fctx;

	if ((state->step > 0 && state->current <= state->stop) ||
		(state->step < 0 && state->current >= state->stop))
	{
		int32		value = (int32) state->current;

		state->current += state->step;
		SRF_RETURN_NEXT(funcctx, Int32GetDatum(value));
	}

	SRF_RETURN_DONE(funcctx);
}

/*
 * Set up a tuplestore for a materialize-mode SRF.  PostgreSQL 15 added
 * InitMaterializedSRF() for exactly this; before that every module carried
 * its own copy of these lines.
 */
static void
init_materialized_srf(FunctionCallInfo fcinfo)
{
#if PG_VERSION_NUM >= 150000
	InitMaterializedSRF(fcinfo, 0);
#else
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext oldcontext;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));

	/* The tuplestore must outlive this call: use the per-query context. */
	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);

	MemoryContextSwitchTo(oldcontext);
#endif
}

/*
 * pgl_split(t text, delimiter text) RETURNS TABLE (n int4, part text), STRICT.
 * Added in version 1.1 of the extension.
 *
 * Materialize mode: we produce every row in one call, into a tuplestore the
 * executor reads afterwards.  Simpler than value-per-call when the rows come
 * out of a loop, and the only choice when the loop holds resources.
 */
PG_FUNCTION_INFO_V1(pgl_split);
Datum
pgl_split(PG_FUNCTION_ARGS)
{
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *delim = text_to_cstring(PG_GETARG_TEXT_PP(1));
	size_t		delimlen = strlen(delim);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *start = str;
	int32		n = 0;

	if (delimlen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delimiter must not be empty")));

	init_materialized_srf(fcinfo);

	/*
	 * strstr() on the raw bytes is safe for UTF-8 (no character's bytes can
	 * match in the middle of another) but not for every server encoding.
	 */
	for (;;)
	{
		char	   *hit = strstr(start, delim);
		Datum		values[2];
		bool		nulls[2] = {false, false};
		int			partlen = hit ? (int) (hit - start) : (int) strlen(start);

		values[0] = Int32GetDatum(++n);
		values[1] = PointerGetDatum(cstring_to_text_with_len(start, partlen));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

		if (hit == NULL)
			break;
		start = hit + delimlen;
	}

	/* In materialize mode the Datum result is ignored. */
	return (Datum) 0;
}

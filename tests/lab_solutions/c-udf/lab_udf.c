/*-------------------------------------------------------------------------
 *
 * lab_udf.c
 *	  C-language functions for the lab_udf extension.
 *
 * Start here: each SQL function declared in lab_udf--1.0.sql is one C
 * function below, using the version-1 calling convention.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "lab_udf",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

/*
 * lab_udf_add(a int4, b int4) RETURNS int4, declared STRICT: never called
 * with a NULL argument.
 */
PG_FUNCTION_INFO_V1(lab_udf_add);
Datum
lab_udf_add(PG_FUNCTION_ARGS)
{
	int32		a = PG_GETARG_INT32(0);
	int32		b = PG_GETARG_INT32(1);
	int32		result;

	if (pg_add_s32_overflow(a, b, &result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("integer out of range")));

	PG_RETURN_INT32(result);
}

/*
 * lab_udf_hello(name text) RETURNS text, NOT strict: checks for NULL itself.
 */
PG_FUNCTION_INFO_V1(lab_udf_hello);
Datum
lab_udf_hello(PG_FUNCTION_ARGS)
{
	const char *name = "world";

	if (!PG_ARGISNULL(0))
		name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(psprintf("Hello, %s!", name)));
}


/*
 * lab_udf_clamp(v int4, lo int4, hi int4) RETURNS int4: v limited to [lo, hi].
 */
PG_FUNCTION_INFO_V1(lab_udf_clamp);
Datum
lab_udf_clamp(PG_FUNCTION_ARGS)
{
	int32		v = PG_GETARG_INT32(0);
	int32		lo = PG_GETARG_INT32(1);
	int32		hi = PG_GETARG_INT32(2);

	PG_RETURN_INT32(v < lo ? lo : (v > hi ? hi : v));
}

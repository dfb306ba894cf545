
/*
 * TODO(lab c-udf): lab_udf_clamp(v int4, lo int4, hi int4) RETURNS int4,
 * v limited to [lo, hi]: lo when v < lo, hi when v > hi, else v.
 *
 * Write it as lab_udf_add above is written: PG_FUNCTION_INFO_V1(lab_udf_clamp)
 * right above a function `Datum lab_udf_clamp(PG_FUNCTION_ARGS)`, the
 * arguments read with PG_GETARG_INT32(0), (1) and (2), the result returned
 * with PG_RETURN_INT32 (both are macros in fmgr.h, under src/include).
 * Then uncomment its SQL declaration at the end of lab_udf--1.0.sql.
 *
 * How PostgreSQL gets here, in the source you built:
 *   {{load_external_function}}
 *     finds your symbol when CREATE FUNCTION ... LANGUAGE C runs;
 *   {{fmgr_info}}
 *     fills the FmgrInfo a query keeps for each function it calls;
 *   {{ExecInterpExpr}}
 *     calls through it, as {{FunctionCall2Coll}} does.
 * A STRICT function is never called with a NULL argument: the executor
 * answers NULL itself.
 */

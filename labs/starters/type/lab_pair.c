
/*
 * TODO(lab type): lab_pair_add(lab_pair, lab_pair) RETURNS lab_pair, the
 * function behind the operator +: (a1,b1) + (a2,b2) is (a1+a2,b1+b2).
 *
 * Write it as lab_pair_in above is written: PG_FUNCTION_INFO_V1(lab_pair_add)
 * right above it, both arguments read with PG_GETARG_PAIR_P (defined at the
 * top of this file over fmgr.h's PG_GETARG_POINTER), a new Pair palloc'd for
 * the result (never change an argument in place: it may sit in a shared
 * buffer), returned with PG_RETURN_POINTER.  A member that overflows int32
 * raises "integer out of range" (ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), as
 * int4 + int4 does: read how int4pl adds.  Then uncomment the function and
 * the operator at the end of lab_pair--1.0.sql.
 *
 * How PostgreSQL gets here, in the source you built:
 *   {{DefineOperator}}
 *     runs CREATE OPERATOR: it records the operator and its function;
 *   {{int4pl}}
 *     is int4 + int4;
 *   {{DefineOpClass}}
 *     ties the comparison operators above to the B-tree;
 *   {{_bt_compare}}
 *     calls lab_pair_cmp when an index on the type is searched.
 */

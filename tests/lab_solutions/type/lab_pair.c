/*-------------------------------------------------------------------------
 *
 * lab_pair.c
 *	  The base type lab_pair: a pair of integers "(a,b)", ordered by a, then b.
 *
 * Start here: replace the struct and the text format with your own, keep
 * the shape.  All comparison operators go through lab_pair_cmp_internal, so
 * the btree operator class cannot disagree with itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "libpq/pqformat.h"

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "lab_pair",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

/* Must match the SQL declaration: INTERNALLENGTH = 8, ALIGNMENT = int4. */
typedef struct Pair
{
	int32		a;
	int32		b;
} Pair;

#define PG_GETARG_PAIR_P(n) ((Pair *) PG_GETARG_POINTER(n))

static int	lab_pair_cmp_internal(const Pair *x, const Pair *y);


static int
lab_pair_cmp_internal(const Pair *x, const Pair *y)
{
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return 0;
}

/* Text input: "(a,b)". */
PG_FUNCTION_INFO_V1(lab_pair_in);
Datum
lab_pair_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Pair	   *result = (Pair *) palloc(sizeof(Pair));
	int			consumed = 0;

	if (sscanf(str, " ( %d , %d ) %n", &result->a, &result->b, &consumed) != 2 ||
		str[consumed] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"",
						"lab_pair", str)));

	PG_RETURN_POINTER(result);
}

/* Text output: the input function must be able to read it back. */
PG_FUNCTION_INFO_V1(lab_pair_out);
Datum
lab_pair_out(PG_FUNCTION_ARGS)
{
	Pair	   *p = PG_GETARG_PAIR_P(0);

	PG_RETURN_CSTRING(psprintf("(%d,%d)", p->a, p->b));
}

/* Binary input: two network-order int4. */
PG_FUNCTION_INFO_V1(lab_pair_recv);
Datum
lab_pair_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	Pair	   *result = (Pair *) palloc(sizeof(Pair));

	result->a = (int32) pq_getmsgint(buf, sizeof(int32));
	result->b = (int32) pq_getmsgint(buf, sizeof(int32));
	PG_RETURN_POINTER(result);
}

/* Binary output. */
PG_FUNCTION_INFO_V1(lab_pair_send);
Datum
lab_pair_send(PG_FUNCTION_ARGS)
{
	Pair	   *p = PG_GETARG_PAIR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, (uint32) p->a);
	pq_sendint32(&buf, (uint32) p->b);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(lab_pair_lt);
Datum
lab_pair_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lab_pair_cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) < 0);
}

PG_FUNCTION_INFO_V1(lab_pair_le);
Datum
lab_pair_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lab_pair_cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) <= 0);
}

PG_FUNCTION_INFO_V1(lab_pair_eq);
Datum
lab_pair_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lab_pair_cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) == 0);
}

PG_FUNCTION_INFO_V1(lab_pair_ge);
Datum
lab_pair_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lab_pair_cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) >= 0);
}

PG_FUNCTION_INFO_V1(lab_pair_gt);
Datum
lab_pair_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lab_pair_cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) > 0);
}

/* btree support function 1 */
PG_FUNCTION_INFO_V1(lab_pair_cmp);
Datum
lab_pair_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(lab_pair_cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)));
}


/* lab_pair_add: the operator +, member by member */
PG_FUNCTION_INFO_V1(lab_pair_add);
Datum
lab_pair_add(PG_FUNCTION_ARGS)
{
	Pair	   *x = PG_GETARG_PAIR_P(0);
	Pair	   *y = PG_GETARG_PAIR_P(1);
	Pair	   *result = (Pair *) palloc(sizeof(Pair));

	if (pg_add_s32_overflow(x->a, y->a, &result->a) ||
		pg_add_s32_overflow(x->b, y->b, &result->b))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("integer out of range")));
	PG_RETURN_POINTER(result);
}

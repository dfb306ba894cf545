/*-------------------------------------------------------------------------
 *
 * __EXT__.c
 *	  The base type __EXT__: a pair of integers "(a,b)", ordered by a, then b.
 *
 * Start here: replace the struct and the text format with your own, keep
 * the shape.  All comparison operators go through __EXT___cmp_internal, so
 * the btree operator class cannot disagree with itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "__EXT__",
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

static int	__EXT___cmp_internal(const Pair *x, const Pair *y);


static int
__EXT___cmp_internal(const Pair *x, const Pair *y)
{
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return 0;
}

/* Text input: "(a,b)". */
PG_FUNCTION_INFO_V1(__EXT___in);
Datum
__EXT___in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Pair	   *result = (Pair *) palloc(sizeof(Pair));
	int			consumed = 0;

	if (sscanf(str, " ( %d , %d ) %n", &result->a, &result->b, &consumed) != 2 ||
		str[consumed] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"",
						"__EXT__", str)));

	PG_RETURN_POINTER(result);
}

/* Text output: the input function must be able to read it back. */
PG_FUNCTION_INFO_V1(__EXT___out);
Datum
__EXT___out(PG_FUNCTION_ARGS)
{
	Pair	   *p = PG_GETARG_PAIR_P(0);

	PG_RETURN_CSTRING(psprintf("(%d,%d)", p->a, p->b));
}

/* Binary input: two network-order int4. */
PG_FUNCTION_INFO_V1(__EXT___recv);
Datum
__EXT___recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	Pair	   *result = (Pair *) palloc(sizeof(Pair));

	result->a = (int32) pq_getmsgint(buf, sizeof(int32));
	result->b = (int32) pq_getmsgint(buf, sizeof(int32));
	PG_RETURN_POINTER(result);
}

/* Binary output. */
PG_FUNCTION_INFO_V1(__EXT___send);
Datum
__EXT___send(PG_FUNCTION_ARGS)
{
	Pair	   *p = PG_GETARG_PAIR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, (uint32) p->a);
	pq_sendint32(&buf, (uint32) p->b);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(__EXT___lt);
Datum
__EXT___lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(__EXT___cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) < 0);
}

PG_FUNCTION_INFO_V1(__EXT___le);
Datum
__EXT___le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(__EXT___cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) <= 0);
}

PG_FUNCTION_INFO_V1(__EXT___eq);
Datum
__EXT___eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(__EXT___cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) == 0);
}

PG_FUNCTION_INFO_V1(__EXT___ge);
Datum
__EXT___ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(__EXT___cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) >= 0);
}

PG_FUNCTION_INFO_V1(__EXT___gt);
Datum
__EXT___gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(__EXT___cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)) > 0);
}

/* btree support function 1 */
PG_FUNCTION_INFO_V1(__EXT___cmp);
Datum
__EXT___cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(__EXT___cmp_internal(PG_GETARG_PAIR_P(0), PG_GETARG_PAIR_P(1)));
}

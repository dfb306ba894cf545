/*-------------------------------------------------------------------------
 *
 * pgl_rational.c
 *	  A fixed-length base type "rational": a fraction num/den of two int4.
 *
 * What a base type needs, and what this file shows:
 *
 *	- a C struct, and text input/output functions (rational_in/out);
 *	- binary receive/send functions, used by COPY ... (FORMAT binary) and by
 *	  clients that ask for binary results (rational_recv/send);
 *	- comparison operators, all computed by ONE function, rational_cmp_internal,
 *	  exactly as src/tutorial/complex.c does: if "<" and "=" were written
 *	  separately they could disagree, and a btree index built with them would
 *	  silently return wrong answers;
 *	- a hash function that agrees with "=": values that compare equal must
 *	  hash equal.  We get that for free by storing every value in one
 *	  canonical form (lowest terms, positive denominator), so equal values are
 *	  equal bit patterns.
 *
 * extensions/pgl_rational/pgl_rational.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "pgl_rational",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

/*
 * The on-disk and in-memory representation.  The SQL declaration of the
 * type must match it: INTERNALLENGTH = 8, ALIGNMENT = int4.
 *
 * Invariant: den > 0 and gcd(|num|, den) = 1; zero is 0/1.
 */
typedef struct Rational
{
	int32		num;
	int32		den;
} Rational;

#define DatumGetRationalP(X)	((Rational *) DatumGetPointer(X))
#define RationalPGetDatum(X)	PointerGetDatum(X)
#define PG_GETARG_RATIONAL_P(n) DatumGetRationalP(PG_GETARG_DATUM(n))
#define PG_RETURN_RATIONAL_P(x) return RationalPGetDatum(x)

/*
 * Since PostgreSQL 16 an input function can report a bad value "softly"
 * (ereturn) when the caller asks, e.g. pg_input_is_valid(); before that it
 * could only throw.  This macro picks what the server offers.
 */
#if PG_VERSION_NUM >= 160000
#define rational_input_error(fcinfo, ...) \
	ereturn((fcinfo)->context, (Datum) 0, __VA_ARGS__)
#else
#define rational_input_error(fcinfo, ...) \
	do { ereport(ERROR, __VA_ARGS__); return (Datum) 0; } while (0)
#endif

static int64 gcd64(int64 a, int64 b);
static bool rational_canonical(int64 num, int64 den, Rational *result);
static int	rational_cmp_internal(const Rational *a, const Rational *b);


/* Greatest common divisor of two non-negative numbers. */
static int64
gcd64(int64 a, int64 b)
{
	while (b != 0)
	{
		int64		t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * Bring num/den (den != 0) into canonical form.  Returns false if the result
 * does not fit in two int4.  The arguments are int64 so that reducing, say,
 * 4294967296/2 is possible before we decide whether it fits.
 */
static bool
rational_canonical(int64 num, int64 den, Rational *result)
{
	int64		g;

	Assert(den != 0);

	/* Negating PG_INT64_MIN would overflow: such a value can never fit. */
	if (num == PG_INT64_MIN || den == PG_INT64_MIN)
		return false;

	if (den < 0)
	{
		num = -num;
		den = -den;
	}

	g = gcd64(num < 0 ? -num : num, den);
	num /= g;
	den /= g;

	if (num < PG_INT32_MIN || num > PG_INT32_MAX || den > PG_INT32_MAX)
		return false;

	result->num = (int32) num;
	result->den = (int32) den;
	return true;
}

/*
 * The one comparison function every operator and both operator classes rely
 * on.  With positive denominators, a/b < c/d exactly when a*d < c*b, and the
 * products of two int4 cannot overflow an int64.
 */
static int
rational_cmp_internal(const Rational *a, const Rational *b)
{
	int64		left = (int64) a->num * b->den;
	int64		right = (int64) b->num * a->den;

	if (left < right)
		return -1;
	if (left > right)
		return 1;
	return 0;
}


/*****************************************************************************
 * Input/Output functions
 *****************************************************************************/

/*
 * Text input: "n/d" or "n", with optional spaces around the parts.
 */
PG_FUNCTION_INFO_V1(rational_in);
Datum
rational_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	char	   *p = str;
	char	   *endp;
	int64		num;
	int64		den = 1;
	Rational   *result;

	errno = 0;
	num = strtoll(p, &endp, 10);
	if (endp == p)
		goto syntax_error;
	if (errno == ERANGE)
		goto range_error;
	p = endp;
	while (isspace((unsigned char) *p))
		p++;

	if (*p == '/')
	{
		p++;
		errno = 0;
		den = strtoll(p, &endp, 10);
		if (endp == p)
			goto syntax_error;
		if (errno == ERANGE)
			goto range_error;
		p = endp;
		while (isspace((unsigned char) *p))
			p++;
	}
	if (*p != '\0')
		goto syntax_error;

	if (den == 0)
		rational_input_error(fcinfo,
							 (errcode(ERRCODE_DIVISION_BY_ZERO),
							  errmsg("denominator of rational \"%s\" is zero", str)));

	result = (Rational *) palloc(sizeof(Rational));
	if (!rational_canonical(num, den, result))
		goto range_error;

	PG_RETURN_RATIONAL_P(result);

syntax_error:
	rational_input_error(fcinfo,
						 (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						  errmsg("invalid input syntax for type %s: \"%s\"",
								 "rational", str)));
range_error:
	rational_input_error(fcinfo,
						 (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						  errmsg("value \"%s\" is out of range for type %s",
								 str, "rational")));
}

/*
 * Text output: always "num/den", in lowest terms.  Output must be a string
 * the input function reads back to the same value.
 */
PG_FUNCTION_INFO_V1(rational_out);
Datum
rational_out(PG_FUNCTION_ARGS)
{
	Rational   *r = PG_GETARG_RATIONAL_P(0);

	PG_RETURN_CSTRING(psprintf("%d/%d", r->num, r->den));
}

/*
 * Binary input.  The bytes come from a client or a COPY file, so they are
 * untrusted: check them as carefully as text input, and store only the
 * canonical form (hashing relies on it).
 */
PG_FUNCTION_INFO_V1(rational_recv);
Datum
rational_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		num = (int32) pq_getmsgint(buf, sizeof(int32));
	int32		den = (int32) pq_getmsgint(buf, sizeof(int32));
	Rational   *result;

	if (den == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external \"rational\" value"),
				 errdetail("The denominator is zero.")));

	result = (Rational *) palloc(sizeof(Rational));
	if (!rational_canonical(num, den, result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("rational value out of range")));

	PG_RETURN_RATIONAL_P(result);
}

/*
 * Binary output: two 4-byte integers in network byte order, numerator
 * first.  This is the wire format; never change it once released.
 */
PG_FUNCTION_INFO_V1(rational_send);
Datum
rational_send(PG_FUNCTION_ARGS)
{
	Rational   *r = PG_GETARG_RATIONAL_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, (uint32) r->num);
	pq_sendint32(&buf, (uint32) r->den);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}


/*****************************************************************************
 * Operator functions: thin wrappers over rational_cmp_internal
 *****************************************************************************/

PG_FUNCTION_INFO_V1(rational_lt);
Datum
rational_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(rational_cmp_internal(PG_GETARG_RATIONAL_P(0),
										 PG_GETARG_RATIONAL_P(1)) < 0);
}

PG_FUNCTION_INFO_V1(rational_le);
Datum
rational_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(rational_cmp_internal(PG_GETARG_RATIONAL_P(0),
										 PG_GETARG_RATIONAL_P(1)) <= 0);
}

PG_FUNCTION_INFO_V1(rational_eq);
Datum
rational_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(rational_cmp_internal(PG_GETARG_RATIONAL_P(0),
										 PG_GETARG_RATIONAL_P(1)) == 0);
}

PG_FUNCTION_INFO_V1(rational_ne);
Datum
rational_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(rational_cmp_internal(PG_GETARG_RATIONAL_P(0),
										 PG_GETARG_RATIONAL_P(1)) != 0);
}

PG_FUNCTION_INFO_V1(rational_ge);
Datum
rational_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(rational_cmp_internal(PG_GETARG_RATIONAL_P(0),
										 PG_GETARG_RATIONAL_P(1)) >= 0);
}

PG_FUNCTION_INFO_V1(rational_gt);
Datum
rational_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(rational_cmp_internal(PG_GETARG_RATIONAL_P(0),
										 PG_GETARG_RATIONAL_P(1)) > 0);
}

/* btree support function 1: returns <0, 0 or >0 as an int4. */
PG_FUNCTION_INFO_V1(rational_cmp);
Datum
rational_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(rational_cmp_internal(PG_GETARG_RATIONAL_P(0),
										  PG_GETARG_RATIONAL_P(1)));
}


/*****************************************************************************
 * Hash support
 *****************************************************************************/

/*
 * hash support function 1.  Hashing the struct's bytes is correct only
 * because equal values have identical bytes (the canonical form) and the
 * struct has no padding.
 */
PG_FUNCTION_INFO_V1(rational_hash);
Datum
rational_hash(PG_FUNCTION_ARGS)
{
	Rational   *r = PG_GETARG_RATIONAL_P(0);

	return hash_any((const unsigned char *) r, sizeof(Rational));
}

/* hash support function 2 (seeded, 64-bit), used e.g. by hash partitioning. */
PG_FUNCTION_INFO_V1(rational_hash_extended);
Datum
rational_hash_extended(PG_FUNCTION_ARGS)
{
	Rational   *r = PG_GETARG_RATIONAL_P(0);
	uint64		seed = (uint64) PG_GETARG_INT64(1);

	return hash_any_extended((const unsigned char *) r, sizeof(Rational), seed);
}

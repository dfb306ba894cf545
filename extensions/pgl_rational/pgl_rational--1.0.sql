/* extensions/pgl_rational/pgl_rational--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgl_rational" to load this file. \quit

--
-- The type.  Its I/O functions take or return the type itself, so we first
-- create a "shell" type, then the functions, then the real type.
--
CREATE TYPE rational;

CREATE FUNCTION rational_in(cstring)
RETURNS rational
AS 'MODULE_PATHNAME', 'rational_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION rational_out(rational)
RETURNS cstring
AS 'MODULE_PATHNAME', 'rational_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION rational_recv(internal)
RETURNS rational
AS 'MODULE_PATHNAME', 'rational_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION rational_send(rational)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rational_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- INTERNALLENGTH and ALIGNMENT must match struct Rational in the C code.
CREATE TYPE rational (
	INTERNALLENGTH = 8,
	INPUT = rational_in,
	OUTPUT = rational_out,
	RECEIVE = rational_recv,
	SEND = rational_send,
	ALIGNMENT = int4,
	STORAGE = plain
);

COMMENT ON TYPE rational IS 'fraction num/den of two int4, kept in lowest terms';

--
-- Comparison functions and operators.  In C they all call one function.
--
CREATE FUNCTION rational_lt(rational, rational) RETURNS bool
AS 'MODULE_PATHNAME', 'rational_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rational_le(rational, rational) RETURNS bool
AS 'MODULE_PATHNAME', 'rational_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rational_eq(rational, rational) RETURNS bool
AS 'MODULE_PATHNAME', 'rational_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rational_ne(rational, rational) RETURNS bool
AS 'MODULE_PATHNAME', 'rational_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rational_ge(rational, rational) RETURNS bool
AS 'MODULE_PATHNAME', 'rational_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rational_gt(rational, rational) RETURNS bool
AS 'MODULE_PATHNAME', 'rational_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rational_cmp(rational, rational) RETURNS int4
AS 'MODULE_PATHNAME', 'rational_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- COMMUTATOR/NEGATOR and the selectivity estimators let the planner reason
-- about these operators as it does about the built-in ones.
CREATE OPERATOR < (
	LEFTARG = rational, RIGHTARG = rational, PROCEDURE = rational_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = rational, RIGHTARG = rational, PROCEDURE = rational_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
-- HASHES and MERGES allow hash joins and merge joins on "=".
CREATE OPERATOR = (
	LEFTARG = rational, RIGHTARG = rational, PROCEDURE = rational_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = rational, RIGHTARG = rational, PROCEDURE = rational_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = rational, RIGHTARG = rational, PROCEDURE = rational_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
CREATE OPERATOR > (
	LEFTARG = rational, RIGHTARG = rational, PROCEDURE = rational_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

-- The default btree operator class: used by CREATE INDEX, ORDER BY,
-- DISTINCT, merge joins and GROUP BY with sorting.
CREATE OPERATOR CLASS rational_ops
DEFAULT FOR TYPE rational USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 rational_cmp(rational, rational);

--
-- Hashing: the default hash operator class, used by hash indexes, hash joins
-- and hash aggregation.
--
CREATE FUNCTION rational_hash(rational) RETURNS int4
AS 'MODULE_PATHNAME', 'rational_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION rational_hash_extended(rational, int8) RETURNS int8
AS 'MODULE_PATHNAME', 'rational_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS rational_hash_ops
DEFAULT FOR TYPE rational USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 rational_hash(rational),
	FUNCTION 2 rational_hash_extended(rational, int8);

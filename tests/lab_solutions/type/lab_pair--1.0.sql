/* lab_pair--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lab_pair" to load this file. \quit

-- a shell type first: the I/O functions need the type's name
CREATE TYPE lab_pair;

CREATE FUNCTION lab_pair_in(cstring) RETURNS lab_pair
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_out(lab_pair) RETURNS cstring
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_recv(internal) RETURNS lab_pair
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_send(lab_pair) RETURNS bytea
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE lab_pair (
	INTERNALLENGTH = 8,
	INPUT = lab_pair_in,
	OUTPUT = lab_pair_out,
	RECEIVE = lab_pair_recv,
	SEND = lab_pair_send,
	ALIGNMENT = int4
);

CREATE FUNCTION lab_pair_lt(lab_pair, lab_pair) RETURNS bool
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_le(lab_pair, lab_pair) RETURNS bool
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_eq(lab_pair, lab_pair) RETURNS bool
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_ge(lab_pair, lab_pair) RETURNS bool
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_gt(lab_pair, lab_pair) RETURNS bool
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lab_pair_cmp(lab_pair, lab_pair) RETURNS int4
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR < (LEFTARG = lab_pair, RIGHTARG = lab_pair, PROCEDURE = lab_pair_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = lab_pair, RIGHTARG = lab_pair, PROCEDURE = lab_pair_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR = (LEFTARG = lab_pair, RIGHTARG = lab_pair, PROCEDURE = lab_pair_eq,
	COMMUTATOR = =, RESTRICT = eqsel, JOIN = eqjoinsel, MERGES);
CREATE OPERATOR >= (LEFTARG = lab_pair, RIGHTARG = lab_pair, PROCEDURE = lab_pair_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR > (LEFTARG = lab_pair, RIGHTARG = lab_pair, PROCEDURE = lab_pair_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);

CREATE OPERATOR CLASS lab_pair_ops
DEFAULT FOR TYPE lab_pair USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 lab_pair_cmp(lab_pair, lab_pair);


CREATE FUNCTION lab_pair_add(lab_pair, lab_pair) RETURNS lab_pair
AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR + (LEFTARG = lab_pair, RIGHTARG = lab_pair, FUNCTION = lab_pair_add, COMMUTATOR = +);

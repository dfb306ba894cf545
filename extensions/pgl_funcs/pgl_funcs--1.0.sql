/* extensions/pgl_funcs/pgl_funcs--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgl_funcs" to load this file. \quit

-- STRICT: the executor returns NULL for a NULL argument without calling us.
CREATE FUNCTION pgl_add(a int4, b int4)
RETURNS int4
AS 'MODULE_PATHNAME', 'pgl_add'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Not STRICT: the C code sees NULL arguments and decides what they mean.
CREATE FUNCTION pgl_greet(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgl_greet'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION pgl_reverse(t text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgl_reverse'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION pgl_array_sum(a int4[])
RETURNS int8
AS 'MODULE_PATHNAME', 'pgl_array_sum'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- A set-returning function: ROWS tells the planner how many rows to expect.
CREATE FUNCTION pgl_series(start int4, stop int4, step int4 DEFAULT 1)
RETURNS SETOF int4
AS 'MODULE_PATHNAME', 'pgl_series'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 10;

/* lab_udf--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lab_udf" to load this file. \quit

CREATE FUNCTION lab_udf_add(a int4, b int4)
RETURNS int4
AS 'MODULE_PATHNAME', 'lab_udf_add'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lab_udf_hello(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'lab_udf_hello'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;


CREATE FUNCTION lab_udf_clamp(v int4, lo int4, hi int4)
RETURNS int4
AS 'MODULE_PATHNAME', 'lab_udf_clamp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

/* __EXT__--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION __EXT__" to load this file. \quit

CREATE FUNCTION __EXT___add(a int4, b int4)
RETURNS int4
AS 'MODULE_PATHNAME', '__EXT___add'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION __EXT___hello(name text)
RETURNS text
AS 'MODULE_PATHNAME', '__EXT___hello'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

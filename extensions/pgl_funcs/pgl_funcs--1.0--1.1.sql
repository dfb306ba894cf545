/* extensions/pgl_funcs/pgl_funcs--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pgl_funcs UPDATE TO '1.1'" to load this file. \quit

-- Version 1.1 adds pgl_split.  The C function was already in the shared
-- library; an update script only changes what the catalog declares.
CREATE FUNCTION pgl_split(t text, delimiter text)
RETURNS TABLE (n int4, part text)
AS 'MODULE_PATHNAME', 'pgl_split'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 10;

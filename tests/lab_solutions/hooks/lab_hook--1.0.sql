/* lab_hook--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lab_hook" to load this file. \quit

-- The hook is installed when the library is loaded: by LOAD, by
-- session_preload_libraries, or by the first call of these functions.
CREATE FUNCTION lab_hook_queries()
RETURNS int8
AS 'MODULE_PATHNAME', 'lab_hook_count'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION lab_hook_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'lab_hook_reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;


CREATE FUNCTION lab_hook_started()
RETURNS int8
AS 'MODULE_PATHNAME', 'lab_hook_started'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

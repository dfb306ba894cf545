/* __EXT__--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION __EXT__" to load this file. \quit

-- The hook is installed when the library is loaded: by LOAD, by
-- session_preload_libraries, or by the first call of these functions.
CREATE FUNCTION __EXT___queries()
RETURNS int8
AS 'MODULE_PATHNAME', '__EXT___count'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION __EXT___reset()
RETURNS void
AS 'MODULE_PATHNAME', '__EXT___reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

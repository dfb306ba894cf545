/* __EXT__--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION __EXT__" to load this file. \quit

CREATE FUNCTION __EXT___launch()
RETURNS int4
AS 'MODULE_PATHNAME', '__EXT___launch'
LANGUAGE C STRICT PARALLEL UNSAFE;

-- workers run as a superuser: don't let everybody start them
REVOKE ALL ON FUNCTION __EXT___launch() FROM PUBLIC;

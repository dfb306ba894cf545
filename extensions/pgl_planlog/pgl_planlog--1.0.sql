/* extensions/pgl_planlog/pgl_planlog--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgl_planlog" to load this file. \quit

-- The hooks work without these functions (LOAD 'pgl_planlog' is enough);
-- the extension adds a way to read the ring buffer from SQL.
CREATE FUNCTION pgl_planlog_entries(
    OUT seq int8,
    OUT logged_at timestamptz,
    OUT query text,
    OUT top_node text,
    OUT plan_rows float8,
    OUT total_cost float8,
    OUT plan text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgl_planlog_entries'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION pgl_planlog_entries() IS
'plans recorded in this session while pgl_planlog.enabled was on, oldest first';

CREATE FUNCTION pgl_planlog_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'pgl_planlog_reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

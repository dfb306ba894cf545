/* extensions/pgl_worker/pgl_worker--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgl_worker" to load this file. \quit

-- The worker itself needs no SQL objects: it creates pgl_worker.heartbeat in
-- the database it connects to.  The extension only adds a way to start one.
CREATE FUNCTION pgl_worker_launch()
RETURNS int4
AS 'MODULE_PATHNAME', 'pgl_worker_launch'
LANGUAGE C STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION pgl_worker_launch() IS
'start a heartbeat worker in the current database, return its PID';

-- A worker runs as a superuser and uses one of max_worker_processes slots:
-- not something every user should be able to start.
REVOKE ALL ON FUNCTION pgl_worker_launch() FROM PUBLIC;

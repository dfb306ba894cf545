--
-- pgl_planlog: needs the settings of pgl_planlog.conf (pg_stat_statements
-- preloaded, with track_planning on).
--
CREATE EXTENSION pgl_planlog;
-- CREATE EXTENSION has loaded the library already; LOAD is how you would
-- use the hooks without the extension's functions.
LOAD 'pgl_planlog';

CREATE TABLE items AS
SELECT i AS id, i % 10 AS grp FROM generate_series(1, 1000) i;
ANALYZE items;

-- off (the default): nothing is recorded
SHOW pgl_planlog.enabled;
SELECT count(*) FROM items WHERE grp = 1;
SELECT count(*) AS entries FROM pgl_planlog_entries();

-- on: each top-level query's plan is recorded
SET pgl_planlog.enabled = on;
SELECT count(*) FROM items WHERE grp = 3;
SELECT id FROM items WHERE id < 3 ORDER BY id;
SET pgl_planlog.enabled = off;
SELECT seq, query, top_node, plan_rows, total_cost > 0 AS has_cost
FROM pgl_planlog_entries() ORDER BY seq;
SELECT plan FROM pgl_planlog_entries() ORDER BY seq;

-- only top-level queries: the query inside the function is not recorded,
-- and plain EXPLAIN is not either
CREATE FUNCTION count_items() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT count(*) FROM items);
END
$$;
SELECT pgl_planlog_reset();
SET pgl_planlog.enabled = on;
SELECT count_items();
EXPLAIN (COSTS OFF) SELECT * FROM items;
SET pgl_planlog.enabled = off;
SELECT query, plan FROM pgl_planlog_entries();

-- several statements in one query string: each is recorded with its own text
SELECT pgl_planlog_reset();
SET pgl_planlog.enabled = on;
-- (psql before 15 would display only the last result: hide them all)
\o /dev/null
SELECT 1 AS one \; SELECT 2 AS two;
\o
SET pgl_planlog.enabled = off;
SELECT query FROM pgl_planlog_entries() ORDER BY seq;

-- the ring buffer keeps the newest 16 plans
SELECT pgl_planlog_reset();
SET pgl_planlog.enabled = on;
-- \gexec runs each result row as a query: 1 + 20 top-level queries
\set ECHO none
\o /dev/null
SELECT format('SELECT %s AS n', g) FROM generate_series(1, 20) g \gexec
\o
\set ECHO all
SET pgl_planlog.enabled = off;
SELECT count(*), min(seq), max(seq) FROM pgl_planlog_entries();

-- plans can also go to the client (or the log)
SET pgl_planlog.message_level = notice;
SET pgl_planlog.enabled = on;
SELECT count(*) FROM items WHERE id = 42;
SET pgl_planlog.enabled = off;
RESET pgl_planlog.message_level;

-- chaining: pg_stat_statements, preloaded, saw the queries as well
CREATE EXTENSION pg_stat_statements;
SELECT count(*) AS reset FROM pg_stat_statements_reset();
SET pgl_planlog.enabled = on;
SELECT count(*) FROM items WHERE grp = 5;
SELECT count(*) FROM items WHERE grp = 6;
SET pgl_planlog.enabled = off;
-- calls need our executor hooks to call the previous ones, plans our planner hook
SELECT calls, plans FROM pg_stat_statements
WHERE query = 'SELECT count(*) FROM items WHERE grp = $1'
  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database());
SELECT count(*) AS recorded_by_us FROM pgl_planlog_entries()
WHERE query LIKE 'SELECT count(*) FROM items WHERE grp = _';

DROP EXTENSION pg_stat_statements;
DROP FUNCTION count_items();
DROP TABLE items;
DROP EXTENSION pgl_planlog;

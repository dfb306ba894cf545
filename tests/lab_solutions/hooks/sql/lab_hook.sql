CREATE EXTENSION lab_hook;
LOAD 'lab_hook';

-- off: nothing is counted
SELECT 1 AS one;
SELECT lab_hook_queries() AS queries;

-- on: a query counts when it finishes, so the reset itself counts as 1
-- and the query reading the counter is not counted yet
SET lab_hook.enabled = on;
SELECT lab_hook_reset() AS reset;
SELECT 1 AS one;
SELECT 2 AS two;
SELECT lab_hook_queries() AS queries;
SET lab_hook.enabled = off;

-- every executor start counts: the query in between and the one reading
SELECT lab_hook_started() AS before \gset
SELECT 1 AS one;
SELECT lab_hook_started() - :before AS started;

DROP EXTENSION lab_hook;

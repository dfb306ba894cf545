CREATE EXTENSION __EXT__;
LOAD '__EXT__';

-- off: nothing is counted
SELECT 1 AS one;
SELECT __EXT___queries() AS queries;

-- on: a query counts when it finishes, so the reset itself counts as 1
-- and the query reading the counter is not counted yet
SET __EXT__.enabled = on;
SELECT __EXT___reset() AS reset;
SELECT 1 AS one;
SELECT 2 AS two;
SELECT __EXT___queries() AS queries;
SET __EXT__.enabled = off;

DROP EXTENSION __EXT__;

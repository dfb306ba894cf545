CREATE EXTENSION __EXT__;

SELECT '(1,2)'::__EXT__ AS v, ' ( -3 , 4 ) '::__EXT__ AS spaces;
\set VERBOSITY sqlstate
SELECT '(1,2'::__EXT__;
\set VERBOSITY default

SELECT '(1,2)'::__EXT__ < '(1,3)' AS lt, '(2,0)'::__EXT__ > '(1,9)' AS gt,
       '(5,5)'::__EXT__ = '(5,5)' AS eq, __EXT___cmp('(1,1)', '(0,9)') AS cmp;
SELECT __EXT___send('(1,-1)') AS wire;

CREATE TABLE t (v __EXT__, note text);
INSERT INTO t SELECT format('(%s,%s)', i % 10, i)::__EXT__, 'row ' || i
FROM generate_series(1, 500) i;
CREATE INDEX t_v ON t (v);
ANALYZE t;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
-- unaligned: the plan mentions the type, whose name sets the column width
\pset format unaligned
EXPLAIN (COSTS OFF) SELECT note FROM t WHERE v < '(0,30)' ORDER BY v;
\pset format aligned
SELECT v, note FROM t WHERE v < '(0,30)' ORDER BY v;
RESET enable_seqscan;
RESET enable_bitmapscan;

DROP TABLE t;
DROP EXTENSION __EXT__;

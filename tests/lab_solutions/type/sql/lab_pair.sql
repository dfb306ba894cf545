CREATE EXTENSION lab_pair;

SELECT '(1,2)'::lab_pair AS v, ' ( -3 , 4 ) '::lab_pair AS spaces;
\set VERBOSITY sqlstate
SELECT '(1,2'::lab_pair;
\set VERBOSITY default

SELECT '(1,2)'::lab_pair < '(1,3)' AS lt, '(2,0)'::lab_pair > '(1,9)' AS gt,
       '(5,5)'::lab_pair = '(5,5)' AS eq, lab_pair_cmp('(1,1)', '(0,9)') AS cmp;
SELECT lab_pair_send('(1,-1)') AS wire;

CREATE TABLE t (v lab_pair, note text);
INSERT INTO t SELECT format('(%s,%s)', i % 10, i)::lab_pair, 'row ' || i
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
SELECT '(1,2)'::lab_pair + '(10,20)'::lab_pair AS sum;
\set VERBOSITY sqlstate
SELECT '(2147483647,0)'::lab_pair + '(1,0)'::lab_pair;
\set VERBOSITY default
DROP EXTENSION lab_pair;

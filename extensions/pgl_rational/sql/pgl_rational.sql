--
-- pgl_rational: a base type with btree and hash operator classes.
--
CREATE EXTENSION pgl_rational;

-- input is reduced to lowest terms with a positive denominator
SELECT '1/2'::rational, '2/4'::rational, '-3/-6'::rational, '6/-4'::rational,
       ' 7 / 1 '::rational, '5'::rational, '0/9'::rational;

-- bad input, with the SQLSTATE a client would see
\set VERBOSITY sqlstate
SELECT '1/0'::rational;
SELECT 'abc'::rational;
SELECT '1/2x'::rational;
SELECT '2147483648/1'::rational;
\set VERBOSITY default
SELECT '1/0'::rational;
SELECT '1/'::rational;
-- out of int4 range before reduction, in range after it
SELECT '4294967296/8589934592'::rational;
SELECT '-2147483648/-1'::rational;

-- comparisons: every operator agrees with rational_cmp
SELECT a, b, a < b AS lt, a <= b AS le, a = b AS eq, a <> b AS ne,
       a >= b AS ge, a > b AS gt, rational_cmp(a, b) AS cmp
FROM (VALUES ('1/3'::rational, '1/2'::rational),
             ('2/4', '1/2'),
             ('-1/2', '-1/3'),
             ('2147483647/2147483646', '2147483646/2147483645')) AS v(a, b);

-- the binary send function: two big-endian int4, numerator first
SELECT rational_send('-3/4');

CREATE TABLE fractions (r rational, label text);
INSERT INTO fractions
SELECT ((i % 7) || '/' || (i % 5 + 1))::rational, 'row ' || i
FROM generate_series(1, 1000) i;
INSERT INTO fractions VALUES ('-1/2', 'negative'), ('1/3', 'third');
ANALYZE fractions;

-- ORDER BY uses the default btree operator class
SELECT DISTINCT r FROM fractions ORDER BY r LIMIT 8;
SELECT DISTINCT r FROM fractions ORDER BY r DESC LIMIT 3;

-- a btree index, and a plan that uses it
CREATE INDEX fractions_r_btree ON fractions USING btree (r);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT r, label FROM fractions WHERE r < '0/1' ORDER BY r;
SELECT r, label FROM fractions WHERE r < '0/1' ORDER BY r;
EXPLAIN (COSTS OFF) SELECT count(label) FROM fractions WHERE r = '2/4';
SELECT count(label) FROM fractions WHERE r = '2/4';

-- a hash index: equal values (1/2 and 2/4) land in the same bucket
DROP INDEX fractions_r_btree;
CREATE INDEX fractions_r_hash ON fractions USING hash (r);
EXPLAIN (COSTS OFF) SELECT count(label) FROM fractions WHERE r = '3/6';
SELECT count(label) FROM fractions WHERE r = '3/6';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- hashing agrees with equality
SELECT rational_hash('1/2') = rational_hash('2/4') AS same_hash,
       rational_hash_extended('1/2', 42) = rational_hash_extended('-2/-4', 42) AS same_hash_ext;

-- hash aggregation and a hash join use the hash operator class
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT r, count(*) FROM fractions GROUP BY r;
RESET enable_sort;
SELECT r, count(*) FROM fractions WHERE r > '3/1' GROUP BY r ORDER BY r;
CREATE TABLE wanted (r rational);
INSERT INTO wanted VALUES ('1/3'), ('2/4'), ('7/1');
ANALYZE wanted;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM fractions f JOIN wanted w ON f.r = w.r;
SELECT w.r, count(*) FROM fractions f JOIN wanted w ON f.r = w.r GROUP BY w.r ORDER BY w.r;
RESET enable_mergejoin;
RESET enable_nestloop;

DROP TABLE fractions, wanted;
DROP EXTENSION pgl_rational;

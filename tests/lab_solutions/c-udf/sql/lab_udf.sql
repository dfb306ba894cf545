CREATE EXTENSION lab_udf;

SELECT lab_udf_add(2, 40) AS sum;
SELECT lab_udf_add(NULL, 1) IS NULL AS strict_null;
\set VERBOSITY sqlstate
SELECT lab_udf_add(2147483647, 1);
\set VERBOSITY default

SELECT lab_udf_hello('PostgreSQL') AS greeting;
SELECT lab_udf_hello(NULL) AS greeting;

SELECT lab_udf_clamp(15, 0, 10) AS clamped;

DROP EXTENSION lab_udf;

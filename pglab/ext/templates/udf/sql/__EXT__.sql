CREATE EXTENSION __EXT__;

SELECT __EXT___add(2, 40) AS sum;
SELECT __EXT___add(NULL, 1) IS NULL AS strict_null;
\set VERBOSITY sqlstate
SELECT __EXT___add(2147483647, 1);
\set VERBOSITY default

SELECT __EXT___hello('PostgreSQL') AS greeting;
SELECT __EXT___hello(NULL) AS greeting;

DROP EXTENSION __EXT__;

--
-- pgl_funcs: one C function of each kind.
--
CREATE EXTENSION pgl_funcs;

-- Report an error's SQLSTATE next to its message: what a client sees.
CREATE FUNCTION sqlstate_of(query text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- strict scalar
SELECT pgl_add(2, 40);
SELECT pgl_add(NULL, 1) IS NULL AS strict_null;
SELECT pgl_add(2147483647, 1);
SELECT sqlstate_of('SELECT pgl_add(2147483647, 1)');

-- non-strict: the function decides what NULL means
SELECT pgl_greet('world');
SELECT pgl_greet(NULL);

-- text, multibyte aware
SELECT pgl_reverse('hello');
SELECT pgl_reverse('añb€');
SELECT pgl_reverse('');
SELECT pgl_reverse(NULL) IS NULL AS strict_null;

-- arrays: NULL elements are skipped, a NULL array gives NULL
SELECT pgl_array_sum(ARRAY[1, 2, 3]);
SELECT pgl_array_sum(ARRAY[1, NULL, 3]);
SELECT pgl_array_sum('{}'::int4[]);
SELECT pgl_array_sum('{{1,2},{3,4}}');
SELECT pgl_array_sum(ARRAY[2147483647, 2147483647]);
SELECT pgl_array_sum(NULL) IS NULL AS strict_null;

-- set-returning, value-per-call
SELECT * FROM pgl_series(1, 5);
SELECT * FROM pgl_series(10, 0, -4);
SELECT * FROM pgl_series(5, 1);
SELECT count(*) FROM pgl_series(2147483640, 2147483647, 5);
SELECT * FROM pgl_series(1, 5, 0);
SELECT sqlstate_of('SELECT * FROM pgl_series(1, 5, 0)');
-- an SRF in the select list works too
SELECT pgl_series(1, 3) AS n;

-- set-returning, materialize mode (added in 1.1)
SELECT * FROM pgl_split('a,b,,c', ',');
SELECT * FROM pgl_split('one::two', '::');
SELECT * FROM pgl_split('', ',');
SELECT sqlstate_of($q$SELECT * FROM pgl_split('a', '')$q$);

DROP FUNCTION sqlstate_of(text);
DROP EXTENSION pgl_funcs;

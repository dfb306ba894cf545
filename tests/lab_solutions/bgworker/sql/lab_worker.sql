CREATE EXTENSION lab_worker;

-- wait (COMMIT between tries, for a fresh pg_stat_activity) until true
CREATE PROCEDURE wait_until(condition text)
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60s';
    ok bool;
BEGIN
    LOOP
        EXECUTE 'SELECT ' || condition INTO ok;
        EXIT WHEN ok;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'timed out waiting until %', condition;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

-- the preloaded worker
SELECT pid AS static_pid FROM pg_stat_activity
WHERE backend_type = 'lab_worker' AND datname = current_setting('lab_worker.database') \gset

-- one more, in this database
SELECT lab_worker_launch() AS pid \gset
CALL wait_until('EXISTS (SELECT FROM pg_stat_activity WHERE pid = ' || :pid ||
                ' AND datname = current_database())');

-- SIGTERM ends it; nothing else is disturbed
-- the launched worker's beats, in this database
CALL wait_until('EXISTS (SELECT FROM pg_class WHERE relname = ''lab_worker_beats'')');
CALL wait_until('(SELECT count(*) >= 2 FROM lab_worker_beats)');

SELECT pg_terminate_backend(:pid) AS terminated;
CALL wait_until('NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = ' || :pid || ')');
SELECT count(*) AS static_worker_unchanged FROM pg_stat_activity WHERE pid = :static_pid;

DROP PROCEDURE wait_until(text);
DROP EXTENSION lab_worker;

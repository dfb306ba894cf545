CREATE EXTENSION __EXT__;

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
WHERE backend_type = '__EXT__' AND datname = current_setting('__EXT__.database') \gset

-- one more, in this database
SELECT __EXT___launch() AS pid \gset
CALL wait_until('EXISTS (SELECT FROM pg_stat_activity WHERE pid = ' || :pid ||
                ' AND datname = current_database())');

-- SIGTERM ends it; nothing else is disturbed
SELECT pg_terminate_backend(:pid) AS terminated;
CALL wait_until('NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = ' || :pid || ')');
SELECT count(*) AS static_worker_unchanged FROM pg_stat_activity WHERE pid = :static_pid;

DROP PROCEDURE wait_until(text);
DROP EXTENSION __EXT__;

--
-- pgl_worker: needs the settings of pgl_worker.conf (preloaded library).
--
CREATE EXTENSION pgl_worker;

-- Wait, within a bound, until a condition holds.  A procedure can COMMIT
-- between tries, so each try sees new rows, new catalog entries and a fresh
-- pg_stat_activity (which is otherwise frozen for the whole transaction).
CREATE PROCEDURE wait_until(condition text, timeout interval DEFAULT '60s')
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout;
    ok bool;
BEGIN
    LOOP
        BEGIN
            EXECUTE 'SELECT ' || condition INTO ok;
        EXCEPTION WHEN undefined_table OR invalid_schema_name THEN
            ok := false;            -- the worker has not created its table yet
        END;
        EXIT WHEN ok;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'timed out waiting until %', condition;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;

-- settings from pgl_worker.conf
SHOW pgl_worker.interval;
SHOW pgl_worker.database;

-- the worker registered by shared_preload_libraries is running
SELECT pid AS static_pid FROM pg_stat_activity
WHERE backend_type = 'pgl_worker' AND datname = current_setting('pgl_worker.database') \gset
SELECT :static_pid > 0 AS static_worker_running;

-- start one more, connected to this database
SELECT pgl_worker_launch() AS pid \gset
CALL wait_until('(SELECT beats FROM pgl_worker.heartbeat WHERE pid = ' || :pid || ') >= 3');
SELECT backend_type, datname = current_database() AS in_this_db
FROM pg_stat_activity WHERE pid = :pid;
SELECT beats >= 3 AS beating, last_beat > started_at AS time_moves, stopped_at IS NULL AS running
FROM pgl_worker.heartbeat WHERE pid = :pid;

-- ordinary users may not launch workers
CREATE ROLE regress_pgl_worker_nobody;
SET ROLE regress_pgl_worker_nobody;
SELECT pgl_worker_launch();
RESET ROLE;
DROP ROLE regress_pgl_worker_nobody;

-- SIGTERM: the worker leaves its loop, records its stop and exits
SELECT pg_terminate_backend(:pid);
CALL wait_until('NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = ' || :pid || ')');
SELECT stopped_at IS NOT NULL AS stopped_cleanly, stopped_at >= last_beat AS after_last_beat
FROM pgl_worker.heartbeat WHERE pid = :pid;

-- no crash-restart happened: the static worker is the same process
SELECT pid = :static_pid AS same_static_worker FROM pg_stat_activity
WHERE backend_type = 'pgl_worker' AND datname = current_setting('pgl_worker.database');

DROP PROCEDURE wait_until(text, interval);
DROP SCHEMA pgl_worker CASCADE;
DROP EXTENSION pgl_worker;

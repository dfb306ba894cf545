/*-------------------------------------------------------------------------
 *
 * pgl_worker.c
 *	  A background worker that writes a heartbeat row through SPI.
 *
 * Two ways to start one:
 *
 *	- statically: with pgl_worker in shared_preload_libraries, _PG_init()
 *	  registers one worker that the postmaster starts once recovery is over.
 *	  It connects to the database named by pgl_worker.database.
 *	- dynamically: SELECT pgl_worker_launch() asks the postmaster for a new
 *	  worker connected to the caller's database and returns its PID.
 *
 * Each worker creates pgl_worker.heartbeat if it is missing, then every
 * pgl_worker.interval adds one to its row's "beats".  On SIGTERM (for example
 * pg_terminate_backend(), or a fast shutdown) it leaves its loop, records
 * stopped_at, and exits with status 0, which tells the postmaster "done,
 * don't restart me".
 *
 * The skeleton follows src/test/modules/worker_spi: latches instead of
 * sleeps, WL_EXIT_ON_PM_DEATH, SIGHUP reloading the configuration.
 *
 * extensions/pgl_worker/pgl_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* Needed by every background worker */
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"

/* Needed by what this worker does */
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#if PG_VERSION_NUM >= 170000
#include "utils/wait_event.h"
#endif

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "pgl_worker",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

/*
 * The entry point the postmaster looks up by name (bgw_function_name) in the
 * library, so it must be exported: PGDLLEXPORT.
 */
PGDLLEXPORT void pgl_worker_main(Datum main_arg);

/* GUC variables */
static int	pgl_worker_interval = 10000;	/* milliseconds */
static char *pgl_worker_database = NULL;

/* Heartbeat SQL.  pg_backend_pid() is the worker's own PID. */
static const char *const setup_sql =
"SELECT pg_advisory_xact_lock(hashtext('pgl_worker.heartbeat'));"
"CREATE SCHEMA IF NOT EXISTS pgl_worker;"
"CREATE TABLE IF NOT EXISTS pgl_worker.heartbeat ("
"  pid int4 PRIMARY KEY,"
"  started_at timestamptz NOT NULL,"
"  last_beat timestamptz,"
"  beats int8 NOT NULL DEFAULT 0,"
"  stopped_at timestamptz);"
"INSERT INTO pgl_worker.heartbeat (pid, started_at)"
"  VALUES (pg_backend_pid(), now())"
"  ON CONFLICT (pid) DO UPDATE SET started_at = excluded.started_at,"
"  last_beat = NULL, beats = 0, stopped_at = NULL";

static const char *const beat_sql =
"UPDATE pgl_worker.heartbeat SET beats = beats + 1, last_beat = now()"
"  WHERE pid = pg_backend_pid()";

static const char *const stop_sql =
"UPDATE pgl_worker.heartbeat SET stopped_at = now()"
"  WHERE pid = pg_backend_pid()";

static void run_in_transaction(const char *sql);
static void fill_worker(BackgroundWorker *worker, Oid dboid);

void		_PG_init(void);


/*
 * Run one SQL string (possibly several statements) in its own transaction.
 *
 * A background worker has no client sending queries, so it does by hand what
 * postgres.c does for a client: start a transaction, take a snapshot, run,
 * commit.  SetCurrentStatementStartTimestamp() comes first because the
 * transaction's start time, and so now(), is taken from it; without it now()
 * would be stuck at the time the worker started.
 */
static void
run_in_transaction(const char *sql)
{
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	/* Show the statement in pg_stat_activity and in error reports. */
	debug_query_string = sql;
	pgstat_report_activity(STATE_RUNNING, sql);

	ret = SPI_execute(sql, false, 0);
	if (ret < 0)
		elog(FATAL, "SPI_execute failed with error code %d", ret);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	debug_query_string = NULL;
	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Main function of a worker.  main_arg is the OID of the database to connect
 * to, or InvalidOid to use pgl_worker.database.
 */
void
pgl_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	int64		beats = 0;
	uint32		wait_event;

	/*
	 * Signal handlers first, then unblock signals (the postmaster starts us
	 * with them blocked).  SIGTERM only sets ShutdownRequestPending and our
	 * latch; the loop below notices and finishes its work before exiting.
	 * (worker_spi installs die() instead, which throws FATAL at the next
	 * CHECK_FOR_INTERRUPTS(): quicker, but no chance to record a clean stop.)
	 */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* NULL user name: connect as the bootstrap superuser. */
	if (OidIsValid(dboid))
		BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	else
		BackgroundWorkerInitializeConnection(pgl_worker_database, NULL, 0);

	/*
	 * What pg_stat_activity.wait_event shows while we sleep.  Since
	 * PostgreSQL 17 an extension can name its own wait events; before that
	 * all of them are reported as "Extension".
	 */
#if PG_VERSION_NUM >= 170000
	wait_event = WaitEventExtensionNew("PglWorkerMain");
#else
	wait_event = PG_WAIT_EXTENSION;
#endif

	ereport(LOG,
			(errmsg("%s started, beating every %d ms",
					MyBgworkerEntry->bgw_name, pgl_worker_interval)));

	run_in_transaction(setup_sql);

	while (!ShutdownRequestPending)
	{
		run_in_transaction(beat_sql);
		beats++;

		/*
		 * Never sleep with pg_usleep() in a worker: wait on the process latch.
		 * Signal handlers set it, so SIGTERM and SIGHUP wake us at once, and
		 * WL_EXIT_ON_PM_DEATH makes us exit if the postmaster dies.
		 */
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pgl_worker_interval,
						 wait_event);
		ResetLatch(MyLatch);

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	run_in_transaction(stop_sql);
	ereport(LOG,
			(errmsg("%s shutting down after %lld heartbeats",
					MyBgworkerEntry->bgw_name, (long long) beats)));

	/* Status 0: the postmaster unregisters us and does not restart us. */
	proc_exit(0);
}

/* The fields both kinds of worker share. */
static void
fill_worker(BackgroundWorker *worker, Oid dboid)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	/* The field sizes changed between releases; sizeof() keeps up. */
	snprintf(worker->bgw_library_name, sizeof(worker->bgw_library_name),
			 "pgl_worker");
	snprintf(worker->bgw_function_name, sizeof(worker->bgw_function_name),
			 "pgl_worker_main");
	/* bgw_type is what pg_stat_activity.backend_type shows. */
	snprintf(worker->bgw_type, sizeof(worker->bgw_type), "pgl_worker");
	worker->bgw_main_arg = ObjectIdGetDatum(dboid);
}

/*
 * pgl_worker_launch() RETURNS int4: start a worker in the current database
 * and return its PID.
 */
PG_FUNCTION_INFO_V1(pgl_worker_launch);
Datum
pgl_worker_launch(PG_FUNCTION_ARGS)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	pid_t		pid;

	fill_worker(&worker, MyDatabaseId);
	snprintf(worker.bgw_name, sizeof(worker.bgw_name),
			 "pgl_worker launched by PID %d", MyProcPid);
	/* A worker started from SQL is not restarted when it exits. */
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	/* Ask the postmaster to signal us when it starts, so we can wait. */
	worker.bgw_notify_pid = MyProcPid;

	/* Fails when all max_worker_processes slots are taken. */
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not register background worker"),
				 errhint("Consider increasing max_worker_processes.")));

	status = WaitForBackgroundWorkerStartup(handle, &pid);
	if (status == BGWH_STOPPED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start background worker"),
				 errhint("More details may be available in the server log.")));
	if (status == BGWH_POSTMASTER_DIED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("cannot start background workers without postmaster")));
	Assert(status == BGWH_STARTED);

	PG_RETURN_INT32((int32) pid);
}

/*
 * Module load.  In the postmaster (shared_preload_libraries) this also
 * registers the static worker; in a backend or a dynamic worker it only
 * defines the settings.
 */
void
_PG_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("pgl_worker.interval",
							"Time between two heartbeats.",
							NULL,
							&pgl_worker_interval,
							10000,
							10,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgl_worker.database",
							   "Database the preloaded worker connects to.",
							   NULL,
							   &pgl_worker_database,
							   "postgres",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	/* Turn "pgl_worker.typo = 1" into a warning instead of silence. */
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pgl_worker");
#else
	EmitWarningsOnPlaceholders("pgl_worker");
#endif

	if (!process_shared_preload_libraries_in_progress)
		return;

	fill_worker(&worker, InvalidOid);
	snprintf(worker.bgw_name, sizeof(worker.bgw_name), "pgl_worker");
	/* If it dies with an error, the postmaster restarts it after 10 s. */
	worker.bgw_restart_time = 10;
	worker.bgw_notify_pid = 0;

	RegisterBackgroundWorker(&worker);
}

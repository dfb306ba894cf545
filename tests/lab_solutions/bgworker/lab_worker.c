/*-------------------------------------------------------------------------
 *
 * lab_worker.c
 *	  A background worker: wakes up every lab_worker.naptime and runs a query.
 *
 * Start here.  With lab_worker in shared_preload_libraries, _PG_init registers
 * one worker connected to lab_worker.database; lab_worker_launch() starts more, in
 * the caller's database.  Replace the query in lab_worker_main with your work.
 * The pattern is src/test/modules/worker_spi's: wait on the latch (never
 * sleep), exit if the postmaster dies, die() on SIGTERM.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#ifdef PG_MODULE_MAGIC_EXT
PG_MODULE_MAGIC_EXT(
					.name = "lab_worker",
					.version = "1.0"
);
#else
PG_MODULE_MAGIC;
#endif

PGDLLEXPORT void lab_worker_main(Datum main_arg);
void		_PG_init(void);

/* GUC variables */
static int	lab_worker_naptime = 1000;	/* milliseconds */
static char *lab_worker_database = NULL;

static void lab_worker_fill(BackgroundWorker *worker, Oid dboid);


/* main_arg: database OID, or InvalidOid for lab_worker.database */
void
lab_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);

	/* die(): SIGTERM makes the next CHECK_FOR_INTERRUPTS() exit (FATAL). */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (OidIsValid(dboid))
		BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	else
		BackgroundWorkerInitializeConnection(lab_worker_database, NULL, 0);

	/* Once: the table each round writes to. */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "CREATE TABLE lab_worker_beats");
	if (SPI_execute("CREATE TABLE IF NOT EXISTS lab_worker_beats "
					"(at timestamptz NOT NULL DEFAULT now())", false, 0) != SPI_OK_UTILITY)
		elog(FATAL, "could not create lab_worker_beats");
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	for (;;)
	{
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 lab_worker_naptime,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);

		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* One transaction per round of work. */
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "INSERT INTO lab_worker_beats");

		if (SPI_execute("INSERT INTO lab_worker_beats DEFAULT VALUES", false, 0) != SPI_OK_INSERT)
			elog(FATAL, "SPI_execute failed");

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(true);
		pgstat_report_activity(STATE_IDLE, NULL);
	}
}

static void
lab_worker_fill(BackgroundWorker *worker, Oid dboid)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, sizeof(worker->bgw_library_name), "lab_worker");
	snprintf(worker->bgw_function_name, sizeof(worker->bgw_function_name), "lab_worker_main");
	snprintf(worker->bgw_name, sizeof(worker->bgw_name), "lab_worker worker");
	snprintf(worker->bgw_type, sizeof(worker->bgw_type), "lab_worker");
	worker->bgw_main_arg = ObjectIdGetDatum(dboid);
}

/* lab_worker_launch() RETURNS int4: the new worker's PID */
PG_FUNCTION_INFO_V1(lab_worker_launch);
Datum
lab_worker_launch(PG_FUNCTION_ARGS)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	lab_worker_fill(&worker, MyDatabaseId);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not register background worker"),
				 errhint("Consider increasing max_worker_processes.")));

	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start background worker")));

	PG_RETURN_INT32((int32) pid);
}

void
_PG_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("lab_worker.naptime",
							"Time between two rounds of work.",
							NULL,
							&lab_worker_naptime,
							1000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("lab_worker.database",
							   "Database the preloaded worker connects to.",
							   NULL,
							   &lab_worker_database,
							   "postgres",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("lab_worker");
#else
	EmitWarningsOnPlaceholders("lab_worker");
#endif

	/* Only the postmaster, loading shared_preload_libraries, registers. */
	if (!process_shared_preload_libraries_in_progress)
		return;

	lab_worker_fill(&worker, InvalidOid);
	RegisterBackgroundWorker(&worker);
}

	/*
	 * TODO(lab bgworker): give the worker real work.  Here, before the loop,
	 * create the table once, in a transaction of its own (the same sequence
	 * the loop uses: StartTransactionCommand, SPI_connect, a snapshot, ...,
	 * CommitTransactionCommand):
	 *     CREATE TABLE IF NOT EXISTS lab_worker_beats
	 *         (at timestamptz NOT NULL DEFAULT now())
	 * (SPI_execute returns SPI_OK_UTILITY for it).  Then, in the loop, replace
	 * SELECT 1 with an INSERT of one row per round into that table
	 * (SPI_execute with read_only false; it returns SPI_OK_INSERT).
	 *
	 * In the source you built:
	 *   {{SPI_execute}}
	 *     runs each statement;
	 *   {{BackgroundWorkerInitializeConnection}}
	 *     connected this process above;
	 *   {{WaitLatch}}
	 *     is where the worker sleeps between rounds.
	 */

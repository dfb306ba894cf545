	/*
	 * TODO(lab planner-fork): make every sequential scan start at cost 42:
	 * startup_cost, declared just below, starts at 0; make that 42.  Then
	 * `invoke build-pg --source pg_source/labs/planner-fork` (only this file
	 * recompiles) and EXPLAIN SELECT * FROM pg_class on that build shows
	 * "Seq Scan on pg_class  (cost=42.00..".
	 *
	 * In this tree:
	 *   {{create_seqscan_path}}
	 *     calls this function for every table;
	 *   {{add_path}}
	 *     drops a path another one beats on both costs, sort order,
	 *     parameterisation and rows ({{compare_path_costs_fuzzily}}).
	 */

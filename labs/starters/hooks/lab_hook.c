
/*
 * TODO(lab hooks): a second hook, on ExecutorStart, chained the way
 * pg_stat_statements chains its own:
 *   {{pgss_ExecutorStart}}
 *
 * 1. a static ExecutorStart_hook_type prev_ExecutorStart, and a counter of
 *    executor starts in this backend (every one, whatever lab_hook.enabled
 *    says), next to the ones above;
 * 2. in _PG_init, save ExecutorStart_hook in prev_ExecutorStart and install
 *    lab_hook_ExecutorStart, as it is done for ExecutorEnd;
 * 3. lab_hook_ExecutorStart(QueryDesc *queryDesc, int eflags): count, then
 *    call the saved hook, or standard_ExecutorStart when there is none
 *    (its type is ExecutorStart_hook_type, in executor/executor.h);
 * 4. lab_hook_started() RETURNS int8, the count so far, as lab_hook_count
 *    returns its counter; then uncomment its declaration at the end of
 *    lab_hook--1.0.sql.
 *
 * In the source you built:
 *   {{ExecutorStart}}
 *     calls the hook when one is set, else standard_ExecutorStart;
 *   {{standard_ExecutorStart}}
 *     is what every hook ends up calling.
 */

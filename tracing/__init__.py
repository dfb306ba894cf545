"""gdb-side tracer for PostgreSQL backends, loaded into gdb's own Python.

Installed as the package pglab_tracing (this folder is tracing/ in a checkout,
pglab_tracing/ in site-packages); gdb gets it by sourcing loader.py, which
registers it under that name from wherever it lies.  Standard library only;
never imports pglab.

Laid out like the Linux kernel's scripts/gdb: one module per subsystem
(heap, wal, query, locks, memory, hooks, functions) holding plain helpers and
thin gdb.Breakpoint / gdb.Command classes; targets.py is the one registry of
trace targets; version.py is the only place that knows how PostgreSQL majors
differ; session.py is the batch-mode entry point the driver (pglab.trace.driver)
starts, commands.py the interactive commands.  The parts that need no gdb
(targets, version, nodes, infomask, walnames) import without it.

Events are JSON lines in the format documented in docs/tracing.md.
"""

SCHEMA = "pglab.trace/1"

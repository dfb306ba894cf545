"""gdb-side tracer for PostgreSQL backends, loaded into gdb's own Python.

Laid out like the Linux kernel's scripts/gdb: one module per subsystem
(heap, wal, query, locks, memory, hooks, functions) holding plain helpers and
thin gdb.Breakpoint / gdb.Command classes; version.py is the only place that
knows how PostgreSQL majors differ; session.py is the batch-mode entry point
the host driver (pglab/tracing.py) starts.  Standard library only.

Events are JSON lines in the format documented in docs/tracing.md.
"""

SCHEMA = "pglab.trace/1"

"""Obtaining and building PostgreSQL: versions, source channels, the builder,
the builds registry, the toolchain check and pg-check."""

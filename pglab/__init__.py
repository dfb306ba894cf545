"""pglab: build PostgreSQL from source as debug builds, run throwaway clusters on
them, build and test C extensions against them, and trace their internals with gdb."""

__version__ = "0.1.0"

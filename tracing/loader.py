"""Make this folder importable in gdb's Python as the package pglab_tracing.

    gdb -nx -x /path/to/pglab_tracing/loader.py -ex "python import pglab_tracing.session" ...
    (gdb) source /path/to/pglab_tracing/loader.py

gdb's Python is not pglab's: it has its own sys.path, and the folder is called
tracing/ in a checkout and pglab_tracing/ once installed.  So the package is
registered by path, from the folder this file is in, whatever its name; the
modules inside import each other relatively.  Sourcing it again is harmless;
sourcing the loader of another copy replaces the one loaded.  Standard library only.
"""

import importlib.util
import os
import sys

NAME = "pglab_tracing"


def register(folder):
    """Import the package in `folder` as pglab_tracing (or keep the one loaded
    from there) and return it."""
    folder = os.path.realpath(folder)
    loaded = sys.modules.get(NAME)
    if loaded is not None:
        if [os.path.realpath(p) for p in getattr(loaded, "__path__", [])] == [folder]:
            return loaded
        for mod in [m for m in sys.modules if m == NAME or m.startswith(NAME + ".")]:
            del sys.modules[mod]
    spec = importlib.util.spec_from_file_location(NAME, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[NAME]
        raise
    return module


if __name__ == "__main__":     # sourced by gdb (-x / source), not imported
    register(os.path.dirname(os.path.abspath(__file__)))

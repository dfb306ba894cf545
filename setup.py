"""pglab's packages, found rather than listed (everything else is in pyproject.toml):
pglab and every package under it, and the folder tracing/ as pglab_tracing, the package
gdb loads into its own Python, whose name pyproject's own package finder cannot change,
and the folder labs/ (data only) as pglab_labs, so that an installed pglab has the labs."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["pglab", "pglab.*"]), "pglab_tracing", "pglab_labs"])

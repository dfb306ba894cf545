"""`python -m pglab`: the `pglab` command (pglab.cli)."""

from .cli import main

main()

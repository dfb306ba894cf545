"""pglab's commands for `invoke` in a clone (`invoke --list`).  The tasks live in the
package, pglab/tasks.py, so that the `pglab` command of an installed pglab has the
same ones; invoke finds them here through `ns`."""

from pglab.tasks import ns  # noqa: F401

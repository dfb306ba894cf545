"""The `pglab` command: invoke's Program with pglab's own tasks (pglab/tasks.py), so that
an installed pglab (a wheel, no clone) has every command `invoke` has in a clone, with the
same flags, help and exit codes:

    pglab build-pg --version 17      pglab ext-test ./my_ext      pglab --list

In a clone it also reads the clone's invoke.yaml, as `invoke` does there.
"""

import os
from importlib import metadata

from invoke import Executor, Exit, Program

from .config import IN_CLONE, PROJECT_ROOT


def _version():
    try:
        return metadata.version("pglab")
    except metadata.PackageNotFoundError:     # imported from a clone that was never installed
        return "unknown (not installed)"


class PglabProgram(Program):
    def parse_collection(self):
        super().parse_collection()
        if IN_CLONE:        # the clone's invoke.yaml, where `invoke` would find it
            self.config.set_project_location(str(PROJECT_ROOT))
            self.config.load_project()

    def parse_tasks(self):
        """`pglab TASK --help` as `pglab --help TASK` for a task with a required argument too
        (which invoke's parser hands --help to): invoke prints the task's help and runs nothing."""
        from .tasks import help_asked

        super().parse_tasks()
        name = help_asked(self.tasks)
        if name is not None:
            self.args.help.value = name


class HelpFirstExecutor(Executor):
    """`invoke pg-list trace --help` shows trace's help and runs nothing, pg-list included: the whole
    line is read before any task runs, as the pglab command does (PglabProgram.parse_tasks).  The
    clone's invoke.yaml names it (tasks.executor_class), so `invoke` and `./lab` use it."""

    def execute(self, *tasks):
        from .tasks import help_asked, show_help

        name = help_asked(tasks)
        if name is not None:
            show_help(name)
            raise Exit(code=0)
        return super().execute(*tasks)


def program():
    from .tasks import ns

    return PglabProgram(name="pglab", binary="pglab", binary_names=["pglab"], namespace=ns, version=_version())


def main():
    os.environ["PGLAB_VIA"] = "pglab"       # messages name the command the user runs
    program().run()

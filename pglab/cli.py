"""invoke glue that tasks.py needs and invoke lacks: an optional positional argument.

invoke treats every positional argument as required, but `invoke ext-test`
(every extension) and `invoke ext-test my_ext` should both work.  Tasks made with
`klass=OptionalPositionalTask` may leave their positional arguments out; the
parser then fills in the default instead of failing.
"""

from invoke import Task
from invoke.parser.parser import ParseMachine


class OptionalPositionalTask(Task):
    def get_arguments(self, ignore_unknown_help=None):
        args = super().get_arguments(ignore_unknown_help)
        for arg in args:
            if arg.positional:
                arg.optional_positional = True
        return args


def _complete_context(self, _original=ParseMachine.complete_context):
    if self.context is not None:
        for arg in self.context.positional_args:
            if arg.value is None and getattr(arg, "optional_positional", False):
                arg.value = ""  # "not given": the task decides what that means
    _original(self)


ParseMachine.complete_context = _complete_context

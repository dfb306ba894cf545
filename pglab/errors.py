"""One exception hierarchy for everything pglab reports to a user.

A PglabError's message is what the user sees, on one line where possible: what
failed, why, and the command that fixes it.  Tasks turn it into `Exit(message, 1)`;
anything else that escapes is a bug and shows a traceback.
"""


class PglabError(Exception):
    """Base of every error pglab expects and explains."""


class VersionError(PglabError):
    """A version spec that cannot be parsed or is out of range."""


class SourceError(PglabError):
    """No channel could provide the requested source, or a source is unusable."""


class ChannelSkip(Exception):
    """A source channel cannot serve the request; the message says why, in one line.  Not a
    PglabError: the search goes on to the next channel, and only the last one's reason is shown."""


class Unfetchable(SourceError):
    """A release a channel lists but whose files cannot be had.

    `why` finishes the sentence "17.12 is listed by debian but ...", so that what
    was tried and why it failed fit in the one line a user reads."""

    def __init__(self, message, why):
        super().__init__(message)
        self.why = why


class BuildError(PglabError):
    """configure/make/install failed; carries the step, log path and tail."""

    def __init__(self, message, *, step=None, log=None, tail=""):
        super().__init__(message)
        self.step = step
        self.log = log
        self.tail = tail


class BuildMissing(PglabError):
    """No build answers "which build?"; the message names the build-pg command."""


class BuildInUse(PglabError):
    """A build cannot be replaced or removed while a server runs on it."""


class ClusterError(PglabError):
    """A cluster could not be created, started, reached or stopped."""


class ToolchainError(PglabError):
    """A required tool or library is missing and could not be installed."""


class ExtensionError(PglabError):
    """An extension cannot be found, read or scaffolded."""


class TraceError(PglabError):
    """A trace could not be made."""


class GdbNotFound(TraceError):
    pass


class PtraceNotPermitted(TraceError):
    pass


class NoDebugInfo(TraceError):
    pass


class TraceSetupError(TraceError):
    pass


class InspectError(PglabError):
    """A page or relation that cannot be inspected (missing, unreadable, not a page)."""


class DebugError(PglabError):
    """A debugging session could not be set up (no such process, no gdb, no terminal)."""


class LabError(PglabError):
    """A lab that cannot be found or read."""

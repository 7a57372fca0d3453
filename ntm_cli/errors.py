"""The errors a user can act on: each message is one line that says what is wrong and how to fix it.

The CLI prints such an error as ``ntm COMMAND: error: MESSAGE`` and exits with
code 2; any other exception is a bug in ntm and keeps its traceback.
"""


class NtmError(Exception):
    """A problem with the user's input or machine, already worded for the user."""


class ConfigError(NtmError, ValueError):
    """A config value that is invalid or inconsistent."""


class CheckpointError(NtmError, ValueError):
    """A checkpoint or run directory that cannot be used."""


class DivergedError(NtmError):
    """Training cannot go on: the loss or gradient kept being non-finite."""


class ResourceError(NtmError):
    """The run does not fit the machine (memory)."""

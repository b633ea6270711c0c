"""Errors a component raises before it can start; each is one line for the user.

    CommandError (componentbase.cli)  the command could not do its job; exit 1
    ├── FlagError    the command line is wrong (unknown flag, bad value); exit 2
    ├── ConfigError  a config file is unreadable or invalid; the message names file, line and field
    └── TLSFileError a certificate, key or CA file is missing, unreadable or inconsistent

None of them is helped by retrying: the operator has to change a flag, a file or the host.
"""

from __future__ import annotations

from componentbase.cli import EXIT_USAGE, CommandError


class FlagError(CommandError):
    """The command line is wrong; exit code 2 like upstream components."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


class ConfigError(CommandError):
    """A config file cannot be read, parsed or validated."""


class TLSFileError(CommandError):
    """A certificate, private key or CA bundle cannot be used."""


class HelpRequested(Exception):
    """Not an error: `--help` or `-h` was given; `usage` is the text to print before exiting 0."""

    def __init__(self, usage: str) -> None:
        super().__init__(usage)
        self.usage = usage

"""Command-line conventions shared by every kplane tool: one line on error, the right exit code.

Exit codes: 0 success, 1 the command failed (`CommandError`), 2 the command line was wrong
(unknown flag, missing argument) — like upstream components and most Unix tools.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A command could not do its job; the message is the one line the user sees. Retrying
    without changing something (input, host state) does not help."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line (`prog: error: ...`) and exit 2,
    instead of the usage block; `--help` still prints the full usage."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            flags = message.split(":", 1)[1].split()
            message = f"unknown flag: {flags[0]}" if flags else message
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def fail(prog: str, message: str, exit_code: int = EXIT_FAILURE) -> NoReturn:
    """Print `prog: error: message` to stderr and exit."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(exit_code)

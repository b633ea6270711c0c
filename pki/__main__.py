"""`python -m pki init|check|renew ...`: the `kplane pki` commands without the rest of `kplane`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from componentbase.cli import CommandError, OneLineArgumentParser, fail
from pki.cli import add_commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="kplane pki", description="The cluster's CAs, certificates and kubeconfigs."
    )
    add_commands(parser)
    args = parser.parse_args(argv)
    try:
        exit_code: int = args.func(args)
    except CommandError as error:
        fail(parser.prog, str(error), error.exit_code)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

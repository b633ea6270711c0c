"""`python -m deploy` is the `kplane` tool."""

from deploy.cli import main

main()

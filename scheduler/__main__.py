"""`kplane-scheduler` / `python -m scheduler`: not built yet; issue 6 builds it."""

import sys


def main() -> None:
    sys.exit("kplane-scheduler: not built yet (issue 6)")


if __name__ == "__main__":
    main()

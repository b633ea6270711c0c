"""`kplane-apiserver` / `python -m apiserver`: not built yet; issue 5 builds it."""

import sys


def main() -> None:
    sys.exit("kplane-apiserver: not built yet (issue 5)")


if __name__ == "__main__":
    main()

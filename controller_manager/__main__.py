"""`kplane-controller-manager` / `python -m controller_manager`: not built yet; issue 7 builds it."""

import sys


def main() -> None:
    sys.exit("kplane-controller-manager: not built yet (issue 7)")


if __name__ == "__main__":
    main()

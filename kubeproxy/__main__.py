"""`kplane-proxy` / `python -m kubeproxy`: not built yet; issue 9 builds it."""

import sys


def main() -> None:
    sys.exit("kplane-proxy: not built yet (issue 9)")


if __name__ == "__main__":
    main()

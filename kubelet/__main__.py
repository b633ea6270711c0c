"""`kplane-kubelet` / `python -m kubelet`: not built yet; issue 8 builds it."""

import sys


def main() -> None:
    sys.exit("kplane-kubelet: not built yet (issue 8)")


if __name__ == "__main__":
    main()

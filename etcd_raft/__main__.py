"""`kplane-etcd` / `python -m etcd_raft`: not built yet; issue 4 builds it."""

import sys


def main() -> None:
    sys.exit("kplane-etcd: not built yet (issue 4)")


if __name__ == "__main__":
    main()

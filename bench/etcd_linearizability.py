"""Longer linearizability runs than CI's: the same tests (a 3-member kplane-etcd under leader kills
and network partitions, Put/Get/Txn histories checked by tests/helpers/linearizability.py) with
every phase stretched --scale times.

    .venv/bin/python -m bench.etcd_linearizability --scale 10     # about 10 x 45 s; needs root
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

TESTS = ["tests/integration/test_etcd_linearizable.py", "tests/integration/test_etcd_partitions.py"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=10.0, help="how many times longer each phase runs")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "KPLANE_LINEARIZABILITY_SCALE": str(args.scale)}
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *TESTS]
    sys.exit(subprocess.run(command, cwd=root, env=env).returncode)


if __name__ == "__main__":
    main()

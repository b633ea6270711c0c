"""Regenerate the Python code of the CRI proto: `python -m kubelet.cri.generate [--check]`.

kubelet/cri/api/api.proto compiles to api_pb2.py, api_pb2.pyi and api_pb2_grpc.py beside it (checked in;
imported as `kubelet.cri.api.api_pb2`). The output depends only on the proto and the pinned grpcio-tools,
so `--check` exits 1 when the checked-in files are out of date.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from componentbase.protogen import ProtoTree

API_DIR = Path(__file__).resolve().parent / "api"
REPO_ROOT = API_DIR.parents[2]
TREE = ProtoTree(REPO_ROOT, API_DIR, grpc=True)
proto_files = TREE.proto_files
generated_files = TREE.generated_files
generate = TREE.generate
stale_files = TREE.stale_files


def main(argv: Sequence[str] | None = None) -> int:
    return TREE.main(argv, prog="python -m kubelet.cri.generate", description=(__doc__ or "").split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate the Python code of kubeapi's Kubernetes protos: `python -m kubeapi.protobuf.generate`.

The .proto files live at kubeapi/protobuf/k8s/<name>.proto and import each other by their path from
the repository root ("kubeapi/protobuf/k8s/meta_v1.proto"), so protoc runs with `-I <repo root>` and
the generated modules import each other as `from kubeapi.protobuf.k8s import meta_v1_pb2`. For every
proto it writes <name>_pb2.py and <name>_pb2.pyi beside it; they are checked in.

The output depends only on the .proto files and the grpcio-tools version (pinned in pyproject.toml),
so regenerating is reproducible: `--check` exits 1 when the checked-in files are out of date.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from componentbase.protogen import ProtoTree

PROTO_DIR = Path(__file__).resolve().parent / "k8s"
REPO_ROOT = PROTO_DIR.parents[2]
TREE = ProtoTree(REPO_ROOT, PROTO_DIR, grpc=False)
proto_files = TREE.proto_files
generated_files = TREE.generated_files
generate = TREE.generate
stale_files = TREE.stale_files


def main(argv: Sequence[str] | None = None) -> int:
    return TREE.main(
        argv, prog="python -m kubeapi.protobuf.generate", description=(__doc__ or "").split("\n")[0]
    )


if __name__ == "__main__":
    sys.exit(main())

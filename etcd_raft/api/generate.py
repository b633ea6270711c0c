"""Regenerate the Python code of etcd_raft's protos: `python -m etcd_raft.api.generate`.

The .proto files live at etcd_raft/api/<package>/<name>.proto and import each other by their path
from the repository root ("etcd_raft/api/mvccpb/kv.proto"), so protoc runs with `-I <repo root>` and
the generated modules import each other as `from etcd_raft.api.mvccpb import kv_pb2`. For every
proto it writes <name>_pb2.py, <name>_pb2.pyi and <name>_pb2_grpc.py beside it; they are checked in.

The output depends only on the .proto files and the grpcio-tools version (pinned in pyproject.toml,
since the generated code records it and checks the grpcio and protobuf runtimes against it), so
regenerating is reproducible: `--check` exits 1 when the checked-in files are out of date.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from componentbase.protogen import ProtoTree

API_DIR = Path(__file__).resolve().parent
REPO_ROOT = API_DIR.parents[1]
TREE = ProtoTree(REPO_ROOT, API_DIR, grpc=True)
proto_files = TREE.proto_files
generated_files = TREE.generated_files
generate = TREE.generate
stale_files = TREE.stale_files


def main(argv: Sequence[str] | None = None) -> int:
    return TREE.main(
        argv, prog="python -m etcd_raft.api.generate", description=(__doc__ or "").split("\n")[0]
    )


if __name__ == "__main__":
    sys.exit(main())

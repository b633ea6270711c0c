"""Regenerate the Python code of kubeapi's Kubernetes protos: `python -m kubeapi.protobuf.generate`.

The .proto files live at kubeapi/protobuf/k8s/<name>.proto and import each other by their path from
the repository root ("kubeapi/protobuf/k8s/meta_v1.proto"), so protoc runs with `-I <repo root>` and
the generated modules import each other as `from kubeapi.protobuf.k8s import meta_v1_pb2`. For every
proto it writes <name>_pb2.py and <name>_pb2.pyi beside it; they are checked in.

The output depends only on the .proto files and the grpcio-tools version (pinned in pyproject.toml),
so regenerating is reproducible: `--check` exits 1 when the checked-in files are out of date.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.resources
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent / "k8s"
REPO_ROOT = PROTO_DIR.parents[2]
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")


def proto_files(root: Path = REPO_ROOT) -> list[Path]:
    """The .proto files under kubeapi/protobuf/k8s, relative to `root`, in a stable order."""
    return sorted(path.relative_to(root) for path in (root / "kubeapi" / "protobuf" / "k8s").glob("*.proto"))


def generated_files(proto: Path) -> list[Path]:
    """The files protoc writes for `proto` (a path relative to the repository root)."""
    stem = proto.with_suffix("")
    return [stem.with_name(stem.name + suffix) for suffix in GENERATED_SUFFIXES]


def generate(out_dir: Path = REPO_ROOT) -> list[Path]:
    """Compile every proto into `out_dir` (laid out like the repository); return the files written."""
    from grpc_tools import protoc  # type: ignore[import-untyped]  # the build tool, not needed at run time

    protos = proto_files()
    well_known = importlib.resources.files("grpc_tools") / "_proto"  # google/protobuf/descriptor.proto
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{REPO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *(str(proto) for proto in protos),
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    written = [out_dir / file for proto in protos for file in generated_files(proto)]
    missing = [str(path) for path in written if not path.is_file()]
    if missing:
        raise RuntimeError(f"protoc did not write {', '.join(missing)}")
    return written


def stale_files() -> list[Path]:
    """Checked-in generated files that differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        generate(fresh_root)
        stale = []
        for proto in proto_files():
            for file in generated_files(proto):
                checked_in = REPO_ROOT / file
                if not checked_in.is_file() or not filecmp.cmp(checked_in, fresh_root / file, shallow=False):
                    stale.append(file)
        return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubeapi.protobuf.generate", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT, help="output root (default: the repository)")
    parser.add_argument("--check", action="store_true", help="only report checked-in files that are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for file in stale:
            print(f"stale: {file}", file=sys.stderr)
        return 1 if stale else 0
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

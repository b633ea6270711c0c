"""Compiling a package's own .proto files into checked-in Python code, reproducibly: the
`generate` modules of etcd_raft/api and kubeapi/protobuf are each one ProtoTree.

The .proto files import each other by their path from the repository root, so protoc runs with
`-I <repo root>` (plus grpc_tools' copy of the well-known types) and the generated modules import
each other by package path. The output depends only on the .proto files and the grpcio-tools
version pinned in pyproject.toml, so `--check` can say whether the checked-in files are stale.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.resources
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProtoTree:
    repo_root: Path
    directory: Path  # where the .proto files are (searched recursively)
    grpc: bool  # also write <name>_pb2_grpc.py (service stubs)

    @property
    def suffixes(self) -> tuple[str, ...]:
        return ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py") if self.grpc else ("_pb2.py", "_pb2.pyi")

    def proto_files(self) -> list[Path]:
        """The .proto files, as paths relative to the repository root, in a stable order."""
        return sorted(path.relative_to(self.repo_root) for path in self.directory.rglob("*.proto"))

    def generated_files(self, proto: Path) -> list[Path]:
        """The files protoc writes for `proto` (a path relative to the repository root)."""
        stem = proto.with_suffix("")
        return [stem.with_name(stem.name + suffix) for suffix in self.suffixes]

    def generate(self, out_dir: Path | None = None) -> list[Path]:
        """Compile every proto into `out_dir` (laid out like the repository; default: the
        repository itself); return the files written."""
        from grpc_tools import protoc  # type: ignore[import-untyped]  # a build tool, not a runtime need

        out_dir = out_dir or self.repo_root
        protos = self.proto_files()
        well_known = importlib.resources.files("grpc_tools") / "_proto"
        out_dir.mkdir(parents=True, exist_ok=True)
        outputs = [f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
        if self.grpc:
            outputs.append(f"--grpc_python_out={out_dir}")
        status = protoc.main(
            ["grpc_tools.protoc", f"-I{self.repo_root}", f"-I{well_known}", *outputs, *map(str, protos)]
        )
        if status != 0:
            raise RuntimeError(f"protoc failed with status {status}")
        written = [out_dir / file for proto in protos for file in self.generated_files(proto)]
        missing = [str(path) for path in written if not path.is_file()]
        if missing:
            raise RuntimeError(f"protoc did not write {', '.join(missing)}")
        return written

    def stale_files(self) -> list[Path]:
        """Checked-in generated files that differ from a fresh generation (or are missing)."""
        with tempfile.TemporaryDirectory() as tmp:
            fresh_root = Path(tmp)
            self.generate(fresh_root)
            stale = []
            for proto in self.proto_files():
                for file in self.generated_files(proto):
                    checked_in = self.repo_root / file
                    if not checked_in.is_file() or not filecmp.cmp(
                        checked_in, fresh_root / file, shallow=False
                    ):
                        stale.append(file)
            return stale

    def main(self, argv: Sequence[str] | None, *, prog: str, description: str) -> int:
        parser = argparse.ArgumentParser(prog=prog, description=description)
        parser.add_argument(
            "--out", type=Path, default=self.repo_root, help="output root (default: the repository)"
        )
        parser.add_argument(
            "--check", action="store_true", help="only report checked-in files that are stale"
        )
        args = parser.parse_args(argv)
        if args.check:
            stale = self.stale_files()
            for file in stale:
                print(f"stale: {file}", file=sys.stderr)
            return 1 if stale else 0
        for path in self.generate(args.out):
            print(path)
        return 0

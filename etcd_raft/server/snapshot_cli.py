"""`kplane-etcd snapshot status|restore`: etcdctl 3.4's offline snapshot commands for kplane-etcd.

A snapshot file (`etcdctl snapshot save` against kplane-etcd) is the member's LMDB database file
(`data.mdb`, the MVCC store) followed by the sha256 of those bytes, as etcd appends to its bolt db.

`status FILE [-w simple|table|json]` verifies the trailing sha256 when there is one and prints
hash, revision, total keys and total size, like etcdctl:

- hash: the store's HashKV (crc32c over the key space at the snapshot's revision), so it equals
  `etcdctl endpoint hashkv` of the member the snapshot came from at that revision (etcd's own
  value is a crc32c over every bucket, which matches nothing else, so it is not copied);
- revision: the store's current revision; total keys: like etcd, every record in the database
  (each key revision, tombstones included, plus the meta records); total size: the db's bytes.

`restore FILE --data-dir D --name N --initial-cluster ... --initial-cluster-token T
--initial-advertise-peer-urls U [--skip-hash-check]` does what etcd 3.4's restore does: the keys
and revision are kept, the membership is replaced by the new cluster's (member and cluster IDs
from the token and peer URLs), the consistent index is set to the number of members, and a fresh
WAL (hard state commit = that index, term 1) with a Raft snapshot at that index whose voters are
the new members is written, so `kplane-etcd` started on D with the same flags restarts as a member
of the new cluster.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

import lmdb

from componentbase.errors import FlagError
from componentbase.klog import get_logger, setup_logging
from etcd_raft import mvcc
from etcd_raft.raft import ConfState, HardState, Snapshot, SnapshotMetadata
from etcd_raft.server import config as server_config
from etcd_raft.snap import Snapshotter
from etcd_raft.wal import WAL, WalSnapshot

log = get_logger(__name__)

HASH_SIZE = hashlib.sha256().digest_size  # 32: the trailing integrity hash `snapshot save` appends
EXIT_ERROR = 1  # etcdctl's ExitError
EXIT_BAD_ARGS = 128  # etcdctl's ExitBadArgs
MEMBER_BUCKET = b"member"  # etcdserver.MEMBER_BUCKET (not imported: that module pulls in grpc)
RAFT_TERM = 1  # the term of the restored log, as etcd
DATA_FILE = "data.mdb"
_U64 = struct.Struct(">Q")
_CHUNK = 1 << 20


class SnapshotError(Exception):
    """A problem with the snapshot or the flags: reported as one `Error: ...` line."""


# ------------------------------------------------------------------------------ the snapshot file


def db_length(path: Path, *, skip_hash_check: bool, require_hash: bool = True) -> int:
    """The length of the database in `path` (without the trailing sha256, if any), after checking
    that sha256 unless `skip_hash_check`. Like etcd, a file has a hash when its size is 32 more
    than a multiple of 512 (database files are whole pages); one without is refused unless
    `skip_hash_check` or not `require_hash`."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SnapshotError(f"{path}: {err.strerror}") from None
    has_hash = size % 512 == HASH_SIZE
    if not has_hash:
        if require_hash and not skip_hash_check:
            raise SnapshotError(f"snapshot {path} has no sha256 hash; use --skip-hash-check for a copied db")
        return size
    length = size - HASH_SIZE
    if skip_hash_check:
        return length
    digest = hashlib.sha256()
    with path.open("rb") as f:
        remaining = length
        while remaining > 0:
            chunk = f.read(min(_CHUNK, remaining))
            if not chunk:
                raise SnapshotError(f"snapshot {path} was truncated while reading it")
            digest.update(chunk)
            remaining -= len(chunk)
        expected = f.read(HASH_SIZE)
    if digest.digest() != expected:
        raise SnapshotError(
            f"snapshot {path} is corrupt: expected sha256 {expected.hex()}, got {digest.hexdigest()}"
        )
    return length


def copy_db(path: Path, length: int, directory: Path) -> None:
    """Write the first `length` bytes of `path` as `directory`/data.mdb, durably."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / DATA_FILE
    with path.open("rb") as source, target.open("xb") as out:
        _copy_prefix(source, out, length)
        out.flush()
        os.fsync(out.fileno())


def _copy_prefix(source: BinaryIO, out: BinaryIO, length: int) -> None:
    remaining = length
    while remaining > 0:
        chunk = source.read(min(_CHUNK, remaining))
        if not chunk:
            raise SnapshotError("snapshot file was truncated while copying it")
        out.write(chunk)
        remaining -= len(chunk)


def open_store(directory: Path) -> mvcc.KVStore:
    try:
        return mvcc.KVStore(directory)
    except lmdb.Error as err:
        raise SnapshotError(f"snapshot is not a kplane-etcd database ({err})") from None


# ------------------------------------------------------------------------------ status


@dataclass(frozen=True)
class Status:
    hash: int
    revision: int
    total_key: int
    total_size: int


def status(path: Path) -> Status:
    length = db_length(path, skip_hash_check=False, require_hash=False)
    with tempfile.TemporaryDirectory(prefix="kplane-etcd-snapshot-") as tmp:
        directory = Path(tmp) / "db"
        copy_db(path, length, directory)
        total_key = count_records(directory)
        with open_store(directory) as store:
            return Status(store.hash_kv().hash, store.current_revision, total_key, length)


def count_records(directory: Path) -> int:
    """Every record of every named database (etcd's TotalKey counts every bucket's entries)."""
    try:
        env = lmdb.open(str(directory), readonly=True, lock=False, max_dbs=8, subdir=True)
    except lmdb.Error as err:
        raise SnapshotError(f"snapshot is not a kplane-etcd database ({err})") from None
    try:
        with env.begin() as txn:
            names = [bytes(name) for name, _ in txn.cursor()]
        total = 0
        for name in names:
            db = env.open_db(name, create=False)
            with env.begin(db=db) as txn:
                total += int(txn.stat(db)["entries"])
        return total
    finally:
        env.close()


def human_bytes(size: int) -> str:
    """go-humanize's Bytes (SI units), as etcdctl prints sizes."""
    if size < 10:
        return f"{size} B"
    sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    exponent = min(math.floor(math.log(size) / math.log(1000)), len(sizes) - 1)
    value = math.floor(size / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {sizes[exponent]}" if value < 10 else f"{value:.0f} {sizes[exponent]}"


def format_status(result: Status, write_out: str) -> str:
    cells = [f"{result.hash:x}", str(result.revision), str(result.total_key), human_bytes(result.total_size)]
    if write_out == "json":
        fields = {
            "hash": result.hash,
            "revision": result.revision,
            "totalKey": result.total_key,
            "totalSize": result.total_size,
        }
        return json.dumps(fields, separators=(",", ":"))
    if write_out == "table":
        header = ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"]
        widths = [max(len(h), len(c)) for h, c in zip(header, cells, strict=True)]
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        head = "|" + "|".join(f" {h.center(w)} " for h, w in zip(header, widths, strict=True)) + "|"
        row = "|" + "|".join(f" {c.rjust(w)} " for c, w in zip(cells, widths, strict=True)) + "|"
        return "\n".join([rule, head, rule, row, rule])
    return ", ".join(cells)


# ------------------------------------------------------------------------------ restore


@dataclass(frozen=True)
class RestoreConfig:
    snapshot: Path
    name: str
    data_dir: Path
    peer_urls: tuple[str, ...]
    initial_cluster: str
    token: str
    skip_hash_check: bool


def restore(cfg: RestoreConfig) -> None:
    try:
        members = server_config.parse_initial_cluster(cfg.initial_cluster, cfg.token)
        for url in cfg.peer_urls:
            server_config.check_url("--initial-advertise-peer-urls", url)
    except FlagError as err:
        raise SnapshotError(str(err)) from None
    own = next((m for m in members if m.name == cfg.name), None)
    if own is None:
        raise SnapshotError(f"--initial-cluster has no member named {cfg.name!r} (--name)")
    if sorted(own.peer_urls) != sorted(cfg.peer_urls):
        raise SnapshotError(
            f"--initial-cluster gives {cfg.name!r} the peer URLs {','.join(own.peer_urls)}, "
            f"but --initial-advertise-peer-urls says {','.join(cfg.peer_urls)}"
        )
    if len({m.id for m in members}) != len(members):
        raise SnapshotError("--initial-cluster has members with the same peer URLs")
    data_dir = cfg.data_dir
    existed = data_dir.exists()
    if existed and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise SnapshotError(f"data-dir {str(data_dir)!r} not empty or could not be read")
    length = db_length(cfg.snapshot, skip_hash_check=cfg.skip_hash_check)
    member_dir = data_dir / "member"
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_member(cfg, members, own.id, length, member_dir)
    except BaseException:
        shutil.rmtree(data_dir if not existed else member_dir, ignore_errors=True)
        raise
    log.info(
        "Restored snapshot",
        path=str(cfg.snapshot),
        data_dir=str(data_dir),
        member=f"{own.id:x}",
        cluster=f"{server_config.cluster_id(m.id for m in members):x}",
    )


def _write_member(
    cfg: RestoreConfig,
    members: Sequence[server_config.Member],
    own_id: int,
    length: int,
    member_dir: Path,
) -> None:
    # Imported here: etcdserver imports grpc and the API, which `status` does not need.
    from etcd_raft.server.etcdserver import MemberInfo

    index = len(members)  # etcd: the consistent index is the number of ConfChange entries it writes
    voters = tuple(sorted(m.id for m in members))
    copy_db(cfg.snapshot, length, member_dir / "db")
    with open_store(member_dir / "db") as store:
        for name, _ in store.records(MEMBER_BUCKET):  # the old cluster's members go
            store.put_record(MEMBER_BUCKET, name, None)
        for member in members:
            info = MemberInfo(member.id, member.name, list(member.peer_urls))
            store.put_record(MEMBER_BUCKET, _U64.pack(member.id), info.to_json())
        store.set_consistent_index(index, RAFT_TERM)
        store.force_commit()
    metadata = {"member_id": own_id, "cluster_id": server_config.cluster_id(voters)}
    with WAL.create(member_dir / "wal", json.dumps(metadata).encode()) as wal:
        wal.save(HardState(term=RAFT_TERM, vote=0, commit=index), [])
        meta = SnapshotMetadata(index=index, term=RAFT_TERM, conf_state=ConfState(voters=voters))
        Snapshotter(member_dir / "snap").save(Snapshot(meta, b""))
        wal.save_snapshot(WalSnapshot(index, RAFT_TERM))


# ------------------------------------------------------------------------------ command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"Error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_ARGS)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="kplane-etcd snapshot", description="Manages etcd node snapshots (offline).")
    commands = root.add_subparsers(dest="command", required=True, parser_class=_Parser)
    status_cmd = commands.add_parser("status", help="Gets backend snapshot status of a given file")
    status_cmd.add_argument("file")
    status_cmd.add_argument(
        "-w", "--write-out", default="simple", choices=["simple", "table", "json"], help="Output format"
    )
    restore_cmd = commands.add_parser("restore", help="Restores an etcd member snapshot to an etcd directory")
    restore_cmd.add_argument("file")
    restore_cmd.add_argument("--data-dir", default="", help="Path to the data directory (default: NAME.etcd)")
    restore_cmd.add_argument("--name", default="default", help="Human-readable name for this member")
    restore_cmd.add_argument(
        "--initial-cluster", default="", help="Initial cluster configuration for restore bootstrap"
    )
    restore_cmd.add_argument(
        "--initial-cluster-token", default="etcd-cluster", help="Initial cluster token for the new cluster"
    )
    restore_cmd.add_argument(
        "--initial-advertise-peer-urls",
        default="http://localhost:2380",
        help="List of this member's peer URLs to advertise to the rest of the cluster",
    )
    restore_cmd.add_argument(
        "--skip-hash-check",
        nargs="?",
        const=True,
        default=False,
        type=_bool,
        help="Ignore snapshot integrity hash value (required if copied from data directory)",
    )
    return root


def main(argv: Sequence[str]) -> int:
    """Run `kplane-etcd snapshot ARGV...`; returns the exit status."""
    args = parser().parse_args(list(argv))
    try:
        if args.command == "status":
            print(format_status(status(Path(args.file)), args.write_out))
            return 0
        setup_logging()
        restore(
            RestoreConfig(
                snapshot=Path(args.file),
                name=args.name,
                data_dir=Path(args.data_dir or f"{args.name}.etcd"),
                peer_urls=tuple(u for u in args.initial_advertise_peer_urls.split(",") if u),
                initial_cluster=args.initial_cluster or f"{args.name}=http://localhost:2380",
                token=args.initial_cluster_token,
                skip_hash_check=args.skip_hash_check,
            )
        )
        return 0
    except SnapshotError as err:
        message = str(err)
    except (Exception, KeyboardInterrupt) as err:  # no traceback: one line, like etcdctl
        message = f"{type(err).__name__}: {err}"
    print(f"Error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR

"""`etcdctl snapshot save` from a kplane-etcd member, then `kplane-etcd snapshot status|restore` and a
member of a new cluster started on the restored data dir (etcd 3.4's disaster-recovery path)."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.etcd_member import Member, free_port

from pki import PkiSpec, init_pki

pytestmark = pytest.mark.integration

SNAPSHOT = [sys.executable, "-m", "etcd_raft", "snapshot"]


def snapshot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SNAPSHOT, *args], capture_output=True, text=True, timeout=30)


def restore_args(member: Member) -> list[str]:
    return [
        f"--data-dir={member.data_dir}",
        f"--name={member.name}",
        f"--initial-cluster={member.name}={member.peer}",
        f"--initial-cluster-token={member.token}",
        f"--initial-advertise-peer-urls={member.peer}",
    ]


def test_snapshot_status_and_restore_into_a_new_cluster(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_pki(pki, PkiSpec())
    old = Member(pki, tmp_path / "old", "m1", "etcd-cluster", free_port(), free_port())
    new = Member(pki, tmp_path / "new", "restored", "restored-token", free_port(), free_port())
    db = tmp_path / "snapshot.db"
    try:
        old.start()
        for i in range(5):
            old.etcdctl("put", f"/registry/k{i}", f"v{i}")
        old.etcdctl("del", "/registry/k4")
        before = old.json("get", "/registry/", "--prefix")
        revision = before["header"]["revision"]
        old_ids = (before["header"]["member_id"], before["header"]["cluster_id"])
        hash_kv = old.json("endpoint", "hashkv")[0]["HashKV"]["hash"]
        old.etcdctl("snapshot", "save", str(db))
        old.stop()

        status = snapshot("status", str(db), "-w", "json")
        assert status.returncode == 0, status.stderr
        fields = json.loads(status.stdout)
        assert fields["revision"] == revision == 7  # 5 puts and a delete after revision 1
        assert fields["hash"] == hash_kv  # the key space's HashKV at that revision
        # etcd counts every record: 6 key revisions (the tombstone too) plus the meta records
        assert fields["totalKey"] >= 6
        assert fields["totalSize"] == db.stat().st_size - 32
        simple = snapshot("status", str(db)).stdout.strip()
        assert simple.split(", ")[:3] == [f"{hash_kv:x}", str(revision), str(fields["totalKey"])]

        corrupt = tmp_path / "corrupt.db"
        data = bytearray(db.read_bytes())
        data[len(data) // 2] ^= 0xFF
        corrupt.write_bytes(bytes(data))
        for command in (["status", str(corrupt)], ["restore", str(corrupt), *restore_args(new)]):
            refused = snapshot(*command)
            assert refused.returncode == 1, refused
            lines = refused.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: ") and "sha256" in lines[0], lines
        assert not new.data_dir.exists()

        restored = snapshot("restore", str(db), *restore_args(new))
        assert restored.returncode == 0, restored.stderr
        again = snapshot("restore", str(db), *restore_args(new))
        assert again.returncode == 1
        assert again.stderr.splitlines() == [
            f"Error: data-dir '{new.data_dir}' not empty or could not be read"
        ]

        new.start()
        after = new.json("get", "/registry/", "--prefix")
        assert after["header"]["revision"] == revision
        assert (after["header"]["member_id"], after["header"]["cluster_id"]) != tuple(old_ids)
        got = {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode()
            for kv in after["kvs"]
        }
        assert got == {f"/registry/k{i}": f"v{i}" for i in range(4)}
        assert [kv["mod_revision"] for kv in after["kvs"]] == [kv["mod_revision"] for kv in before["kvs"]]
        members = new.json("member", "list")["members"]
        assert [(m["name"], m["peerURLs"]) for m in members] == [(new.name, [new.peer])]
        new.etcdctl("put", "/registry/after", "x")  # the new cluster takes writes
        assert new.json("get", "/registry/after")["header"]["revision"] == revision + 1
    finally:
        old.stop()
        new.stop()

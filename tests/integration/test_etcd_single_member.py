"""A one-member kplane-etcd as its own process, with mTLS, driven by the real etcdctl (3.4)."""

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from helpers.etcd_member import Member, free_port

from etcd_raft.api.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from etcd_raft.client import EtcdClient
from pki import PkiSpec, init_pki

pytestmark = pytest.mark.integration

REQUEST_LIMIT = 110_000  # room for one 100 KiB Put


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    init_pki(directory, PkiSpec())
    return directory


@pytest.fixture
def member(pki_dir: Path, tmp_path: Path) -> Iterator[Member]:
    running = Member(pki_dir, tmp_path / "data")
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_put_get_delete_and_history(member: Member) -> None:
    member.etcdctl("put", "foo", "bar")
    member.etcdctl("put", "foo", "baz")
    first = member.json("get", "foo", "--rev=2")["kvs"][0]
    assert base64.b64decode(first["value"]) == b"bar"
    latest = member.json("get", "foo")["kvs"][0]
    assert (latest["version"], latest["create_revision"], latest["mod_revision"]) == (2, 2, 3)
    assert member.etcdctl("del", "foo").stdout.strip() == "1"
    assert member.json("get", "foo").get("kvs") is None


def test_prefix_limit_and_count(member: Member) -> None:
    for i in range(5):
        member.etcdctl("put", f"/registry/pods/p{i}", str(i))
    found = member.json("get", "/registry/pods/", "--prefix", "--limit=2")
    assert found["count"] == 5 and found["more"] is True and len(found["kvs"]) == 2


def test_txn_compares_and_branches(member: Member) -> None:
    member.etcdctl("put", "k", "v1")
    script = 'value("k") = "v1"\n\nput k v2\n\nput k failed\n\n'
    assert member.etcdctl("txn", stdin=script).stdout.startswith("SUCCESS")
    assert member.etcdctl("txn", stdin=script).stdout.startswith("FAILURE")
    assert member.etcdctl("get", "k", "--print-value-only").stdout.strip() == "failed"


def test_watch_replays_history_from_a_revision(member: Member) -> None:
    for value in ("a", "b", "c"):
        member.etcdctl("put", "w", value)
    watch = subprocess.Popen(
        [
            "etcdctl",
            f"--endpoints={member.endpoint}",
            f"--cacert={member.pki}/etcd/ca.crt",
            f"--cert={member.pki}/apiserver-etcd-client.crt",
            f"--key={member.pki}/apiserver-etcd-client.key",
            "watch",
            "w",
            "--rev=2",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    try:
        assert watch.stdout is not None
        lines = [watch.stdout.readline().strip() for _ in range(9)]
        member.etcdctl("put", "w", "d")
        lines += [watch.stdout.readline().strip() for _ in range(3)]
    finally:
        watch.kill()
        watch.wait()
    assert lines == ["PUT", "w", "a", "PUT", "w", "b", "PUT", "w", "c", "PUT", "w", "d"]


def test_lease_keeps_keys_until_it_expires(member: Member) -> None:
    lease = member.etcdctl("lease", "grant", "2").stdout.split()[1]
    member.etcdctl("put", "leased", "v", f"--lease={lease}")
    alive = member.etcdctl("lease", "timetolive", lease, "--keys").stdout
    assert "attached keys([leased])" in alive
    assert (
        member.etcdctl("lease", "keep-alive", "--once", lease)
        .stdout.strip()
        .endswith("keepalived with TTL(2)")
    )
    deadline = time.monotonic() + 10
    while member.json("get", "leased").get("kvs"):
        assert time.monotonic() < deadline, "the lease did not expire"
        time.sleep(0.2)
    refused = member.etcdctl("put", "again", "v", f"--lease={lease}", check=False)
    assert "etcdserver: requested lease not found" in refused.stderr


def test_compaction_and_defragment(member: Member) -> None:
    for value in ("1", "2", "3"):
        member.etcdctl("put", "c", value)
    member.etcdctl("compaction", "4")
    old = member.etcdctl("get", "c", "--rev=2", check=False)
    assert old.returncode != 0 and "etcdserver: mvcc: required revision has been compacted" in old.stderr
    assert "Finished defragmenting" in member.etcdctl("defrag").stdout
    assert member.etcdctl("get", "c", "--print-value-only").stdout.strip() == "3"


def test_status_members_and_snapshot(member: Member, tmp_path: Path) -> None:
    status = member.json("endpoint", "status")[0]["Status"]  # type: ignore[index]
    assert status["leader"] == status["header"]["member_id"]
    members = member.json("member", "list")["members"]
    assert [m["name"] for m in members] == ["m1"] and members[0]["clientURLs"] == [member.endpoint]
    snapshot = tmp_path / "snap.db"
    member.etcdctl("snapshot", "save", str(snapshot))
    data = snapshot.read_bytes()
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]  # etcd's trailing sha256


def test_a_restarted_member_keeps_its_data(member: Member) -> None:
    for i in range(20):
        member.etcdctl("put", f"r{i}", str(i))
    before = member.json("get", "r19")["header"]["revision"]
    member.stop()
    member.start()
    after = member.json("get", "r19")
    assert base64.b64decode(after["kvs"][0]["value"]) == b"19"
    assert after["header"]["revision"] == before


def test_bad_requests_get_etcds_errors_and_the_member_keeps_serving(member: Member) -> None:
    too_many = "\n" + "".join(f"put k{i} v\n" for i in range(129)) + "\n\n"
    assert (
        "etcdserver: too many operations in txn request"
        in member.etcdctl("txn", stdin=too_many, check=False).stderr
    )
    duplicate = "\nput d 1\nput d 2\n\n\n"
    assert (
        "etcdserver: duplicate key given in txn request"
        in member.etcdctl("txn", stdin=duplicate, check=False).stderr
    )
    huge = member.etcdctl("put", "big", stdin="x" * 1_800_000, check=False)  # > 1.5 MiB, < the client's 2 MiB
    assert huge.returncode != 0 and "etcdserver: request is too large" in huge.stderr
    unknown = member.etcdctl("member", "remove", "1234", check=False)
    assert "etcdserver: member not found" in unknown.stderr
    no_cert = member.etcdctl("get", "foo", cert=False, check=False)
    assert no_cert.returncode != 0
    member.etcdctl("put", "still", "serving")
    assert member.etcdctl("get", "still", "--print-value-only").stdout.strip() == "serving"


def test_the_space_quota_raises_nospace_and_disarm_clears_it(pki_dir: Path, tmp_path: Path) -> None:
    small = Member(pki_dir, tmp_path / "data", extra_flags=("--quota-backend-bytes=65536",))
    try:
        small.start()
        refused = None
        for i in range(200):
            result = small.etcdctl("put", f"fill/{i}", "x" * 1024, check=False)
            if result.returncode != 0:
                refused = result
                break
        assert refused is not None and "etcdserver: mvcc: database space exceeded" in refused.stderr
        assert "alarm:NOSPACE" in small.etcdctl("alarm", "list").stdout
        assert small.etcdctl("get", "fill/0", "--print-value-only").stdout.strip() == "x" * 1024
        small.etcdctl("alarm", "disarm")
        assert small.etcdctl("alarm", "list").stdout.strip() == ""
    finally:
        small.stop()


def test_health_and_metrics_use_etcds_names(pki_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    observed = Member(
        pki_dir, tmp_path / "data", extra_flags=(f"--listen-metrics-urls=http://127.0.0.1:{port}",)
    )
    try:
        observed.start()
        observed.etcdctl("put", "k", "v")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert json.loads(response.read()) == {"health": "true", "reason": ""}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        observed.stop()
    assert "etcd_server_has_leader 1.0" in text and "etcd_server_is_leader 1.0" in text
    assert "etcd_disk_wal_fsync_duration_seconds_count" in text
    assert "etcd_mvcc_db_total_size_in_bytes" in text and "etcd_server_proposals_committed_total" in text


def test_a_quiet_watch_gets_progress_notifications(pki_dir: Path, tmp_path: Path) -> None:
    member = Member(
        pki_dir, tmp_path / "data", extra_flags=("--experimental-watch-progress-notify-interval=200ms",)
    )

    async def first_progress() -> int:
        async with EtcdClient(
            [member.endpoint],
            ca_file=pki_dir / "etcd/ca.crt",
            cert_file=pki_dir / "apiserver-etcd-client.crt",
            key_file=pki_dir / "apiserver-etcd-client.key",
        ) as client:
            await client.put(b"quiet", b"1")
            async with client.watch(b"quiet", progress_notify=True) as watcher:
                async for batch in watcher:
                    if batch.is_progress_notify:
                        return batch.revision
        raise AssertionError("the watch ended")

    try:
        member.start()
        assert asyncio.run(asyncio.wait_for(first_progress(), 10)) == 2
    finally:
        member.stop()


@pytest.mark.parametrize("store", ["kplane", "etcd"])
def test_large_watch_responses_are_fragmented_on_request(pki_dir: Path, tmp_path: Path, store: str) -> None:
    """Ten 100 KiB events replayed to a watch are more than etcd's limit for one response
    (--max-request-bytes + 512 KiB): a watch that asked for fragments gets them in pieces marked
    `fragment`, one that did not gets them whole; our client joins the pieces again. Real etcd
    behaves the same."""
    command = ("/usr/bin/etcd",) if store == "etcd" else Member.command
    member = Member(
        pki_dir, tmp_path / "data", command=command, extra_flags=(f"--max-request-bytes={REQUEST_LIMIT}",)
    )
    credentials = grpc.ssl_channel_credentials(
        (pki_dir / "etcd/ca.crt").read_bytes(),
        (pki_dir / "apiserver-etcd-client.key").read_bytes(),
        (pki_dir / "apiserver-etcd-client.crt").read_bytes(),
    )

    async def raw_responses(fragment: bool) -> list[rpc_pb2.WatchResponse]:
        """The WatchResponses carrying the replayed events, straight off the wire."""
        create = rpc_pb2.WatchCreateRequest(
            key=b"big/", range_end=b"big0", start_revision=1, fragment=fragment
        )
        async with grpc.aio.secure_channel(member.endpoint.removeprefix("https://"), credentials) as channel:
            stream = rpc_pb2_grpc.WatchStub(channel).Watch()
            await stream.write(rpc_pb2.WatchRequest(create_request=create))
            responses, events = [], 0
            while events < 10:
                response = await stream.read()
                if response.events or response.fragment:
                    responses.append(response)
                    events += len(response.events)
            stream.cancel()
            return responses

    async def scenario() -> tuple[list[rpc_pb2.WatchResponse], list[rpc_pb2.WatchResponse], int]:
        async with EtcdClient(
            [member.endpoint],
            ca_file=pki_dir / "etcd/ca.crt",
            cert_file=pki_dir / "apiserver-etcd-client.crt",
            key_file=pki_dir / "apiserver-etcd-client.key",
        ) as client:
            for i in range(10):
                await client.put(f"big/{i}", bytes([65 + i]) * 100 * 1024)
            fragmented, whole = await raw_responses(True), await raw_responses(False)
            async with client.watch("big/", prefix=True, start_revision=1, fragment=True) as watcher:
                async for batch in watcher:
                    return fragmented, whole, len(batch.events)
        raise AssertionError("the watch ended")

    try:
        member.start()
        fragmented, whole, joined = asyncio.run(asyncio.wait_for(scenario(), 20))
    finally:
        member.stop()
    assert len(fragmented) > 1
    assert [r.fragment for r in fragmented] == [True] * (len(fragmented) - 1) + [False]
    assert all(r.ByteSize() <= REQUEST_LIMIT + 512 * 1024 + 110_000 for r in fragmented)  # < 1 event over
    assert sum(len(r.events) for r in fragmented) == 10
    assert len(whole) == 1 and len(whole[0].events) == 10 and not whole[0].fragment
    assert joined == 10

"""etcd_raft.client against a real etcd (Debian's /usr/bin/etcd, 3.4): mutual TLS with client
certificate auth, every client method, etcd's errors, and etcdctl reading what the client wrote.

One etcd serves the whole module (on free ports, in a fresh data directory, killed by PID
afterwards); each test uses its own key prefix. The last tests restart etcd and compact the whole
store."""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import pki
from etcd_raft.api.mvccpb import kv_pb2
from etcd_raft.client import (
    CompactedError,
    Compare,
    EmptyKeyError,
    EtcdClient,
    FutureRevisionError,
    LeaseNotFoundError,
    Op,
    UnavailableError,
    WatchBatch,
    Watcher,
)

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
START_DEADLINE = 20.0

pytestmark = pytest.mark.integration  # etcd and etcdctl come from deploy/install.sh


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RealEtcd:
    """One etcd member on free ports with its PKI and data directory under `base`."""

    def __init__(self, base: Path):
        self.base = base
        self.pki = base / "pki"
        self.log = base / "etcd.log"
        pki.init_pki(self.pki, pki.PkiSpec())
        client_port, peer_port = free_port(), free_port()
        self.port = client_port
        self.endpoint = f"https://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self.argv = [
            ETCD,
            "--name=default",
            f"--data-dir={base / 'data'}",
            f"--listen-client-urls={self.endpoint}",
            f"--advertise-client-urls={self.endpoint}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            f"--cert-file={self.pki / 'etcd' / 'server.crt'}",
            f"--key-file={self.pki / 'etcd' / 'server.key'}",
            f"--trusted-ca-file={self.ca}",
            "--client-cert-auth",
            "--heartbeat-interval=50",  # a quick first election, and leases of 1 s
            "--election-timeout=500",
        ]
        self.env = dict(os.environ)
        if platform.machine() not in ("x86_64", "AMD64"):
            self.env["ETCD_UNSUPPORTED_ARCH"] = {"aarch64": "arm64"}.get(
                platform.machine(), platform.machine()
            )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ca(self) -> Path:
        return self.pki / "etcd" / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.pki / "apiserver-etcd-client.crt"

    @property
    def key(self) -> Path:
        return self.pki / "apiserver-etcd-client.key"

    def client(self, *, endpoints: list[str] | None = None, timeout: float = 5.0) -> EtcdClient:
        return EtcdClient(
            endpoints or [self.endpoint],
            ca_file=self.ca,
            cert_file=self.cert,
            key_file=self.key,
            timeout=timeout,
        )

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + START_DEADLINE
        while not self._listening():
            if self.process.poll() is not None:
                pytest.fail(f"etcd exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"etcd did not listen within {START_DEADLINE} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None


async def _has_leader(etcd: RealEtcd) -> bool:
    try:
        async with etcd.client(timeout=1.0) as client:
            return (await client.status()).leader != 0
    except UnavailableError:
        return False


@pytest.fixture(scope="module")
def real_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealEtcd]:
    etcd = RealEtcd(tmp_path_factory.mktemp("etcd"))
    try:
        etcd.start()
        deadline = time.monotonic() + START_DEADLINE
        while not asyncio.run(_has_leader(etcd)):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"etcd elected no leader within {START_DEADLINE} s:\n{etcd.log.read_text()[-3000:]}"
                )
            time.sleep(0.1)
        yield etcd
    finally:
        etcd.kill()


@pytest.fixture
async def client(real_etcd: RealEtcd) -> AsyncIterator[EtcdClient]:
    async with real_etcd.client() as etcd_client:
        yield etcd_client


async def next_batch(watcher: Watcher, within: float = 5.0) -> WatchBatch:
    async with asyncio.timeout(within):
        return await anext(watcher)


def kv_pairs(kvs: list[kv_pb2.KeyValue]) -> list[tuple[bytes, bytes]]:
    return [(kv.key, kv.value) for kv in kvs]


async def test_put_get_prefix_revisions_delete(client: EtcdClient) -> None:
    first = await client.put("/kv/a", b"1")
    second = await client.put("/kv/b", "2")
    assert second.header.revision == first.header.revision + 1
    updated = await client.put("/kv/a", b"1b", prev_kv=True)
    assert updated.prev_kv.value == b"1" and updated.prev_kv.mod_revision == first.header.revision
    await client.put("/kv0", b"outside the prefix")

    got = await client.get("/kv/a")
    assert kv_pairs(list(got.kvs)) == [(b"/kv/a", b"1b")]
    kv = got.kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (
        first.header.revision,
        updated.header.revision,
        2,
    )
    assert got.header.revision == updated.header.revision + 1

    listed = await client.get("/kv/", prefix=True)
    assert kv_pairs(list(listed.kvs)) == [(b"/kv/a", b"1b"), (b"/kv/b", b"2")] and listed.count == 2
    old = await client.get("/kv/a", revision=first.header.revision)
    assert kv_pairs(list(old.kvs)) == [(b"/kv/a", b"1")]
    limited = await client.get("/kv/", prefix=True, limit=1)
    assert len(limited.kvs) == 1 and limited.more and limited.count == 2
    keys = await client.get("/kv/", prefix=True, keys_only=True)
    assert [(kv.key, kv.value) for kv in keys.kvs] == [(b"/kv/a", b""), (b"/kv/b", b"")]
    counted = await client.get("/kv/", prefix=True, count_only=True)
    assert counted.count == 2 and not counted.kvs
    ranged = await client.get("/kv/a", range_end="/kv/b")
    assert kv_pairs(list(ranged.kvs)) == [(b"/kv/a", b"1b")]
    local = await client.get("/kv/b", serializable=True)
    assert kv_pairs(list(local.kvs)) == [(b"/kv/b", b"2")]
    assert not (await client.get("/kv/missing")).kvs

    deleted = await client.delete("/kv/", prefix=True, prev_kv=True)
    assert deleted.deleted == 2 and kv_pairs(list(deleted.prev_kvs)) == [(b"/kv/a", b"1b"), (b"/kv/b", b"2")]
    assert (await client.get("/kv/", prefix=True)).count == 0
    assert (await client.get("/kv0")).count == 1
    assert (await client.delete("/kv0")).deleted == 1


async def test_txn_compare_and_swap(client: EtcdClient) -> None:
    create = await client.txn(
        [Compare.create_revision("/txn/x") == 0], [Op.put("/txn/x", b"v1")], [Op.get("/txn/x")]
    )
    assert create.succeeded and create.responses[0].WhichOneof("response") == "response_put"
    again = await client.txn(
        [Compare.create_revision("/txn/x") == 0], [Op.put("/txn/x", b"v2")], [Op.get("/txn/x")]
    )
    assert not again.succeeded
    current = again.responses[0].response_range.kvs[0]
    assert current.value == b"v1"

    stale = await client.txn(
        [Compare.mod_revision("/txn/x") == current.mod_revision - 1], [Op.put("/txn/x", "no")]
    )
    assert not stale.succeeded and not stale.responses
    swapped = await client.txn(
        [Compare.mod_revision("/txn/x") == current.mod_revision, Compare.value("/txn/x") == "v1"],
        [Op.put("/txn/x", b"v2", prev_kv=True), Op.put("/txn/y", b"y"), Op.get("/txn/", prefix=True)],
    )
    assert swapped.succeeded
    assert swapped.responses[0].response_put.prev_kv.value == b"v1"
    assert kv_pairs(list(swapped.responses[2].response_range.kvs)) == [(b"/txn/x", b"v2"), (b"/txn/y", b"y")]

    checks = await client.txn(
        [
            Compare.version("/txn/x") > 1,
            Compare.version("/txn/x") < 3,
            Compare.value("/txn/y") != b"z",
            Compare.lease("/txn/y") == 0,
            Compare.mod_revision("/txn/", prefix=True) > 0,
        ],
        [Op.delete("/txn/y", prev_kv=True), Op.txn([Compare.version("/txn/x") == 2], [Op.get("/txn/x")])],
    )
    assert checks.succeeded
    assert checks.responses[0].response_delete_range.deleted == 1
    nested = checks.responses[1].response_txn
    assert nested.succeeded and nested.responses[0].response_range.kvs[0].value == b"v2"
    await client.delete("/txn/", prefix=True)


async def test_errors_carry_etcds_messages(client: EtcdClient) -> None:
    revision = (await client.put("/err/k", b"v")).header.revision
    with pytest.raises(FutureRevisionError, match="required revision is a future revision"):
        await client.get("/err/k", revision=revision + 1000)
    with pytest.raises(EmptyKeyError, match="etcdserver: key is not provided") as empty:
        await client.put(b"", b"v")
    assert empty.value.endpoint == client.endpoints[0]
    with pytest.raises(LeaseNotFoundError, match="etcdserver: requested lease not found"):
        await client.lease_revoke(0x1234)
    with pytest.raises(LeaseNotFoundError):
        await client.lease_keep_alive_once(0x1234)
    assert (await client.lease_time_to_live(0x1234)).TTL == -1  # etcd's answer: no error


async def test_watch_events_history_multiplexing_and_progress(client: EtcdClient) -> None:
    async with (
        client.watch("/w/", prefix=True, prev_kv=True) as prefix_watch,
        client.watch("/w/a") as key_watch,
    ):
        put = await client.put("/w/a", b"1")
        await client.put("/w/b", b"2")
        await client.put("/w/a", b"3")
        await client.delete("/w/a")
        events: list[kv_pb2.Event] = []
        while len(events) < 4:
            events.extend((await next_batch(prefix_watch)).events)
        assert [(e.type, e.kv.key, e.kv.value) for e in events] == [
            (kv_pb2.Event.PUT, b"/w/a", b"1"),
            (kv_pb2.Event.PUT, b"/w/b", b"2"),
            (kv_pb2.Event.PUT, b"/w/a", b"3"),
            (kv_pb2.Event.DELETE, b"/w/a", b""),
        ]
        assert events[2].prev_kv.value == b"1" and events[3].prev_kv.value == b"3"
        assert events[0].kv.mod_revision == put.header.revision
        key_events: list[kv_pb2.Event] = []
        while len(key_events) < 3:
            key_events.extend((await next_batch(key_watch)).events)
        assert [e.kv.key for e in key_events] == [b"/w/a"] * 3
        assert not key_events[1].HasField("prev_kv")

        key_watch.close()  # the other watch on the shared stream goes on
        assert [batch async for batch in key_watch] == []
        await client.put("/w/c", b"4")
        assert [e.kv.key for e in (await next_batch(prefix_watch)).events] == [b"/w/c"]

        client.request_watch_progress()
        progress = await next_batch(prefix_watch)
        assert progress.is_progress_notify and progress.revision >= put.header.revision + 4

    # From history: every change since the first put, in order, in one or more batches.
    async with client.watch("/w/", prefix=True, start_revision=put.header.revision) as history:
        replayed: list[kv_pb2.Event] = []
        while len(replayed) < 5:
            replayed.extend((await next_batch(history)).events)
    assert [(e.kv.key, e.kv.mod_revision) for e in replayed] == [
        (e.kv.key, e.kv.mod_revision) for e in [*events, *replayed[4:]]
    ]
    assert [e.kv.key for e in replayed] == [b"/w/a", b"/w/b", b"/w/a", b"/w/a", b"/w/c"]

    # A watch that is only iterated, then closed, and one created after the stream emptied.
    watcher = client.watch("/w/d")
    created_at = await watcher.wait_created()
    await client.put("/w/d", b"5")
    batch = await next_batch(watcher)
    assert batch.events[0].kv.mod_revision == created_at + 1
    await watcher.aclose()
    async with client.watch("/w/e") as late:
        await client.put("/w/e", b"6")
        assert (await next_batch(late)).events[0].kv.value == b"6"
    await client.delete("/w/", prefix=True)


async def test_leases_keep_alive_time_to_live_and_expiry(client: EtcdClient) -> None:
    granted_at = time.monotonic()
    kept = await client.lease_grant(2)
    expiring = await client.lease_grant(1)
    assert kept.ID and kept.TTL == 2 and expiring.TTL == 1
    await client.put("/lease/kept", b"k", lease=kept.ID)
    await client.put("/lease/expiring", b"e", lease=expiring.ID)
    ttl = await client.lease_time_to_live(kept.ID)
    assert ttl.grantedTTL == 2 and 0 < ttl.TTL <= 2 and list(ttl.keys) == [b"/lease/kept"]
    assert list((await client.lease_time_to_live(kept.ID, keys=False)).keys) == []
    assert {lease.ID for lease in (await client.lease_leases()).leases} >= {kept.ID, expiring.ID}
    assert (await client.lease_keep_alive_once(kept.ID)).TTL == 2

    async with client.watch("/lease/expiring") as expiry, client.lease_keep_alive(kept.ID) as keep_alive:
        renewals = [await anext(keep_alive)]
        deletion = await next_batch(expiry, within=10)  # the unrenewed lease runs out
        assert deletion.events[0].type == kv_pb2.Event.DELETE
        assert (await client.lease_time_to_live(expiring.ID)).TTL == -1
        while time.monotonic() - granted_at < 2.5:  # renewed every TTL/3, it outlives its first TTL
            renewals.append(await anext(keep_alive))
        assert len(renewals) >= 3
        assert all(renewal.ID == kept.ID and renewal.TTL == 2 for renewal in renewals)
        assert (await client.get("/lease/kept")).count == 1

        await client.lease_revoke(kept.ID)
        assert (await client.get("/lease/kept")).count == 0
        with pytest.raises(LeaseNotFoundError):  # the next renewal finds the lease gone
            async with asyncio.timeout(5):
                async for _ in keep_alive:
                    pass


async def test_status_member_list_and_alarms(client: EtcdClient, real_etcd: RealEtcd) -> None:
    status = await client.status()
    assert status.version.startswith("3.") and status.leader == status.header.member_id
    assert status.raftIndex > 0 and status.dbSize > 0
    pinned = await client.status(real_etcd.endpoint)
    assert pinned.header.member_id == status.header.member_id
    members = (await client.member_list()).members
    assert [(m.ID, m.name, list(m.clientURLs)) for m in members] == [
        (status.header.member_id, "default", [real_etcd.endpoint])
    ]
    assert not (await client.alarm_list()).alarms


async def test_fails_over_to_the_next_endpoint(real_etcd: RealEtcd) -> None:
    dead = f"https://127.0.0.1:{free_port()}"
    async with real_etcd.client(endpoints=[dead, real_etcd.endpoint], timeout=3) as client:
        await client.put("/failover/k", b"v")  # not applied at the dead endpoint: safe to send on
        assert (await client.get("/failover/k")).kvs[0].value == b"v"
        async with client.watch("/failover/k") as watcher:
            await client.delete("/failover/k")
            assert (await next_batch(watcher)).events[0].type == kv_pb2.Event.DELETE


async def test_a_client_without_a_certificate_is_refused(real_etcd: RealEtcd) -> None:
    async with EtcdClient([real_etcd.endpoint], ca_file=real_etcd.ca, timeout=1) as anonymous:
        with pytest.raises(UnavailableError):
            await anonymous.get("/anything")


def test_etcdctl_reads_what_the_client_wrote(real_etcd: RealEtcd) -> None:
    async def write() -> None:
        async with real_etcd.client() as client:
            await client.put("/ctl/key", b"from python")

    asyncio.run(write())
    result = subprocess.run(
        [
            ETCDCTL,
            f"--endpoints={real_etcd.endpoint}",
            f"--cacert={real_etcd.ca}",
            f"--cert={real_etcd.cert}",
            f"--key={real_etcd.key}",
            "get",
            "/ctl/key",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["/ctl/key", "from python"]


async def test_watch_and_keep_alive_resume_after_an_etcd_restart(
    client: EtcdClient, real_etcd: RealEtcd
) -> None:
    lease = await client.lease_grant(3)
    async with (
        client.watch("/restart/", prefix=True) as watcher,
        client.lease_keep_alive(lease.ID) as keep_alive,
    ):
        await client.put("/restart/a", b"1")
        assert [e.kv.key for e in (await next_batch(watcher)).events] == [b"/restart/a"]
        await anext(keep_alive)

        real_etcd.kill()
        real_etcd.start()  # the same data: the store comes back at the same revision

        put = await client.put("/restart/b", b"2")  # retried while the member has no leader yet
        batch = await next_batch(watcher, within=10)
        assert [e.kv.key for e in batch.events] == [b"/restart/b"]  # resumed after /restart/a, no repeat
        async with asyncio.timeout(10):
            while (await anext(keep_alive)).header.revision < put.header.revision:
                pass  # renewals from before the restart
        assert (await client.lease_time_to_live(lease.ID)).TTL > 0
    await client.lease_revoke(lease.ID)
    await client.delete("/restart/", prefix=True)


async def test_compaction_and_compacted_watch(client: EtcdClient) -> None:  # last: compacts everything
    first = await client.put("/compact/k", b"1")
    await client.put("/compact/k", b"2")
    latest = await client.put("/compact/k", b"3")
    compacted = await client.compact(latest.header.revision, physical=True)
    assert compacted.header.revision == latest.header.revision

    with pytest.raises(CompactedError, match="required revision has been compacted"):
        await client.get("/compact/k", revision=first.header.revision)
    assert (await client.get("/compact/k", revision=latest.header.revision)).kvs[0].value == b"3"

    watcher = client.watch("/compact/k", start_revision=first.header.revision)
    with pytest.raises(CompactedError) as error:
        async with asyncio.timeout(5), watcher:
            async for _ in watcher:
                pass
    assert error.value.compact_revision == latest.header.revision
    assert watcher.closed

    # A watch from the compaction point on still replays it.
    async with client.watch("/compact/k", start_revision=latest.header.revision) as replay:
        assert (await next_batch(replay)).events[0].kv.value == b"3"

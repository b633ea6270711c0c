"""etcd_raft.transport between three members on 127.0.0.1 with mutual TLS (certificates from
pki.init_pki): ordered delivery per peer, large batches, a chunked snapshot, a peer that stops and
comes back, and a member with a certificate from another CA being refused.

Every wait polls its condition until a deadline; nothing sleeps for a fixed time."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import pki
from etcd_raft.raft import Entry, Message, MessageType, Snapshot, SnapshotMetadata
from etcd_raft.raft.types import ConfState
from etcd_raft.transport import PeerTLS, Transport
from etcd_raft.transport.transport import QUEUE_SIZE

pytestmark = pytest.mark.integration

DEADLINE = 5.0
LISTEN = "https://127.0.0.1:0"


@dataclass
class Member:
    """A Transport and what its callbacks saw."""

    id: int
    tls: PeerTLS | None
    queue_size: int = QUEUE_SIZE
    received: list[Message] = field(default_factory=list)
    unreachable: list[int] = field(default_factory=list)
    snapshot_status: list[tuple[int, bool]] = field(default_factory=list)
    transport: Transport = field(init=False)

    def __post_init__(self) -> None:
        self.transport = self.new_transport()

    def new_transport(self) -> Transport:
        return Transport(
            self.id,
            tls=self.tls,
            on_message=self.received.append,
            on_unreachable=self.unreachable.append,
            on_snapshot_status=lambda peer, ok: self.snapshot_status.append((peer, ok)),
            queue_size=self.queue_size,
            backoff=(0.02, 0.2),
        )

    @property
    def url(self) -> str:
        return self.transport.listen_urls[0]

    def from_(self, sender: int) -> list[Message]:
        return [message for message in self.received if message.from_ == sender]


async def eventually(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _tls(directory: Path, *, client_cert_auth: bool = True) -> PeerTLS:
    etcd = directory / "etcd"
    return PeerTLS(str(etcd / "peer.crt"), str(etcd / "peer.key"), str(etcd / "ca.crt"), client_cert_auth)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.init_pki(directory, pki.PkiSpec())
    return directory


@pytest.fixture
async def members(pki_dir: Path) -> AsyncIterator[dict[int, Member]]:
    cluster = {member_id: Member(member_id, _tls(pki_dir)) for member_id in (1, 2, 3)}
    try:
        for member in cluster.values():
            await member.transport.start([LISTEN])
        for member in cluster.values():
            for other in cluster.values():
                if other is not member:
                    member.transport.add_peer(other.id, [other.url])
        yield cluster
    finally:
        for member in cluster.values():
            await member.transport.stop()


def _heartbeat(sender: int, to: int, commit: int) -> Message:
    return Message(MessageType.MsgHeartbeat, to=to, from_=sender, term=1, commit=commit)


async def test_messages_arrive_in_order_per_peer(members: dict[int, Member]) -> None:
    one, two, three = members[1], members[2], members[3]
    for commit in range(50):
        # one Ready's worth: messages to both peers, and the two other members sending to `one`
        one.transport.send(
            [_heartbeat(1, 2, commit), _heartbeat(1, 3, commit), _heartbeat(1, 2, 1000 + commit)]
        )
        two.transport.send([_heartbeat(2, 1, commit)])
        three.transport.send([_heartbeat(3, 1, commit)])
    await eventually(lambda: len(two.from_(1)) == 100 and len(three.from_(1)) == 50, "one's heartbeats")
    await eventually(lambda: len(one.from_(2)) == 50 and len(one.from_(3)) == 50, "heartbeats to one")
    assert [m.commit for m in two.from_(1)] == [c for commit in range(50) for c in (commit, 1000 + commit)]
    assert [m.commit for m in three.from_(1)] == list(range(50))
    assert [m.commit for m in one.from_(2)] == [m.commit for m in one.from_(3)] == list(range(50))
    assert all(m.to == member.id for member in members.values() for m in member.received)
    assert not any(member.unreachable for member in members.values())


async def test_a_snapshot_for_another_member_is_refused(members: dict[int, Member]) -> None:
    one, three = members[1], members[3]
    one.transport.add_peer(4, [three.url])  # a stale URL: member 3 now listens where 4 did
    snapshot = Snapshot(SnapshotMetadata(index=10, term=1, conf_state=ConfState(voters=(1, 4))), b"db")
    one.transport.send([Message(MessageType.MsgSnap, to=4, from_=1, term=1, snapshot=snapshot)])
    await eventually(lambda: one.snapshot_status == [(4, False)], "the refused snapshot's status")
    assert three.received == []


async def test_a_batch_of_1000_appends_arrives_complete(members: dict[int, Member]) -> None:
    batch = [
        Message(
            MessageType.MsgApp,
            to=2,
            from_=1,
            term=2,
            log_term=2,
            index=index,
            commit=index,
            entries=(Entry(term=2, index=index + 1, data=b"v%d" % index),),
            context=b"ctx",
        )
        for index in range(1000)
    ]
    members[1].transport.send(batch)
    await eventually(lambda: len(members[2].received) == 1000, "1000 MsgApp")
    assert members[2].received == batch


async def test_a_5_mib_snapshot_arrives_intact(members: dict[int, Member]) -> None:
    data = bytes(range(256)) * (5 * 1024 * 1024 // 256) + b"odd tail"
    snapshot = Snapshot(SnapshotMetadata(index=5000, term=3, conf_state=ConfState(voters=(1, 2, 3))), data)
    message = Message(MessageType.MsgSnap, to=3, from_=1, term=3, snapshot=snapshot)
    members[1].transport.send([message, _heartbeat(1, 3, 1)])
    await eventually(lambda: members[1].snapshot_status == [(3, True)], "the snapshot's status")
    snapshots = [m for m in members[3].received if m.type == MessageType.MsgSnap]
    assert snapshots == [message]
    assert not members[1].unreachable


async def test_a_stopped_peer_is_unreachable_and_delivery_resumes_when_it_is_back(
    members: dict[int, Member],
) -> None:
    one, two = members[1], members[2]
    one.transport.send([_heartbeat(1, 2, 1)])
    await eventually(lambda: len(two.received) == 1, "the first heartbeat")
    url = two.url
    await two.transport.stop()

    # The broken stream is reported at once; a snapshot it cannot take fails and is reported.
    await eventually(lambda: one.unreachable == [2], "peer 2 reported unreachable")
    snapshot = Snapshot(SnapshotMetadata(index=10, term=1, conf_state=ConfState(voters=(1, 2, 3))), b"db")
    one.transport.send([Message(MessageType.MsgSnap, to=2, from_=1, term=1, snapshot=snapshot)])
    await eventually(lambda: one.snapshot_status == [(2, False)], "the failed snapshot's status")

    two.transport = two.new_transport()
    await two.transport.start([url])  # the same port: peer 1 still dials it
    commit = 2
    end = time.monotonic() + DEADLINE
    while len(two.received) == 1:  # as Raft would: a heartbeat every tick until one gets through
        assert time.monotonic() < end, "delivery did not resume"
        one.transport.send([_heartbeat(1, 2, commit)])
        commit += 1
        await asyncio.sleep(0.02)
    commits = [m.commit for m in two.received]
    assert commits == sorted(commits)  # some were dropped while it was down; none reordered


async def test_a_full_queue_drops_and_reports_unreachable(members: dict[int, Member]) -> None:
    member = Member(4, members[1].tls, queue_size=2)
    try:
        member.transport.add_peer(2, [members[2].url])
        for commit in range(5):  # without yielding: the sender task cannot drain the queue
            member.transport.send([Message(MessageType.MsgHeartbeat, to=2, from_=4, commit=commit)])
        assert member.unreachable == [2, 2, 2]
        await eventually(lambda: len(members[2].from_(4)) == 2, "the two queued batches")
        assert [m.commit for m in members[2].from_(4)] == [0, 1]
    finally:
        await member.transport.stop()


async def test_a_member_with_a_certificate_from_another_ca_is_refused(
    members: dict[int, Member], tmp_path: Path, pki_dir: Path
) -> None:
    pki.init_pki(tmp_path / "other", pki.PkiSpec())
    other = _tls(tmp_path / "other")
    # It trusts our CA, so only its own certificate can be the reason it is refused.
    rogue = Member(9, PeerTLS(other.cert_file, other.key_file, str(pki_dir / "etcd" / "ca.crt"), True))
    try:
        rogue.transport.add_peer(1, [members[1].url])
        end = time.monotonic() + DEADLINE
        while not rogue.unreachable:
            assert time.monotonic() < end, "the refused member was never told"
            rogue.transport.send([_heartbeat(9, 1, 1)])
            await asyncio.sleep(0.02)
        # A member of the cluster still gets through, and the rogue's messages never did.
        members[2].transport.send([_heartbeat(2, 1, 7)])
        await eventually(lambda: len(members[1].from_(2)) == 1, "a member's heartbeat")
        assert members[1].from_(9) == []
    finally:
        await rogue.transport.stop()


async def test_plaintext_peers_and_url_failover_leave_no_tasks_behind(unused_port: int) -> None:
    before = asyncio.all_tasks()
    member, peer = Member(1, None), Member(2, None)
    try:
        await member.transport.start(["http://127.0.0.1:0"])
        await peer.transport.start(["http://127.0.0.1:0"])
        member.transport.add_peer(2, [peer.url])
        member.transport.send([_heartbeat(1, 2, 1)])
        await eventually(lambda: len(peer.received) == 1, "a heartbeat")
        # The first URL is dead: the stream fails there, is reported, and moves on to the next.
        member.transport.update_peer(2, [f"http://127.0.0.1:{unused_port}", peer.url])
        end = time.monotonic() + DEADLINE
        while len(peer.received) == 1:
            assert time.monotonic() < end, "the second URL was never tried"
            member.transport.send([_heartbeat(1, 2, 2)])
            await asyncio.sleep(0.02)
        assert member.unreachable and set(member.unreachable) == {2}
        with pytest.raises(ValueError, match="need peer TLS"):
            member.transport.add_peer(3, ["https://127.0.0.1:1"])
        member.transport.remove_peer(2)
        member.transport.remove_peer(2)  # applied twice: nothing happens
    finally:
        await member.transport.stop()
        await peer.transport.stop()
    # Ours (all named raft-*) are gone once stop() returns; gRPC's server finishes its own per-call
    # tasks an iteration or two after its stop().
    assert [
        task.get_name() for task in asyncio.all_tasks() - before if task.get_name().startswith("raft-")
    ] == []
    await eventually(lambda: asyncio.all_tasks() - before == set(), "gRPC's call tasks to end")


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

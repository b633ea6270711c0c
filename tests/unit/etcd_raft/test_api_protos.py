"""etcd_raft/api: the generated code is reproducible from the .proto files, and the schema is
etcd's on the wire (field numbers, enum values, gRPC method paths as upstream has them)."""

from __future__ import annotations

import base64
import filecmp
import json
import os
import subprocess
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FileDescriptor

from etcd_raft.api import generate
from etcd_raft.api.authpb import auth_pb2
from etcd_raft.api.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from etcd_raft.api.mvccpb import kv_pb2
from etcd_raft.api.peerpb import peer_pb2, peer_pb2_grpc
from etcd_raft.api.raftpb import raft_pb2


def test_regenerating_gives_the_checked_in_files(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    protos = generate.proto_files()
    assert [str(p) for p in protos] == [
        "etcd_raft/api/authpb/auth.proto",
        "etcd_raft/api/etcdserverpb/raft_internal.proto",
        "etcd_raft/api/etcdserverpb/rpc.proto",
        "etcd_raft/api/mvccpb/kv.proto",
        "etcd_raft/api/peerpb/peer.proto",
        "etcd_raft/api/raftpb/raft.proto",
    ]
    assert len(written) == 3 * len(protos)
    for path in written:
        relative = path.relative_to(tmp_path)
        checked_in = generate.REPO_ROOT / relative
        assert checked_in.is_file(), f"{relative} is not checked in: run python -m etcd_raft.api.generate"
        assert filecmp.cmp(path, checked_in, shallow=False), f"{relative} is stale: regenerate"


def test_generated_modules_import_each_other_by_package_path() -> None:
    text = (generate.API_DIR / "etcdserverpb" / "rpc_pb2.py").read_text()
    assert "from etcd_raft.api.mvccpb import kv_pb2" in text
    assert "from etcd_raft.api.authpb import auth_pb2" in text


def fields(message: Descriptor) -> dict[str, int]:
    return {field.name: field.number for field in message.fields}


# Field numbers as in etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto.
UPSTREAM_FIELDS: dict[Descriptor, dict[str, int]] = {
    rpc_pb2.ResponseHeader.DESCRIPTOR: {"cluster_id": 1, "member_id": 2, "revision": 3, "raft_term": 4},
    rpc_pb2.RangeRequest.DESCRIPTOR: {
        "key": 1,
        "range_end": 2,
        "limit": 3,
        "revision": 4,
        "sort_order": 5,
        "sort_target": 6,
        "serializable": 7,
        "keys_only": 8,
        "count_only": 9,
        "min_mod_revision": 10,
        "max_mod_revision": 11,
        "min_create_revision": 12,
        "max_create_revision": 13,
    },
    rpc_pb2.RangeResponse.DESCRIPTOR: {"header": 1, "kvs": 2, "more": 3, "count": 4},
    rpc_pb2.PutRequest.DESCRIPTOR: {
        "key": 1,
        "value": 2,
        "lease": 3,
        "prev_kv": 4,
        "ignore_value": 5,
        "ignore_lease": 6,
    },
    rpc_pb2.PutResponse.DESCRIPTOR: {"header": 1, "prev_kv": 2},
    rpc_pb2.DeleteRangeRequest.DESCRIPTOR: {"key": 1, "range_end": 2, "prev_kv": 3},
    rpc_pb2.DeleteRangeResponse.DESCRIPTOR: {"header": 1, "deleted": 2, "prev_kvs": 3},
    rpc_pb2.RequestOp.DESCRIPTOR: {
        "request_range": 1,
        "request_put": 2,
        "request_delete_range": 3,
        "request_txn": 4,
    },
    rpc_pb2.Compare.DESCRIPTOR: {
        "result": 1,
        "target": 2,
        "key": 3,
        "version": 4,
        "create_revision": 5,
        "mod_revision": 6,
        "value": 7,
        "lease": 8,
        "range_end": 64,
    },
    rpc_pb2.TxnRequest.DESCRIPTOR: {"compare": 1, "success": 2, "failure": 3},
    rpc_pb2.TxnResponse.DESCRIPTOR: {"header": 1, "succeeded": 2, "responses": 3},
    rpc_pb2.CompactionRequest.DESCRIPTOR: {"revision": 1, "physical": 2},
    rpc_pb2.WatchRequest.DESCRIPTOR: {"create_request": 1, "cancel_request": 2, "progress_request": 3},
    rpc_pb2.WatchCreateRequest.DESCRIPTOR: {
        "key": 1,
        "range_end": 2,
        "start_revision": 3,
        "progress_notify": 4,
        "filters": 5,
        "prev_kv": 6,
        "watch_id": 7,
        "fragment": 8,
    },
    rpc_pb2.WatchResponse.DESCRIPTOR: {
        "header": 1,
        "watch_id": 2,
        "created": 3,
        "canceled": 4,
        "compact_revision": 5,
        "cancel_reason": 6,
        "fragment": 7,
        "events": 11,
    },
    rpc_pb2.LeaseGrantRequest.DESCRIPTOR: {"TTL": 1, "ID": 2},
    rpc_pb2.LeaseGrantResponse.DESCRIPTOR: {"header": 1, "ID": 2, "TTL": 3, "error": 4},
    rpc_pb2.LeaseKeepAliveResponse.DESCRIPTOR: {"header": 1, "ID": 2, "TTL": 3},
    rpc_pb2.LeaseTimeToLiveResponse.DESCRIPTOR: {"header": 1, "ID": 2, "TTL": 3, "grantedTTL": 4, "keys": 5},
    rpc_pb2.Member.DESCRIPTOR: {"ID": 1, "name": 2, "peerURLs": 3, "clientURLs": 4, "isLearner": 5},
    rpc_pb2.StatusResponse.DESCRIPTOR: {
        "header": 1,
        "version": 2,
        "dbSize": 3,
        "leader": 4,
        "raftIndex": 5,
        "raftTerm": 6,
        "raftAppliedIndex": 7,
        "errors": 8,
        "dbSizeInUse": 9,
        "isLearner": 10,
        "storageVersion": 11,
        "dbSizeQuota": 12,
        "downgradeInfo": 13,
    },
    rpc_pb2.AuthUserAddRequest.DESCRIPTOR: {"name": 1, "password": 2, "options": 3, "hashedPassword": 4},
    kv_pb2.KeyValue.DESCRIPTOR: {
        "key": 1,
        "create_revision": 2,
        "mod_revision": 3,
        "version": 4,
        "value": 5,
        "lease": 6,
    },
    kv_pb2.Event.DESCRIPTOR: {"type": 1, "kv": 2, "prev_kv": 3},
    auth_pb2.Permission.DESCRIPTOR: {"permType": 1, "key": 2, "range_end": 3},
    raft_pb2.Entry.DESCRIPTOR: {"Term": 2, "Index": 3, "Type": 1, "Data": 4},
    raft_pb2.Message.DESCRIPTOR: {
        "type": 1,
        "to": 2,
        "from": 3,
        "term": 4,
        "logTerm": 5,
        "index": 6,
        "entries": 7,
        "commit": 8,
        "snapshot": 9,
        "reject": 10,
        "rejectHint": 11,
        "context": 12,
        "vote": 13,
        "responses": 14,
    },
    raft_pb2.HardState.DESCRIPTOR: {"term": 1, "vote": 2, "commit": 3},
    raft_pb2.ConfState.DESCRIPTOR: {
        "voters": 1,
        "learners": 2,
        "voters_outgoing": 3,
        "learners_next": 4,
        "auto_leave": 5,
    },
    raft_pb2.ConfChange.DESCRIPTOR: {"id": 1, "type": 2, "node_id": 3, "context": 4},
    raft_pb2.Snapshot.DESCRIPTOR: {"data": 1, "metadata": 2},
    raft_pb2.SnapshotMetadata.DESCRIPTOR: {"conf_state": 1, "index": 2, "term": 3},
    peer_pb2.MessageBatch.DESCRIPTOR: {"messages": 1},
    peer_pb2.SnapshotChunk.DESCRIPTOR: {"header": 1, "data": 2, "last": 3},
}


@pytest.mark.parametrize("message", list(UPSTREAM_FIELDS), ids=lambda message: message.full_name)
def test_field_numbers_match_upstream(message: Descriptor) -> None:
    assert fields(message) == UPSTREAM_FIELDS[message]


def test_packages_are_etcds() -> None:
    assert rpc_pb2.RangeRequest.DESCRIPTOR.full_name == "etcdserverpb.RangeRequest"
    assert kv_pb2.KeyValue.DESCRIPTOR.full_name == "mvccpb.KeyValue"
    assert auth_pb2.Permission.DESCRIPTOR.full_name == "authpb.Permission"
    assert raft_pb2.Message.DESCRIPTOR.full_name == "raftpb.Message"
    assert peer_pb2.MessageBatch.DESCRIPTOR.full_name == "kplane.peer.MessageBatch"
    assert rpc_pb2.RangeResponse.DESCRIPTOR.fields_by_name["kvs"].message_type is kv_pb2.KeyValue.DESCRIPTOR


def test_enum_values_match_upstream() -> None:
    assert kv_pb2.Event.PUT == 0 and kv_pb2.Event.DELETE == 1
    compare = rpc_pb2.Compare
    assert (compare.EQUAL, compare.GREATER, compare.LESS, compare.NOT_EQUAL) == (0, 1, 2, 3)
    assert (compare.VERSION, compare.CREATE, compare.MOD, compare.VALUE, compare.LEASE) == (0, 1, 2, 3, 4)
    assert (rpc_pb2.RangeRequest.NONE, rpc_pb2.RangeRequest.ASCEND, rpc_pb2.RangeRequest.DESCEND) == (0, 1, 2)
    assert (rpc_pb2.WatchCreateRequest.NOPUT, rpc_pb2.WatchCreateRequest.NODELETE) == (0, 1)
    assert (rpc_pb2.NONE, rpc_pb2.NOSPACE, rpc_pb2.CORRUPT) == (0, 1, 2)
    assert raft_pb2.MsgApp == 3 and raft_pb2.MsgSnap == 7 and raft_pb2.MsgPreVote == 17
    assert raft_pb2.MsgForgetLeader == 23
    assert (raft_pb2.EntryNormal, raft_pb2.EntryConfChange, raft_pb2.EntryConfChangeV2) == (0, 1, 2)
    assert raft_pb2.ConfChangeAddLearnerNode == 3


def test_raftpb_is_proto2_like_upstream() -> None:
    file: FileDescriptor = raft_pb2.DESCRIPTOR
    message = raft_pb2.Message(type=raft_pb2.MsgHeartbeat, to=2, term=0)
    assert message.HasField("term")  # proto2 keeps explicit zero values apart from unset ones
    assert not message.HasField("commit")
    assert file.package == "raftpb"


def test_wire_bytes_are_etcds() -> None:
    # PutRequest{key:"a", value:"b", prev_kv:true} as etcd encodes it: tags 0x0a, 0x12, 0x20.
    encoded = rpc_pb2.PutRequest(key=b"a", value=b"b", prev_kv=True).SerializeToString()
    assert encoded == b"\x0a\x01a\x12\x01b\x20\x01"
    # WatchResponse.events is field 11 (tag 0x5a).
    response = rpc_pb2.WatchResponse(events=[kv_pb2.Event(kv=kv_pb2.KeyValue(key=b"k"))])
    assert response.SerializeToString().startswith(b"\x5a")


SERVICES = {
    "etcdserverpb.KV": ["Range", "Put", "DeleteRange", "Txn", "Compact"],
    "etcdserverpb.Watch": ["Watch"],
    "etcdserverpb.Lease": ["LeaseGrant", "LeaseRevoke", "LeaseKeepAlive", "LeaseTimeToLive", "LeaseLeases"],
    "etcdserverpb.Cluster": ["MemberAdd", "MemberRemove", "MemberUpdate", "MemberList", "MemberPromote"],
    "etcdserverpb.Maintenance": [
        "Alarm",
        "Status",
        "Defragment",
        "Hash",
        "HashKV",
        "Snapshot",
        "MoveLeader",
        "Downgrade",
    ],
    "etcdserverpb.Auth": [
        "AuthEnable",
        "AuthDisable",
        "AuthStatus",
        "Authenticate",
        "UserAdd",
        "UserGet",
        "UserList",
        "UserDelete",
        "UserChangePassword",
        "UserGrantRole",
        "UserRevokeRole",
        "RoleAdd",
        "RoleGet",
        "RoleList",
        "RoleDelete",
        "RoleGrantPermission",
        "RoleRevokePermission",
    ],
}


def test_services_and_methods_are_etcds() -> None:
    services = {service.full_name: service for service in rpc_pb2.DESCRIPTOR.services_by_name.values()}
    assert {name: [m.name for m in service.methods] for name, service in services.items()} == SERVICES
    watch = services["etcdserverpb.Watch"].methods_by_name["Watch"]
    keep_alive = services["etcdserverpb.Lease"].methods_by_name["LeaseKeepAlive"]
    snapshot = services["etcdserverpb.Maintenance"].methods_by_name["Snapshot"]
    assert (watch.client_streaming, watch.server_streaming) == (True, True)
    assert (keep_alive.client_streaming, keep_alive.server_streaming) == (True, True)
    assert (snapshot.client_streaming, snapshot.server_streaming) == (False, True)


def test_generated_grpc_code_uses_etcds_method_paths() -> None:
    source = Path(rpc_pb2_grpc.__file__).read_text()
    for service, methods in SERVICES.items():
        for method in methods:
            assert f"'/{service}/{method}'" in source
    assert hasattr(rpc_pb2_grpc, "add_KVServicer_to_server")
    assert hasattr(rpc_pb2_grpc, "AuthServicer")


def test_peer_service() -> None:
    service = peer_pb2.DESCRIPTOR.services_by_name["Raft"]
    assert service.full_name == "kplane.peer.Raft"
    send, snapshot = service.methods_by_name["Send"], service.methods_by_name["Snapshot"]
    assert send.input_type is peer_pb2.MessageBatch.DESCRIPTOR
    assert snapshot.input_type is peer_pb2.SnapshotChunk.DESCRIPTOR
    assert send.client_streaming and not send.server_streaming
    assert snapshot.client_streaming and not snapshot.server_streaming
    assert (
        peer_pb2.MessageBatch.DESCRIPTOR.fields_by_name["messages"].message_type
        is raft_pb2.Message.DESCRIPTOR
    )
    source = Path(peer_pb2_grpc.__file__).read_text()
    assert "'/kplane.peer.Raft/Send'" in source and "'/kplane.peer.Raft/Snapshot'" in source


class _KV(rpc_pb2_grpc.KVServicer):
    def Range(self, request: rpc_pb2.RangeRequest, context: object) -> rpc_pb2.RangeResponse:
        kv = kv_pb2.KeyValue(
            key=request.key, value=b"from-kplane", create_revision=2, mod_revision=3, version=1
        )
        return rpc_pb2.RangeResponse(
            header=rpc_pb2.ResponseHeader(cluster_id=7, member_id=9, revision=5), kvs=[kv], count=1
        )


class _Maintenance(rpc_pb2_grpc.MaintenanceServicer):
    def Status(self, request: rpc_pb2.StatusRequest, context: object) -> rpc_pb2.StatusResponse:
        header = rpc_pb2.ResponseHeader(cluster_id=7, member_id=9, revision=5, raft_term=2)
        return rpc_pb2.StatusResponse(header=header, version="3.4.99", leader=9, raftIndex=11, raftTerm=2)


def test_real_etcdctl_talks_to_a_server_built_on_these_protos() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    rpc_pb2_grpc.add_KVServicer_to_server(_KV(), server)
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(_Maintenance(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        etcdctl = ["etcdctl", f"--endpoints=http://127.0.0.1:{port}", "--dial-timeout=3s", "-w", "json"]
        env = {**os.environ, "ETCDCTL_API": "3"}
        got = subprocess.run([*etcdctl, "get", "foo"], capture_output=True, text=True, timeout=20, env=env)
        assert got.returncode == 0, got.stderr
        answer = json.loads(got.stdout)
        assert answer["header"]["revision"] == 5 and answer["count"] == 1
        assert base64.b64decode(answer["kvs"][0]["value"]) == b"from-kplane"
        assert base64.b64decode(answer["kvs"][0]["key"]) == b"foo"
        status = subprocess.run(
            [*etcdctl, "endpoint", "status"], capture_output=True, text=True, timeout=20, env=env
        )
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)[0]["Status"]["version"] == "3.4.99"
    finally:
        server.stop(None)


def test_internal_raft_request_keeps_etcds_field_numbers() -> None:
    from etcd_raft.api.etcdserverpb import raft_internal_pb2

    fields = {f.name: f.number for f in raft_internal_pb2.InternalRaftRequest.DESCRIPTOR.fields}
    assert fields == {
        "header": 100,
        "ID": 1,
        "range": 3,
        "put": 4,
        "delete_range": 5,
        "txn": 6,
        "compaction": 7,
        "lease_grant": 8,
        "lease_revoke": 9,
        "alarm": 10,
        "lease_checkpoint": 11,
        "cluster_member_attr_set": 1301,
    }

"""etcdserverpb/mvccpb protobuf messages <-> the MVCC store's dataclasses. Field-by-field copies:
the store's types mirror etcd's messages (etcd_raft.mvcc.types)."""

from __future__ import annotations

from etcd_raft import mvcc
from etcd_raft.api.etcdserverpb import rpc_pb2 as pb
from etcd_raft.api.mvccpb import kv_pb2
from etcd_raft.mvcc.codec import uvarint

_KVS_TAG = b"\x12"  # RangeResponse.kvs: field 2, length-delimited


def range_request(r: pb.RangeRequest) -> mvcc.RangeRequest:
    return mvcc.RangeRequest(
        key=r.key,
        range_end=r.range_end,
        limit=r.limit,
        revision=r.revision,
        sort_order=mvcc.SortOrder(r.sort_order),
        sort_target=mvcc.SortTarget(r.sort_target),
        serializable=r.serializable,
        keys_only=r.keys_only,
        count_only=r.count_only,
        min_mod_revision=r.min_mod_revision,
        max_mod_revision=r.max_mod_revision,
        min_create_revision=r.min_create_revision,
        max_create_revision=r.max_create_revision,
    )


def put_request(r: pb.PutRequest) -> mvcc.PutRequest:
    return mvcc.PutRequest(
        key=r.key,
        value=r.value,
        lease=r.lease,
        prev_kv=r.prev_kv,
        ignore_value=r.ignore_value,
        ignore_lease=r.ignore_lease,
    )


def delete_request(r: pb.DeleteRangeRequest) -> mvcc.DeleteRangeRequest:
    return mvcc.DeleteRangeRequest(key=r.key, range_end=r.range_end, prev_kv=r.prev_kv)


def compare(c: pb.Compare) -> mvcc.Compare:
    return mvcc.Compare(
        result=mvcc.CompareResult(c.result),
        target=mvcc.CompareTarget(c.target),
        key=c.key,
        version=c.version,
        create_revision=c.create_revision,
        mod_revision=c.mod_revision,
        value=c.value,
        lease=c.lease,
        range_end=c.range_end,
    )


def request_op(op: pb.RequestOp) -> mvcc.RequestOp:
    kind = op.WhichOneof("request")
    if kind == "request_range":
        return range_request(op.request_range)
    if kind == "request_put":
        return put_request(op.request_put)
    if kind == "request_delete_range":
        return delete_request(op.request_delete_range)
    if kind == "request_txn":
        return txn_request(op.request_txn)
    return mvcc.RangeRequest()  # an empty op: etcd treats it as a range of the empty key


def txn_request(r: pb.TxnRequest) -> mvcc.TxnRequest:
    return mvcc.TxnRequest(
        compare=[compare(c) for c in r.compare],
        success=[request_op(op) for op in r.success],
        failure=[request_op(op) for op in r.failure],
    )


def key_value(kv: mvcc.KeyValue) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(
        key=kv.key,
        create_revision=kv.create_revision,
        mod_revision=kv.mod_revision,
        version=kv.version,
        value=kv.value,
        lease=kv.lease,
    )


def event(e: mvcc.Event) -> kv_pb2.Event:
    out = kv_pb2.Event(type=int(e.type), kv=key_value(e.kv))  # type: ignore[arg-type]
    if e.prev_kv is not None:
        out.prev_kv.CopyFrom(key_value(e.prev_kv))
    return out


def range_response(r: mvcc.RangeResponse, header: pb.ResponseHeader) -> pb.RangeResponse:
    return pb.RangeResponse(header=header, kvs=[key_value(kv) for kv in r.kvs], more=r.more, count=r.count)


def encoded_range_response(
    kvs: list[bytes], more: bool, count: int, header: pb.ResponseHeader
) -> pb.RangeResponse:
    """A RangeResponse whose kvs, each mvccpb.KeyValue bytes as stored, are parsed in one call (in
    C) instead of built one Python object at a time: a 10k-key list costs a fifth as much."""
    response = pb.RangeResponse(header=header, more=more, count=count)
    response.MergeFromString(b"".join([_KVS_TAG + uvarint(len(kv)) + kv for kv in kvs]))
    return response


def put_response(r: mvcc.PutResponse, header: pb.ResponseHeader) -> pb.PutResponse:
    out = pb.PutResponse(header=header)
    if r.prev_kv is not None:
        out.prev_kv.CopyFrom(key_value(r.prev_kv))
    return out


def delete_response(r: mvcc.DeleteRangeResponse, header: pb.ResponseHeader) -> pb.DeleteRangeResponse:
    return pb.DeleteRangeResponse(
        header=header, deleted=r.deleted, prev_kvs=[key_value(kv) for kv in r.prev_kvs]
    )


def txn_response(r: mvcc.TxnResponse, header: pb.ResponseHeader) -> pb.TxnResponse:
    return pb.TxnResponse(
        header=header, succeeded=r.succeeded, responses=[response_op(op, header) for op in r.responses]
    )


def response_op(r: mvcc.ResponseOp, header: pb.ResponseHeader) -> pb.ResponseOp:
    # etcd fills every nested response's header with the outer one's
    if isinstance(r, mvcc.RangeResponse):
        return pb.ResponseOp(response_range=range_response(r, header))
    if isinstance(r, mvcc.PutResponse):
        return pb.ResponseOp(response_put=put_response(r, header))
    if isinstance(r, mvcc.DeleteRangeResponse):
        return pb.ResponseOp(response_delete_range=delete_response(r, header))
    return pb.ResponseOp(response_txn=txn_response(r, header))

"""etcd_raft.transport: the peer transport, Raft messages between members over gRPC (kplane.peer)."""

from etcd_raft.transport.codec import CodecError, message_from_pb, message_to_pb
from etcd_raft.transport.server import RaftPeerServicer
from etcd_raft.transport.transport import Transport
from etcd_raft.transport.urls import PeerTLS, PeerURL, parse_peer_url, parse_peer_urls

__all__ = [
    "CodecError",
    "PeerTLS",
    "PeerURL",
    "RaftPeerServicer",
    "Transport",
    "message_from_pb",
    "message_to_pb",
    "parse_peer_url",
    "parse_peer_urls",
]

"""etcd_raft: a Raft-replicated key-value store speaking the etcd v3 gRPC API."""

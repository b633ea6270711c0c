"""etcd_raft.server: the etcd v3 gRPC services over the Raft log and the MVCC store."""

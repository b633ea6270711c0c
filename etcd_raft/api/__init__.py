"""etcd_raft's wire schemas and their generated code (see README.md; regenerate with
`python -m etcd_raft.api.generate`): etcd's etcdserverpb, mvccpb and authpb, etcd-io/raft's
raftpb, and kplane's own peer protocol (peerpb)."""

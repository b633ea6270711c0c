"""`kplane-etcd` / `python -m etcd_raft`: a member of a Raft-replicated etcd v3 store."""

from etcd_raft.server.main import main

if __name__ == "__main__":
    main()

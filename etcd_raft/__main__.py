"""`kplane-etcd` / `python -m etcd_raft`: a member of a Raft-replicated etcd v3 store.

`kplane-etcd snapshot status|restore ...` runs the offline snapshot commands instead (snapshot_cli).
"""

import sys

from etcd_raft.server.main import main as serve_main


def main() -> None:
    if sys.argv[1:2] == ["snapshot"]:
        from etcd_raft.server import snapshot_cli

        sys.exit(snapshot_cli.main(sys.argv[2:]))
    serve_main()


if __name__ == "__main__":
    main()

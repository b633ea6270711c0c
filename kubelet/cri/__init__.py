"""The kubelet's side of CRI (runtime.v1): the wire contract (`api/`), an async client, and the
labels and paths by which the kubelet finds its pods' sandboxes, containers and logs again."""

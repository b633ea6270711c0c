"""The kubelet's HTTPS server on :10250: health, pods, metrics, stats, container logs, and
exec/attach/port-forward bridged to the container runtime's streaming server."""

from kubelet.server.server import KubeletServer

__all__ = ["KubeletServer"]

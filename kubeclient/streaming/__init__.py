"""Streaming protocols shared by the apiserver and the kubelet: the channel.k8s.io WebSocket framing
(exec, attach, port-forward), SPDY/3.1 framing and connections (the CRI streaming server, and
kubectl's port-forward tunnel), and HTTP upgrades to them."""

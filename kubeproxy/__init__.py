"""kubeproxy: Services as iptables and nftables rules on every node."""

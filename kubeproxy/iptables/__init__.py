"""The iptables backend: upstream kube-proxy's chain layout, applied with `iptables-restore --noflush`."""

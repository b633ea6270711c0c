"""The nftables backend: upstream kube-proxy's `ip kube-proxy` table, applied as one `nft -f` transaction."""

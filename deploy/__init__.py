"""deploy: the `kplane` cluster tool, local launcher, host network safety and local images."""

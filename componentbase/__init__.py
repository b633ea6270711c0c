"""componentbase: what every kplane process shares (flags, config, logging, health, TLS, shutdown)."""

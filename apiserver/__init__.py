"""apiserver: the Kubernetes REST API over HTTPS with mutual TLS."""

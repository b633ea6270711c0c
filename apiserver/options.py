"""`kplane-apiserver`'s flags: kube-apiserver's names, defaults and meanings, so the seed's
kube-apiserver example (and an upstream unit file) works with the binary name changed. Flags for
features of later issues (authorization, admission, service accounts, the kubelet and front-proxy
clients) are accepted, checked and kept in `Options` for them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from componentbase.errors import FlagError
from componentbase.flags import Flags, FlagSet
from componentbase.klog import add_logging_flags

DEFAULT_WATCH_CACHE_SIZE = 1000  # events kept per resource (upstream sizes its cache dynamically)


def flag_set() -> FlagSet:
    flags = FlagSet("kplane-apiserver", description="The Kubernetes API server, on the etcd v3 API.")
    # serving
    flags.ip(
        "advertise-address",
        "",
        "The IP address on which to advertise the apiserver to members of the cluster.",
    )
    flags.ip("bind-address", "0.0.0.0", "The IP address on which to listen for the --secure-port port.")
    flags.int("secure-port", 6443, "The port on which to serve HTTPS with authentication and authorization.")
    flags.string("tls-cert-file", "", "File containing the default x509 Certificate for HTTPS.")
    flags.string(
        "tls-private-key-file", "", "File containing the default x509 private key matching --tls-cert-file."
    )
    flags.string(
        "client-ca-file",
        "",
        "Clients presenting a certificate signed by one of these authorities are authenticated.",
    )
    flags.int(
        "max-requests-inflight",
        400,
        "The maximum number of non-mutating requests in flight at a given time (0: no limit).",
    )
    flags.int(
        "max-mutating-requests-inflight",
        200,
        "The maximum number of mutating requests in flight at a given time (0: no limit).",
    )
    flags.int(
        "max-request-bytes", 3 * 1024 * 1024, "The largest request body accepted (upstream: 3 MiB for JSON)."
    )
    flags.bool(
        "anonymous-auth", False, "Enables anonymous requests (kplane: off; unauthenticated requests get 401)."
    )
    # storage
    flags.strings(
        "etcd-servers", [], "List of etcd servers to connect with (scheme://ip:port), comma separated."
    )
    flags.string("etcd-cafile", "", "SSL Certificate Authority file used to secure etcd communication.")
    flags.string("etcd-certfile", "", "SSL certification file used to secure etcd communication.")
    flags.string("etcd-keyfile", "", "SSL key file used to secure etcd communication.")
    flags.string("etcd-prefix", "/registry", "The prefix to prepend to all resource paths in etcd.")
    flags.strings(
        "watch-cache-sizes", [], "Watch cache size settings for some resources (resource[.group]#size)."
    )
    flags.bool("watch-cache", True, "Enable watch caching in the apiserver.")
    flags.duration(
        "request-timeout", 60.0, "The duration a handler must keep a request open before timing it out."
    )
    flags.duration(
        "min-request-timeout",
        1800.0,
        "The minimum number of seconds a watch may stay open (randomized up to 2x).",
    )
    # services
    flags.string(
        "service-cluster-ip-range", "10.0.0.0/24", "A CIDR range from which to assign service cluster IPs."
    )
    flags.string(
        "service-node-port-range",
        "30000-32767",
        "A port range to reserve for services with NodePort visibility.",
    )
    flags.strings(
        "service-account-key-file",
        [],
        "Files containing PEM-encoded x509 RSA or ECDSA keys to verify service account tokens.",
    )
    flags.string(
        "service-account-signing-key-file",
        "",
        "Path to the file that contains the current private key of the service account token issuer.",
    )
    flags.strings("service-account-issuer", [], "Identifier of the service account token issuer.")
    flags.string("kubelet-client-certificate", "", "Path to a client cert file for TLS to kubelets.")
    flags.string("kubelet-client-key", "", "Path to a client key file for TLS to kubelets.")
    flags.string(
        "kubelet-certificate-authority", "", "Path to a cert file for the certificate authority of kubelets."
    )
    flags.strings(
        "kubelet-preferred-address-types",
        ["Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"],
        "List of the preferred NodeAddressTypes to use for kubelet connections.",
    )
    flags.duration("kubelet-timeout", 5.0, "Timeout for kubelet operations.")
    flags.string(
        "proxy-client-cert-file",
        "",
        "Client certificate proving the apiserver's identity when it calls out during a request.",
    )
    flags.string(
        "proxy-client-key-file", "", "Private key for the client certificate of --proxy-client-cert-file."
    )
    flags.string(
        "requestheader-client-ca-file",
        "",
        "CAs verifying client certificates before usernames in request headers are trusted.",
    )
    flags.strings(
        "requestheader-allowed-names",
        [],
        "List of client certificate common names to allow to provide usernames in request headers.",
    )
    flags.strings("requestheader-username-headers", [], "List of request headers to inspect for usernames.")
    flags.strings("requestheader-group-headers", [], "List of request headers to inspect for groups.")
    flags.strings("requestheader-extra-headers-prefix", [], "List of request header prefixes to inspect.")
    flags.strings(
        "authorization-mode",
        ["AlwaysAllow"],
        "Ordered list of plug-ins to do authorization on secure port (enforced from the security issue on).",
    )
    flags.strings(
        "enable-admission-plugins",
        [],
        "Admission plugins that should be enabled in addition to default enabled ones.",
    )
    flags.strings(
        "disable-admission-plugins",
        [],
        "Admission plugins that should be disabled although they are in the default enabled plugins list.",
    )
    flags.bool("allow-privileged", False, "If true, allow privileged containers.")
    flags.string(
        "encryption-provider-config",
        "",
        "The file containing configuration for encryption providers to be used for storing secrets in etcd.",
    )
    flags.string("audit-policy-file", "", "Path to the file that defines the audit policy configuration.")
    flags.string(
        "audit-log-path", "", "If set, all requests coming to the apiserver will be logged to this file."
    )
    for condition in ("not-ready", "unreachable"):
        flags.int(
            f"default-{condition}-toleration-seconds",
            300,
            f"Indicates the tolerationSeconds of the toleration for {condition}:NoExecute that is added by "
            "default to every pod that does not already have such a toleration.",
        )
    add_logging_flags(flags)
    return flags


@dataclass(frozen=True)
class Options:
    bind_address: str
    secure_port: int
    advertise_address: str
    tls_cert_file: str
    tls_private_key_file: str
    client_ca_file: str
    etcd_servers: tuple[str, ...]
    etcd_cafile: str | None
    etcd_certfile: str | None
    etcd_keyfile: str | None
    etcd_prefix: str
    service_cluster_ip_range: ipaddress.IPv4Network | ipaddress.IPv6Network
    service_node_port_range: tuple[int, int]
    max_requests_inflight: int
    max_mutating_requests_inflight: int
    max_request_bytes: int
    watch_cache_sizes: dict[str, int] = field(default_factory=dict)
    service_account_signing_key_file: str = ""
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    allow_privileged: bool = False
    flags: Flags | None = None  # everything else, for the issues that use it


def _node_port_range(text: str) -> tuple[int, int]:
    try:
        low_text, _, high_text = text.partition("-")
        low, high = int(low_text), int(high_text or low_text)
    except ValueError:
        raise FlagError(f'invalid argument "{text}" for "--service-node-port-range": want low-high') from None
    if not 0 < low <= high <= 65535:
        raise FlagError(f'invalid argument "{text}" for "--service-node-port-range": out of 1-65535')
    return low, high


def _watch_cache_sizes(entries: list[str]) -> dict[str, int]:
    sizes = {}
    for entry in entries:
        resource, _, size = entry.partition("#")
        if not resource or not size.isdigit():
            raise FlagError(
                f'invalid argument "{entry}" for "--watch-cache-sizes": want resource[.group]#size'
            )
        sizes[resource] = int(size)
    return sizes


def from_flags(flags: Flags) -> Options:
    """Check the flags together; FlagError (one line) names the first problem."""
    for required in ("etcd-servers", "tls-cert-file", "tls-private-key-file", "client-ca-file"):
        if not flags[required]:
            raise FlagError(f"--{required} must be specified")
    try:
        service_range = ipaddress.ip_network(flags["service-cluster-ip-range"])
    except ValueError as error:
        raise FlagError(f"--service-cluster-ip-range: {error}") from None
    if service_range.num_addresses < 8:
        raise FlagError("--service-cluster-ip-range is too small: it needs at least 8 addresses")
    return Options(
        bind_address=flags["bind-address"],
        secure_port=flags["secure-port"],
        advertise_address=flags["advertise-address"] or "127.0.0.1",
        tls_cert_file=flags["tls-cert-file"],
        tls_private_key_file=flags["tls-private-key-file"],
        client_ca_file=flags["client-ca-file"],
        etcd_servers=tuple(flags["etcd-servers"]),
        etcd_cafile=flags["etcd-cafile"] or None,
        etcd_certfile=flags["etcd-certfile"] or None,
        etcd_keyfile=flags["etcd-keyfile"] or None,
        etcd_prefix=flags["etcd-prefix"],
        service_cluster_ip_range=service_range,
        service_node_port_range=_node_port_range(flags["service-node-port-range"]),
        max_requests_inflight=flags["max-requests-inflight"],
        max_mutating_requests_inflight=flags["max-mutating-requests-inflight"],
        max_request_bytes=flags["max-request-bytes"],
        watch_cache_sizes=_watch_cache_sizes(flags["watch-cache-sizes"]),
        service_account_signing_key_file=flags["service-account-signing-key-file"],
        service_account_issuer=(
            flags["service-account-issuer"] or ["https://kubernetes.default.svc.cluster.local"]
        )[0],
        default_not_ready_toleration_seconds=flags["default-not-ready-toleration-seconds"],
        default_unreachable_toleration_seconds=flags["default-unreachable-toleration-seconds"],
        allow_privileged=flags["allow-privileged"],
        flags=flags,
    )

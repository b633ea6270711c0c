"""`kplane-etcd`'s configuration: etcd's flags (and ETCD_* environment variables), checked once.

The flag names, defaults and meanings are etcd's, so an etcd unit file or the seed's example works
with the binary name changed.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from componentbase.errors import FlagError
from componentbase.flags import Flags, FlagSet
from componentbase.klog import add_logging_flags
from etcd_raft.server.compactor import AutoCompactor

DEFAULT_QUOTA_BYTES = 2 * 1024**3
DEFAULT_MAX_REQUEST_BYTES = int(1.5 * 1024 * 1024)
MAX_TXN_OPS = 128


def flag_set() -> FlagSet:
    flags = FlagSet(
        "kplane-etcd",
        env_prefix="ETCD_",
        description="A Raft-replicated key-value store that speaks the etcd v3 gRPC API.",
    )
    flags.string("name", "default", "Human-readable name for this member.")
    flags.string("data-dir", "", "Path to the data directory (default: ${name}.etcd).")
    flags.strings("listen-client-urls", ["http://localhost:2379"], "URLs to listen on for client traffic.")
    flags.strings("advertise-client-urls", ["http://localhost:2379"], "Client URLs to advertise.")
    flags.strings("listen-peer-urls", ["http://localhost:2380"], "URLs to listen on for peer traffic.")
    flags.strings("initial-advertise-peer-urls", ["http://localhost:2380"], "Peer URLs to advertise.")
    flags.strings("listen-metrics-urls", [], "URLs to serve /health and /metrics on (plain or TLS).")
    flags.string(
        "initial-cluster",
        "default=http://localhost:2380",
        "Initial cluster configuration for bootstrapping: name=peer-url,...",
    )
    flags.choice("initial-cluster-state", "new", ["new", "existing"], "Initial cluster state.")
    flags.string("initial-cluster-token", "etcd-cluster", "Initial cluster token for bootstrapping.")
    flags.string("cert-file", "", "Path to the client server TLS cert file.")
    flags.string("key-file", "", "Path to the client server TLS key file.")
    flags.string("trusted-ca-file", "", "Path to the client server TLS trusted CA cert file.")
    flags.bool("client-cert-auth", False, "Enable client cert authentication.")
    flags.string("peer-cert-file", "", "Path to the peer server TLS cert file.")
    flags.string("peer-key-file", "", "Path to the peer server TLS key file.")
    flags.string("peer-trusted-ca-file", "", "Path to the peer server TLS trusted CA file.")
    flags.bool("peer-client-cert-auth", False, "Enable peer client cert authentication.")
    flags.int("heartbeat-interval", 100, "Time (in milliseconds) of a heartbeat interval.")
    flags.int("election-timeout", 1000, "Time (in milliseconds) for an election to timeout.")
    flags.int("snapshot-count", 100_000, "Number of committed transactions to trigger a snapshot to disk.")
    flags.int(
        "experimental-snapshot-catchup-entries",
        5000,
        "Entries kept behind a snapshot for slow followers to catch up from the log.",
    )
    flags.duration(
        "experimental-watch-progress-notify-interval",
        600.0,
        "Duration of periodic watch progress notifications.",
    )
    flags.int("quota-backend-bytes", 0, "Raise alarms when backend size exceeds the given quota (0: 2 GiB).")
    flags.choice(
        "auto-compaction-mode",
        "periodic",
        ["periodic", "revision"],
        "Interpret 'auto-compaction-retention' as hours (periodic) or a revision count.",
    )
    flags.string("auto-compaction-retention", "0", "Auto compaction retention (0 disables it).")
    flags.int("max-request-bytes", DEFAULT_MAX_REQUEST_BYTES, "Maximum client request size in bytes.")
    flags.int("max-txn-ops", MAX_TXN_OPS, "Maximum number of operations permitted in a transaction.")
    add_logging_flags(flags)
    return flags


@dataclass(frozen=True)
class Member:
    name: str
    peer_urls: tuple[str, ...]
    id: int


@dataclass(frozen=True)
class ServerConfig:
    name: str
    data_dir: Path
    listen_client_urls: tuple[str, ...]
    advertise_client_urls: tuple[str, ...]
    listen_peer_urls: tuple[str, ...]
    advertise_peer_urls: tuple[str, ...]
    listen_metrics_urls: tuple[str, ...]
    initial_cluster: tuple[Member, ...]
    initial_cluster_state: str
    cluster_token: str
    cert_file: str
    key_file: str
    trusted_ca_file: str
    client_cert_auth: bool
    peer_cert_file: str
    peer_key_file: str
    peer_trusted_ca_file: str
    peer_client_cert_auth: bool
    heartbeat_ms: int
    election_ms: int
    snapshot_count: int
    snapshot_catchup_entries: int
    watch_progress_notify_interval: float
    quota_bytes: int
    auto_compaction_mode: str
    auto_compaction_retention: str
    max_request_bytes: int
    max_txn_ops: int

    @property
    def member_id(self) -> int:
        return member_id(self.advertise_peer_urls, self.cluster_token)

    @property
    def cluster_id(self) -> int:
        return cluster_id(member.id for member in self.initial_cluster)

    @property
    def election_ticks(self) -> int:
        return max(2, self.election_ms // self.heartbeat_ms)


def member_id(peer_urls: Sequence[str], token: str) -> int:
    """etcd's rule: the first 8 bytes of sha1(sorted peer URLs + token), big-endian."""
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + token).encode()).digest()
    return int(struct.unpack(">Q", digest[:8])[0])


def cluster_id(member_ids: Iterable[int]) -> int:
    """etcd's rule: sha1 over the sorted member IDs' 8-byte big-endian forms, first 8 bytes."""
    ids = sorted(member_ids)
    digest = hashlib.sha1(b"".join(struct.pack(">Q", i) for i in ids)).digest()
    return int(struct.unpack(">Q", digest[:8])[0])


def parse_initial_cluster(text: str, token: str) -> tuple[Member, ...]:
    urls_by_name: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, url = part.partition("=")
        if not equals or not name or not url:
            raise FlagError(f"--initial-cluster: {part!r} is not name=peer-url")
        check_url("--initial-cluster", url)
        urls_by_name.setdefault(name, []).append(url)
    return tuple(Member(name, tuple(urls), member_id(urls, token)) for name, urls in urls_by_name.items())


def check_url(flag: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "unix", "unixs") or not (parts.hostname or parts.path):
        raise FlagError(f"{flag}: {url!r} is not a URL like https://127.0.0.1:2379")


def from_flags(flags: Flags) -> ServerConfig:
    for name in (
        "listen-client-urls",
        "advertise-client-urls",
        "listen-peer-urls",
        "initial-advertise-peer-urls",
        "listen-metrics-urls",
    ):
        for url in flags[name]:
            check_url(f"--{name}", url)
    if flags.experimental_watch_progress_notify_interval <= 0:
        raise FlagError("--experimental-watch-progress-notify-interval must be positive")
    if flags.heartbeat_interval <= 0 or flags.election_timeout < 5 * flags.heartbeat_interval:
        raise FlagError("--election-timeout must be at least 5 times --heartbeat-interval")
    try:
        AutoCompactor(flags.auto_compaction_mode, flags.auto_compaction_retention)
    except ValueError:
        raise FlagError(
            f"--auto-compaction-retention: {flags.auto_compaction_retention!r} is not hours, a duration "
            f"or (revision mode) a revision count"
        ) from None
    members = parse_initial_cluster(flags.initial_cluster, flags.initial_cluster_token)
    config = ServerConfig(
        name=flags.name,
        data_dir=Path(flags.data_dir or f"{flags.name}.etcd"),
        listen_client_urls=tuple(flags.listen_client_urls),
        advertise_client_urls=tuple(flags.advertise_client_urls),
        listen_peer_urls=tuple(flags.listen_peer_urls),
        advertise_peer_urls=tuple(flags.initial_advertise_peer_urls),
        listen_metrics_urls=tuple(flags.listen_metrics_urls),
        initial_cluster=members,
        initial_cluster_state=flags.initial_cluster_state,
        cluster_token=flags.initial_cluster_token,
        cert_file=flags.cert_file,
        key_file=flags.key_file,
        trusted_ca_file=flags.trusted_ca_file,
        client_cert_auth=flags.client_cert_auth,
        peer_cert_file=flags.peer_cert_file,
        peer_key_file=flags.peer_key_file,
        peer_trusted_ca_file=flags.peer_trusted_ca_file,
        peer_client_cert_auth=flags.peer_client_cert_auth,
        heartbeat_ms=flags.heartbeat_interval,
        election_ms=flags.election_timeout,
        snapshot_count=flags.snapshot_count,
        snapshot_catchup_entries=flags.experimental_snapshot_catchup_entries,
        watch_progress_notify_interval=flags.experimental_watch_progress_notify_interval,
        quota_bytes=flags.quota_backend_bytes or DEFAULT_QUOTA_BYTES,
        auto_compaction_mode=flags.auto_compaction_mode,
        auto_compaction_retention=flags.auto_compaction_retention,
        max_request_bytes=flags.max_request_bytes,
        max_txn_ops=flags.max_txn_ops,
    )
    own = next((m for m in members if m.name == config.name), None)
    if own is None:
        raise FlagError(f"--initial-cluster has no member named {config.name!r} (--name)")
    if sorted(own.peer_urls) != sorted(config.advertise_peer_urls):
        raise FlagError(
            f"--initial-cluster gives {config.name!r} the peer URLs {','.join(own.peer_urls)}, "
            f"but --initial-advertise-peer-urls says {','.join(config.advertise_peer_urls)}"
        )
    if any(url.startswith("https") for url in config.listen_client_urls) and not (
        config.cert_file and config.key_file
    ):
        raise FlagError("https client URLs need --cert-file and --key-file")
    if any(url.startswith("https") for url in config.listen_peer_urls) and not (
        config.peer_cert_file and config.peer_key_file
    ):
        raise FlagError("https peer URLs need --peer-cert-file and --peer-key-file")
    return config


def load(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ServerConfig:
    return from_flags(flag_set().parse(argv, env))

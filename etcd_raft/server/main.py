"""`kplane-etcd`: parse etcd's flags, start the member, serve clients (gRPC), peers and /health."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import grpc

from componentbase.errors import FlagError
from componentbase.health import HealthServer
from componentbase.klog import get_logger, setup_logging_from_flags
from componentbase.run import run
from componentbase.tls import server_context
from etcd_raft.server import config as server_config
from etcd_raft.server import metrics
from etcd_raft.server.config import ServerConfig
from etcd_raft.server.etcdserver import EtcdServer
from etcd_raft.server.services import GRPC_OVERHEAD_BYTES, add_services
from etcd_raft.transport import PeerTLS, Transport

log = get_logger(__name__)


def client_credentials(config: ServerConfig) -> grpc.ServerCredentials:
    key = Path(config.key_file).read_bytes()
    cert = Path(config.cert_file).read_bytes()
    ca = Path(config.trusted_ca_file).read_bytes() if config.trusted_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=config.client_cert_auth
    )


def peer_tls(config: ServerConfig) -> PeerTLS | None:
    if not config.peer_cert_file:
        return None
    return PeerTLS(
        config.peer_cert_file, config.peer_key_file, config.peer_trusted_ca_file, config.peer_client_cert_auth
    )


def host_port(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "0.0.0.0"
    return f"[{host}]:{parts.port}" if ":" in host else f"{host}:{parts.port or 2379}"


async def serve(config: ServerConfig) -> None:
    server = EtcdServer(config)
    metrics.watch(server)
    grpc_server = grpc.aio.server(
        options=[
            # etcd's limits: requests up to --max-request-bytes plus gRPC's framing (larger ones
            # get "request is too large" from the server's own check), responses of any size.
            ("grpc.max_receive_message_length", config.max_request_bytes + GRPC_OVERHEAD_BYTES),
            ("grpc.max_send_message_length", -1),
        ]
    )
    add_services(grpc_server, server)
    for url in config.listen_client_urls:
        if url.startswith("https"):
            grpc_server.add_secure_port(host_port(url), client_credentials(config))
        else:
            grpc_server.add_insecure_port(host_port(url))
    health_servers = [metrics_server(url, server, config) for url in config.listen_metrics_urls]
    transport = Transport(
        server.member_id,
        tls=peer_tls(config),
        on_message=server.step,
        on_unreachable=server.report_unreachable,
        on_snapshot_status=server.report_snapshot,
    )
    await transport.start(list(config.listen_peer_urls))
    server.attach_transport(transport)
    await grpc_server.start()
    for health in health_servers:
        await health.start()
    log.info("Serving client requests", urls=",".join(config.listen_client_urls))
    try:
        await server.run()
    finally:
        await grpc_server.stop(grace=1.0)
        await transport.stop()
        for health in health_servers:
            await health.close()


def metrics_server(url: str, server: EtcdServer, config: ServerConfig) -> HealthServer:
    """etcd's --listen-metrics-urls: /health (JSON, like etcd) and /metrics, plain or TLS."""
    parts = urlsplit(url)
    context = None
    if parts.scheme == "https":
        context = server_context(
            config.cert_file, config.key_file, config.trusted_ca_file or None, require_client_cert=False
        )
    health = HealthServer(parts.hostname or "127.0.0.1", parts.port or 2381, context)

    async def etcd_health() -> tuple[int, str, str]:
        if server.leader == 0:
            return 503, "application/json", json.dumps({"health": "false", "reason": "RAFT NO LEADER"})
        if server.alarms:
            return 503, "application/json", json.dumps({"health": "false", "reason": "ALARM NOSPACE"})
        return 200, "application/json", json.dumps({"health": "true", "reason": ""})

    health.add_route("/health", etcd_health)
    health.add_check("raft-leader", lambda: server.leader != 0)
    return health


def main(argv: Sequence[str] | None = None) -> NoReturn:
    flags = server_config.flag_set().parse_or_exit(sys.argv[1:] if argv is None else argv)
    setup_logging_from_flags(flags)
    try:
        config = server_config.from_flags(flags)
    except FlagError as err:
        print(f"kplane-etcd: error: {err}", file=sys.stderr)
        sys.exit(2)
    run(lambda: serve(config), prog="kplane-etcd")

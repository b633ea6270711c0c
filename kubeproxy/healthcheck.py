"""kube-proxy's health: /healthz and /livez on :10256 (is the proxier keeping up?), and one small HTTP
server per healthCheckNodePort (does this node have local endpoints for that Local-policy service?),
answering like upstream's pkg/proxy/healthcheck.

    /healthz  200 {"lastUpdated": "...", "currentTime": "...", "nodeEligible": true}, 503 when a change
              has waited longer than healthTimeout (2 x syncPeriod) for a sync
    :<hcport> 200 {"service": {"namespace": "ns", "name": "web"}, "localEndpoints": 2,
              "serviceProxyHealthy": true}, 503 with no local endpoints (or an unhealthy proxier)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import json
import time
from collections.abc import Callable

from componentbase.health import HealthServer
from componentbase.klog import get_logger
from kubeproxy import metrics

log = get_logger(__name__)
JSON = "application/json"


def go_time(epoch: float) -> str:
    """A time as Go's time.Time.String() writes it (UTC), which upstream's JSON bodies carry."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC") if epoch else "0001-01-01 00:00:00 +0000 UTC"


class ProxyHealth:
    """Upstream's ProxyHealthServer state: healthy unless a queued update has waited past the timeout."""

    def __init__(self, health_timeout: float, clock: Callable[[], float] = time.time) -> None:
        self.health_timeout = health_timeout
        self.clock = clock
        self.last_updated = 0.0
        self.oldest_pending: float | None = None
        self.node_eligible = True

    def queued_update(self) -> None:
        if self.oldest_pending is None:
            self.oldest_pending = self.clock()

    def updated(self) -> None:
        self.oldest_pending = None
        self.last_updated = self.clock()

    def healthy(self) -> bool:
        return self.oldest_pending is None or self.clock() - self.oldest_pending < self.health_timeout

    def healthz(self) -> tuple[int, dict[str, object]]:
        now = self.clock()
        healthy = self.healthy() and self.node_eligible
        # Upstream reports lastUpdated as now while healthy (older releases' meaning: "the loop ran").
        last = now if healthy else self.last_updated
        body = {"lastUpdated": go_time(last), "currentTime": go_time(now), "nodeEligible": self.node_eligible}
        return (200 if healthy else 503), body

    def livez(self) -> tuple[int, dict[str, object]]:
        now = self.clock()
        healthy = self.healthy()
        last = now if healthy else self.last_updated
        return (200 if healthy else 503), {"lastUpdated": go_time(last), "currentTime": go_time(now)}


def add_proxy_routes(server: HealthServer, health: ProxyHealth) -> None:
    """/healthz and /livez of :10256 with upstream's JSON answers."""

    async def healthz() -> tuple[int, str, str]:
        status, body = health.healthz()
        metrics.HEALTHZ_TOTAL.labels(str(status)).inc()
        return status, JSON, json.dumps(body)

    async def livez() -> tuple[int, str, str]:
        status, body = health.livez()
        metrics.LIVEZ_TOTAL.labels(str(status)).inc()
        return status, JSON, json.dumps(body)

    server.add_route("/healthz", healthz)
    server.add_route("/livez", livez)


ServiceKey = tuple[str, str]  # (namespace, name)


class ServiceHealthServers:
    """One listener per healthCheckNodePort; `sync` opens and closes them to match the services, and
    `set_local_endpoints` updates what they answer."""

    def __init__(self, host: str, proxy: ProxyHealth) -> None:
        self.host = host
        self.proxy = proxy
        self.ports: dict[ServiceKey, int] = {}
        self.local_endpoints: dict[ServiceKey, int] = {}
        self._servers: dict[ServiceKey, asyncio.Server] = {}

    async def sync(self, wanted: dict[ServiceKey, int]) -> None:
        for key in [key for key in self._servers if wanted.get(key) != self.ports.get(key)]:
            server = self._servers.pop(key)
            server.close()
            log.v(2).info("Closed service health check", service=f"{key[0]}/{key[1]}", port=self.ports[key])
        self.ports = dict(wanted)
        for key, port in wanted.items():
            if key in self._servers:
                continue
            try:
                self._servers[key] = await asyncio.start_server(
                    functools.partial(self._serve, key), self.host, port
                )
                log.v(2).info("Opened service health check", service=f"{key[0]}/{key[1]}", port=port)
            except OSError as error:
                log.error(
                    "Cannot open service health check", service=f"{key[0]}/{key[1]}", port=port, err=error
                )

    def set_local_endpoints(self, counts: dict[ServiceKey, int]) -> None:
        self.local_endpoints = dict(counts)

    def answer(self, key: ServiceKey) -> tuple[int, dict[str, object]]:
        count = self.local_endpoints.get(key, 0)
        healthy = self.proxy.healthy()
        body = {
            "service": {"namespace": key[0], "name": key[1]},
            "localEndpoints": count,
            "serviceProxyHealthy": healthy,
        }
        return (200 if count > 0 and healthy else 503), body

    async def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    async def _serve(
        self, key: ServiceKey, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            async with asyncio.timeout(10):
                await reader.readuntil(b"\r\n\r\n")
            status, body = self.answer(key)
            payload = json.dumps(body).encode()
            reason = "OK" if status == 200 else "Service Unavailable"
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {JSON}\r\nX-Content-Type-Options: nosniff\r\n"
                f"X-Load-Balancing-Endpoint-Weight: {body['localEndpoints']}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + payload)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

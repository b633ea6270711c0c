"""`KubeletServer`: the kubelet's HTTPS API on address:port (upstream 10250), client certificates
required and verified against authentication.x509.clientCAFile. Starlette on uvicorn; every
handler answers a Kubernetes `Status` on failure.

Endpoints (as upstream's kubelet serves them): /healthz, /pods, /metrics, /metrics/resource,
/stats/summary, /configz, /containerLogs/{ns}/{pod}/{container}, exec and attach
(/exec|/attach/{ns}/{pod}[/{uid}]/{container}, WebSocket), /portForward/{ns}/{pod}[/{uid}]
(WebSocket: kubectl's tunnelled SPDY), /run/{ns}/{pod}[/{uid}]/{container} (POST, ExecSync).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from componentbase.klog import get_logger
from componentbase.tls import server_context
from kubeclient.streaming import channels
from kubeclient.streaming.uvicorn_websocket import LenientWebSocketProtocol
from kubelet.cri.api import api_pb2
from kubelet.server import lookup, portforward, remotecommand
from kubelet.server.containerlogs import container_logs
from kubelet.server.errors import HandlerError, bad_request, status_response
from kubelet.server.lookup import Runtime
from kubelet.server.sockets import StarletteSocket

log = get_logger(__name__)

PodsSource = Callable[[], list[dict[str, Any]] | Awaitable[list[dict[str, Any]]]]
RUN_TIMEOUT = 60  # seconds for /run's ExecSync
SPDY_NOT_SUPPORTED = (
    "this kubelet streams over WebSocket only (channel.k8s.io; kubectl >= 1.30): SPDY upgrades are not served"
)


class KubeletServer:
    def __init__(
        self,
        address: str,
        port: int,
        tls_cert_file: str,
        tls_private_key_file: str,
        client_ca_file: str | None,
        runtime: Runtime,
        pod_logs_dir: Path,
        pods: PodsSource,
        stats_summary: Callable[[], Awaitable[dict[str, Any]]],
        resource_metrics: Callable[[], Awaitable[str]],
        metrics_registry: CollectorRegistry,
        *,
        configz: Callable[[], dict[str, Any]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        log_poll_interval: float = 0.2,
    ) -> None:
        self.address = address
        self.port = port
        self.tls_cert_file = tls_cert_file
        self.tls_private_key_file = tls_private_key_file
        self.client_ca_file = client_ca_file
        self.runtime = runtime
        self.pod_logs_dir = pod_logs_dir
        self.pods = pods
        self.stats_summary = stats_summary
        self.resource_metrics = resource_metrics
        self.metrics_registry = metrics_registry
        self.configz = configz
        self.clock = clock
        self.log_poll_interval = log_poll_interval
        self.open_tunnel_for: Callable[[str], portforward.OpenTunnel] = self._runtime_tunnels
        self.dial = remotecommand.dial_runtime
        self._uvicorn: _Server | None = None

    # ---- serving ----

    def app(self) -> Starlette:
        return Starlette(routes=self.routes())

    async def serve(self) -> None:
        """Serve until cancelled. Without client_ca_file clients are not asked for certificates
        (upstream: anonymous authentication then decides; tests only)."""
        context = server_context(
            self.tls_cert_file, self.tls_private_key_file, self.client_ca_file, require_client_cert=True
        )
        config = uvicorn.Config(
            self.app(),
            host=self.address,
            port=self.port,
            lifespan="off",
            log_config=None,
            access_log=False,
            ws=LenientWebSocketProtocol,
            ws_max_size=64 * 1024 * 1024,
            ws_ping_interval=None,
            timeout_graceful_shutdown=2,
        )
        config.load()
        config.ssl = context
        self._uvicorn = _Server(config)
        await self._uvicorn.serve()

    def shutdown(self) -> None:
        """Ask `serve` to return (open streams get timeout_graceful_shutdown seconds)."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True

    def routes(self) -> list[BaseRoute]:
        streaming = []
        for verb, handler in (("exec", self.exec), ("attach", self.attach)):
            for path in (
                f"/{verb}/{{namespace}}/{{pod}}/{{container}}",
                f"/{verb}/{{namespace}}/{{pod}}/{{uid}}/{{container}}",
            ):
                streaming += [
                    WebSocketRoute(path, handler),
                    Route(path, self.spdy_refused, methods=["GET", "POST"]),
                ]
        for path in ("/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"):
            streaming += [
                WebSocketRoute(path, self.port_forward),
                Route(path, self.spdy_refused, methods=["GET", "POST"]),
            ]
        return [
            Route("/healthz", self.healthz, methods=["GET", "HEAD"]),
            Route("/pods", self.list_pods, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/metrics/resource", self.metrics_resource, methods=["GET"]),
            Route("/stats/summary", self.summary, methods=["GET", "POST"]),
            Route("/configz", self.config, methods=["GET"]),
            Route("/containerLogs/{namespace}/{pod}/{container}", self.logs, methods=["GET"]),
            Route("/run/{namespace}/{pod}/{container}", self.run, methods=["POST"]),
            Route("/run/{namespace}/{pod}/{uid}/{container}", self.run, methods=["POST"]),
            *streaming,
        ]

    # ---- plain endpoints ----

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def list_pods(self, request: Request) -> Response:
        pods = self.pods()
        items = await pods if inspect.isawaitable(pods) else pods
        return JSONResponse({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics_registry), media_type="text/plain; version=0.0.4")

    async def metrics_resource(self, request: Request) -> Response:
        return await _guarded(lambda: self._text(self.resource_metrics()))

    async def _text(self, body: Awaitable[str]) -> Response:
        return Response(await body, media_type="text/plain; version=0.0.4")

    async def summary(self, request: Request) -> Response:
        async def answer() -> Response:
            return JSONResponse(await self.stats_summary())

        return await _guarded(answer)

    async def config(self, request: Request) -> Response:
        if self.configz is None:
            return status_response(404, "configz is not available")
        return JSONResponse({"kubeletconfig": self.configz()})

    async def logs(self, request: Request) -> Response:
        p = request.path_params

        async def answer() -> Response:
            chunks = await container_logs(
                self.runtime,
                p["namespace"],
                p["pod"],
                p["container"],
                request.query_params,
                self.clock,
                poll_interval=self.log_poll_interval,
            )
            return StreamingResponse(chunks, media_type="text/plain")

        return await _guarded(answer)

    async def run(self, request: Request) -> Response:
        p = request.path_params

        async def answer() -> Response:
            command = request.query_params.get("cmd", "").split()
            if not command:
                raise bad_request("you must specify a command (cmd=...)")
            found = await lookup.running_container(
                self.runtime, p["namespace"], p["pod"], p["container"], p.get("uid")
            )
            result = await self.runtime.exec_sync(found.id, command, RUN_TIMEOUT)
            return Response(bytes(result.stdout) + bytes(result.stderr), media_type="text/plain")

        return await _guarded(answer)

    async def spdy_refused(self, request: Request) -> Response:
        return status_response(400, SPDY_NOT_SUPPORTED)

    # ---- streaming ----

    async def exec(self, websocket: WebSocket) -> None:
        await self._remotecommand(websocket, attach=False)

    async def attach(self, websocket: WebSocket) -> None:
        await self._remotecommand(websocket, attach=True)

    async def _remotecommand(self, websocket: WebSocket, *, attach: bool) -> None:
        p = websocket.path_params
        offered = websocket.scope.get("subprotocols") or []
        protocol = channels.negotiate(offered, channels.REMOTECOMMAND_PROTOCOLS) if offered else channels.V1
        try:
            if protocol is None:
                raise HandlerError(400, f"none of the offered subprotocols {offered} is supported")
            query = {key: websocket.query_params.getlist(key) for key in websocket.query_params}
            options = remotecommand.stream_options(query, command_required=not attach)
            found = await lookup.running_container(
                self.runtime, p["namespace"], p["pod"], p["container"], p.get("uid")
            )
            if attach:
                url = await self.runtime.attach(
                    api_pb2.AttachRequest(
                        container_id=found.id, stdin=options.stdin, tty=options.tty,
                        stdout=options.stdout, stderr=options.stderr,
                    )
                )  # fmt: skip
            else:
                url = await self.runtime.exec(
                    api_pb2.ExecRequest(
                        container_id=found.id, cmd=list(options.command), tty=options.tty,
                        stdin=options.stdin, stdout=options.stdout, stderr=options.stderr,
                    )
                )  # fmt: skip
        except Exception as error:
            await _deny(websocket, error)
            return
        await websocket.accept(subprotocol=protocol if offered else None)
        socket = StarletteSocket(websocket)
        await remotecommand.bridge(socket, channels.Framing(protocol), url, options, dial=self.dial)

    async def port_forward(self, websocket: WebSocket) -> None:
        p = websocket.path_params
        offered = websocket.scope.get("subprotocols") or []
        try:
            if channels.negotiate(offered, [channels.SPDY_TUNNEL_PORT_FORWARD]) is None:
                raise HandlerError(
                    400,
                    f"port-forward needs the {channels.SPDY_TUNNEL_PORT_FORWARD} subprotocol, got {offered}",
                )
            sandbox = await lookup.ready_sandbox(self.runtime, p["namespace"], p["pod"], p.get("uid"))
        except Exception as error:
            await _deny(websocket, error)
            return
        await websocket.accept(subprotocol=channels.SPDY_TUNNEL_PORT_FORWARD)
        session = portforward.PortForwardSession(StarletteSocket(websocket), self.open_tunnel_for(sandbox.id))
        await session.serve()

    def _runtime_tunnels(self, sandbox_id: str) -> portforward.OpenTunnel:
        async def open_tunnel(port: int) -> portforward.RuntimeTunnel:
            url = await self.runtime.port_forward(sandbox_id, [port])
            return await portforward.open_runtime_websocket(url)

        return open_tunnel


def _error_status(error: BaseException) -> tuple[int, str]:
    if isinstance(error, HandlerError):
        return error.code, error.message
    log.error("Kubelet server request failed", err=str(error))
    return 500, f"internal error: {error}"


async def _guarded(answer: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await answer()
    except Exception as error:
        return status_response(*_error_status(error))


async def _deny(websocket: WebSocket, error: BaseException) -> None:
    """Refuse a WebSocket handshake with an HTTP Status answer (a 403 close where the server
    cannot send one)."""
    code, message = _error_status(error)
    try:
        await websocket.send_denial_response(status_response(code, message))
    except RuntimeError:
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(1008, message[:120])


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the kubelet process owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

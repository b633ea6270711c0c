"""/healthz, /livez, /readyz and /metrics, served like upstream components serve them.

    health = HealthServer("0.0.0.0", 10259, tls_context, metrics_require_client_cert=True)
    health.add_check("informer-sync", informers_synced, endpoints=("readyz",))
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(health.serve_forever())

A check is a function (sync or async) that returns None or True when healthy and raises or returns
False when not. Every endpoint has `ping`; /readyz also has `shutdown`, failing after begin_shutdown().
Answers: 200 `ok`; `?verbose` lists `[+]name ok` lines and `healthz check passed`; a failure is 500
with `[-]name failed: reason` lines; `?exclude=name` skips a check; `/healthz/<name>` runs one.

Health paths are open to anyone, as upstream; /metrics may require a verified client certificate
(serve with a context whose verify_mode is CERT_OPTIONAL): 401 without one, 403 if the authorizer
refuses its identity. The HTTP/1.1 server is deliberately small: GET and HEAD, keep-alive, bounded
request heads and bodies, timeouts; anything else gets 400, 404, 405, 413 or 431.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import inspect
import ssl
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from componentbase.flags import format_duration
from componentbase.klog import get_logger
from componentbase.tls import PeerIdentity, peer_identity

Check = Callable[[], object]
"""Returns None/True (healthy) or False, or raises; may return an awaitable of the same."""
Authorizer = Callable[[PeerIdentity], bool]

ENDPOINTS = ("healthz", "livez", "readyz")
Route = Callable[[], Awaitable[tuple[int, str, str]]]
MAX_REQUEST_HEAD = 16 * 1024
MAX_REQUEST_BODY = 64 * 1024
TEXT = "text/plain; charset=utf-8"

log = get_logger(__name__)


@dataclass
class _Response:
    status: int
    body: str | bytes
    content_type: str = TEXT
    headers: list[tuple[str, str]] = field(default_factory=list)


class _BadRequest(Exception):
    """The request cannot be answered on this connection; answer `response` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = _Response(status, message + "\n")


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    keep_alive: bool


class HealthServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        *,
        checks: Mapping[str, Check] | None = None,
        registry: CollectorRegistry = REGISTRY,
        metrics_require_client_cert: bool = False,
        metrics_authorizer: Authorizer | None = None,
        check_timeout: float = 10.0,
        idle_timeout: float = 60.0,
    ) -> None:
        needs_identity = metrics_require_client_cert or metrics_authorizer is not None
        if needs_identity and (ssl_context is None or ssl_context.verify_mode == ssl.CERT_NONE):
            raise ValueError("authenticating /metrics needs a TLS context that verifies client certificates")
        self.host = host
        self._requested_port = port
        self._ssl_context = ssl_context
        self._registry = registry
        self._metrics_needs_identity = needs_identity
        self._metrics_authorizer = metrics_authorizer
        self._check_timeout = check_timeout
        self._idle_timeout = idle_timeout
        self._checks: dict[str, dict[str, Check]] = {endpoint: {} for endpoint in ENDPOINTS}
        self._shutting_down = False
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._routes: dict[str, Route] = {}
        self.add_check("ping", lambda: None)
        self.add_check("shutdown", self._not_shutting_down, endpoints=("readyz",))
        for name, check in (checks or {}).items():
            self.add_check(name, check)

    def add_route(self, path: str, route: Route) -> None:
        """Serve GET `path` with `route()` -> (status, content type, body), for a component's own
        unauthenticated health document (etcd's /health is JSON)."""
        self._routes[path] = route

    def add_check(self, name: str, check: Check, *, endpoints: Collection[str] = ENDPOINTS) -> None:
        """Run `check` for each of `endpoints` ("healthz", "livez", "readyz"), in the order added."""
        if not name or "/" in name:
            raise ValueError(f"bad health check name {name!r}")
        for endpoint in endpoints:
            if endpoint not in self._checks:
                raise ValueError(f"unknown health endpoint {endpoint!r}")
            if name in self._checks[endpoint]:
                raise ValueError(f"health check {name!r} added twice to /{endpoint}")
            self._checks[endpoint][name] = check

    def begin_shutdown(self) -> None:
        """From now on /readyz fails (its `shutdown` check), so load balancers stop sending traffic."""
        self._shutting_down = True

    def _not_shutting_down(self) -> None:
        if self._shutting_down:
            raise RuntimeError("process is shutting down")

    @property
    def port(self) -> int:
        """The bound port once started (the one the system chose if 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection,
            self.host,
            self._requested_port,
            ssl=self._ssl_context,
            limit=MAX_REQUEST_HEAD,
        )
        log.info("Serving health checks", addr=f"{self.host}:{self.port}", tls=self._ssl_context is not None)

    async def close(self) -> None:
        """Stop listening and end open connections (idle keep-alive ones included)."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for connection in self._connections:
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled (a task of the process's TaskGroup), then close."""
        if self._server is None:
            await self.start()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await self.close()

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    # --- HTTP ---

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = asyncio.current_task()
        if connection is not None:
            self._connections.add(connection)
        ssl_object = writer.get_extra_info("ssl_object")
        peer = peer_identity(ssl_object) if ssl_object is not None else None
        try:
            keep_alive = True
            while keep_alive:
                try:
                    request = await self._read_request(reader)
                except _BadRequest as bad:
                    await _write(writer, "GET", bad.response, keep_alive=False)
                    return
                if request is None:
                    return
                response = await self._respond(request, peer)
                log.v(5).info("HTTP", verb=request.method, URI=request.path, resp=response.status)
                keep_alive = request.keep_alive
                await _write(writer, request.method, response, keep_alive=keep_alive)
        except (ConnectionError, ssl.SSLError):
            pass  # the client went away
        finally:
            if connection is not None:
                self._connections.discard(connection)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        """The next request, or None when the client closed or idled out between requests."""
        try:
            async with asyncio.timeout(self._idle_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, TimeoutError):
            return None
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "request header fields too large") from None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in filter(None, header_lines):
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise _BadRequest(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
        await self._discard_body(reader, headers)
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        url = urlsplit(target)
        return _Request(method, unquote(url.path), parse_qs(url.query, keep_blank_values=True), keep_alive)

    async def _discard_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> None:
        # GET and HEAD carry no body, but reading one keeps a keep-alive connection in step.
        if "transfer-encoding" in headers:
            raise _BadRequest(400, "request bodies with transfer-encoding are not supported")
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise _BadRequest(400, "malformed content-length")
        length = int(length_text)
        if length > MAX_REQUEST_BODY:
            raise _BadRequest(413, "request body too large")
        if length:
            try:
                async with asyncio.timeout(self._idle_timeout):
                    await reader.readexactly(length)
            except (asyncio.IncompleteReadError, TimeoutError):
                raise _BadRequest(400, "incomplete request body") from None

    async def _respond(self, request: _Request, peer: PeerIdentity | None) -> _Response:
        if request.method not in ("GET", "HEAD"):
            return _Response(405, "method not allowed\n", headers=[("Allow", "GET, HEAD")])
        try:
            if request.path == "/metrics":
                return self._metrics(peer)
            if request.path in self._routes:
                status, content_type, body = await self._routes[request.path]()
                return _Response(status, body, content_type)
            endpoint, _, check_name = request.path.strip("/").partition("/")
            if endpoint in self._checks and not check_name:
                return await self._endpoint(endpoint, request.query)
            if endpoint in self._checks and check_name in self._checks[endpoint]:
                return await self._single_check(self._checks[endpoint][check_name])
            return _Response(404, "404 page not found\n")
        except Exception:
            log.exception("Health server failed to answer", path=request.path)
            return _Response(500, "internal server error\n")

    # --- checks and metrics ---

    async def _endpoint(self, endpoint: str, query: dict[str, list[str]]) -> _Response:
        excluded = {name for value in query.get("exclude", []) for name in value.split(",") if name}
        checks = self._checks[endpoint]
        names = [name for name in checks if name not in excluded]
        reasons = await asyncio.gather(*(self._run(checks[name]) for name in names))
        failures = dict(zip(names, reasons, strict=True))
        lines = []
        for name in checks:
            if name in excluded:
                lines.append(f"[+]{name} excluded: ok")
            elif failures[name] is None:
                lines.append(f"[+]{name} ok")
            else:
                lines.append(f"[-]{name} failed: {failures[name]}")
        unknown = sorted(excluded - checks.keys())
        if unknown:
            lines.append(f"warn: some health checks cannot be excluded: no matches for {', '.join(unknown)}")
        failed = [name for name, reason in failures.items() if reason is not None]
        if failed:
            log.info(
                "Health check failed", endpoint=endpoint, checks=",".join(failed), output="\n".join(lines)
            )
            return _Response(500, "\n".join([*lines, f"{endpoint} check failed"]) + "\n")
        if "verbose" not in query:
            return _Response(200, "ok")
        return _Response(200, "\n".join([*lines, f"{endpoint} check passed"]) + "\n")

    async def _single_check(self, check: Check) -> _Response:
        reason = await self._run(check)
        if reason is not None:
            return _Response(500, f"internal server error: {reason}\n")
        return _Response(200, "ok")

    async def _run(self, check: Check) -> str | None:
        """None if the check passed, else why it did not."""
        try:
            result = check()
            if inspect.isawaitable(result):
                async with asyncio.timeout(self._check_timeout):
                    result = await result
        except TimeoutError:
            return f"timed out after {format_duration(self._check_timeout)}"
        except Exception as error:
            return str(error) or type(error).__name__
        return "check returned false" if result is False else None

    def _metrics(self, peer: PeerIdentity | None) -> _Response:
        if self._metrics_needs_identity and peer is None:
            return _Response(401, "Unauthorized\n")
        if self._metrics_authorizer is not None and peer is not None and not self._metrics_authorizer(peer):
            return _Response(403, f'forbidden: user "{peer.common_name}" cannot get path "/metrics"\n')
        return _Response(200, generate_latest(self._registry), CONTENT_TYPE_LATEST)


async def _write(writer: asyncio.StreamWriter, method: str, response: _Response, *, keep_alive: bool) -> None:
    body = response.body.encode() if isinstance(response.body, str) else response.body
    headers = [
        ("Content-Type", response.content_type),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        *response.headers,
    ]
    if not keep_alive:
        headers.append(("Connection", "close"))
    head = f"HTTP/1.1 {response.status} {http.HTTPStatus(response.status).phrase}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
    await writer.drain()

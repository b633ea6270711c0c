"""kube-apiserver's connections to kubelets: pods/log (streamed text), nodes/{name}/proxy/{path}
(any method), and the WebSocket subresources pods/exec, pods/attach and pods/portforward, relayed
message for message to the kubelet's :10250 with the subprotocol the client offered (so v5's
stdin close and kubectl's tunnelled SPDY port-forward pass through unchanged).

The kubelet's address comes from the Node: status.addresses by --kubelet-preferred-address-types,
the port from status.daemonEndpoints.kubeletEndpoint.Port (10250 when unset). TLS to the kubelet
presents --kubelet-client-certificate/-key and verifies against --kubelet-certificate-authority
when given, else does not verify (upstream's behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx
import websockets
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.protocol import Protocol

from apiserver import authn, routing
from apiserver.options import Options
from componentbase.klog import get_logger
from kubeapi import errors
from kubeclient.streaming import channels

if TYPE_CHECKING:
    from apiserver.server import APIServer, Request, Response

log = get_logger(__name__)

KUBELET_SUBRESOURCES = ("log", "exec", "attach", "portforward", "proxy")  # long-running: no inflight slot
DEFAULT_KUBELET_PORT = 10250
DEFAULT_ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
LOG_OPTIONS = ("follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes")
# Request headers a proxied request does not carry over (hop-by-hop, or ours to set).
_DROPPED_HEADERS = {
    "host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection",
    "content-length", "authorization", "accept-encoding",
}  # fmt: skip
_DROPPED_RESPONSE_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
}

Object = dict[str, Any]


@dataclass(frozen=True)
class KubeletClientConfig:
    certificate: str = ""
    key: str = ""
    certificate_authority: str = ""
    preferred_address_types: tuple[str, ...] = DEFAULT_ADDRESS_TYPES
    timeout: float = 5.0  # seconds to connect (--kubelet-timeout)

    @classmethod
    def from_options(cls, options: Options) -> KubeletClientConfig:
        flags = options.flags
        if flags is None:
            return cls()
        timeout = float(flags.as_dict().get("kubelet-timeout", 5.0))
        return cls(
            certificate=flags["kubelet-client-certificate"],
            key=flags["kubelet-client-key"],
            certificate_authority=flags["kubelet-certificate-authority"],
            preferred_address_types=tuple(flags["kubelet-preferred-address-types"]) or DEFAULT_ADDRESS_TYPES,
            timeout=float(timeout),
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.certificate_authority:
            context.load_verify_locations(self.certificate_authority)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certificate and self.key:
            context.load_cert_chain(self.certificate, self.key)
        return context


# ---- pure decisions ----


def kubelet_address(node: Object, preferred: Sequence[str]) -> tuple[str, int]:
    """(host, port) of the node's kubelet, as upstream's NodeConnectionInfo picks them."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    for address_type in preferred:
        for address in addresses:
            if address.get("type") == address_type and address.get("address"):
                port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
                return str(address["address"]), int(port or DEFAULT_KUBELET_PORT)
    known = [f"{a.get('type')}:{a.get('address')}" for a in addresses]
    name = node.get("metadata", {}).get("name", "")
    raise errors.StatusError(
        500, "InternalError", f'no preferred addresses found for node "{name}"; known addresses: {known}'
    )


def host_url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def pod_container(pod: Object, requested: str) -> str:
    """The container a pod subresource names: the query's, or the pod's only container."""
    spec = pod.get("spec") or {}
    name = pod.get("metadata", {}).get("name", "")
    regular = [c.get("name", "") for c in spec.get("containers") or []]
    others = [
        c.get("name", "") for key in ("initContainers", "ephemeralContainers") for c in spec.get(key) or []
    ]
    if not requested:
        if len(regular) == 1:
            return str(regular[0])
        raise errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(regular)}]"
        )
    if requested not in regular + others:
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def require_node(pod: Object) -> str:
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if not node:
        name = pod.get("metadata", {}).get("name", "")
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    return node


def require_running(pod: Object, what: str) -> None:
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot {what} a container in a completed pod; current phase is {phase}")


def log_query(query: Mapping[str, str]) -> str:
    return urlencode([(key, query[key]) for key in LOG_OPTIONS if key in query])


def exec_query(query: Sequence[tuple[str, str]], container: str, *, attach: bool) -> str:
    """The kubelet's names for the streams (input/output/error), as the apiserver sends them."""
    renamed = {"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"}
    out: list[tuple[str, str]] = []
    for key, value in query:
        if key == "command" and not attach:
            out.append(("command", value))
        elif key in renamed and value.lower() in ("1", "true"):
            out.append((renamed[key], "1"))
    return urlencode(out)


def _status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps(errors.StatusError(code, reason, message).to_status()).encode()


# ---- the proxy ----


class KubeletProxy:
    def __init__(self, api: APIServer, config: KubeletClientConfig) -> None:
        self.api = api
        self.config = config
        self._ssl: ssl.SSLContext | None = None

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            try:
                self._ssl = self.config.ssl_context()
            except (OSError, ssl.SSLError) as error:
                raise errors.internal(f"kubelet client TLS configuration: {error}") from None
        return self._ssl

    async def _pod(self, namespace: str, name: str) -> Object:
        return await self.api.rest[("", "v1", "pods")].get(namespace, name)

    async def _node_base(self, node_name: str) -> str:
        node = await self.api.rest[("", "v1", "nodes")].get(None, node_name)
        return host_url(*kubelet_address(node, self.config.preferred_address_types))

    # ---- HTTP ----

    async def serve_http(self, info: routing.RequestInfo, request: Request) -> Response:
        from apiserver.server import Response

        sub = info.subresource
        if info.resource.name == "nodes" and sub == "proxy":
            path = _proxy_subpath(request.path, info.name or "")
            base = await self._node_base(info.name or "")
            query = urlencode(list(request.query.items()))
            url = base + path + (f"?{query}" if query else "")
            headers = {k: v for k, v in request.headers.items() if k not in _DROPPED_HEADERS}
            return await self._forward(request.method, url, headers, request.body, proxy=True)
        if info.resource.name != "pods" or sub not in KUBELET_SUBRESOURCES:
            raise errors.method_not_supported(f"{info.resource.name}/{sub}", info.verb)
        pod = await self._pod(info.namespace or "", info.name or "")
        if sub == "log":
            if info.verb != "get":
                raise errors.method_not_supported("pods/log", info.verb)
            container = pod_container(pod, request.query.get("container", ""))
            base = await self._node_base(require_node(pod))
            meta = pod["metadata"]
            path = f"/containerLogs/{quote(meta['namespace'])}/{quote(meta['name'])}/{quote(container)}"
            query = log_query(request.query)
            return await self._forward("GET", base + path + (f"?{query}" if query else ""), {}, b"")
        # exec, attach, portforward over plain HTTP: the SPDY upgrade path, which we do not serve.
        if sub in ("exec", "attach"):
            pod_container(pod, request.query.get("container", ""))
        require_node(pod)
        return Response(
            400,
            _status_body(
                400, "BadRequest",
                f"pods/{sub} is served over WebSocket (channel.k8s.io, kubectl >= 1.30), not SPDY",
            ),
        )  # fmt: skip

    async def _forward(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, proxy: bool = False
    ) -> Response:
        """Send the request to the kubelet; its answer streams back (status and body as they are)."""
        from apiserver.server import Response

        client = httpx.AsyncClient(
            verify=self.ssl_context(), timeout=httpx.Timeout(self.config.timeout, read=None, write=None)
        )
        try:
            answer = await client.send(
                client.build_request(method, url, headers=dict(headers), content=body or None), stream=True
            )
        except httpx.HTTPError as error:
            await client.aclose()
            code, reason = (503, "ServiceUnavailable") if proxy else (500, "InternalError")
            prefix = "Error trying to reach service" if proxy else f"Get {url!r}"
            raise errors.StatusError(code, reason, f"{prefix}: {_one_line(error)}") from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_raw():
                    yield chunk
            except httpx.HTTPError:
                pass  # the kubelet went away mid-stream: the client sees the body end
            finally:
                await answer.aclose()
                await client.aclose()

        content_type = answer.headers.get("content-type", "text/plain")
        response = Response(answer.status_code, content_type=content_type, stream=chunks())
        if proxy:
            response.headers = {
                k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED_RESPONSE_HEADERS
            }
        return response

    # ---- WebSocket ----

    async def serve_websocket(self, websocket: WebSocket) -> None:
        """A WebSocket request to the API: pods exec/attach/portforward, relayed to the kubelet."""
        try:
            url, protocols = await self._websocket_target(websocket)
        except errors.StatusError as error:
            await _deny(websocket, error.code, json.dumps(error.to_status()).encode())
            return
        try:
            upstream = await connect(
                url,
                ssl=self.ssl_context(),
                additional_headers={"Sec-WebSocket-Protocol": ", ".join(protocols)} if protocols else None,
                max_size=None,
                ping_interval=None,
                open_timeout=self.config.timeout,
                create_connection=_lenient_connection(protocols),
            )
        except websockets.InvalidStatus as refused:
            await _deny(websocket, refused.response.status_code, refused.response.body or b"")
            return
        except (OSError, TimeoutError, ValueError, websockets.InvalidHandshake) as error:
            message = f"error dialing backend: {_one_line(error)}"
            await _deny(websocket, 503, _status_body(503, "ServiceUnavailable", message))
            return
        try:
            await websocket.accept(subprotocol=upstream.subprotocol)
            await _relay(websocket, upstream)
        finally:
            await upstream.close()

    async def _websocket_target(self, websocket: WebSocket) -> tuple[str, list[str]]:
        if authn.user_of(websocket.scope.get("client")) is None:
            raise errors.unauthorized()
        query = dict(websocket.query_params)
        info = routing.parse("GET", websocket.url.path, query, self.api.registry)
        if (
            info is None
            or info.resource.name != "pods"
            or info.subresource not in ("exec", "attach", "portforward")
        ):
            raise errors.StatusError(
                400, "BadRequest", "WebSocket is served for pods/exec, attach and portforward"
            )
        pod = await self._pod(info.namespace or "", info.name or "")
        meta = pod["metadata"]
        where = f"{quote(meta['namespace'])}/{quote(meta['name'])}"
        sub = info.subresource
        if sub == "portforward":
            node = require_node(pod)
            path, query_text = f"/portForward/{where}", urlencode(websocket.query_params.multi_items())
        else:
            container = pod_container(pod, query.get("container", ""))
            require_running(pod, sub)
            node = require_node(pod)
            path = f"/{sub}/{where}/{quote(container)}"
            query_text = exec_query(websocket.query_params.multi_items(), container, attach=sub == "attach")
        base = "wss" + (await self._node_base(node)).removeprefix("https")
        protocols = [p for entry in websocket.scope.get("subprotocols") or [] for p in entry.split(",") if p]
        return base + path + (f"?{query_text}" if query_text else ""), [p.strip() for p in protocols]


def _lenient_connection(offered: list[str]) -> type[ClientConnection]:
    """A client connection class that offers `offered` (sent as a plain header) and takes the
    kubelet's answer without the strict token grammar: kubectl's `SPDY/3.1+portforward.k8s.io`
    has a `/`, which websockets refuses both ways."""

    class LenientConnection(ClientConnection):
        def __init__(self, protocol: Protocol, *args: Any, **kwargs: Any) -> None:
            _accept_subprotocol_leniently(protocol, offered)
            super().__init__(protocol, *args, **kwargs)  # type: ignore[arg-type]

    return LenientConnection


def _accept_subprotocol_leniently(protocol: Protocol, offered: list[str]) -> None:
    def choose(headers: Headers) -> websockets.Subprotocol | None:
        try:
            chosen = channels.lenient_subprotocol(offered, headers.get_all("Sec-WebSocket-Protocol"))
        except ValueError as error:
            raise websockets.NegotiationError(str(error)) from None
        return websockets.Subprotocol(chosen) if chosen is not None else None

    protocol.process_subprotocol = choose  # type: ignore[attr-defined]


def _proxy_subpath(path: str, node: str) -> str:
    """`/api/v1/nodes/N/proxy/stats/summary` -> `/stats/summary` (`/` when nothing follows)."""
    marker = f"/nodes/{node}/proxy"
    index = path.find(marker)
    rest = path[index + len(marker) :] if index >= 0 else ""
    return rest if rest.startswith("/") else "/" + rest


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


async def _deny(websocket: WebSocket, code: int, body: bytes) -> None:
    from starlette.responses import Response as HTTPResponse

    try:
        await websocket.send_denial_response(
            HTTPResponse(body, status_code=code, media_type="application/json")
        )
    except RuntimeError:  # the server cannot answer a handshake with a body: a policy close
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(1008)


async def _relay(client: WebSocket, upstream: ClientConnection) -> None:
    """Messages both ways until one side closes; then close the other with the same code."""

    async def client_to_upstream() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, websockets.ConnectionClosed):
            while True:
                message = await client.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send(message["text"])

    async def upstream_to_client() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, websockets.ConnectionClosed, OSError):
            async for message in upstream:
                if isinstance(message, bytes):
                    await client.send_bytes(message)
                else:
                    await client.send_text(message)

    tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    code = upstream.close_code or 1000
    with contextlib.suppress(RuntimeError, OSError):
        await client.close(code if code in (1000, 1001, 1011) or 3000 <= code < 5000 else 1000)
    await upstream.close()

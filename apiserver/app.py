"""The HTTP layer: a FastAPI app whose one catch-all route hands every request to
APIServer.handle, and uvicorn serving it over TLS with optional client certificates."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from fastapi import Request as HTTPRequest
from fastapi.responses import Response as HTTPResponse
from fastapi.responses import StreamingResponse

from apiserver import authn
from apiserver.server import APIServer, Request, status_response
from kubeapi import errors

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
DRAIN_FACTOR = 8


def create_app(api: APIServer) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    limit = api.options.max_request_bytes

    async def endpoint(http: HTTPRequest) -> HTTPResponse:
        body = await _read_body(http, limit)
        if body is None:
            response = status_response(errors.too_large(f"Request entity too large: limit is {limit}"))
        else:
            request = Request(
                method=http.method,
                path=http.url.path,
                query=dict(http.query_params),
                headers={k.lower(): v for k, v in http.headers.items()},
                body=body,
                user=authn.user_of(http.scope.get("client")),
            )
            response = await api.handle(request)
        if response.stream is not None:
            return StreamingResponse(
                response.stream,
                status_code=response.status,
                media_type=response.content_type,
                headers=response.headers,
            )
        return HTTPResponse(
            response.body if http.method != "HEAD" else b"",
            status_code=response.status,
            media_type=response.content_type,
            headers=response.headers,
        )

    app.add_api_route("/{path:path}", endpoint, methods=METHODS, include_in_schema=False)
    app.add_api_websocket_route("/{path:path}", api.kubelet.serve_websocket)  # exec, attach, portforward
    return app


async def _read_body(http: HTTPRequest, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` bytes. An oversize body is still read (and
    dropped) up to DRAIN_FACTOR times the limit, so the client, still sending, gets the 413."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in http.stream():
        size += len(chunk)
        if size > limit:
            chunks.clear()
            if size > DRAIN_FACTOR * limit:
                break
        else:
            chunks.append(chunk)
    return None if size > limit else b"".join(chunks)


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: componentbase.run owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: FastAPI, host: str, port: int, context: ssl.SSLContext) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=authn.IdentifyingH11Protocol,
        ws=authn.IdentifiedWebSocketProtocol,  # lenient: kubectl port-forward's subprotocol is no token
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=60,
        timeout_graceful_shutdown=5,
    )
    config.load()
    config.ssl = context  # ours: client certificates optional, verified against --client-ca-file
    server = _Server(config)
    await server.serve()

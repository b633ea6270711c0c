from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from componentbase.health import HealthServer
from componentbase.tls import client_context, server_context


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("kplane_test_syncs", "Syncs done.", registry=registry).inc(3)
    return registry


@pytest.fixture
async def health() -> AsyncIterator[HealthServer]:
    async with HealthServer(registry=metrics_registry()) as server:
        yield server


async def get(server: HealthServer, path: str, method: str = "GET") -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        return await client.request(method, path)


async def exchange(server: HealthServer, request: bytes) -> bytes:
    """Send raw bytes; everything the server answers until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request)
    await writer.drain()
    try:
        return await reader.read()
    finally:
        writer.close()


async def test_healthy_endpoints_answer_ok(health: HealthServer) -> None:
    assert health.port != 0
    for path in ("/healthz", "/livez", "/readyz"):
        response = await get(health, path)
        assert (response.status_code, response.text) == (200, "ok")
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_verbose_lists_every_check(health: HealthServer) -> None:
    async def etcd() -> None:
        return None

    health.add_check("etcd", etcd)
    health.add_check("informer-sync", lambda: True, endpoints=("readyz",))
    assert (await get(health, "/healthz?verbose")).text == "[+]ping ok\n[+]etcd ok\nhealthz check passed\n"
    assert (await get(health, "/readyz?verbose")).text == (
        "[+]ping ok\n[+]shutdown ok\n[+]etcd ok\n[+]informer-sync ok\nreadyz check passed\n"
    )


async def test_a_failing_check_answers_500_with_its_reason(health: HealthServer) -> None:
    def etcd() -> None:
        raise ConnectionError("etcd is not reachable")

    health.add_check("etcd", etcd)
    health.add_check("leader", lambda: False)
    response = await get(health, "/healthz")
    assert response.status_code == 500
    assert response.text == (
        "[+]ping ok\n"
        "[-]etcd failed: etcd is not reachable\n"
        "[-]leader failed: check returned false\n"
        "healthz check failed\n"
    )


async def test_excluded_checks_are_skipped(health: HealthServer) -> None:
    health.add_check("etcd", lambda: False)
    response = await get(health, "/livez?verbose&exclude=etcd&exclude=nope")
    assert response.status_code == 200
    assert response.text == (
        "[+]ping ok\n"
        "[+]etcd excluded: ok\n"
        "warn: some health checks cannot be excluded: no matches for nope\n"
        "livez check passed\n"
    )


async def test_one_check_by_name(health: HealthServer) -> None:
    health.add_check("etcd", lambda: False)
    passing = await get(health, "/healthz/ping")
    assert (passing.status_code, passing.text) == (200, "ok")
    failing = await get(health, "/healthz/etcd")
    assert (failing.status_code, failing.text) == (500, "internal server error: check returned false\n")
    assert (await get(health, "/healthz/nope")).status_code == 404


async def test_a_check_that_hangs_times_out() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    async with HealthServer(check_timeout=0.01, checks={"hangs": hangs}) as health:
        response = await get(health, "/healthz")
    assert response.status_code == 500
    assert "[-]hangs failed: timed out after 10ms\n" in response.text


async def test_readyz_fails_once_shutdown_begins_while_livez_stays_ok(health: HealthServer) -> None:
    health.begin_shutdown()
    readyz = await get(health, "/readyz")
    assert readyz.status_code == 500
    assert "[-]shutdown failed: process is shutting down\n" in readyz.text
    assert (await get(health, "/livez")).status_code == 200


async def test_metrics_in_prometheus_text_format(health: HealthServer) -> None:
    response = await get(health, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "kplane_test_syncs_total 3.0" in response.text


async def test_unknown_paths_and_methods(health: HealthServer) -> None:
    assert (await get(health, "/nope")).status_code == 404
    post = await get(health, "/healthz", method="POST")
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"


async def test_head_answers_headers_without_a_body(health: HealthServer) -> None:
    answer = await exchange(health, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 2\r\n" in head
    assert body == b""


async def test_keep_alive_serves_several_requests_on_one_connection(health: HealthServer) -> None:
    answer = await exchange(
        health,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
        b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert re.findall(rb"HTTP/1\.1 (\d{3})", answer) == [b"200", b"404", b"200"]


async def test_http_1_0_closes_after_one_request(health: HealthServer) -> None:
    answer = await exchange(health, b"GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 1
    assert b"Connection: close\r\n" in answer


@pytest.mark.parametrize(
    ("request_bytes", "status_line"),
    [
        (b"GARBAGE\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"GET /healthz HTTP/2.0\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (
            b"GET /healthz HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n",
            b"HTTP/1.1 413 Request Entity Too Large",
        ),
        (b"GET /healthz HTTP/1.1\r\nX-Padding: " + b"a" * 20000 + b"\r\n\r\n", b"HTTP/1.1 431 "),
    ],
)
async def test_bad_requests_are_answered_and_closed(
    health: HealthServer, request_bytes: bytes, status_line: bytes
) -> None:
    answer = await exchange(health, request_bytes)
    assert answer.startswith(status_line)
    assert b"Connection: close\r\n" in answer


async def test_close_ends_idle_keep_alive_connections() -> None:
    health = HealthServer()
    await health.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", health.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert await reader.readexactly(2) == b"ok"
    await health.close()
    assert await reader.read() == b""
    writer.close()


async def test_serve_forever_closes_when_cancelled() -> None:
    health = HealthServer()
    await health.start()
    port = health.port
    serving = asyncio.create_task(health.serve_forever())
    assert (await get(health, "/healthz")).status_code == 200
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


# --- over TLS: health for anyone, /metrics for verified clients ---


@pytest.fixture
async def tls_health(pki) -> AsyncIterator[HealthServer]:
    context = server_context(pki.server.cert, pki.server.key, pki.ca, require_client_cert=False)
    server = HealthServer(
        ssl_context=context,
        registry=metrics_registry(),
        metrics_require_client_cert=True,
        metrics_authorizer=lambda identity: "system:masters" in identity.organizations,
    )
    async with server:
        yield server


async def get_tls(server: HealthServer, path: str, context: ssl.SSLContext) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{server.port}", verify=context) as client:
        return await client.get(path)


async def test_health_needs_no_client_certificate_but_metrics_does(tls_health: HealthServer, pki) -> None:
    anonymous = client_context(pki.ca)
    assert (await get_tls(tls_health, "/healthz", anonymous)).status_code == 200
    assert (await get_tls(tls_health, "/readyz?verbose", anonymous)).status_code == 200
    assert (await get_tls(tls_health, "/metrics", anonymous)).status_code == 401

    admin = client_context(pki.ca, pki.admin.cert, pki.admin.key)
    metrics = await get_tls(tls_health, "/metrics", admin)
    assert metrics.status_code == 200
    assert "kplane_test_syncs_total 3.0" in metrics.text


async def test_metrics_refuses_an_identity_the_authorizer_does_not_allow(pki) -> None:
    context = server_context(pki.server.cert, pki.server.key, pki.ca, require_client_cert=False)
    async with HealthServer(ssl_context=context, metrics_authorizer=lambda identity: False) as server:
        admin = client_context(pki.ca, pki.admin.cert, pki.admin.key)
        response = await get_tls(server, "/metrics", admin)
    assert response.status_code == 403
    assert response.text == 'forbidden: user "admin" cannot get path "/metrics"\n'


def test_metrics_authentication_needs_a_context_that_verifies_clients(pki) -> None:
    with pytest.raises(ValueError, match="verifies client certificates"):
        HealthServer(metrics_require_client_cert=True)
    with pytest.raises(ValueError, match="verifies client certificates"):
        HealthServer(
            ssl_context=server_context(pki.server.cert, pki.server.key), metrics_require_client_cert=True
        )


async def test_a_component_route_answers_its_own_document() -> None:
    async def etcd_health() -> tuple[int, str, str]:
        return 200, "application/json", '{"health":"true","reason":""}'

    server = HealthServer()
    server.add_route("/health", etcd_health)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = await reader.read()
        writer.close()
    finally:
        await server.close()
    assert response.startswith(b"HTTP/1.1 200")
    assert b"application/json" in response and response.endswith(b'{"health":"true","reason":""}')

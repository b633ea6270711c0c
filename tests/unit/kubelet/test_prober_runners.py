"""One probe attempt per runner: httpGet and tcpSocket against servers on 127.0.0.1, exec through a
fake CRI runtime, and the Prober's retries and events around them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from kubelet.cri.client import CRIError
from kubelet.prober.attempt import resolve_port
from kubelet.prober.exec_runner import expand_static_env, run_exec
from kubelet.prober.http_runner import new_client, probe_headers, probe_url, run_http
from kubelet.prober.prober import Prober
from kubelet.prober.spec import Outcome, ProbeSpec, ProbeType, Result
from kubelet.prober.tcp_runner import run_tcp

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}}


# ---- a tiny HTTP server on loopback ----


@dataclass
class Server:
    port: int
    seen_headers: list[dict[str, str]]


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
    request = (await reader.readuntil(b"\r\n\r\n")).decode()
    line, *header_lines = request.split("\r\n")
    path = line.split()[1]
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
    server.seen_headers.append(headers)
    status, body, extra = 200, b"ok", ""
    if path == "/fail":
        status, body = 500, b"broken"
    elif path == "/same":
        status, extra = 302, "Location: /ok\r\n"
    elif path == "/other":
        status, extra = 302, f"Location: http://localhost:{server.port}/ok\r\n"
    elif path == "/loop":
        status, extra = 302, "Location: /loop\r\n"
    elif path == "/big":
        body = b"x" * 20_000
    elif path == "/slow":
        await asyncio.sleep(5)
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    writer.close()


@pytest.fixture
async def http_server() -> AsyncIterator[Server]:
    server = Server(0, [])
    listener = await asyncio.start_server(lambda r, w: _handle(r, w, server), "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
    listener.close()


async def http(server: Server, path: str, timeout: float = 2.0, **extra: Any) -> tuple[Outcome, str]:  # noqa: ASYNC109
    client = new_client()
    try:
        attempt = await run_http(
            client, {"port": server.port, "path": path, **extra}, {}, "127.0.0.1", timeout
        )
    finally:
        await client.aclose()
    assert attempt.error is None
    return attempt.outcome, attempt.output


async def test_http_success_failure_and_body(http_server: Server) -> None:
    assert await http(http_server, "/ok") == (Outcome.SUCCESS, "ok")
    assert await http(http_server, "/fail") == (Outcome.FAILURE, "HTTP probe failed with statuscode: 500")
    outcome, body = await http(http_server, "/big")
    assert (outcome, len(body)) == (Outcome.SUCCESS, 10 * 1024), "at most 10 KiB of the body is read"


async def test_http_redirects_same_host_followed_other_host_is_a_warning(http_server: Server) -> None:
    assert await http(http_server, "/same") == (Outcome.SUCCESS, "ok")
    assert await http(http_server, "/other") == (
        Outcome.WARNING,
        "Probe terminated redirects, Response body: ok",
    )
    outcome, message = await http(http_server, "/loop")
    assert outcome is Outcome.FAILURE
    assert message == f'Get "http://127.0.0.1:{http_server.port}/loop": stopped after 10 redirects'


async def test_http_headers_user_agent_and_host(http_server: Server) -> None:
    headers = [{"name": "X-Probe", "value": "1"}, {"name": "Host", "value": "example.test"}]
    assert (await http(http_server, "/ok", httpHeaders=headers))[0] is Outcome.SUCCESS
    seen = http_server.seen_headers[-1]
    assert (seen["x-probe"], seen["host"]) == ("1", "example.test")
    assert (seen["user-agent"], seen["accept"]) == ("kube-probe/1.32", "*/*")


async def test_http_refused_and_timeout_fail_with_go_like_messages(http_server: Server) -> None:
    outcome, message = await http(http_server, "/slow", timeout=0.2)
    assert outcome is Outcome.FAILURE
    assert message.startswith(f'Get "http://127.0.0.1:{http_server.port}/slow": context deadline exceeded')
    client = new_client()
    try:
        closed = await run_http(client, {"port": 1, "path": "/"}, {}, "127.0.0.1", 1)
    finally:
        await client.aclose()
    assert closed.outcome is Outcome.FAILURE
    assert closed.output == 'Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused'


def test_url_ports_headers_built_as_upstream() -> None:
    container = {"ports": [{"name": "http", "containerPort": 8080}]}
    assert (
        probe_url({"port": "http", "path": "healthz"}, container, "10.0.0.5")
        == "http://10.0.0.5:8080/healthz"
    )
    assert probe_url({"port": 443, "scheme": "HTTPS", "host": "fd00::1"}, {}, "x") == "https://[fd00::1]:443"
    with pytest.raises(ValueError, match='port "metrics" not found'):
        resolve_port("metrics", container)
    with pytest.raises(ValueError, match="invalid port number: 70000"):
        resolve_port(70000, container)
    assert ("Accept", "*/*") in probe_headers({})
    assert all(
        name != "Accept" for name, _ in probe_headers({"httpHeaders": [{"name": "Accept", "value": ""}]})
    )


async def test_tcp_connects_or_is_refused() -> None:
    listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        assert (await run_tcp({"port": port}, {}, "127.0.0.1", 1)).outcome is Outcome.SUCCESS
    refused = await run_tcp({"port": port}, {}, "127.0.0.1", 1)
    assert (refused.outcome, refused.output) == (
        Outcome.FAILURE,
        f"dial tcp 127.0.0.1:{port}: connect: connection refused",
    )
    assert (await run_tcp({"port": "nope"}, {}, "127.0.0.1", 1)).error == 'port "nope" not found'


# ---- exec through a fake runtime ----


@dataclass
class ExecReply:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


class FakeRuntime:
    def __init__(self, *replies: ExecReply | Exception) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, list[str], int]] = []

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> ExecReply:  # noqa: ASYNC109
        self.calls.append((container_id, cmd, timeout))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


async def test_exec_exit_codes_output_and_timeout() -> None:
    ok = await run_exec(FakeRuntime(ExecReply(b"fine\n")), "c1", ["cat", "/tmp/healthy"], 1)
    assert (ok.outcome, ok.output) == (Outcome.SUCCESS, "fine\n")
    failed = await run_exec(FakeRuntime(ExecReply(b"out ", b"no such file", 1)), "c1", ["cat"], 1)
    assert (failed.outcome, failed.output) == (Outcome.FAILURE, "out no such file")
    timeout = CRIError("ExecSync", grpc.StatusCode.DEADLINE_EXCEEDED, "deadline")
    timed_out = await run_exec(FakeRuntime(timeout), "c1", ["sleep", "10"], 1)
    assert (timed_out.outcome, timed_out.output) == (Outcome.FAILURE, 'command "sleep 10" timed out')
    broken = await run_exec(
        FakeRuntime(CRIError("ExecSync", grpc.StatusCode.UNKNOWN, "no sh")), "c1", ["x"], 1
    )
    assert (broken.outcome, broken.error) == (Outcome.UNKNOWN, "ExecSync: no sh")


def test_exec_command_expands_static_env_only() -> None:
    env = [{"name": "FILE", "value": "/tmp/ok"}, {"name": "SECRET", "valueFrom": {"secretKeyRef": {}}}]
    command = ["cat", "$(FILE)", "$(SECRET)", "$$(FILE)", "$(MISSING)"]
    assert expand_static_env(command, env) == ["cat", "/tmp/ok", "$(SECRET)", "$(FILE)", "$(MISSING)"]


async def test_prober_events_retries_and_results() -> None:
    events: list[tuple[str, str, str]] = []

    def record(pod: Any, kind: str, reason: str, message: str) -> None:
        events.append((kind, reason, message))

    container = {"name": "app", "env": [{"name": "F", "value": "/ok"}]}
    spec = ProbeSpec.from_probe(
        ProbeType.LIVENESS, {"exec": {"command": ["cat", "$(F)"]}, "timeoutSeconds": 2}
    )
    runtime = FakeRuntime(ExecReply(b"cat: /ok: missing", exit_code=1))
    prober = Prober(runtime, record)
    try:
        assert await prober.probe(ProbeType.LIVENESS, spec, POD, container, "c1", "") is Result.FAILURE
        assert runtime.calls == [("c1", ["cat", "/ok"], 2)]
        assert events == [("Warning", "Unhealthy", "Liveness probe failed: cat: /ok: missing")]

        events.clear()
        runtime = FakeRuntime(CRIError("ExecSync", grpc.StatusCode.UNKNOWN, "boom"))
        prober.runtime = runtime
        assert await prober.probe(ProbeType.READINESS, spec, POD, container, "c1", "") is None
        assert len(runtime.calls) == 3, "an errored attempt is tried three times"
        assert events == [
            ("Warning", "Unhealthy", "Readiness probe errored and resulted in unknown state: ExecSync: boom")
        ]

        events.clear()
        runtime = FakeRuntime(CRIError("ExecSync", grpc.StatusCode.UNKNOWN, "boom"), ExecReply(b"ok"))
        prober.runtime = runtime
        assert await prober.probe(ProbeType.READINESS, spec, POD, container, "c1", "") is Result.SUCCESS
        assert (len(runtime.calls), events) == (2, [])

        missing = ProbeSpec.from_probe(ProbeType.READINESS, {})
        assert await prober.probe(ProbeType.READINESS, missing, POD, container, "c1", "") is None
        assert (
            events[-1][2] == "Readiness probe errored and resulted in unknown state: "
            "missing probe handler for web_default(u1):app"
        )
    finally:
        await prober.close()


async def test_prober_warning_event_counts_as_success(http_server: Server) -> None:
    events: list[tuple[str, str, str]] = []
    prober = Prober(
        FakeRuntime(ExecReply()), lambda pod, kind, reason, msg: events.append((kind, reason, msg))
    )
    spec = ProbeSpec.from_probe(
        ProbeType.READINESS, {"httpGet": {"port": http_server.port, "path": "/other"}}
    )
    try:
        assert (
            await prober.probe(ProbeType.READINESS, spec, POD, {"name": "app"}, "c1", "127.0.0.1")
            is Result.SUCCESS
        )
    finally:
        await prober.close()
    assert events == [
        ("Warning", "ProbeWarning", "Readiness probe warning: Probe terminated redirects, Response body: ok")
    ]

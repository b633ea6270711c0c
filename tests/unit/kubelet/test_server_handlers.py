"""The kubelet server's handlers against a fake runtime: health, pods, stats, container logs
(found by CRI labels, current and previous attempt, errors as Status), and exec bridged from a
v5 WebSocket to an in-memory SPDY "runtime" (stdin close becomes EOF, exit code on channel 3)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.testclient import TestClient, WebSocketDenialResponse

from kubeclient.streaming import channels
from kubeclient.streaming.spdy import SpdyConnection, SpdyStream
from kubelet.cri import labels
from kubelet.cri.api import api_pb2
from kubelet.server import KubeletServer

NOW = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)


class FakeRuntime:
    def __init__(self, tmp_path: Path) -> None:
        self.containers: list[api_pb2.Container] = []
        self.logs: dict[str, Path] = {}
        self.sandboxes = [
            api_pb2.PodSandbox(
                id="s1", state=api_pb2.SANDBOX_READY, labels=labels.pod_labels("ns", "web", "u1")
            )
        ]
        self.exec_requests: list[api_pb2.ExecRequest] = []
        for attempt, text in ((0, "first run"), (1, "second run")):
            container_id = f"c{attempt}"
            self.containers.append(
                api_pb2.Container(
                    id=container_id, created_at=attempt + 1,
                    state=api_pb2.CONTAINER_RUNNING if attempt else api_pb2.CONTAINER_EXITED,
                    labels=labels.container_labels("ns", "web", "u1", "app"),
                )
            )  # fmt: skip
            path = tmp_path / f"{attempt}.log"
            path.write_text(f"2026-01-01T00:00:0{attempt}Z stdout F {text}\n")
            self.logs[container_id] = path

    async def list_containers(self, filter: api_pb2.ContainerFilter | None = None) -> list[api_pb2.Container]:
        wanted = dict(filter.label_selector) if filter else {}
        return [c for c in self.containers if all(c.labels.get(k) == v for k, v in wanted.items())]

    async def list_pod_sandbox(
        self, filter: api_pb2.PodSandboxFilter | None = None
    ) -> list[api_pb2.PodSandbox]:
        wanted = dict(filter.label_selector) if filter else {}
        return [s for s in self.sandboxes if all(s.labels.get(k) == v for k, v in wanted.items())]

    async def container_status(
        self, container_id: str, verbose: bool = False
    ) -> api_pb2.ContainerStatusResponse:
        found = next(c for c in self.containers if c.id == container_id)
        status = api_pb2.ContainerStatus(
            id=container_id, state=found.state, log_path=str(self.logs[container_id])
        )
        return api_pb2.ContainerStatusResponse(status=status)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> api_pb2.ExecSyncResponse:  # noqa: ASYNC109
        return api_pb2.ExecSyncResponse(
            stdout=f"ran {' '.join(cmd)} in {container_id}\n".encode(), exit_code=0
        )

    async def exec(self, request: api_pb2.ExecRequest) -> str:
        self.exec_requests.append(request)
        return "http://runtime.invalid/exec/token"

    async def attach(self, request: api_pb2.AttachRequest) -> str:
        return "http://runtime.invalid/attach/token"

    async def port_forward(self, sandbox_id: str, ports: list[int]) -> str:
        return "http://runtime.invalid/portforward/token"


class Pipe:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()


class PipeTransport:
    def __init__(self, incoming: Pipe, outgoing: Pipe) -> None:
        self.incoming, self.outgoing = incoming, outgoing

    async def read(self) -> bytes:
        return await self.incoming.queue.get()

    async def write(self, data: bytes) -> None:
        self.outgoing.queue.put_nowait(data)

    async def close(self) -> None:
        self.outgoing.queue.put_nowait(b"")


async def fake_runtime_exec(url: str) -> SpdyConnection:
    """An in-memory remotecommand v4 server: stdout gets stdin back, upper-cased, once stdin ends;
    then exit code 3 on the error stream."""
    up, down = Pipe(), Pipe()
    streams: dict[str, SpdyStream] = {}
    ready = asyncio.Event()

    def accept(stream: SpdyStream) -> None:
        streams[stream.header("streamType")] = stream
        asyncio.get_running_loop().create_task(stream.reply())
        if {"error", "stdin", "stdout", "stderr"} <= streams.keys():
            ready.set()

    async def serve() -> None:
        await ready.wait()
        data = await streams["stdin"].read_all()
        await streams["stdout"].write(data.upper())
        await streams["stderr"].write(b"warning\n")
        status = channels.exit_status(3, ["tr"])
        await streams["error"].write(json.dumps(status).encode())
        await runtime_side.close()

    runtime_side = SpdyConnection(PipeTransport(up, down), server=True, on_stream=accept)
    runtime_side.start()
    asyncio.get_running_loop().create_task(serve())
    kubelet_side = SpdyConnection(PipeTransport(down, up), server=False)
    kubelet_side.start()
    return kubelet_side


@pytest.fixture
def runtime(tmp_path: Path) -> FakeRuntime:
    return FakeRuntime(tmp_path)


@pytest.fixture
def client(runtime: FakeRuntime, tmp_path: Path) -> TestClient:
    registry = CollectorRegistry()
    Counter("kubelet_test_total", "A test counter.", registry=registry).inc()

    async def summary() -> dict[str, Any]:
        return {"node": {"nodeName": "n1"}}

    async def resource() -> str:
        return "node_cpu_usage_seconds_total 1\n"

    server = KubeletServer(
        "127.0.0.1", 0, "unused.crt", "unused.key", None, runtime, tmp_path,
        lambda: [{"metadata": {"name": "web"}}], summary, resource, registry,
        configz=lambda: {"kind": "KubeletConfiguration"}, clock=lambda: NOW,
    )  # fmt: skip
    server.dial = fake_runtime_exec
    return TestClient(server.app())


def test_plain_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok"
    assert client.get("/pods").json()["items"] == [{"metadata": {"name": "web"}}]
    assert "kubelet_test_total 1.0" in client.get("/metrics").text
    assert client.get("/metrics/resource").text.startswith("node_cpu_usage_seconds_total")
    assert client.get("/stats/summary").json() == {"node": {"nodeName": "n1"}}
    assert client.get("/configz").json() == {"kubeletconfig": {"kind": "KubeletConfiguration"}}
    assert client.post("/run/ns/web/app?cmd=echo+hi").text == "ran echo hi in c1\n"


def test_container_logs_current_previous_and_errors(client: TestClient) -> None:
    assert client.get("/containerLogs/ns/web/app").text == "second run\n"
    assert client.get("/containerLogs/ns/web/app?previous=true&timestamps=true").text == (
        "2026-01-01T00:00:00Z first run\n"
    )
    missing_pod = client.get("/containerLogs/ns/nosuch/app")
    assert missing_pod.status_code == 404 and missing_pod.json()["reason"] == "NotFound"
    missing_container = client.get("/containerLogs/ns/web/other")
    assert missing_container.status_code == 400
    assert missing_container.json()["message"] == 'container "other" in pod "web" is not available'
    for bad in (
        "tailLines=-1",
        "follow=maybe",
        "sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z",
        "limitBytes=x",
    ):
        answer = client.get(f"/containerLogs/ns/web/app?{bad}")
        assert answer.status_code == 400, bad
        assert answer.json()["kind"] == "Status"
    assert client.get("/containerLogs/ns/web/app?sinceSeconds=9").text == "second run\n"
    assert client.get("/containerLogs/ns/web/app?sinceSeconds=5").text == ""


def test_exec_bridges_v5_stdin_close_and_exit_code(client: TestClient, runtime: FakeRuntime) -> None:
    url = "/exec/ns/web/app?command=tr&command=a-z&command=A-Z&input=1&output=1&error=1"
    with client.websocket_connect(url, subprotocols=[channels.V5, channels.V4]) as ws:
        assert ws.accepted_subprotocol == channels.V5
        assert ws.receive_bytes() == b"\x01", "the ready signal on the first output channel"
        ws.send_bytes(b"\x00hello ")
        ws.send_bytes(b"\x00world\n")
        ws.send_bytes(channels.close_message(channels.STDIN))
        received: dict[int, bytes] = {}
        while True:
            message = ws.receive_bytes()
            received[message[0]] = received.get(message[0], b"") + message[1:]
            if message[0] == channels.ERROR:
                break
    assert received[channels.STDOUT] == b"HELLO WORLD\n"
    assert received[channels.STDERR] == b"warning\n"
    assert channels.exit_code_of(json.loads(received[channels.ERROR])) == 3
    request = runtime.exec_requests[0]
    assert list(request.cmd) == ["tr", "a-z", "A-Z"] and request.container_id == "c1"
    assert (request.stdin, request.stdout, request.stderr, request.tty) == (True, True, True, False)


def test_exec_refusals_are_status_answers(client: TestClient) -> None:
    missing_pod = "/exec/ns/nosuch/app?command=ls&output=1"
    with pytest.raises(WebSocketDenialResponse) as missing, client.websocket_connect(missing_pod):
        pass
    assert missing.value.status_code == 404
    no_stream = "/exec/ns/web/app?command=ls"
    with pytest.raises(WebSocketDenialResponse) as no_streams, client.websocket_connect(no_stream):
        pass
    assert no_streams.value.status_code == 400
    assert "at least 1 of stdin, stdout, stderr" in no_streams.value.json()["message"]
    spdy = client.post("/exec/ns/web/app?command=ls")
    assert spdy.status_code == 400 and "WebSocket" in spdy.json()["message"]

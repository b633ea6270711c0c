"""A small cluster network inside network namespaces for kube-proxy traffic tests: a "node" namespace
(where kube-proxy's rules live, ip_forward on) with a bridge to backend "pods" that each answer their
own name over TCP, and a client namespace routed through the node.

    client 192.0.2.2 ─veth─ 192.0.2.1  node  10.244.0.1 br0 ─┬─veth─ b1 10.244.0.11:8080
                                        │                    ├─veth─ b2 10.244.0.12:8080
                          10.96.0.0/12 → void0 (dead end)    └─veth─ b3 10.244.0.13:8080

    with ServiceNetns(["b1", "b2", "b3"]) as net:
        net.node.run("iptables-save")
        net.client.hits("10.96.10.10", 80, 30)    # ["b2", "b1", "!refused", ...]

Network safety: every interface is created inside a namespace made here (veth peers are born in their
target namespace), so the host's namespace gains nothing; the only default routes point at the node
namespace, whose own routes end at its bridge, its client link and a dummy device (which stands in for
a real node's default route to the service range: what goes there is dropped, never sent). Processes are
stopped by PID and the namespaces deleted on exit, also when the body raises.

Run as a script, this file is the code the namespaces run: `serve NAME PORT` (a backend) and `client`
(the client agent: JSON requests on stdin, JSON answers on stdout).
"""

from __future__ import annotations

import errno
import json
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

NODE_IP = "192.0.2.1"  # the node's address towards the client: NodePorts are reached here
CLIENT_IP = "192.0.2.2"
GATEWAY_IP = "10.244.0.1"  # the node's address on the pod bridge
SERVICE_CIDR = "10.96.0.0/12"
BACKEND_PORT = 8080
THIS_FILE = str(Path(__file__).resolve())


def backend_ip(index: int) -> str:
    return f"10.244.0.{11 + index}"


@dataclass
class Namespace:
    name: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def run(self, *argv: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv], input=stdin, capture_output=True, text=True, timeout=30
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"[{self.name}] {' '.join(argv)} failed: {result.stderr.strip()}")
        return result.stdout

    def spawn(self, *argv: str) -> subprocess.Popen[str]:
        # `ip netns exec` execs the command, so the PID is the program's own.
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def stop_processes(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self.processes.clear()

    def iptables_save(self) -> str:
        """`iptables-save` without its comment lines (which carry timestamps)."""
        return "\n".join(line for line in self.run("iptables-save").splitlines() if not line.startswith("#"))

    def nft_ruleset(self) -> str:
        return self.run("nft", "list", "ruleset")


class Client(Namespace):
    """The client namespace, with a long-running agent that makes the connections (starting a program
    per connection would be slower than what the tests measure)."""

    agent: subprocess.Popen[str] | None = None

    def start_agent(self) -> None:
        self.agent = self.spawn(sys.executable, "-I", "-u", THIS_FILE, "client")

    def _ask(self, request: dict[str, Any]) -> Any:
        assert self.agent is not None and self.agent.stdin is not None and self.agent.stdout is not None
        self.agent.stdin.write(json.dumps(request) + "\n")
        self.agent.stdin.flush()
        return self._answer()

    def _answer(self) -> Any:
        assert self.agent is not None and self.agent.stdout is not None
        line = self.agent.stdout.readline()
        if not line:
            raise RuntimeError(
                f"client agent exited: {self.agent.stderr.read() if self.agent.stderr else ''}"
            )
        return json.loads(line)

    def hits(self, host: str, port: int, count: int, timeout: float = 2.0) -> list[str]:
        """What `count` connections to host:port read: a backend's name each, or "!refused",
        "!timeout", "!unreachable", "!<errno name>"."""
        answer: list[str] = self._ask({"op": "hits", "host": host, "port": port, "count": count,
                                       "timeout": timeout})  # fmt: skip
        return answer

    def connect_once(self, host: str, port: int, timeout: float = 2.0) -> tuple[str, float]:
        """One connection: what it read (as hits) and how long it took, in seconds."""
        start = time.monotonic()
        (result,) = self.hits(host, port, 1, timeout)
        return result, time.monotonic() - start

    def start_loop(self, host: str, port: int, timeout: float = 2.0) -> None:
        """Connect to host:port over and over until stop_loop()."""
        assert self.agent is not None and self.agent.stdin is not None
        self.agent.stdin.write(
            json.dumps({"op": "loop", "host": host, "port": port, "timeout": timeout}) + "\n"
        )
        self.agent.stdin.flush()

    def stop_loop(self) -> list[tuple[float, str]]:
        """The loop's connections: (seconds since it started, what the connection read)."""
        assert self.agent is not None and self.agent.stdin is not None
        self.agent.stdin.write("stop\n")
        self.agent.stdin.flush()
        return [(float(at), str(result)) for at, result in self._answer()]


class ServiceNetns:
    """The topology above; `backends` names the backend namespaces (each answers its name)."""

    def __init__(self, backends: Sequence[str] = ("b1", "b2", "b3")) -> None:
        prefix = f"kps-{uuid.uuid4().hex[:6]}"
        self.node = Namespace(f"{prefix}-node")
        self.client = Client(f"{prefix}-client")
        self.backends = {name: Namespace(f"{prefix}-{name}") for name in backends}
        self.backend_ips = {name: backend_ip(i) for i, name in enumerate(backends)}
        self._made: list[Namespace] = []

    def __enter__(self) -> ServiceNetns:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _add(self, ns: Namespace) -> None:
        subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True, timeout=30)
        self._made.append(ns)
        ns.run("ip", "link", "set", "lo", "up")

    def _build(self) -> None:
        node = self.node
        self._add(node)
        node.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        node.run("ip", "link", "add", "br0", "type", "bridge")
        node.run("ip", "addr", "add", f"{GATEWAY_IP}/24", "dev", "br0")
        node.run("ip", "link", "set", "br0", "up")
        # A real node routes the service range somewhere (its default route), so packets to a ClusterIP
        # reach the FORWARD hook. Here the route ends in a veth whose peer (also in this namespace) is
        # down, which drops them: without kube-proxy's rules, a ClusterIP connection times out.
        node.run("ip", "link", "add", "void0", "type", "veth", "peer", "name", "void1")
        node.run("ip", "link", "set", "void0", "up")
        node.run("ip", "route", "add", SERVICE_CIDR, "dev", "void0")

        self._add(self.client)
        node.run(
            "ip", "link", "add", "vc0", "type", "veth", "peer", "name", "eth0", "netns", self.client.name
        )
        node.run("ip", "addr", "add", f"{NODE_IP}/24", "dev", "vc0")
        node.run("ip", "link", "set", "vc0", "up")
        self.client.run("ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        self.client.run("ip", "link", "set", "eth0", "up")
        self.client.run("ip", "route", "add", "default", "via", NODE_IP)

        for index, (name, ns) in enumerate(self.backends.items()):
            self._add(ns)
            link = f"vb{index}"
            node.run("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
            node.run("ip", "link", "set", link, "master", "br0", "up")
            ns.run("ip", "addr", "add", f"{self.backend_ips[name]}/24", "dev", "eth0")
            ns.run("ip", "link", "set", "eth0", "up")
            ns.run("ip", "route", "add", "default", "via", GATEWAY_IP)
            ns.spawn(sys.executable, "-I", "-u", THIS_FILE, "serve", name, str(BACKEND_PORT))

        self.client.start_agent()
        for name, ip in self.backend_ips.items():
            self._wait_backend(name, ip)

    def _wait_backend(self, name: str, ip: str, timeout: float = 10.0) -> None:
        """Until the client reaches the backend directly (through the node's routing)."""
        deadline = time.monotonic() + timeout
        while True:
            (result,) = self.client.hits(ip, BACKEND_PORT, 1, timeout=1.0)
            if result == name:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"backend {name} at {ip}:{BACKEND_PORT} never answered: {result}")
            time.sleep(0.05)

    def close(self) -> None:
        for ns in self._made:
            ns.stop_processes()
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns.name], check=False, capture_output=True, timeout=30)
        self._made.clear()


# --- the programs the namespaces run (`python service_netns.py serve|client`) ---


def serve(name: str, port: int) -> None:
    """Answer every connection with this backend's name, then close it."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with socket.create_server(("0.0.0.0", port), backlog=128, reuse_port=True) as server:
        while True:
            conn, _ = server.accept()
            with conn:
                conn.sendall(name.encode() + b"\n")


def connect(host: str, port: int, timeout: float) -> str:
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            data = b""
            while chunk := conn.recv(256):
                data += chunk
            return data.decode().strip()
    except TimeoutError:
        return "!timeout"
    except ConnectionRefusedError:
        return "!refused"
    except OSError as error:
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "!unreachable"
        return f"!{errno.errorcode.get(error.errno or 0, str(error))}"


def client_agent() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Unbuffered reads, so that select() on stdin sees exactly the lines not yet read.
    stdin = sys.stdin.buffer.raw  # type: ignore[union-attr]
    while line := stdin.readline():
        request = json.loads(line)
        host, port, timeout = request["host"], int(request["port"]), float(request["timeout"])
        if request["op"] == "hits":
            answer: Any = [connect(host, port, timeout) for _ in range(int(request["count"]))]
        else:  # loop until the next line ("stop")
            start = time.monotonic()
            answer = []
            while not select.select([stdin], [], [], 0)[0]:
                answer.append((round(time.monotonic() - start, 4), connect(host, port, timeout)))
                time.sleep(0.005)
            stdin.readline()
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "client":
        client_agent()

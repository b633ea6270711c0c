"""One probe attempt's answer, shared by the exec, HTTP, TCP and gRPC runners (upstream pkg/probe):
an outcome, the output that goes into events, and an error when the probe could not run at all
(then the attempt is retried and, if it keeps failing, its result thrown away)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelet.prober.spec import Outcome

MAX_OUTPUT_BYTES = 10 * 1024  # upstream reads at most 10 KiB of a command's output or a response body


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    output: str = ""
    error: str | None = None


def errored(message: str) -> Attempt:
    return Attempt(Outcome.UNKNOWN, "", message)


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports (upstream
    probe.ResolveContainerPort). Raises ValueError with upstream's message."""
    if isinstance(port, bool) or port is None:
        raise ValueError(f"intOrString had no kind: {port!r}")
    if isinstance(port, str):
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                number = int(declared.get("containerPort") or 0)
                break
        else:
            raise ValueError(f'port "{port}" not found')
    else:
        number = int(port)
    if 0 < number < 65536:
        return number
    raise ValueError(f"invalid port number: {number}")


def host_port(host: str, port: int) -> str:
    """Go's net.JoinHostPort: IPv6 literals get brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

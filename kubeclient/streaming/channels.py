"""The channel.k8s.io WebSocket subprotocols (upstream's wsstream and remotecommand constants).

Each binary message is one channel byte followed by the payload: 0 stdin, 1 stdout, 2 stderr,
3 error (a JSON `Status` from v4 on), 4 resize (`{"Width":w,"Height":h}`), and in v5 255 = close:
its one payload byte names the channel the client will write no more to (stdin EOF). The base64
variants send text messages: an ASCII digit for the channel, then the payload in base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: "no more data on the channel named by the payload"

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
# What the kubelet accepts for exec and attach, best first.
REMOTECOMMAND_PROTOCOLS = (V5, V4, V4_BASE64, V3, V2, V1, V1_BASE64)

PORT_FORWARD = "portforward.k8s.io"
PORT_FORWARD_V2 = "v2.portforward.k8s.io"
# kubectl >= 1.31 port-forward: a SPDY/3.1 session tunnelled in WebSocket binary messages.
SPDY_TUNNEL_PORT_FORWARD = "SPDY/3.1+portforward.k8s.io"


class ProtocolError(ValueError):
    """A message that breaks the framing (empty, bad channel digit, bad base64)."""


@dataclass(frozen=True)
class Framing:
    """How messages of one negotiated subprotocol are written and read."""

    protocol: str

    @property
    def base64(self) -> bool:
        return "base64" in self.protocol

    @property
    def version(self) -> int:
        """1 for channel.k8s.io, else the vN prefix (5 for v5.channel.k8s.io)."""
        head = self.protocol.split(".", 1)[0]
        return int(head[1:]) if head.startswith("v") and head[1:].isdigit() else 1

    @property
    def has_close(self) -> bool:
        return self.version >= 5

    def encode(self, channel: int, payload: bytes) -> bytes | str:
        if self.base64:
            return str(channel) + base64.b64encode(payload).decode()
        return bytes([channel]) + payload

    def decode(self, message: bytes | str) -> tuple[int, bytes]:
        if isinstance(message, str):
            if not message or not message[0].isdigit():
                raise ProtocolError("a text message must start with a channel digit")
            try:
                return int(message[0]), base64.b64decode(message[1:], validate=True)
            except ValueError:
                raise ProtocolError("a text message must carry base64 after its channel digit") from None
        if not message:
            raise ProtocolError("an empty message has no channel")
        return message[0], bytes(message[1:])


def negotiate(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The first of our `supported` protocols the client offered (upstream prefers the server's
    order), or None. Offers may come as one comma-separated header value."""
    wanted = {p.strip() for entry in offered for p in entry.split(",") if p.strip()}
    return next((protocol for protocol in supported if protocol in wanted), None)


def close_message(channel: int) -> bytes:
    """v5's stream close for `channel`."""
    return bytes([CLOSE, channel])


# ---- the exec status on the error channel ----


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(exit_code: int, command: Sequence[str] = ()) -> dict[str, Any]:
    """The status upstream writes when the command exits with `exit_code` (0: success)."""
    if exit_code == 0:
        return success_status()
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{' '.join(command)}], exit code {exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def failure_status(message: str, code: int = 500, reason: str = "InternalError") -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def status_bytes(status: dict[str, Any]) -> bytes:
    return json.dumps(status, separators=(",", ":")).encode()


def exit_code_of(status: dict[str, Any]) -> int | None:
    """The exit code a status reports: 0 for Success, the ExitCode cause for NonZeroExitCode,
    None for other failures."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") != "NonZeroExitCode":
        return None
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", ""))
            except ValueError:
                return None
    return None


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """(width, height) from a resize message, or None when it is not one."""
    try:
        size = json.loads(payload)
        return int(size["Width"]), int(size["Height"])
    except (ValueError, KeyError, TypeError):
        return None


def lenient_subprotocol(offered: Sequence[str], answered: Sequence[str]) -> str | None:
    """The subprotocol a server answered, checked against what we offered, without RFC 6455's
    token grammar: `SPDY/3.1+portforward.k8s.io` (kubectl's tunnel) has a `/`, which strict
    parsers reject although Kubernetes clients and servers use it."""
    values = [v.strip() for entry in answered for v in entry.split(",") if v.strip()]
    if not values:
        return None
    if len(values) > 1 or values[0] not in offered:
        raise ValueError(f"the server chose subprotocol {values[0]!r}, which was not offered")
    return values[0]

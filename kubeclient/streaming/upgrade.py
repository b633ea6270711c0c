"""HTTP/1.1 upgrades to SPDY/3.1 (how clients reach the CRI streaming server and kubelets for
exec, attach and port-forward): the request, the 101 answer, and the negotiated subprotocol."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from kubeclient.streaming.spdy import StreamTransport

STREAM_PROTOCOL_HEADER = "X-Stream-Protocol-Version"


class UpgradeError(ConnectionError):
    """The server would not switch protocols (`status` 0: it could not be reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def upgrade_request(method: str, target: str, host: str, protocols: list[str]) -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host}",
        "Connection: Upgrade",
        "Upgrade: SPDY/3.1",
        *(f"{STREAM_PROTOCOL_HEADER}: {protocol}" for protocol in protocols),
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names) of an HTTP/1.1 response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise UpgradeError(0, f"not an HTTP response: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def dial_spdy(
    url: str,
    protocols: list[str],
    *,
    ssl_context: ssl.SSLContext | None = None,
    method: str = "POST",
) -> tuple[StreamTransport, str]:
    """Open `url` (http or https) and upgrade it to SPDY/3.1 offering `protocols`; returns the
    transport and the protocol the server chose. Callers bound the time with asyncio.timeout."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if secure and ssl_context is None:
        ssl_context = ssl.create_default_context()
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context if secure else None)
    except OSError as error:
        raise UpgradeError(0, f"cannot connect to {host}:{port}: {error}") from None
    try:
        writer.write(upgrade_request(method, target, parts.netloc, protocols))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, headers = parse_response_head(head)
        if status != 101:
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.read(min(length, 4096)) if length else b""
            detail = body.decode(errors="replace").strip() or f"HTTP {status}"
            raise UpgradeError(status, f"unable to upgrade connection: {detail}")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as error:
        writer.close()
        raise UpgradeError(0, f"upgrading {host}:{port} failed: {error}") from None
    except UpgradeError:
        writer.close()
        raise
    chosen = headers.get(STREAM_PROTOCOL_HEADER.lower(), "")
    return StreamTransport(reader, writer), chosen

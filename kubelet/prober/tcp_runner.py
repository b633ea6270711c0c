"""tcpSocket probes (upstream pkg/probe/tcp): success when a TCP connection to host:port opens within
timeoutSeconds (host: the probe's `host`, else the pod IP); the connection is closed at once."""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Mapping
from typing import Any

from kubelet.prober.attempt import Attempt, errored, host_port, resolve_port
from kubelet.prober.spec import Outcome


async def run_tcp(
    tcp_socket: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ip: str,
    timeout: float,  # noqa: ASYNC109 (the probe's timeoutSeconds)
) -> Attempt:
    try:
        port = resolve_port(tcp_socket.get("port"), container)
    except ValueError as error:
        return errored(str(error))
    host = str(tcp_socket.get("host") or pod_ip)
    address = host_port(host, port)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return Attempt(Outcome.FAILURE, f"dial tcp {address}: i/o timeout")
    except OSError as error:
        return Attempt(Outcome.FAILURE, f"dial tcp {address}: {_reason(error)}")
    writer.close()
    with contextlib.suppress(OSError):  # the peer may reset at once; the connection did open
        await writer.wait_closed()
    return Attempt(Outcome.SUCCESS)


def _reason(error: OSError) -> str:
    if error.errno == errno.ECONNREFUSED:
        return "connect: connection refused"
    if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "connect: no route to host"
    return error.strerror or str(error)

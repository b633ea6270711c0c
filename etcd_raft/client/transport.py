"""The endpoints of an etcd client: one gRPC channel per endpoint (mutual TLS when given a CA and a
client certificate), the endpoint in use, and failing over to the next one.

Like go.etcd.io/etcd/client/v3, a request goes to the endpoint in use; when that fails with
UNAVAILABLE the client moves on to the next endpoint and tries again, round the list with a short
backoff, until the request's timeout runs out. A request that only reads is retried after any
UNAVAILABLE; one that changes the store only when it cannot have been applied: no connection could
be made, or the member refused it up front ("etcdserver: no leader", "etcdserver: not capable").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
import grpc.aio
from google.protobuf.message import Message

from etcd_raft.client.errors import (
    DeadlineExceededError,
    EtcdError,
    NoLeaderError,
    NotCapableError,
    UnavailableError,
    error_for,
    error_from_rpc,
)

log = logging.getLogger("etcd_raft.client")

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)

# Asks the member to refuse the request ("etcdserver: no leader") instead of waiting, when it has
# no leader; kube-apiserver's etcd client sends it with watches (clientv3.WithRequireLeader).
REQUIRE_LEADER: tuple[tuple[str, str], ...] = (("hasleader", "true"),)

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", -1),  # etcd's Go client takes responses of any size too
    ("grpc.keepalive_time_ms", 30_000),  # kube-apiserver's etcd keepalive: 30 s, 10 s timeout
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.initial_reconnect_backoff_ms", 200),  # a restarted member is reachable again soon
    ("grpc.max_reconnect_backoff_ms", 3_000),
]

_CONNECT_FAILED = "failed to connect to all addresses"
_REFUSED_UP_FRONT = frozenset({NoLeaderError.MESSAGE, NotCapableError.MESSAGE})
_RETRY_BACKOFF = (0.05, 1.0)  # first and longest pause after a round of failed endpoints


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


@dataclass
class Endpoint:
    url: str
    target: str  # host:port, as gRPC dials it
    secure: bool
    channel: grpc.aio.Channel | None = None
    callables: dict[str, Any] = field(default_factory=dict)


def parse_endpoint(url: str, *, default_secure: bool) -> Endpoint:
    """An endpoint from "https://host:port", "http://host:port" or "host:port" (TLS if a CA is given)."""
    if "://" not in url:
        return Endpoint(url, url, default_secure)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError(
            f"invalid etcd endpoint {url!r}: want https://host:port, http://host:port or host:port"
        )
    return Endpoint(url, parts.netloc, parts.scheme == "https")


def unavailable_not_applied(error: grpc.aio.AioRpcError) -> bool:
    """Whether an UNAVAILABLE failure shows the request was never applied (safe to send again)."""
    details = error.details() or ""
    return details.startswith(_CONNECT_FAILED) or details in _REFUSED_UP_FRONT


RESUMABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL})
"""Status codes after which a broken watch or keep-alive stream is opened again (as the Go client)."""


async def stream_error(call: grpc.aio.Call, endpoint: Endpoint) -> EtcdError:
    """The error a stream call ended with (for when writing to it failed because it had ended)."""
    code = await call.code()
    details = await call.details()
    if code == grpc.StatusCode.OK:
        return UnavailableError("etcdclient: stream closed by the server", endpoint=endpoint.url)
    return error_for(details or code.name.lower(), code, endpoint=endpoint.url)


class Connection:
    """The endpoints, their channels and the endpoint in use."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        ca_file: str | Path | None,
        cert_file: str | Path | None,
        key_file: str | Path | None,
        timeout: float,
    ):
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("no etcd endpoints given")
        if (cert_file is None) != (key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self.endpoints = [parse_endpoint(url, default_secure=ca_file is not None) for url in endpoints]
        self._credentials: grpc.ChannelCredentials | None = None
        if any(endpoint.secure for endpoint in self.endpoints):
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=Path(ca_file).read_bytes() if ca_file is not None else None,
                private_key=Path(key_file).read_bytes() if key_file is not None else None,
                certificate_chain=Path(cert_file).read_bytes() if cert_file is not None else None,
            )
        self._current = 0
        self.closed = False

    # ---- endpoints ----

    def current(self) -> Endpoint:
        return self.endpoints[self._current]

    def failover(self, failed: Endpoint) -> None:
        """Move on from `failed` to the next endpoint (unless another caller already did)."""
        if self.endpoints[self._current] is failed and len(self.endpoints) > 1:
            self._current = (self._current + 1) % len(self.endpoints)
            log.info("etcd endpoint %s failed; using %s", failed.url, self.endpoints[self._current].url)

    def endpoint(self, url: str) -> Endpoint:
        for endpoint in self.endpoints:
            if url in (endpoint.url, endpoint.target):
                return endpoint
        raise ValueError(f"{url!r} is not one of this client's endpoints")

    def channel(self, endpoint: Endpoint) -> grpc.aio.Channel:
        if self.closed:
            raise RuntimeError("the etcd client is closed")
        if endpoint.channel is None:
            if endpoint.secure:
                assert self._credentials is not None
                endpoint.channel = grpc.aio.secure_channel(
                    endpoint.target, self._credentials, CHANNEL_OPTIONS
                )
            else:
                endpoint.channel = grpc.aio.insecure_channel(endpoint.target, CHANNEL_OPTIONS)
        return endpoint.channel

    def unary(
        self, endpoint: Endpoint, path: str, response_type: type[Resp]
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, Resp]:
        method = endpoint.callables.get(path)
        if method is None:
            method = self.channel(endpoint).unary_unary(
                path, request_serializer=_serialize, response_deserializer=response_type.FromString
            )
            endpoint.callables[path] = method
        return method

    def stream(
        self, endpoint: Endpoint, path: str, response_type: type[Resp]
    ) -> grpc.aio.StreamStreamMultiCallable[Any, Resp]:
        method = endpoint.callables.get(path)
        if method is None:
            method = self.channel(endpoint).stream_stream(
                path, request_serializer=_serialize, response_deserializer=response_type.FromString
            )
            endpoint.callables[path] = method
        return method

    # ---- unary calls ----

    async def call(
        self,
        path: str,
        request: Message,
        response_type: type[Resp],
        *,
        read_only: bool,
        require_leader: bool = False,
        endpoint: Endpoint | None = None,
    ) -> Resp:
        """Send one request, failing over between endpoints (unless `endpoint` pins one)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        backoff, longest = _RETRY_BACKOFF
        metadata = REQUIRE_LEADER if require_leader else None
        last_error: EtcdError | None = None
        attempts = 0
        while True:
            target = endpoint or self.current()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise last_error or DeadlineExceededError(endpoint=target.url)
            try:
                return await self.unary(target, path, response_type)(
                    request, timeout=remaining, metadata=metadata
                )
            except grpc.aio.AioRpcError as err:
                error = error_from_rpc(err, endpoint=target.url)
                retry = err.code() == grpc.StatusCode.UNAVAILABLE and (
                    read_only or unavailable_not_applied(err)
                )
                if not retry:
                    if isinstance(error, DeadlineExceededError) and last_error is not None:
                        raise last_error from None  # say why the earlier tries failed
                    raise error from None
                last_error = error
            if endpoint is None:
                self.failover(target)
            attempts += 1
            if endpoint is not None or attempts % len(self.endpoints) == 0:
                await asyncio.sleep(max(0.0, min(backoff, deadline - loop.time())))
                backoff = min(backoff * 2, longest)

    async def close(self) -> None:
        self.closed = True
        channels = [endpoint.channel for endpoint in self.endpoints if endpoint.channel is not None]
        for endpoint in self.endpoints:
            endpoint.channel = None
            endpoint.callables.clear()
        for channel in channels:
            await channel.close()

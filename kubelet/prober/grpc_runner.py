"""grpc probes (upstream pkg/probe/grpc): the standard health check, grpc.health.v1.Health/Check, on
podIP:port over plaintext, with the probe's `service`; SERVING is success.

The two messages are tiny (one string field, one enum field), so they are encoded here by hand
instead of shipping generated code for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import grpc
import grpc.aio

from kubelet.prober.attempt import Attempt, host_port
from kubelet.prober.exec_runner import go_quote
from kubelet.prober.spec import Outcome

CHECK_METHOD = "/grpc.health.v1.Health/Check"
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_request(service: str) -> bytes:
    data = service.encode()
    return b"\x0a" + _varint(len(data)) + data if data else b""


def decode_status(data: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint); unknown fields are skipped."""
    i, status = 0, 0
    while i < len(data):
        key = data[i]
        i += 1
        wire = key & 7
        if wire == 0:
            value, shift = 0, 0
            while True:
                byte = data[i]
                i += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            if key >> 3 == 1:
                status = value
        elif wire == 2:
            length, shift = 0, 0
            while True:
                byte = data[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            i += length
        else:
            break
    return status


async def run_grpc(
    grpc_action: Mapping[str, Any],
    pod_ip: str,
    timeout: float,  # noqa: ASYNC109 (the probe's timeoutSeconds)
) -> Attempt:
    port = int(grpc_action.get("port") or 0)
    service = str(grpc_action.get("service") or "")
    address = host_port(pod_ip, port)
    within = f"{int(timeout)}s"
    channel = grpc.aio.insecure_channel(address, options=[("grpc.primary_user_agent", "kube-probe/1.32")])
    try:
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            reason = "context deadline exceeded"
            message = f"timeout: failed to connect service {go_quote(address)} within {within}: {reason}"
            return Attempt(Outcome.FAILURE, message)
        Check = grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]
        check: Check = channel.unary_unary(CHECK_METHOD, request_serializer=None, response_deserializer=None)
        try:
            reply = await check(encode_request(service), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                return Attempt(
                    Outcome.FAILURE,
                    "error: this server does not implement the grpc health protocol "
                    f"(grpc.health.v1.Health): {error.details()}",
                )
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return Attempt(Outcome.FAILURE, f"timeout: health rpc did not complete within {within}")
            code = error.code().name.title().replace("_", "")
            rpc_error = f"rpc error: code = {code} desc = {error.details()}"
            return Attempt(Outcome.FAILURE, f"error: health rpc probe failed: {rpc_error}")
        status = decode_status(bytes(reply))
        if status != 1:
            answer = go_quote(SERVING_STATUS.get(status, str(status)))
            return Attempt(Outcome.FAILURE, f"service unhealthy (responded with {answer})")
        return Attempt(Outcome.SUCCESS)
    finally:
        await channel.close()

"""channel.k8s.io framing, subprotocol negotiation and the exec status."""

from __future__ import annotations

import pytest

from kubeclient.streaming import channels


def test_binary_framing_round_trips_and_knows_its_version() -> None:
    v5, v4, v1 = (channels.Framing(p) for p in (channels.V5, channels.V4, channels.V1))
    assert v5.encode(channels.STDOUT, b"hi") == b"\x01hi"
    assert v5.decode(b"\x00data") == (channels.STDIN, b"data")
    assert v5.decode(channels.close_message(channels.STDIN)) == (channels.CLOSE, b"\x00")
    assert (v5.version, v4.version, v1.version) == (5, 4, 1)
    assert v5.has_close and not v4.has_close


def test_base64_framing_uses_a_digit_and_base64_text() -> None:
    framing = channels.Framing(channels.V4_BASE64)
    assert framing.encode(channels.STDERR, b"oops") == "2b29wcw=="
    assert framing.decode("0aGVsbG8=") == (channels.STDIN, b"hello")
    with pytest.raises(channels.ProtocolError):
        framing.decode("x")
    with pytest.raises(channels.ProtocolError):
        framing.decode("1@@@")
    with pytest.raises(channels.ProtocolError):
        channels.Framing(channels.V5).decode(b"")


def test_negotiation_prefers_our_order_and_splits_header_values() -> None:
    supported = channels.REMOTECOMMAND_PROTOCOLS
    assert channels.negotiate(["v4.channel.k8s.io, v5.channel.k8s.io"], supported) == channels.V5
    assert channels.negotiate(["channel.k8s.io"], supported) == channels.V1
    assert channels.negotiate(["SPDY/3.1+portforward.k8s.io"], supported) is None


def test_exit_status_matches_upstream_and_reads_back() -> None:
    status = channels.exit_status(3, ["sh", "-c", "exit 3"])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
    assert status["message"].endswith("error executing command [sh -c exit 3], exit code 3")
    assert channels.exit_code_of(status) == 3
    assert channels.exit_code_of(channels.exit_status(0)) == 0
    assert channels.exit_code_of(channels.failure_status("boom")) is None


def test_resize_and_lenient_subprotocol() -> None:
    assert channels.parse_resize(b'{"Width":80,"Height":24}') == (80, 24)
    assert channels.parse_resize(b"nope") is None
    tunnel = channels.SPDY_TUNNEL_PORT_FORWARD
    assert channels.lenient_subprotocol([tunnel], [tunnel]) == tunnel
    assert channels.lenient_subprotocol([tunnel], []) is None
    with pytest.raises(ValueError):
        channels.lenient_subprotocol([tunnel], ["v4.channel.k8s.io"])

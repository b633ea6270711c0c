from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from componentbase.errors import TLSFileError
from componentbase.tls import PeerIdentity, client_context, peer_identity, server_context


async def connect(server: ssl.SSLContext, client: ssl.SSLContext) -> PeerIdentity | None:
    """Handshake over loopback; the identity the server saw, or the client's error."""
    seen: asyncio.Future[PeerIdentity | None] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.set_result(peer_identity(writer.get_extra_info("ssl_object")))
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=server)
    async with listener:
        port = listener.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname="localhost"
        )
        try:
            greeting = await reader.read()
        finally:
            writer.close()
        if greeting != b"hello":  # asyncio reports the server's refusal alert as an end of stream
            assert not seen.done()
            raise ConnectionResetError("the server refused the handshake")
        return await seen


async def test_mutual_tls_tells_the_server_who_the_client_is(pki) -> None:
    server = server_context(pki.server.cert, pki.server.key, pki.ca)
    client = client_context(pki.ca, pki.admin.cert, pki.admin.key)
    assert await connect(server, client) == PeerIdentity("admin", ("system:masters",))


async def test_optional_client_certificates_let_anonymous_clients_in(pki) -> None:
    server = server_context(pki.server.cert, pki.server.key, pki.ca, require_client_cert=False)
    assert server.verify_mode == ssl.CERT_OPTIONAL
    assert await connect(server, client_context(pki.ca)) is None


async def test_a_required_client_certificate_refuses_clients_without_one(pki) -> None:
    server = server_context(pki.server.cert, pki.server.key, pki.ca)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await connect(server, client_context(pki.ca))


async def test_a_client_certificate_from_another_ca_is_refused_even_when_optional(pki) -> None:
    server = server_context(pki.server.cert, pki.server.key, pki.ca, require_client_cert=False)
    client = client_context(pki.ca, pki.untrusted_client.cert, pki.untrusted_client.key)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await connect(server, client)


async def test_the_client_verifies_the_server(pki) -> None:
    server = server_context(pki.untrusted_client.cert, pki.untrusted_client.key)
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(server, client_context(pki.ca))


def test_contexts_refuse_tls_older_than_1_2(pki) -> None:
    assert server_context(pki.server.cert, pki.server.key).minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_context(pki.ca).minimum_version == ssl.TLSVersion.TLSv1_2


def test_without_a_client_ca_clients_are_not_asked_for_certificates(pki) -> None:
    assert server_context(pki.server.cert, pki.server.key).verify_mode == ssl.CERT_NONE


def test_peer_identity_of_a_parsed_certificate_and_of_getpeercert(pki) -> None:
    certificate = x509.load_pem_x509_certificate(Path(pki.admin.cert).read_bytes())
    assert peer_identity(certificate) == PeerIdentity("admin", ("system:masters",))
    getpeercert = {
        "subject": (
            (("organizationName", "system:nodes"),),
            (("organizationName", "kplane"),),
            (("commonName", "system:node:worker-1"),),
        )
    }
    assert peer_identity(getpeercert) == PeerIdentity("system:node:worker-1", ("system:nodes", "kplane"))
    assert peer_identity({}) is None


def test_a_missing_file_is_named(pki, tmp_path: Path) -> None:
    missing = str(tmp_path / "apiserver.crt")
    with pytest.raises(
        TLSFileError, match=f"^cannot read certificate file {missing}: No such file or directory$"
    ):
        server_context(missing, pki.server.key)
    with pytest.raises(TLSFileError, match=f"^cannot read CA file {missing}: No such file or directory$"):
        client_context(missing)


def test_a_key_that_does_not_match_the_certificate_is_named(pki) -> None:
    with pytest.raises(TLSFileError) as raised:
        server_context(pki.server.cert, pki.unrelated_key)
    assert (
        str(raised.value) == f"key file {pki.unrelated_key} does not match certificate file {pki.server.cert}"
    )


def test_files_that_hold_the_wrong_thing_are_named(pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TLSFileError, match=f"^certificate file {garbage} holds no PEM certificate$"):
        server_context(str(garbage), pki.server.key)
    with pytest.raises(TLSFileError, match=f"^key file {garbage} holds no usable PEM private key$"):
        server_context(pki.server.cert, str(garbage))
    with pytest.raises(TLSFileError, match=f"^CA file {garbage} holds no PEM certificate$"):
        server_context(pki.server.cert, pki.server.key, str(garbage))
    with pytest.raises(TLSFileError, match=f"^key file {pki.server.cert} holds no usable PEM private key$"):
        server_context(pki.server.cert, pki.server.cert)


def test_a_client_certificate_needs_its_key(pki) -> None:
    with pytest.raises(TLSFileError, match="needs both a certificate file and a key file"):
        client_context(pki.ca, pki.admin.cert)

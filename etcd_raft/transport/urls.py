"""Peer URLs and peer TLS: where members listen and dial, and the gRPC credentials for it.

A peer URL is `https://host:port` (mutual TLS) or `http://host:port` (plaintext), as etcd's
--listen-peer-urls and --initial-advertise-peer-urls. One `PeerTLS` serves both directions, as
etcd's --peer-cert-file is both the peer server's certificate and the client certificate a member
presents when it dials another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import grpc

from componentbase import tls
from componentbase.errors import TLSFileError


class PeerURL(NamedTuple):
    url: str
    target: str  # host:port, as gRPC binds and dials it
    secure: bool


def parse_peer_url(url: str) -> PeerURL:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port is None
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"invalid peer URL {url!r}: want https://host:port or http://host:port")
    return PeerURL(url, parts.netloc, parts.scheme == "https")


def parse_peer_urls(urls: Iterable[str]) -> tuple[PeerURL, ...]:
    if isinstance(urls, str):  # a lone URL would otherwise be split into characters
        urls = [urls]
    parsed = tuple(parse_peer_url(url) for url in urls)
    if not parsed:
        raise ValueError("no peer URLs given")
    return parsed


@dataclass(frozen=True)
class PeerTLS:
    """etcd's --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth.

    Without `trusted_ca_file` ("") a member trusts the system's CAs when dialing and does not verify
    the certificates of members dialing it."""

    cert_file: str
    key_file: str
    trusted_ca_file: str = ""
    client_cert_auth: bool = False

    def check(self) -> None:
        """Raise TLSFileError naming the file when one is missing or the key does not match.

        gRPC would only fail at the first handshake, with a message naming neither file."""
        if self.client_cert_auth and not self.trusted_ca_file:
            raise TLSFileError("peer client certificate authentication needs a trusted CA file")
        tls.server_context(self.cert_file, self.key_file, self.trusted_ca_file or None)

    def server_credentials(self) -> grpc.ServerCredentials:
        ca = _read(self.trusted_ca_file) if self.trusted_ca_file else None
        return grpc.ssl_server_credentials(
            [(_read(self.key_file), _read(self.cert_file))],
            root_certificates=ca,
            require_client_auth=self.client_cert_auth,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.trusted_ca_file) if self.trusted_ca_file else None,
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise TLSFileError(f"cannot read {path}: {error.strerror or error}") from None

"""TLS contexts for servers and clients (TLS 1.2 or newer), and who a verified client certificate is.

Files are checked before ssl sees them, so a mistake is one line naming the file (`TLSFileError`)
instead of OpenSSL's "[SSL] PEM lib". Identities follow upstream: the certificate's CN is the user
name and its O entries are the groups (CN=system:node:worker-1, O=system:nodes).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from componentbase.errors import TLSFileError


class PeerIdentity(NamedTuple):
    common_name: str
    organizations: tuple[str, ...]


def server_context(
    cert_file: str, key_file: str, client_ca_file: str | None = None, *, require_client_cert: bool = True
) -> ssl.SSLContext:
    """A server context serving `cert_file`. With `client_ca_file`, clients are verified against it:
    a certificate is required, or with `require_client_cert=False` optional (CERT_OPTIONAL: a client
    without one connects unauthenticated, one with a bad one is refused)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_key_pair(context, cert_file, key_file)
    if client_ca_file is not None:
        _load_ca(context, client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_context(
    ca_file: str | None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A client context that verifies the server against `ca_file` (the system's CAs when None),
    checking its host name, and presents `cert_file`/`key_file` when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_ca(context, ca_file)
    if (cert_file is None) != (key_file is None):
        raise TLSFileError("a client certificate needs both a certificate file and a key file")
    if cert_file is not None and key_file is not None:
        _load_key_pair(context, cert_file, key_file)
    return context


def peer_identity(
    peer: ssl.SSLObject | ssl.SSLSocket | Mapping[str, Any] | x509.Certificate,
) -> PeerIdentity | None:
    """CN and O of the peer's verified certificate, or None when it presented none (or it was not
    verified). `peer` is an SSL object (asyncio: `writer.get_extra_info("ssl_object")`), the dict of
    `getpeercert()`, or a parsed certificate."""
    if isinstance(peer, x509.Certificate):
        return _certificate_identity(peer)
    # getpeercert() is None without a certificate and {} when it was not verified (CERT_NONE).
    certificate = peer if isinstance(peer, Mapping) else peer.getpeercert()
    if not certificate:
        return None
    subject: Any = certificate.get("subject", ())  # ((("commonName", "admin"),), ...)
    names = [(key, value) for relative_name in subject for key, value in relative_name]
    common_names = [value for key, value in names if key == "commonName"]
    return PeerIdentity(
        common_names[0] if common_names else "",
        tuple(value for key, value in names if key == "organizationName"),
    )


def _certificate_identity(certificate: x509.Certificate) -> PeerIdentity:
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    organizations = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return PeerIdentity(
        str(common_names[0].value) if common_names else "",
        tuple(str(attribute.value) for attribute in organizations),
    )


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise TLSFileError(f"cannot read {what} {path}: {error.strerror or error}") from None


def _load_key_pair(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    try:
        certificate = x509.load_pem_x509_certificates(_read(cert_file, "certificate file"))[0]
    except ValueError:
        raise TLSFileError(f"certificate file {cert_file} holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(_read(key_file, "key file"), password=None)
    except TypeError:  # cryptography's way to say the key is encrypted
        raise TLSFileError(
            f"key file {key_file} is encrypted; a key without a passphrase is needed"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TLSFileError(f"key file {key_file} holds no usable PEM private key") from None
    public_format = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*public_format) != certificate.public_key().public_bytes(*public_format):
        raise TLSFileError(f"key file {key_file} does not match certificate file {cert_file}")
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as error:
        raise TLSFileError(f"cannot use certificate {cert_file} with key {key_file}: {error}") from None


def _load_ca(context: ssl.SSLContext, ca_file: str) -> None:
    try:
        x509.load_pem_x509_certificates(_read(ca_file, "CA file"))
    except ValueError:
        raise TLSFileError(f"CA file {ca_file} holds no PEM certificate") from None
    try:
        context.load_verify_locations(cafile=ca_file)
    except (ssl.SSLError, OSError) as error:
        raise TLSFileError(f"cannot use CA file {ca_file}: {error}") from None

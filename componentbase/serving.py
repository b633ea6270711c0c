"""Secure serving of /healthz and /metrics for components that are API clients (kube-scheduler,
kube-controller-manager): upstream's flags, and a self-signed certificate when none is given.

    add_secure_serving_flags(flags, default_port=10259)
    context = serving_context(flags, "kube-scheduler")

Without --tls-cert-file/--tls-private-key-file the component serves a self-signed certificate for
localhost, kept in --cert-dir as <name>.crt/.key (reused on restart) or, without --cert-dir, only in
memory, as upstream does. With --client-ca-file, clients may present certificates from that CA
(required for /metrics); health endpoints stay open, as upstream's are.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from componentbase.flags import Flags, FlagSet
from componentbase.tls import server_context


def add_secure_serving_flags(flags: FlagSet, default_port: int) -> None:
    flags.ip("bind-address", "0.0.0.0", "The IP address on which to listen for the --secure-port port.")
    flags.int(
        "secure-port", default_port, "The port on which to serve HTTPS with authentication and authorization."
    )
    flags.string(
        "cert-dir", "", "The directory where the TLS certs are located (ignored with --tls-cert-file)."
    )
    flags.string("tls-cert-file", "", "File containing the default x509 Certificate for HTTPS.")
    flags.string(
        "tls-private-key-file", "", "File containing the default x509 private key matching --tls-cert-file."
    )
    flags.string(
        "client-ca-file", "", "Clients with a certificate signed by this CA are authenticated (/metrics)."
    )


def serving_context(flags: Flags, name: str) -> ssl.SSLContext:
    client_ca = flags["client-ca-file"] or None
    if flags["tls-cert-file"] and flags["tls-private-key-file"]:
        cert, key = flags["tls-cert-file"], flags["tls-private-key-file"]
        return server_context(cert, key, client_ca, require_client_cert=False)
    if flags["cert-dir"]:
        cert_path, key_path = self_signed_files(Path(flags["cert-dir"]), name)
        return server_context(str(cert_path), str(key_path), client_ca, require_client_cert=False)
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        _write_self_signed(cert_path, key_path, name)
        return server_context(str(cert_path), str(key_path), client_ca, require_client_cert=False)


def self_signed_files(cert_dir: Path, name: str) -> tuple[Path, Path]:
    """<cert_dir>/<name>.crt and .key, made (self-signed) if they are not there yet; upstream's
    components do this when no serving certificate is configured."""
    cert_path, key_path = cert_dir / f"{name}.crt", cert_dir / f"{name}.key"
    if not (cert_path.exists() and key_path.exists()):
        cert_dir.mkdir(parents=True, exist_ok=True)
        _write_self_signed(cert_path, key_path, name)
    return cert_path, key_path


def _write_self_signed(cert_path: Path, key_path: Path, name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"localhost@{int(now.timestamp())}")])
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key_bytes)

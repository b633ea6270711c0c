"""Check a PKI directory: every certificate listed with its expiry, every chain and key verified.

Reads only; the result is a value (`CheckReport`) with one entry per certificate and one line per
problem, each naming the file, so the CLI decides how to print it and what to exit with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pki import certs
from pki.certs import PrivateKey
from pki.errors import KubeconfigError
from pki.files import read_if_exists
from pki.kubeconfig import embedded_pem, read_kubeconfig, selected_entries
from pki.layout import (
    AUTHORITIES,
    SERVICE_ACCOUNT_KEY,
    SERVICE_ACCOUNT_PUBLIC_KEY,
    Authority,
    Leaf,
    PkiSpec,
    leaf_table,
    nodes_present,
)


@dataclass(frozen=True)
class CertificateEntry:
    name: str
    """`ca`, `apiserver`, `etcd-server`, ... or `admin.conf` for a kubeconfig's client certificate."""
    path: Path
    subject: str
    issuer: str
    sans: tuple[str, ...]
    days_left: int
    """Whole days until expiry, negative once expired."""


@dataclass
class CheckReport:
    certificates: list[CertificateEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_pki(
    directory: Path, *, kubeconfig_dir: Path | None = None, now: datetime | None = None
) -> CheckReport:
    """Check every file `init_pki` creates; kubelet identities are found by their files."""
    checker = _Checker(certs.utc_now_or(now))
    kubeconfig_dir = kubeconfig_dir or directory
    ca_certs = {authority: checker.authority(authority, directory) for authority in AUTHORITIES}
    leaves = leaf_table(PkiSpec(nodes=nodes_present(directory, kubeconfig_dir)))
    for leaf in leaves:
        checker.leaf(leaf, directory, ca_certs[leaf.authority])
    for leaf in leaves:
        if leaf.kubeconfig_user is not None:
            checker.kubeconfig(leaf, kubeconfig_dir, directory, ca_certs[leaf.authority])
    checker.service_account(directory)
    return checker.report


def format_report(report: CheckReport) -> list[str]:
    """One aligned line per certificate, under a header; SANs last since they are the longest."""
    rows = [("NAME", "SUBJECT", "ISSUER", "EXPIRES", "SANS")]
    for entry in report.certificates:
        expires = f"{entry.days_left}d" if entry.days_left >= 0 else "EXPIRED"
        rows.append((entry.name, entry.subject, entry.issuer, expires, ",".join(entry.sans) or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[4]])
        for row in rows
    ]


class _Checker:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.report = CheckReport()

    def authority(self, authority: Authority, directory: Path) -> x509.Certificate | None:
        cert_path, key_path = authority.cert_path(directory), authority.key_path(directory)
        cert, key = self._read_cert(cert_path), self._read_key(key_path)
        if cert is None:
            return None
        self._list(authority.name, cert_path, cert)
        if not certs.is_ca(cert):
            self._problem(f"{cert_path} is not a CA certificate")
        if key is not None and not certs.key_matches(cert, key):
            self._problem(f"{key_path} does not match {cert_path}")
        return cert

    def leaf(self, leaf: Leaf, directory: Path, ca_cert: x509.Certificate | None) -> None:
        cert_path, key_path = leaf.cert_path(directory), leaf.key_path(directory)
        cert, key = self._read_cert(cert_path), self._read_key(key_path)
        if cert is None:
            return
        self._list(leaf.name, cert_path, cert)
        if key is not None and not certs.key_matches(cert, key):
            self._problem(f"{key_path} does not match {cert_path}")
        # Without its CA there is nothing to verify against; the missing CA is already reported.
        if ca_cert is not None and not certs.is_signed_by(cert, ca_cert):
            self._problem(f"{cert_path} was not signed by {leaf.authority.cert_path(directory)}")

    def kubeconfig(
        self, leaf: Leaf, kubeconfig_dir: Path, directory: Path, ca_cert: x509.Certificate | None
    ) -> None:
        path = leaf.kubeconfig_path(kubeconfig_dir)
        try:
            config = read_kubeconfig(path)
        except KubeconfigError as error:
            self._problem(str(error))
            return
        if config is None:
            self._problem(f"{path} is missing")
            return
        selected = selected_entries(config)
        if selected is None:
            self._problem(f"{path}: current-context does not name a cluster and a user")
            return
        cluster, user, _ = selected
        embedded_ca = certs.parse_cert(embedded_pem(cluster, "certificate-authority-data") or b"")
        client_cert = certs.parse_cert(embedded_pem(user, "client-certificate-data") or b"")
        client_key = certs.parse_key(embedded_pem(user, "client-key-data") or b"")
        ca_path = leaf.authority.cert_path(directory)
        if embedded_ca is None:
            self._problem(f"{path}: no certificate-authority-data")
        elif ca_cert is not None and embedded_ca != ca_cert:
            self._problem(f"{path}: certificate-authority-data is not {ca_path}")
        if client_cert is None or client_key is None:
            self._problem(f"{path}: no client-certificate-data or client-key-data")
            return
        self._list(path.name, path, client_cert)
        if not certs.key_matches(client_cert, client_key):
            self._problem(f"{path}: client-key-data does not match client-certificate-data")
        if ca_cert is not None and not certs.is_signed_by(client_cert, ca_cert):
            self._problem(f"{path}: client certificate was not signed by {ca_path}")

    def service_account(self, directory: Path) -> None:
        key_path, public_path = directory / SERVICE_ACCOUNT_KEY, directory / SERVICE_ACCOUNT_PUBLIC_KEY
        key = self._read_key(key_path)
        public_pem = read_if_exists(public_path)
        if public_pem is None:
            self._problem(f"{public_path} is missing")
        if key is None:
            return
        if not isinstance(key, rsa.RSAPrivateKey):
            self._problem(f"{key_path} is not an RSA key (service-account tokens are signed RS256)")
            return
        if public_pem is None:
            return
        try:
            matches = serialization.load_pem_public_key(public_pem) == key.public_key()
        except ValueError:
            matches = False
        if not matches:
            self._problem(f"{public_path} does not match {key_path}")

    def _list(self, name: str, path: Path, cert: x509.Certificate) -> None:
        entry = CertificateEntry(
            name,
            path,
            certs.subject_text(cert.subject),
            certs.subject_text(cert.issuer),
            tuple(certs.san_texts(cert)),
            certs.days_left(cert, self.now),
        )
        self.report.certificates.append(entry)
        if certs.is_expired(cert, self.now):
            self._problem(f"{path} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        elif self.now < cert.not_valid_before_utc:
            self._problem(f"{path} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")

    def _read_cert(self, path: Path) -> x509.Certificate | None:
        pem = read_if_exists(path)
        if pem is None:
            self._problem(f"{path} is missing")
            return None
        cert = certs.parse_cert(pem)
        if cert is None:
            self._problem(f"{path} is not a PEM certificate")
        return cert

    def _read_key(self, path: Path) -> PrivateKey | None:
        pem = read_if_exists(path)
        if pem is None:
            self._problem(f"{path} is missing")
            return None
        key = certs.parse_key(pem)
        if key is None:
            self._problem(f"{path} is not an unencrypted PEM private key")
        return key

    def _problem(self, message: str) -> None:
        self.report.problems.append(message)

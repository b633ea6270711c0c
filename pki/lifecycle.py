"""Create a PKI directory (`init_pki`) and re-issue its leaf certificates (`renew_certificates`).

Both first decide every file from what is on disk, raising before anything is written, and then
write the files they decided on, each atomically. Init is idempotent: a file that is already right
is kept byte for byte, so running it on every start of a cluster is safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from pki import certs
from pki.certs import PrivateKey
from pki.errors import ForeignCAError, KubeconfigError, PkiError
from pki.files import CERT_MODE, SECRET_MODE, make_dir, read_if_exists, write_atomic
from pki.kubeconfig import Kubeconfig, build_kubeconfig, kubeconfig_bytes, read_kubeconfig, selected_entries
from pki.layout import (
    AUTHORITIES,
    DEFAULT_CLUSTER_NAME,
    DEFAULT_SERVER_URL,
    LEAF_VALIDITY,
    SERVICE_ACCOUNT_KEY,
    SERVICE_ACCOUNT_PUBLIC_KEY,
    Authority,
    Leaf,
    PkiSpec,
    leaf_table,
    nodes_present,
)


@dataclass(frozen=True)
class InitResult:
    created: tuple[Path, ...]
    """Files written: new, or re-issued because they were missing, invalid or expired."""
    kept: tuple[Path, ...]
    """Files that were already right and were not touched."""


@dataclass(frozen=True)
class SigningCA:
    cert: x509.Certificate
    key: PrivateKey | None
    """None for an external CA (certificate only): existing leafs can be kept, none issued."""
    cert_path: Path
    key_path: Path

    def signing_key(self, for_path: Path) -> PrivateKey:
        if self.key is None:
            raise PkiError(f"cannot issue {for_path}: {self.key_path} is missing")
        return self.key


@dataclass
class WritePlan:
    """The files to write (path -> bytes, mode) and to keep, decided before anything is written."""

    writes: dict[Path, tuple[bytes, int]] = field(default_factory=dict)
    kept: list[Path] = field(default_factory=list)

    def write(self, path: Path, data: bytes, mode: int) -> None:
        self.writes[path] = (data, mode)

    def apply(self) -> None:
        for path, (data, mode) in self.writes.items():
            make_dir(path.parent)
            write_atomic(path, data, mode)


def init_pki(
    directory: Path, spec: PkiSpec, now: datetime | None = None, *, kubeconfig_dir: Path | None = None
) -> InitResult:
    """Create what is missing or invalid in `directory` (see `pki.layout`), keep what is valid.

    Raises ForeignCAError, before writing anything, when a certificate was signed by a CA other
    than the one present (or by one that is gone), and PkiError for other files it must not replace.
    """
    now = certs.utc_now_or(now)
    kubeconfig_dir = kubeconfig_dir or directory
    leaves = leaf_table(spec)
    plan = WritePlan()
    authorities = {
        authority: _authority_for_init(authority, directory, leaves, spec, now, plan)
        for authority in AUTHORITIES
    }
    for leaf in leaves:
        cert, key = _leaf_for_init(leaf, authorities[leaf.authority], directory, spec, now, plan)
        if leaf.kubeconfig_user is not None:
            config = _leaf_kubeconfig(
                leaf, authorities[leaf.authority].cert, cert, key, spec.server_url, spec.cluster_name
            )
            _kubeconfig_for_init(leaf.kubeconfig_path(kubeconfig_dir), config, plan)
    _service_account_for_init(directory, plan)
    plan.apply()
    return InitResult(created=tuple(plan.writes), kept=tuple(plan.kept))


def renew_certificates(
    directory: Path,
    names: Sequence[str] = ("all",),
    *,
    kubeconfig_dir: Path | None = None,
    now: datetime | None = None,
    validity: timedelta = LEAF_VALIDITY,
) -> tuple[Path, ...]:
    """Re-issue the named leaf certificates (or "all") from the CAs in `directory`, keeping each
    key, subject, SANs and usage, as `kubeadm certs renew` does; rewrite the kubeconfigs that
    embed a renewed client certificate, keeping their server and cluster name. Returns the files
    written. CAs are never renewed."""
    now = certs.utc_now_or(now)
    kubeconfig_dir = kubeconfig_dir or directory
    # Only names, files and signers are used: the identity comes from each certificate itself.
    leaves = {leaf.name: leaf for leaf in leaf_table(PkiSpec(nodes=nodes_present(directory, kubeconfig_dir)))}
    unknown = [name for name in names if name != "all" and name not in leaves]
    if unknown:
        raise PkiError(f"unknown certificate {unknown[0]!r}; valid names: all, {', '.join(leaves)}")
    chosen = leaves.values() if "all" in names else [leaves[name] for name in dict.fromkeys(names)]
    plan = WritePlan()
    authorities: dict[Authority, SigningCA] = {}
    for leaf in chosen:
        if leaf.authority not in authorities:
            authorities[leaf.authority] = _load_authority(leaf.authority, directory, now)
        authority = authorities[leaf.authority]
        cert_path, key_path = leaf.cert_path(directory), leaf.key_path(directory)
        old_cert = _read_cert(cert_path)
        if old_cert is None:
            raise PkiError(
                f"cannot renew {leaf.name}: {cert_path} is missing or unreadable; run `kplane pki init`"
            )
        key = _read_key(key_path)
        if key is None:
            key = certs.new_key()
            plan.write(key_path, certs.key_pem(key), SECRET_MODE)
        signing_key = authority.signing_key(cert_path)
        cert = certs.issue_leaf(
            certs.profile_of(old_cert), key.public_key(), authority.cert, signing_key, now, validity
        )
        plan.write(cert_path, certs.cert_pem(cert), CERT_MODE)
        if leaf.kubeconfig_user is not None:
            kubeconfig_path = leaf.kubeconfig_path(kubeconfig_dir)
            server, cluster_name = _server_and_cluster(kubeconfig_path)
            config = _leaf_kubeconfig(leaf, authority.cert, cert, key, server, cluster_name)
            plan.write(kubeconfig_path, kubeconfig_bytes(config), SECRET_MODE)
    plan.apply()
    return tuple(plan.writes)


def _authority_for_init(
    authority: Authority,
    directory: Path,
    leaves: Sequence[Leaf],
    spec: PkiSpec,
    now: datetime,
    plan: WritePlan,
) -> SigningCA:
    cert_path, key_path = authority.cert_path(directory), authority.key_path(directory)
    if not cert_path.exists():
        if key_path.exists():
            raise PkiError(
                f"{key_path} exists without {cert_path}; restore the certificate or remove the key"
            )
        signed = [leaf.cert_path(directory) for leaf in leaves if leaf.authority == authority]
        orphan = next((path for path in signed if path.exists()), None)
        if orphan is not None:
            raise ForeignCAError(
                f"{orphan} was signed by a CA that is gone ({cert_path} is missing); "
                "restore that CA or remove the certificates it signed"
            )
        key = certs.new_key()
        cert = certs.issue_ca(authority.common_name, key, now, spec.ca_validity)
        plan.write(key_path, certs.key_pem(key), SECRET_MODE)
        plan.write(cert_path, certs.cert_pem(cert), CERT_MODE)
        return SigningCA(cert, key, cert_path, key_path)
    signing_ca = _load_authority(authority, directory, now, key_required=False)
    plan.kept += [cert_path, key_path] if signing_ca.key is not None else [cert_path]
    return signing_ca


def _load_authority(
    authority: Authority, directory: Path, now: datetime, *, key_required: bool = True
) -> SigningCA:
    """The CA on disk, checked: a certificate of a CA, unexpired, with its key if the key is there."""
    cert_path, key_path = authority.cert_path(directory), authority.key_path(directory)
    cert = _read_cert(cert_path)
    if cert is None:
        raise PkiError(f"{cert_path} is missing or not a PEM certificate")
    if not certs.is_ca(cert):
        raise PkiError(f"{cert_path} is not a CA certificate")
    if certs.is_expired(cert, now):
        raise PkiError(
            f"{cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}; kplane does not renew CAs"
        )
    key_pem = read_if_exists(key_path)
    if key_pem is None:
        if key_required:
            raise PkiError(f"{key_path} is missing")
        return SigningCA(cert, None, cert_path, key_path)
    key = certs.parse_key(key_pem)
    if key is None:
        raise PkiError(f"{key_path} is not an unencrypted PEM private key")
    if not certs.key_matches(cert, key):
        raise PkiError(f"{key_path} does not match {cert_path}")
    return SigningCA(cert, key, cert_path, key_path)


def _leaf_for_init(
    leaf: Leaf, authority: SigningCA, directory: Path, spec: PkiSpec, now: datetime, plan: WritePlan
) -> tuple[x509.Certificate, PrivateKey]:
    cert_path, key_path = leaf.cert_path(directory), leaf.key_path(directory)
    cert, key = _read_cert(cert_path), _read_key(key_path)
    if cert is not None and not certs.is_signed_by(cert, authority.cert):
        raise ForeignCAError(
            f"{cert_path} was not signed by {authority.cert_path} (foreign CA); "
            "refusing to replace it: restore the matching CA or remove the file"
        )
    if cert is not None and key is not None and _still_valid(cert, key, leaf, now):
        plan.kept += [cert_path, key_path]
        return cert, key
    signing_key = authority.signing_key(cert_path)
    if key is None:
        key = certs.new_key()
        plan.write(key_path, certs.key_pem(key), SECRET_MODE)
    else:
        # A key that is there (even one not matching a stale certificate) is reused, as kubeadm does.
        plan.kept.append(key_path)
    cert = certs.issue_leaf(
        leaf.profile, key.public_key(), authority.cert, signing_key, now, spec.leaf_validity
    )
    plan.write(cert_path, certs.cert_pem(cert), CERT_MODE)
    return cert, key


def _still_valid(cert: x509.Certificate, key: PrivateKey, leaf: Leaf, now: datetime) -> bool:
    """Worth keeping: its key, unexpired, and naming what the spec asks for (SANs may have changed)."""
    return (
        certs.key_matches(cert, key)
        and not certs.is_expired(cert, now)
        and certs.profile_of(cert).matches(leaf.profile)
    )


def _kubeconfig_for_init(path: Path, config: Kubeconfig, plan: WritePlan) -> None:
    try:
        existing = read_kubeconfig(path)
    except KubeconfigError:
        existing = None  # our own generated file, fully determined by the PKI: rewriting it loses nothing
    if existing == config:
        plan.kept.append(path)
    else:
        plan.write(path, kubeconfig_bytes(config), SECRET_MODE)


def _service_account_for_init(directory: Path, plan: WritePlan) -> None:
    key_path, public_path = directory / SERVICE_ACCOUNT_KEY, directory / SERVICE_ACCOUNT_PUBLIC_KEY
    key = _read_key(key_path)
    if isinstance(key, rsa.RSAPrivateKey):
        plan.kept.append(key_path)
    else:
        key = certs.new_rsa_key()
        plan.write(key_path, certs.key_pem(key), SECRET_MODE)
    public_pem = certs.public_key_pem(key)
    if read_if_exists(public_path) == public_pem:
        plan.kept.append(public_path)
    else:
        plan.write(public_path, public_pem, CERT_MODE)


def _leaf_kubeconfig(
    leaf: Leaf,
    ca_cert: x509.Certificate,
    cert: x509.Certificate,
    key: PrivateKey,
    server: str,
    cluster_name: str,
) -> Kubeconfig:
    assert leaf.kubeconfig_user is not None
    return build_kubeconfig(
        server=server,
        cluster_name=cluster_name,
        user_name=leaf.kubeconfig_user,
        ca_pem=certs.cert_pem(ca_cert),
        client_cert_pem=certs.cert_pem(cert),
        client_key_pem=certs.key_pem(key),
    )


def _server_and_cluster(kubeconfig_path: Path) -> tuple[str, str]:
    """The server URL and cluster name of an existing kubeconfig, so renewal keeps them."""
    try:
        config = read_kubeconfig(kubeconfig_path)
    except KubeconfigError:
        config = None
    cluster, _, context = (selected_entries(config) if config else None) or ({}, {}, {})
    server = str(cluster.get("server") or DEFAULT_SERVER_URL)
    cluster_name = str(context.get("cluster") or DEFAULT_CLUSTER_NAME)
    return server, cluster_name


def _read_cert(path: Path) -> x509.Certificate | None:
    pem = read_if_exists(path)
    return certs.parse_cert(pem) if pem is not None else None


def _read_key(path: Path) -> PrivateKey | None:
    pem = read_if_exists(path)
    return certs.parse_key(pem) if pem is not None else None

"""init_pki: what it creates, that real TLS stacks accept it, and that running it again is safe."""

from __future__ import annotations

import base64
import ipaddress
import shutil
import socket
import ssl
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki import ForeignCAError, PkiError, PkiSpec, init_pki

Extension = TypeVar("Extension", bound=x509.ExtensionType)

PKI_FILES = {
    "ca.crt", "ca.key", "apiserver.crt", "apiserver.key",
    "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key",
    "apiserver-etcd-client.crt", "apiserver-etcd-client.key",
    "front-proxy-ca.crt", "front-proxy-ca.key", "front-proxy-client.crt", "front-proxy-client.key",
    "etcd/ca.crt", "etcd/ca.key", "etcd/server.crt", "etcd/server.key", "etcd/peer.crt", "etcd/peer.key",
    "etcd/healthcheck-client.crt", "etcd/healthcheck-client.key",
    "sa.key", "sa.pub",
    "admin.crt", "admin.key", "scheduler.crt", "scheduler.key",
    "controller-manager.crt", "controller-manager.key", "kube-proxy.crt", "kube-proxy.key",
    "kubelet-node1.crt", "kubelet-node1.key", "kubelet-node2.crt", "kubelet-node2.key",
}  # fmt: skip
KUBECONFIG_FILES = {
    "admin.conf", "scheduler.conf", "controller-manager.conf", "kube-proxy.conf",
    "kubelet-node1.conf", "kubelet-node2.conf",
}  # fmt: skip

MASTERS = ["system:masters"]
# file, CA file, CN, O, serverAuth, clientAuth
IDENTITIES = [
    ("ca.crt", "ca.crt", "kubernetes", [], False, False),
    ("apiserver.crt", "ca.crt", "kube-apiserver", [], True, False),
    ("apiserver-kubelet-client.crt", "ca.crt", "kube-apiserver-kubelet-client", MASTERS, False, True),
    ("apiserver-etcd-client.crt", "etcd/ca.crt", "kube-apiserver-etcd-client", [], False, True),
    ("front-proxy-ca.crt", "front-proxy-ca.crt", "front-proxy-ca", [], False, False),
    ("front-proxy-client.crt", "front-proxy-ca.crt", "front-proxy-client", [], False, True),
    ("etcd/ca.crt", "etcd/ca.crt", "etcd-ca", [], False, False),
    ("etcd/server.crt", "etcd/ca.crt", "cp-1", [], True, True),
    ("etcd/peer.crt", "etcd/ca.crt", "cp-1", [], True, True),
    ("etcd/healthcheck-client.crt", "etcd/ca.crt", "kube-etcd-healthcheck-client", [], False, True),
    ("admin.crt", "ca.crt", "admin", MASTERS, False, True),
    ("scheduler.crt", "ca.crt", "system:kube-scheduler", [], False, True),
    ("controller-manager.crt", "ca.crt", "system:kube-controller-manager", [], False, True),
    ("kube-proxy.crt", "ca.crt", "system:kube-proxy", [], False, True),
    ("kubelet-node1.crt", "ca.crt", "system:node:node1", ["system:nodes"], True, True),
    ("kubelet-node2.crt", "ca.crt", "system:node:node2", ["system:nodes"], True, True),
]
LEAVES = [row for row in IDENTITIES if row[0] != row[1]]

# kubeconfig, user (as kubeadm names it), client certificate file
KUBECONFIGS = [
    ("admin.conf", "kubernetes-admin", "admin.crt"),
    ("scheduler.conf", "system:kube-scheduler", "scheduler.crt"),
    ("controller-manager.conf", "system:kube-controller-manager", "controller-manager.crt"),
    ("kube-proxy.conf", "system:kube-proxy", "kube-proxy.crt"),
    ("kubelet-node1.conf", "system:node:node1", "kubelet-node1.crt"),
]


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def extension(cert: x509.Certificate, kind: type[Extension]) -> Extension:
    return cert.extensions.get_extension_for_class(kind).value


def all_files(*directories: Path) -> dict[Path, bytes]:
    return {
        path: path.read_bytes()
        for directory in directories
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_creates_the_kubeadm_layout_with_private_files_0600(pki) -> None:
    assert {str(p.relative_to(pki.directory)) for p in pki.directory.rglob("*") if p.is_file()} == PKI_FILES
    assert {p.name for p in pki.kubeconfig_dir.iterdir()} == KUBECONFIG_FILES
    for path in [*pki.directory.rglob("*"), *pki.kubeconfig_dir.iterdir()]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode & 0o022 == 0, path
        elif path.suffix in (".key", ".conf"):
            assert mode == 0o600, path
        else:
            assert mode == 0o644, path


@pytest.mark.parametrize(
    ("name", "ca_name", "common_name", "organizations", "server", "client"),
    IDENTITIES,
    ids=[row[0] for row in IDENTITIES],
)
def test_certificate_identity_and_usage(
    pki, name: str, ca_name: str, common_name: str, organizations: list[str], server: bool, client: bool
) -> None:
    cert, ca = load_cert(pki.directory / name), load_cert(pki.directory / ca_name)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == organizations
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    is_ca = name == ca_name
    assert extension(cert, x509.BasicConstraints).ca is is_ca
    key_usage = extension(cert, x509.KeyUsage)
    assert key_usage.digital_signature
    assert key_usage.key_cert_sign is is_ca
    lifetime = cert.not_valid_after_utc - pki.now
    assert abs(lifetime - (timedelta(days=3650) if is_ca else timedelta(days=365))) < timedelta(seconds=1)
    if not is_ca:
        usages = list(extension(cert, x509.ExtendedKeyUsage))
        assert (ExtendedKeyUsageOID.SERVER_AUTH in usages) is server
        assert (ExtendedKeyUsageOID.CLIENT_AUTH in usages) is client


def test_apiserver_serves_every_name_of_the_kubernetes_service(pki) -> None:
    sans = extension(load_cert(pki.directory / "apiserver.crt"), x509.SubjectAlternativeName)
    assert set(sans.get_values_for_type(x509.DNSName)) == {
        "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
        "localhost", "cp-1", "api.example.com",
    }  # fmt: skip
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(ip) for ip in ("127.0.0.1", "::1", "10.96.0.1", "10.0.0.10")
    }


@pytest.mark.parametrize("name", ["etcd/server.crt", "etcd/peer.crt"])
def test_etcd_member_certificates_name_this_host(pki, name: str) -> None:
    sans = extension(load_cert(pki.directory / name), x509.SubjectAlternativeName)
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "cp-1"}
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(ip) for ip in ("127.0.0.1", "::1", "192.168.1.5")
    }


def test_default_spec_uses_the_first_service_ip_and_this_hostname() -> None:
    spec = PkiSpec()
    assert (spec.service_cidr, spec.server_url, spec.cluster_name) == (
        "10.96.0.0/12",
        "https://127.0.0.1:6443",
        "kubernetes",
    )
    assert spec.hostname == socket.gethostname().lower()


def test_service_account_key_is_rsa_2048_with_its_public_half(pki) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((pki.directory / "sa.key").read_bytes(), None)
    public = serialization.load_pem_public_key((pki.directory / "sa.pub").read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert public == key.public_key()


@pytest.mark.parametrize(
    ("name", "ca_name", "server", "client"),
    [(row[0], row[1], row[4], row[5]) for row in LEAVES],
    ids=[row[0] for row in LEAVES],
)
def test_openssl_verifies_chain_and_purpose(pki, name: str, ca_name: str, server: bool, client: bool) -> None:
    purposes = [p for p, wanted in (("sslserver", server), ("sslclient", client)) if wanted]
    for purpose in purposes:
        result = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-CAfile", ca_name, "-purpose", purpose, name],
            cwd=pki.directory,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == f"{name}: OK"


def test_openssl_rejects_a_leaf_against_another_ca(pki) -> None:
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", "etcd/ca.crt", "apiserver.crt"],
        cwd=pki.directory,
        capture_output=True,
    )
    assert result.returncode != 0


def server_context(pki_dir: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki_dir / "apiserver.crt", pki_dir / "apiserver.key")
    context.load_verify_locations(pki_dir / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca_dir: Path, client_dir: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca_dir / "ca.crt")
    context.load_cert_chain(client_dir / "admin.crt", client_dir / "admin.key")
    return context


def mtls_exchange(server: ssl.SSLContext, client: ssl.SSLContext, server_name: str) -> str:
    """Handshake over a socket pair, client says ping, server answers with the client cert's CN."""
    server_end, client_end = socket.socketpair()
    for end in (server_end, client_end):
        end.settimeout(5)

    def serve() -> str:
        with server.wrap_socket(server_end, server_side=True) as tls:
            assert tls.recv(4) == b"ping"
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
            tls.sendall(subject["commonName"].encode())
            return str(subject["commonName"])

    with ThreadPoolExecutor(1) as pool:
        served = pool.submit(serve)
        try:
            with client.wrap_socket(client_end, server_hostname=server_name) as tls:
                tls.sendall(b"ping")
                tls.recv(16)
        except (ssl.SSLError, OSError):
            pass  # the server's verdict is the one the tests look at
        return served.result()


@pytest.mark.parametrize("server_name", ["kubernetes.default.svc", "localhost", "10.96.0.1", "127.0.0.1"])
def test_mtls_handshake_between_apiserver_and_admin_succeeds(pki, server_name: str) -> None:
    client = client_context(pki.directory, pki.directory)
    assert mtls_exchange(server_context(pki.directory), client, server_name) == "admin"


def test_mtls_handshake_fails_for_a_client_cert_from_another_ca(pki, other_pki) -> None:
    client = client_context(pki.directory, other_pki.directory)
    with pytest.raises(ssl.SSLError, match="certificate verify failed"):
        mtls_exchange(server_context(pki.directory), client, "kubernetes")


def test_client_rejects_an_apiserver_from_another_ca(pki, other_pki) -> None:
    client = client_context(pki.directory, pki.directory)
    server_end, client_end = socket.socketpair()
    server_end.settimeout(5)
    client_end.settimeout(5)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: server_context(other_pki.directory).wrap_socket(server_end, server_side=True))
        with pytest.raises(ssl.SSLCertVerificationError):
            client.wrap_socket(client_end, server_hostname="kubernetes")
        client_end.close()


@pytest.mark.parametrize(("name", "user", "cert_name"), KUBECONFIGS, ids=[row[0] for row in KUBECONFIGS])
def test_kubeconfig_embeds_credentials_like_kubeadm(pki, name: str, user: str, cert_name: str) -> None:
    config = yaml.safe_load((pki.kubeconfig_dir / name).read_text())
    assert config["current-context"] == f"{user}@kubernetes"
    assert config["contexts"] == [
        {"name": f"{user}@kubernetes", "context": {"cluster": "kubernetes", "user": user}}
    ]
    [cluster], [entry] = config["clusters"], config["users"]
    assert cluster["name"] == "kubernetes"
    assert cluster["cluster"]["server"] == "https://10.0.0.10:6443"
    assert (
        base64.b64decode(cluster["cluster"]["certificate-authority-data"])
        == (pki.directory / "ca.crt").read_bytes()
    )
    assert entry["name"] == user
    assert (
        base64.b64decode(entry["user"]["client-certificate-data"]) == (pki.directory / cert_name).read_bytes()
    )
    key_file = pki.directory / cert_name.replace(".crt", ".key")
    assert base64.b64decode(entry["user"]["client-key-data"]) == key_file.read_bytes()


def test_kubectl_reads_the_admin_kubeconfig(pki) -> None:
    view = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(pki.kubeconfig_dir / "admin.conf"),
            "config",
            "view",
            "--raw",
            "-o",
            "yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert yaml.safe_load(view.stdout) == yaml.safe_load((pki.kubeconfig_dir / "admin.conf").read_text())


def test_second_init_keeps_every_file_byte_identical(pki_copy) -> None:
    before = all_files(pki_copy.directory, pki_copy.kubeconfig_dir)
    result = init_pki(pki_copy.directory, pki_copy.spec, kubeconfig_dir=pki_copy.kubeconfig_dir)
    assert result.created == ()
    assert set(result.kept) == set(before)
    assert all_files(pki_copy.directory, pki_copy.kubeconfig_dir) == before


def test_missing_leaf_is_reissued_from_the_existing_ca(pki_copy) -> None:
    before = all_files(pki_copy.directory, pki_copy.kubeconfig_dir)
    (pki_copy.directory / "etcd/server.crt").unlink()
    (pki_copy.directory / "etcd/server.key").unlink()
    result = init_pki(pki_copy.directory, pki_copy.spec, kubeconfig_dir=pki_copy.kubeconfig_dir)
    assert set(result.created) == {
        pki_copy.directory / "etcd/server.crt",
        pki_copy.directory / "etcd/server.key",
    }
    load_cert(pki_copy.directory / "etcd/server.crt").verify_directly_issued_by(
        load_cert(pki_copy.directory / "etcd/ca.crt")
    )
    after = all_files(pki_copy.directory, pki_copy.kubeconfig_dir)
    assert {path for path in after if after[path] != before.get(path)} == set(result.created)


def test_new_apiserver_san_reissues_only_the_apiserver_cert_keeping_its_key(pki_copy) -> None:
    key_before = (pki_copy.directory / "apiserver.key").read_bytes()
    spec = replace(pki_copy.spec, apiserver_sans=("lb.example.com",))
    result = init_pki(pki_copy.directory, spec, kubeconfig_dir=pki_copy.kubeconfig_dir)
    assert result.created == (pki_copy.directory / "apiserver.crt",)
    assert (pki_copy.directory / "apiserver.key").read_bytes() == key_before
    sans = extension(load_cert(pki_copy.directory / "apiserver.crt"), x509.SubjectAlternativeName)
    assert "lb.example.com" in sans.get_values_for_type(x509.DNSName)


def test_expired_leaves_are_reissued_and_the_ca_kept(tmp_path: Path, pki) -> None:
    two_years_ago = pki.now - timedelta(days=730)
    init_pki(tmp_path, PkiSpec(hostname="cp-1"), two_years_ago)
    ca_before = (tmp_path / "ca.crt").read_bytes()
    result = init_pki(tmp_path, PkiSpec(hostname="cp-1"), pki.now)
    assert tmp_path / "apiserver.crt" in result.created
    assert tmp_path / "admin.conf" in result.created
    assert (tmp_path / "ca.crt").read_bytes() == ca_before
    expires = load_cert(tmp_path / "apiserver.crt").not_valid_after_utc
    assert abs(expires - (pki.now + timedelta(days=365))) < timedelta(seconds=1)


def test_pki_with_a_foreign_ca_is_refused_and_left_untouched(pki_copy, other_pki) -> None:
    for name in ("ca.crt", "ca.key"):
        shutil.copy2(other_pki.directory / name, pki_copy.directory / name)
    before = all_files(pki_copy.directory, pki_copy.kubeconfig_dir)
    with pytest.raises(ForeignCAError) as raised:
        init_pki(pki_copy.directory, pki_copy.spec, kubeconfig_dir=pki_copy.kubeconfig_dir)
    message = str(raised.value)
    assert "\n" not in message
    assert str(pki_copy.directory / "apiserver.crt") in message
    assert "foreign CA" in message
    assert all_files(pki_copy.directory, pki_copy.kubeconfig_dir) == before


def test_pki_whose_ca_is_gone_is_refused(pki_copy) -> None:
    (pki_copy.directory / "etcd/ca.crt").unlink()
    (pki_copy.directory / "etcd/ca.key").unlink()
    with pytest.raises(ForeignCAError, match=r"etcd/server\.crt was signed by a CA that is gone"):
        init_pki(pki_copy.directory, pki_copy.spec, kubeconfig_dir=pki_copy.kubeconfig_dir)
    assert not (pki_copy.directory / "etcd/ca.crt").exists()


def test_ca_key_not_matching_its_cert_is_refused(pki_copy, other_pki) -> None:
    shutil.copy2(other_pki.directory / "front-proxy-ca.key", pki_copy.directory / "front-proxy-ca.key")
    with pytest.raises(PkiError, match=r"front-proxy-ca\.key does not match .*front-proxy-ca\.crt"):
        init_pki(pki_copy.directory, pki_copy.spec, kubeconfig_dir=pki_copy.kubeconfig_dir)


def test_external_ca_without_key_keeps_valid_leaves_but_cannot_issue(pki_copy) -> None:
    (pki_copy.directory / "ca.key").unlink()
    result = init_pki(pki_copy.directory, pki_copy.spec, kubeconfig_dir=pki_copy.kubeconfig_dir)
    assert result.created == ()
    (pki_copy.directory / "admin.crt").unlink()
    with pytest.raises(PkiError, match=r"cannot issue .*admin\.crt: .*ca\.key is missing"):
        init_pki(pki_copy.directory, pki_copy.spec, kubeconfig_dir=pki_copy.kubeconfig_dir)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nodes": ("Node_1",)}, "invalid node name 'Node_1'"),
        ({"nodes": ("../etc",)}, "invalid node name '../etc'"),
        ({"apiserver_sans": ("not a name",)}, "invalid SAN 'not a name'"),
        ({"service_cidr": "10.96.0.1/12"}, "invalid service CIDR '10.96.0.1/12'"),
        ({"server_url": "http://127.0.0.1:6443"}, "must start with https://"),
    ],
)
def test_bad_spec_is_one_clear_line(fields: dict[str, object], message: str) -> None:
    with pytest.raises(PkiError, match=message) as raised:
        PkiSpec(**fields)  # type: ignore[arg-type]
    assert "\n" not in str(raised.value)

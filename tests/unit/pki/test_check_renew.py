"""check_pki finds what is wrong with a PKI directory; renew_certificates fixes expiry."""

from __future__ import annotations

import base64
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from pki import PkiError, PkiSpec, check_pki, init_pki, renew_certificates
from pki.check import format_report


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def embedded_client_cert(kubeconfig: Path) -> x509.Certificate:
    config = yaml.safe_load(kubeconfig.read_text())
    return x509.load_pem_x509_certificate(
        base64.b64decode(config["users"][0]["user"]["client-certificate-data"])
    )


def test_fresh_pki_checks_clean_and_lists_every_certificate(pki) -> None:
    report = check_pki(pki.directory, kubeconfig_dir=pki.kubeconfig_dir, now=pki.now)
    assert report.problems == []
    names = [entry.name for entry in report.certificates]
    assert names[:3] == ["ca", "front-proxy-ca", "etcd-ca"]
    assert {"apiserver", "etcd-peer", "kubelet-node2", "admin.conf", "kubelet-node1.conf"} <= set(names)
    assert len(names) == 3 + 13 + 6
    by_name = {entry.name: entry for entry in report.certificates}
    assert by_name["ca"].days_left == 3649
    assert by_name["admin"].days_left == 364
    assert by_name["admin"].subject == "CN=admin,O=system:masters"
    assert by_name["admin"].issuer == "CN=kubernetes"
    assert "IP:10.96.0.1" in by_name["apiserver"].sans


def test_report_prints_one_aligned_line_per_certificate(pki) -> None:
    lines = format_report(check_pki(pki.directory, kubeconfig_dir=pki.kubeconfig_dir, now=pki.now))
    assert lines[0].split() == ["NAME", "SUBJECT", "ISSUER", "EXPIRES", "SANS"]
    apiserver = next(line for line in lines if line.startswith("apiserver "))
    assert apiserver.split()[:4] == ["apiserver", "CN=kube-apiserver", "CN=kubernetes", "364d"]
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # the SUBJECT column is aligned


def test_check_flags_every_leaf_expired_in_the_future(pki) -> None:
    report = check_pki(pki.directory, kubeconfig_dir=pki.kubeconfig_dir, now=pki.now + timedelta(days=400))
    expired = {problem.split(" expired on ")[0] for problem in report.problems}
    assert str(pki.directory / "apiserver.crt") in expired
    assert str(pki.kubeconfig_dir / "admin.conf") in expired
    assert str(pki.directory / "ca.crt") not in expired
    assert len(report.problems) == 13 + 6
    assert all(" expired on " in problem for problem in report.problems)


def test_check_flags_certificates_not_yet_valid(pki) -> None:
    report = check_pki(pki.directory, kubeconfig_dir=pki.kubeconfig_dir, now=pki.now - timedelta(days=1))
    assert f"{pki.directory / 'ca.crt'} is not valid before" in report.problems[0]


def test_check_flags_a_missing_key(pki_copy) -> None:
    (pki_copy.directory / "etcd/peer.key").unlink()
    report = check_pki(pki_copy.directory, kubeconfig_dir=pki_copy.kubeconfig_dir, now=pki_copy.now)
    assert report.problems == [f"{pki_copy.directory / 'etcd/peer.key'} is missing"]


def test_check_flags_a_key_that_does_not_match_its_cert(pki_copy) -> None:
    shutil.copy2(pki_copy.directory / "admin.key", pki_copy.directory / "apiserver.key")
    report = check_pki(pki_copy.directory, kubeconfig_dir=pki_copy.kubeconfig_dir, now=pki_copy.now)
    apiserver = pki_copy.directory / "apiserver"
    assert report.problems == [f"{apiserver}.key does not match {apiserver}.crt"]


def test_check_flags_certs_and_kubeconfigs_from_another_ca(pki_copy, other_pki) -> None:
    shutil.copy2(other_pki.directory / "scheduler.crt", pki_copy.directory / "scheduler.crt")
    shutil.copy2(other_pki.directory / "scheduler.key", pki_copy.directory / "scheduler.key")
    shutil.copy2(other_pki.kubeconfig_dir / "admin.conf", pki_copy.kubeconfig_dir / "admin.conf")
    report = check_pki(pki_copy.directory, kubeconfig_dir=pki_copy.kubeconfig_dir, now=pki_copy.now)
    ca, admin_conf = pki_copy.directory / "ca.crt", pki_copy.kubeconfig_dir / "admin.conf"
    assert report.problems == [
        f"{pki_copy.directory / 'scheduler.crt'} was not signed by {ca}",
        f"{admin_conf}: certificate-authority-data is not {ca}",
        f"{admin_conf}: client certificate was not signed by {ca}",
    ]


def test_check_flags_missing_and_unparsable_kubeconfigs(pki_copy) -> None:
    (pki_copy.kubeconfig_dir / "kube-proxy.conf").unlink()
    (pki_copy.kubeconfig_dir / "scheduler.conf").write_text("clusters: [unclosed\n")
    report = check_pki(pki_copy.directory, kubeconfig_dir=pki_copy.kubeconfig_dir, now=pki_copy.now)
    assert report.problems == [
        f"{pki_copy.kubeconfig_dir / 'scheduler.conf'}: not valid YAML (line 2)",
        f"{pki_copy.kubeconfig_dir / 'kube-proxy.conf'} is missing",
    ]


def test_check_flags_a_service_account_pair_that_does_not_match(pki_copy, other_pki) -> None:
    shutil.copy2(other_pki.directory / "sa.pub", pki_copy.directory / "sa.pub")
    report = check_pki(pki_copy.directory, kubeconfig_dir=pki_copy.kubeconfig_dir, now=pki_copy.now)
    assert report.problems == [
        f"{pki_copy.directory / 'sa.pub'} does not match {pki_copy.directory / 'sa.key'}"
    ]


def test_renew_reissues_the_cert_keeps_the_key_and_rewrites_its_kubeconfig(pki_copy) -> None:
    directory, kubeconfig_dir = pki_copy.directory, pki_copy.kubeconfig_dir
    old_cert, old_key = load_cert(directory / "admin.crt"), (directory / "admin.key").read_bytes()
    later = pki_copy.now + timedelta(days=100)
    written = renew_certificates(directory, ["admin"], kubeconfig_dir=kubeconfig_dir, now=later)
    assert written == (directory / "admin.crt", kubeconfig_dir / "admin.conf")
    new_cert = load_cert(directory / "admin.crt")
    assert new_cert.serial_number != old_cert.serial_number
    assert (new_cert.subject, list(new_cert.extensions)) == (old_cert.subject, list(old_cert.extensions))
    assert new_cert.not_valid_after_utc > old_cert.not_valid_after_utc
    assert (directory / "admin.key").read_bytes() == old_key
    assert embedded_client_cert(kubeconfig_dir / "admin.conf") == new_cert
    config = yaml.safe_load((kubeconfig_dir / "admin.conf").read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://10.0.0.10:6443"  # kept, not the default
    assert config["current-context"] == "kubernetes-admin@kubernetes"
    assert check_pki(directory, kubeconfig_dir=kubeconfig_dir, now=later).problems == []


def test_renew_keeps_the_sans_of_a_serving_cert(pki_copy) -> None:
    old = load_cert(pki_copy.directory / "etcd/server.crt")
    renew_certificates(pki_copy.directory, ["etcd-server"], kubeconfig_dir=pki_copy.kubeconfig_dir)
    new = load_cert(pki_copy.directory / "etcd/server.crt")
    assert new.serial_number != old.serial_number
    san = x509.SubjectAlternativeName
    assert new.extensions.get_extension_for_class(san) == old.extensions.get_extension_for_class(san)


def test_renew_all_brings_an_expired_pki_back(tmp_path: Path, pki) -> None:
    init_pki(tmp_path, PkiSpec(nodes=("node1",), hostname="cp-1"), pki.now - timedelta(days=400))
    assert not check_pki(tmp_path, now=pki.now).ok
    written = renew_certificates(tmp_path, now=pki.now)
    assert len(written) == 12 + 5  # every leaf and every kubeconfig; no key, no CA
    assert check_pki(tmp_path, now=pki.now).ok


def test_renew_unknown_name_lists_the_valid_ones(pki_copy) -> None:
    with pytest.raises(PkiError) as raised:
        renew_certificates(pki_copy.directory, ["apiserver", "nope"], kubeconfig_dir=pki_copy.kubeconfig_dir)
    assert str(raised.value).startswith("unknown certificate 'nope'; valid names: all, apiserver, ")
    assert "kubelet-node1, kubelet-node2" in str(raised.value)

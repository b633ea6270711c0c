"""Keys and X.509 certificates: issue them, read them back, check them. Pure: bytes and objects in
and out, no files, and the time is always an argument.

Certificates carry the extensions kubeadm puts in its own (basic constraints, key usage, extended
key usage, subject/authority key identifiers, SANs), so Go, OpenSSL and Python's ssl accept them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Certificates start a little in the past so a peer whose clock runs behind ours accepts them.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class CertProfile:
    """Who a leaf certificate names and what it may be used for."""

    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    server_auth: bool = False
    client_auth: bool = False

    def matches(self, other: CertProfile) -> bool:
        """Same identity and usage; the order of SANs and organizations does not matter."""
        return (
            self.common_name == other.common_name
            and set(self.organizations) == set(other.organizations)
            and set(self.dns_names) == set(other.dns_names)
            and set(self.ip_addresses) == set(other.ip_addresses)
            and (self.server_auth, self.client_auth) == (other.server_auth, other.client_auth)
        )


def utc_now_or(now: datetime | None) -> datetime:
    """`now`, or the current time when None. A naive `now` is taken as UTC, as cryptography does."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def new_key() -> PrivateKey:
    """A key for a CA or leaf certificate. ECDSA P-256: as accepted as RSA 2048 and ~100x faster
    to generate, which matters for a PKI of two dozen certificates."""
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key() -> rsa.RSAPrivateKey:
    """RSA 2048, for the service-account key pair: tokens are signed RS256."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue_ca(common_name: str, key: PrivateKey, now: datetime, validity: timedelta) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def issue_leaf(
    profile: CertProfile,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    now: datetime,
    validity: timedelta,
) -> x509.Certificate:
    # A leaf never outlives its CA: past that date no one could verify it anyway.
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if profile.server_auth else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if profile.client_auth else []
    builder = (
        x509.CertificateBuilder()
        .subject_name(_subject(profile))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(public_key, cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in profile.dns_names]
    alt_names += [x509.IPAddress(address) for address in profile.ip_addresses]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def profile_of(cert: x509.Certificate) -> CertProfile:
    """Read back the identity and usage of a certificate (what `issue_leaf` was given)."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(sans.get_values_for_type(x509.DNSName))
        ip_addresses = tuple(
            address
            for address in sans.get_values_for_type(x509.IPAddress)
            if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
        )
    except x509.ExtensionNotFound:
        dns_names, ip_addresses = (), ()
    try:
        usages = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = []
    return CertProfile(
        common_name=next(iter(_attribute_values(cert.subject, NameOID.COMMON_NAME)), ""),
        organizations=_attribute_values(cert.subject, NameOID.ORGANIZATION_NAME),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        server_auth=ExtendedKeyUsageOID.SERVER_AUTH in usages,
        client_auth=ExtendedKeyUsageOID.CLIENT_AUTH in usages,
    )


def is_signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def key_matches(cert: x509.Certificate, key: PrivateKey) -> bool:
    return _public_der(cert.public_key()) == _public_der(key.public_key())


def is_expired(cert: x509.Certificate, now: datetime) -> bool:
    return now >= cert.not_valid_after_utc


def days_left(cert: x509.Certificate, now: datetime) -> int:
    """Whole days until expiry; negative once expired (-1 = expired less than a day ago)."""
    return (cert.not_valid_after_utc - now) // timedelta(days=1)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def subject_text(name: x509.Name) -> str:
    """`CN=admin,O=system:masters`, the way kubectl and openssl users read it."""
    return name.rfc4514_string()


def san_texts(cert: x509.Certificate) -> list[str]:
    profile = profile_of(cert)
    return [f"DNS:{name}" for name in profile.dns_names] + [f"IP:{ip}" for ip in profile.ip_addresses]


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    # "EC PRIVATE KEY" / "RSA PRIVATE KEY", as kubeadm writes them.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def parse_cert(pem: bytes) -> x509.Certificate | None:
    """The certificate in `pem`, or None when it is not one."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None


def parse_key(pem: bytes) -> PrivateKey | None:
    """The private key in `pem`, or None when it is not an unencrypted ECDSA or RSA key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) else None


def _subject(profile: CertProfile) -> x509.Name:
    # O before CN, like kubeadm and kubernetes-the-hard-way ("O = system:masters, CN = admin").
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in profile.organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, profile.common_name)])


def _attribute_values(name: x509.Name, oid: x509.ObjectIdentifier) -> tuple[str, ...]:
    return tuple(str(attribute.value) for attribute in name.get_attributes_for_oid(oid))


def _key_usage(key: object, *, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        # Only RSA keys encipher (TLS 1.2 RSA key exchange); the bit means nothing for ECDSA.
        key_encipherment=isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey),
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _public_der(public_key: object) -> bytes:
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return b""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

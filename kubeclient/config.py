"""Where the apiserver is and who we are: a kubeconfig's current context made into an SSL context.

    config = load_kubeconfig("/var/lib/kplane/scheduler.conf")
    config.server      # "https://127.0.0.1:6443"
    config.ssl_context()

Certificates and keys may be files (`client-certificate`) or embedded (`client-certificate-data`),
as kubectl accepts them; relative paths are relative to the kubeconfig's directory.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubeclient.errors import ConfigError


@dataclass(frozen=True)
class ClientConfig:
    server: str
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    token: str | None = None
    namespace: str = "default"
    user_agent: str = "kplane"
    insecure_skip_tls_verify: bool = False

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_pem:
            context.load_verify_locations(cadata=self.ca_pem.decode())
        else:
            context.load_default_certs()
        if self.cert_pem and self.key_pem:
            _load_cert_chain(context, self.cert_pem, self.key_pem)
        return context


def _load_cert_chain(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """ssl loads client key pairs only from files: write them to a private directory, load, delete."""
    with tempfile.TemporaryDirectory(prefix="kubeclient-") as directory:
        cert_path, key_path = Path(directory, "tls.crt"), Path(directory, "tls.key")
        for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as error:
            raise ConfigError(f"the client certificate and key do not load: {error.reason}") from None


def load_kubeconfig(
    path: str | os.PathLike[str], *, user_agent: str = "kplane", server: str = ""
) -> ClientConfig:
    """The current context of the kubeconfig at `path`; `server` (a component's --master) overrides
    the cluster's address."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except OSError as error:
        raise ConfigError(f"{file}: {error.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{file}: not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: not a kubeconfig")
    context = _named(data, "contexts", data.get("current-context"), file).get("context") or {}
    cluster = _named(data, "clusters", context.get("cluster"), file).get("cluster") or {}
    user = _named(data, "users", context.get("user"), file).get("user") or {}
    address = server or cluster.get("server")
    if not isinstance(address, str) or not address:
        raise ConfigError(f"{file}: the cluster has no server")
    base = file.parent
    return ClientConfig(
        server=address.rstrip("/"),
        ca_pem=_pem(cluster, "certificate-authority", base, file),
        cert_pem=_pem(user, "client-certificate", base, file),
        key_pem=_pem(user, "client-key", base, file),
        token=user.get("token") or None,
        namespace=context.get("namespace") or "default",
        user_agent=user_agent,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
    )


def _named(data: dict[str, Any], list_key: str, name: object, file: Path) -> dict[str, Any]:
    for entry in data.get(list_key) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise ConfigError(f"{file}: no {list_key[:-1]} named {name!r}")


def _pem(body: dict[str, Any], key: str, base: Path, file: Path) -> bytes | None:
    embedded = body.get(f"{key}-data")
    if isinstance(embedded, str) and embedded:
        try:
            return base64.b64decode(embedded, validate=True)
        except ValueError:
            raise ConfigError(f"{file}: {key}-data is not base64") from None
    path = body.get(key)
    if isinstance(path, str) and path:
        try:
            return (base / path).read_bytes()
        except OSError as error:
            raise ConfigError(f"{file}: {key} {path}: {error.strerror}") from None
    return None

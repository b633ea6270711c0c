"""Service account tokens (the `serviceaccounts/token` subresource, TokenRequest): JWTs signed
RS256 with --service-account-signing-key-file, with the claims kube-apiserver puts in bound
tokens, so a verifier that knows the public key (--service-account-key-file) and the issuer
accepts them. Verifying tokens on requests comes with authentication in the security issue."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from apiserver.strategy import timestamp
from kubeapi import errors

Object = dict[str, Any]
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600  # upstream's minimum (10 minutes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    def __init__(self, key_file: str, issuer: str) -> None:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_file}: a service account signing key must be RSA")
        self.key = key
        self.issuer = issuer
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = _b64(hashlib.sha256(public).digest())  # upstream's kid: sha256 of the DER key

    def sign(self, claims: Object) -> str:
        header = {"alg": "RS256", "kid": self.key_id}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def token_request(self, service_account: Object, request: Object, now: datetime) -> Object:
        """The TokenRequest answered: the token and its expiry in status."""
        spec = request.get("spec") or {}
        seconds = spec.get("expirationSeconds") or DEFAULT_EXPIRATION
        if not isinstance(seconds, int) or seconds < MIN_EXPIRATION:
            cause = errors.Cause(
                "FieldValueInvalid",
                f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                "spec.expirationSeconds",
            )
            raise errors.invalid(
                "TokenRequest", service_account["metadata"]["name"], [cause], "authentication.k8s.io"
            )
        meta = service_account["metadata"]
        audiences = list(spec.get("audiences") or [self.issuer])
        expires = now + timedelta(seconds=seconds)
        private: Object = {
            "namespace": meta["namespace"],
            "serviceaccount": {"name": meta["name"], "uid": meta.get("uid", "")},
        }
        bound = spec.get("boundObjectRef")
        if bound:
            private[str(bound.get("kind", "")).lower()] = {
                "name": bound.get("name", ""),
                "uid": bound.get("uid", ""),
            }
        claims = {
            "aud": audiences,
            "exp": int(expires.timestamp()),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
        }
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": None},
            "spec": {**spec, "audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": bound},
            "status": {"token": self.sign(claims), "expirationTimestamp": timestamp(expires)},
        }

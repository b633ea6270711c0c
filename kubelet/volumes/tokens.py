"""Service account tokens for projected volumes (upstream's pkg/kubelet/token/token_manager.go).

A token is asked for once per (namespace, service account, audiences, expiration, pod uid) and kept
until it needs a refresh: when 80 % of its lifetime has passed, or 24 hours after it was issued,
whichever is first. When a refresh fails the old token is used while it is still valid.

`TokenSource` is the seam: an async callable
    (namespace, service_account_name, audiences, expiration_seconds, pod_name, pod_uid) -> (token, expiration)
`api_token_source(client)` makes one from the apiserver's TokenRequest
(POST /api/v1/namespaces/NS/serviceaccounts/NAME/token, bound to the pod).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

MAX_TTL = timedelta(hours=24)
REFRESH_FRACTION = 0.2  # refresh when less than this part of the lifetime is left

TokenSource = Callable[[str, str, list[str], int, str, str], Awaitable[tuple[str, datetime]]]


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class _Cached:
    token: str
    issued: datetime
    expires: datetime


class TokenManager:
    def __init__(self, source: TokenSource, *, now: Callable[[], datetime] | None = None) -> None:
        self._source = source
        self._now = now or (lambda: datetime.now(UTC))
        self._cache: dict[tuple[str, str, tuple[str, ...], int, str], _Cached] = {}

    async def get(
        self,
        namespace: str,
        service_account: str,
        audiences: Sequence[str],
        expiration_seconds: int,
        pod_name: str,
        pod_uid: str,
    ) -> str:
        key = (namespace, service_account, tuple(audiences), expiration_seconds, pod_uid)
        cached = self._cache.get(key)
        now = self._now()
        if cached is not None and not requires_refresh(cached.issued, cached.expires, now):
            return cached.token
        try:
            token, expires = await self._source(
                namespace, service_account, list(audiences), expiration_seconds, pod_name, pod_uid
            )
        except Exception as error:
            if cached is None:
                raise TokenError(f"failed to fetch token: {error}") from error
            if now >= cached.expires:
                raise TokenError(
                    f"token {namespace}/{service_account} expired and refresh failed: {error}"
                ) from error
            return cached.token  # still valid: keep using it and try again on the next sync
        self._cache[key] = _Cached(token, now, expires)
        return token

    def forget_pod(self, pod_uid: str) -> None:
        for key in [k for k in self._cache if k[4] == pod_uid]:
            del self._cache[key]

    def forget_expired(self) -> None:
        now = self._now()
        for key in [k for k, v in self._cache.items() if now >= v.expires]:
            del self._cache[key]


def requires_refresh(issued: datetime, expires: datetime, now: datetime) -> bool:
    if now >= issued + MAX_TTL:
        return True
    return now >= expires - (expires - issued) * REFRESH_FRACTION


class _Poster(Protocol):
    async def create(
        self,
        resource: str,
        obj: dict[str, Any],
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...


def api_token_source(client: _Poster) -> TokenSource:
    """A TokenSource on the apiserver's TokenRequest API (kubeclient.rest.Client fits)."""

    async def request(
        namespace: str,
        service_account: str,
        audiences: list[str],
        expiration_seconds: int,
        pod_name: str,
        pod_uid: str,
    ) -> tuple[str, datetime]:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": audiences,
                "expirationSeconds": expiration_seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid},
            },
        }
        answer = await client.create(
            "serviceaccounts", body, namespace=namespace, name=service_account, subresource="token"
        )
        status = answer.get("status") or {}
        token, expires = status.get("token"), status.get("expirationTimestamp")
        if not token or not expires:
            raise TokenError(f"the TokenRequest for {namespace}/{service_account} came back without a token")
        return str(token), datetime.fromisoformat(str(expires).replace("Z", "+00:00"))

    return request

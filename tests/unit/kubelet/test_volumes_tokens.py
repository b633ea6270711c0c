"""The service account token manager: cache, refresh at 80 % of the TTL or after 24 h, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelet.volumes.tokens import TokenError, TokenManager, api_token_source, requires_refresh

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Source:
    """Issues token-1, token-2, ... valid for the requested seconds; can be told to fail."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[Any, ...]] = []
        self.fail: Exception | None = None

    async def __call__(
        self, namespace: str, sa: str, audiences: list[str], seconds: int, pod: str, uid: str
    ) -> tuple[str, datetime]:
        self.calls.append((namespace, sa, tuple(audiences), seconds, pod, uid))
        if self.fail is not None:
            raise self.fail
        return f"token-{len(self.calls)}", self.clock.now + timedelta(seconds=seconds)


async def get(manager: TokenManager, seconds: int = 3600, uid: str = "u1") -> str:
    return await manager.get("ns", "default", ["api"], seconds, "web", uid)


async def test_a_token_is_reused_until_80_percent_of_its_lifetime() -> None:
    clock = Clock()
    source = Source(clock)
    manager = TokenManager(source, now=clock)
    assert await get(manager) == "token-1"
    clock.now = T0 + timedelta(seconds=2879)  # 80 % of 3600 is 2880
    assert await get(manager) == "token-1"
    clock.now = T0 + timedelta(seconds=2880)
    assert await get(manager) == "token-2"
    assert source.calls[0] == ("ns", "default", ("api",), 3600, "web", "u1")


async def test_long_tokens_are_refreshed_after_24_hours() -> None:
    clock = Clock()
    manager = TokenManager(Source(clock), now=clock)
    await get(manager, seconds=7 * 24 * 3600)
    clock.now = T0 + timedelta(hours=23, minutes=59)
    assert await get(manager, seconds=7 * 24 * 3600) == "token-1"
    clock.now = T0 + timedelta(hours=24)
    assert await get(manager, seconds=7 * 24 * 3600) == "token-2"


async def test_pods_and_requests_have_their_own_tokens() -> None:
    clock = Clock()
    manager = TokenManager(Source(clock), now=clock)
    assert await get(manager, uid="u1") == "token-1"
    assert await get(manager, uid="u2") == "token-2"
    assert await get(manager, seconds=7200, uid="u1") == "token-3"
    manager.forget_pod("u1")
    assert await get(manager, uid="u1") == "token-4"
    assert await get(manager, uid="u2") == "token-2"


async def test_a_failed_refresh_keeps_the_valid_token_and_fails_once_it_expired() -> None:
    clock = Clock()
    source = Source(clock)
    manager = TokenManager(source, now=clock)
    await get(manager)
    source.fail = RuntimeError("apiserver down")
    clock.now = T0 + timedelta(seconds=3000)
    assert await get(manager) == "token-1"
    clock.now = T0 + timedelta(seconds=3600)
    with pytest.raises(TokenError, match=r"^token ns/default expired and refresh failed: apiserver down$"):
        await get(manager)


async def test_a_first_fetch_that_fails_is_an_error() -> None:
    clock = Clock()
    source = Source(clock)
    source.fail = RuntimeError("forbidden")
    with pytest.raises(TokenError, match=r"^failed to fetch token: forbidden$"):
        await get(TokenManager(source, now=clock))


def test_requires_refresh() -> None:
    assert not requires_refresh(T0, T0 + timedelta(hours=1), T0 + timedelta(minutes=47))
    assert requires_refresh(T0, T0 + timedelta(hours=1), T0 + timedelta(minutes=48))


async def test_api_token_source_posts_a_token_request_bound_to_the_pod() -> None:
    posted: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    class Client:
        async def create(self, resource: str, obj: dict[str, Any], **where: Any) -> dict[str, Any]:
            posted.append((resource, obj, where))
            return {"status": {"token": "jwt", "expirationTimestamp": "2026-01-01T01:00:00Z"}}

    token, expires = await api_token_source(Client())("ns", "builder", ["vault"], 600, "web", "u1")
    assert (token, expires) == ("jwt", datetime(2026, 1, 1, 1, tzinfo=UTC))
    resource, body, where = posted[0]
    assert resource == "serviceaccounts"
    assert where == {"namespace": "ns", "name": "builder", "subresource": "token"}
    assert body["spec"] == {
        "audiences": ["vault"],
        "expirationSeconds": 600,
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u1"},
    }

"""--max-requests-inflight: a read beyond the limit gets 429 TooManyRequests with Retry-After, while
watches (long-running) are not counted. The store is a stand-in that holds reads until released."""

import asyncio
from typing import Any

from apiserver.authn import User
from apiserver.options import flag_set, from_flags
from apiserver.server import APIServer, Request
from apiserver.storage import Page, Store

ADMIN = User("admin", ("system:masters", "system:authenticated"))


class HeldStore(Store):
    """Lists wait until `release` is set (a slow store)."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]
        self.release = asyncio.Event()

    async def list(self, prefix: str, **_: Any) -> Page:  # type: ignore[override]
        await self.release.wait()
        return Page([], 7, None, 0)


def options(limit: int) -> Any:
    flags = flag_set().parse(
        [
            "--etcd-servers=https://127.0.0.1:2379",
            "--tls-cert-file=x",
            "--tls-private-key-file=x",
            "--client-ca-file=x",
            f"--max-requests-inflight={limit}",
        ]
    )
    return from_flags(flags)


def get(path: str) -> Request:
    return Request("GET", path, {}, {}, b"", ADMIN)


async def test_a_read_beyond_the_inflight_limit_gets_429_with_retry_after() -> None:
    store = HeldStore()
    api = APIServer(store, options(1), use_cache=False)
    first = asyncio.create_task(api.handle(get("/api/v1/namespaces/default/configmaps")))
    await asyncio.sleep(0)  # the first request takes the only slot and waits on the store
    second = await api.handle(get("/api/v1/namespaces/default/configmaps"))
    assert second.status == 429 and second.headers["Retry-After"] == "1"
    assert b'"reason":"TooManyRequests"' in second.body
    store.release.set()
    assert (await first).status == 200
    third = await api.handle(get("/api/v1/namespaces/default/configmaps"))
    assert third.status == 200  # the slot is free again

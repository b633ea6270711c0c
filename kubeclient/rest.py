"""An async client for the Kubernetes REST API over HTTPS with client certificates (httpx).

    client = Client(load_kubeconfig("scheduler.conf"))
    pod = await client.get("pods", "web", namespace="default")
    page = await client.list("nodes", label_selector="zone=a")          # the NodeList dict
    await client.create("pods", manifest, namespace="default")
    await client.patch("pods", "web", {"status": {...}}, namespace="default", subresource="status")
    await client.create("pods", binding, namespace="default", name="web", subresource="binding")
    async for event in client.watch("pods", resource_version=rv):     # {"type": ..., "object": ...}
        ...

Resources are named by their plural, optionally with the group ("events.events.k8s.io"), and
resolved against the built-in registry. Errors are `ApiError` (a Status came back) or
`TransportError` (nothing came back).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from kubeapi.resources import BUILTIN_REGISTRY, Resource
from kubeclient.config import ClientConfig
from kubeclient.errors import ApiError, KubeClientError, TransportError

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

Obj = dict[str, Any]


def resolve(resource: str) -> Resource:
    """ "pods" -> core/v1 pods; "leases.coordination.k8s.io" or "events.events.k8s.io" name a group."""
    name, _, group = resource.partition(".")
    for candidate in BUILTIN_REGISTRY.resources:
        if candidate.name == name and (not group or candidate.group == group):
            return candidate
    raise KubeClientError(f"unknown resource {resource!r}")


def resource_path(
    resource: Resource, namespace: str | None = None, name: str | None = None, subresource: str | None = None
) -> str:
    prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    parts = [prefix]
    if resource.namespaced and namespace:
        parts.append(f"/namespaces/{namespace}")
    parts.append(f"/{resource.name}")
    if name:
        parts.append(f"/{name}")
    if subresource:
        parts.append(f"/{subresource}")
    return "".join(parts)


class Client:
    def __init__(self, config: ClientConfig, *, timeout: float = 30.0, max_connections: int = 20) -> None:
        headers = {"User-Agent": config.user_agent, "Accept": JSON}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self.config = config
        context = config.ssl_context()
        self._http = httpx.AsyncClient(
            base_url=config.server,
            verify=context,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        # Watches hold a connection each for minutes: they get their own pool, so they never starve
        # requests (client-go multiplexes them over HTTP/2 instead).
        self._watch_http = httpx.AsyncClient(
            base_url=config.server, verify=context, headers=headers, timeout=httpx.Timeout(timeout, read=None)
        )
        # httpcore's pool rescans every queued request on each change (quadratic when thousands
        # wait): requests queue here instead, at most one per connection inside the pool.
        self._slots = asyncio.Semaphore(max_connections)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._watch_http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str | int] | None = None,
        content_type: str = JSON,
    ) -> Obj:
        """One request; the decoded JSON answer, or ApiError/TransportError."""
        content = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if content is not None else None
        try:
            async with self._slots:
                response = await self._http.request(
                    method, path, content=content, params=_params(params), headers=headers
                )
        except httpx.HTTPError as error:
            raise TransportError(f"{method} {path}: {error!r}") from error
        return _decoded(response)

    async def get(
        self, resource: str, name: str, *, namespace: str | None = None, subresource: str | None = None
    ) -> Obj:
        return await self.request("GET", resource_path(resolve(resource), namespace, name, subresource))

    async def list(self, resource: str, *, namespace: str | None = None, **options: str | int | None) -> Obj:
        """One LIST; options are query parameters in Python spelling (label_selector, field_selector,
        resource_version, limit, continue_)."""
        return await self.request(
            "GET", resource_path(resolve(resource), namespace), params=_options(options)
        )

    async def create(
        self,
        resource: str,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        **options: str | int | None,
    ) -> Obj:
        path = resource_path(resolve(resource), namespace, name, subresource)
        return await self.request("POST", path, body=obj, params=_options(options))

    async def update(
        self,
        resource: str,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        name = obj["metadata"]["name"]
        return await self.request(
            "PUT", resource_path(resolve(resource), namespace, name, subresource), body=obj
        )

    async def patch(
        self,
        resource: str,
        name: str,
        patch: object,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        content_type: str = MERGE_PATCH,
        **options: str | int | None,
    ) -> Obj:
        path = resource_path(resolve(resource), namespace, name, subresource)
        return await self.request(
            "PATCH", path, body=patch, params=_options(options), content_type=content_type
        )

    async def delete(
        self,
        resource: str,
        name: str,
        *,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> Obj:
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if preconditions:
            body["preconditions"] = dict(preconditions)
        return await self.request("DELETE", resource_path(resolve(resource), namespace, name), body=body)

    async def watch(
        self, resource: str, *, namespace: str | None = None, **options: str | int | None
    ) -> AsyncIterator[Obj]:
        """The watch's events until the server ends it. An ERROR event with a 410 Status raises
        ApiError(410) so the caller relists."""
        params = _options({"watch": "true", "allow_watch_bookmarks": "true", **options})
        path = resource_path(resolve(resource), namespace)
        try:
            async with self._watch_http.stream("GET", path, params=params) as response:
                if response.status_code >= 300:
                    await response.aread()
                    _decoded(response)
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError(int(status.get("code") or 500), status)
                    yield event
        except httpx.HTTPError as error:
            raise TransportError(f"watch {path}: {error!r}") from error


def _options(options: Mapping[str, str | int | None]) -> dict[str, str | int]:
    """label_selector -> labelSelector, continue_ -> continue; None values dropped."""
    result: dict[str, str | int] = {}
    for key, value in options.items():
        if value is None:
            continue
        head, *rest = key.rstrip("_").split("_")
        result[head + "".join(word.title() for word in rest)] = value
    return result


def _params(params: Mapping[str, str | int] | None) -> dict[str, str | int] | None:
    return dict(params) if params else None


def _decoded(response: httpx.Response) -> Obj:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    if response.status_code >= 300:
        status = body if isinstance(body, dict) and body.get("kind") == "Status" else None
        raise ApiError(response.status_code, status, response.text[:200])
    if not isinstance(body, dict):
        raise ApiError(response.status_code, None, f"not a JSON object: {response.text[:200]}")
    return body

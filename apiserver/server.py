"""The API server's request handling: authentication, discovery, OpenAPI, /version and health,
and the resource verbs routed to each resource's REST handler; errors become `Status` objects.

`APIServer.handle` is plain async code over a small request/response record, so the HTTP layer
(apiserver/app.py: FastAPI on uvicorn) stays thin."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apiserver import codec, discovery, metrics, openapi, pods, query, routing, scale, strategy, tables
from apiserver import rest as rest_module
from apiserver.allocator import Allocator, ip_range, port_range
from apiserver.authn import User
from apiserver.cacher import Cacher
from apiserver.events import EventsREST
from apiserver.kubelet_proxy import KUBELET_SUBRESOURCES, KubeletClientConfig, KubeletProxy
from apiserver.options import DEFAULT_WATCH_CACHE_SIZE, Options
from apiserver.pod_admission import PodREST
from apiserver.rest import ResourceREST
from apiserver.services import ServiceREST
from apiserver.storage import StorageError, Store
from apiserver.tokens import TokenIssuer
from kubeapi import apply, errors, managedfields, schema
from kubeapi import patch as patches
from kubeapi.resources import BUILTIN_REGISTRY, Registry, Resource

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kplane",
    "gitCommit": "kplane",
    "gitTreeState": "clean",
    "buildDate": "2026-11-26T00:00:00Z",
    "goVersion": "python3.11",
    "compiler": "cpython",
    "platform": "linux/amd64",
}
LONG_RUNNING = ("watch",)
_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}
MUTATING = ("create", "update", "patch", "delete", "deletecollection")


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    user: User | None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = codec.JSON
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None  # a watch: chunks after the headers


def json_response(status: int, obj: Any, accept: str | None = None) -> Response:
    body, content_type = codec.encode(obj, accept)
    return Response(status, body, content_type)


def status_response(error: errors.StatusError) -> Response:
    response = json_response(error.code, error.to_status())
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


class APIServer:
    def __init__(
        self,
        store: Store,
        options: Options,
        *,
        registry: Registry = BUILTIN_REGISTRY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        use_cache: bool = True,
    ) -> None:
        self.store = store
        self.options = options
        self.registry = registry
        self.clock = clock
        self.tokens: TokenIssuer | None = None
        if options.service_account_signing_key_file:
            self.tokens = TokenIssuer(
                options.service_account_signing_key_file, options.service_account_issuer
            )
        self.cachers: dict[tuple[str, str, str], Cacher] = {}
        self.service_ips = Allocator(
            store, store.key("ranges", None, "serviceips"), ip_range(options.service_cluster_ip_range)
        )
        self.node_ports = Allocator(
            store, store.key("ranges", None, "servicenodeports"), port_range(*options.service_node_port_range)
        )
        self.rest: dict[tuple[str, str, str], ResourceREST] = {}
        cachers_by_prefix: dict[str, Cacher] = {}
        for resource in registry.resources:
            ident = (resource.group, resource.version, resource.name)
            cacher = None
            if use_cache:
                prefix = store.key(resource.storage, None)
                cacher = cachers_by_prefix.get(prefix)
                if cacher is None:
                    size = options.watch_cache_sizes.get(
                        resource.name if not resource.group else f"{resource.name}.{resource.group}",
                        DEFAULT_WATCH_CACHE_SIZE,
                    )
                    cacher = cachers_by_prefix[prefix] = Cacher(store, prefix, max(size, 100))
                self.cachers[ident] = cacher
            lifecycle = self.namespace_lifecycle
            if (resource.group, resource.name) == ("events.k8s.io", "events"):
                self.rest[ident] = EventsREST(
                    resource, store, cacher, clock=clock, namespace_lifecycle=lifecycle
                )
            elif (resource.group, resource.name) == ("", "pods"):
                self.rest[ident] = PodREST(
                    resource, store, cacher, clock=clock, namespace_lifecycle=lifecycle,
                    priority_classes=lambda: self.rest[("scheduling.k8s.io", "v1", "priorityclasses")],
                    default_toleration_seconds=(
                        options.default_not_ready_toleration_seconds,
                        options.default_unreachable_toleration_seconds,
                    ),
                    allow_privileged=options.allow_privileged,
                )  # fmt: skip
            elif (resource.group, resource.name) == ("", "services"):
                self.rest[ident] = ServiceREST(
                    resource,
                    store,
                    cacher,
                    clock=clock,
                    namespace_lifecycle=lifecycle,
                    ips=self.service_ips,
                    ports=self.node_ports,
                )
            else:
                self.rest[ident] = ResourceREST(
                    resource, store, cacher, clock=clock, rng=random.Random(), namespace_lifecycle=lifecycle
                )
        self._cachers = list(cachers_by_prefix.values())
        self.kubelet = KubeletProxy(self, KubeletClientConfig.from_options(options))
        self._read_slots = asyncio.Semaphore(options.max_requests_inflight or 1_000_000)
        self._write_slots = asyncio.Semaphore(options.max_mutating_requests_inflight or 1_000_000)

    async def namespace_lifecycle(self, namespace: str) -> None:
        """Upstream's NamespaceLifecycle admission: nothing is created in a namespace that does not
        exist (404) or is being deleted (403). The watch cache answers; the store when it has not
        seen the namespace yet (just created through another apiserver)."""
        namespaces = self.rest[("", "v1", "namespaces")]
        found = None
        if namespaces.cacher is not None and namespaces.cacher.ready.is_set():
            found = namespaces.cacher.objects.get(namespaces.key(None, namespace))
        if found is None:
            found = await namespaces.get(None, namespace)  # raises NotFound
        if (
            found.get("metadata", {}).get("deletionTimestamp")
            or found.get("status", {}).get("phase") == "Terminating"
        ):
            raise errors.StatusError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
                {
                    "name": namespace,
                    "kind": "namespaces",
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def rest_for(self, resource: Resource) -> ResourceREST:
        return self.rest[(resource.group, resource.version, resource.name)]

    async def run_caches(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for cacher in self._cachers:
                tasks.create_task(cacher.run())

    async def caches_ready(self) -> bool:
        return all(c.ready.is_set() for c in self._cachers)

    # ---- entry point ----

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        info: routing.RequestInfo | None = None
        response = Response(500)
        try:
            if request.user is None:
                raise errors.unauthorized()
            info = routing.parse(request.method, request.path, request.query, self.registry)
            if info is None:
                response = await self._non_resource(request)
            else:
                response = await self._limited(info, request)
        except errors.StatusError as error:
            response = status_response(error)
        except StorageError as error:
            response = status_response(errors.StatusError(503, "ServiceUnavailable", f"storage: {error}"))
        finally:
            verb = info.verb if info is not None else request.method.lower()
            resource = info.resource if info is not None else None
            metrics.observe(
                verb,
                resource,
                info.subresource if info else None,
                response.status,
                time.perf_counter() - started,
            )
        return response

    async def _limited(self, info: routing.RequestInfo, request: Request) -> Response:
        if info.verb in LONG_RUNNING or info.subresource in KUBELET_SUBRESOURCES:
            return await self._resource(info, request)
        slots = self._write_slots if info.verb in MUTATING else self._read_slots
        if slots.locked():
            raise errors.too_many_requests("Too many requests, please try again later.", retry_after=1)
        async with slots:
            return await self._resource(info, request)

    # ---- non-resource paths ----

    async def _non_resource(self, request: Request) -> Response:
        path = "/" + request.path.strip("/")
        accept = request.headers.get("accept")
        if request.method not in ("GET", "HEAD"):
            raise routing.not_found()
        if path == "/version":
            return json_response(200, KUBERNETES_VERSION)
        if path in ("/healthz", "/livez", "/readyz"):
            return await self._health(path, request.query)
        if path == "/metrics":
            for (group, _, name), cacher in self.cachers.items():
                metrics.STORAGE_OBJECTS.labels(f"{name}.{group}" if group else name).set(len(cacher.objects))
            return Response(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        if path in ("/api", "/apis") and discovery.wants_aggregated(accept):
            document = discovery.aggregated(self.registry, legacy_core=path == "/api")
            return Response(200, codec.dumps(document), discovery.AGGREGATED_CONTENT_TYPE)
        if path == "/api":
            address = f"{self.options.advertise_address}:{self.options.secure_port}"
            return json_response(200, discovery.api_versions(address))
        if path == "/apis":
            return json_response(200, discovery.api_group_list(self.registry))
        parts = path.strip("/").split("/")
        found: dict[str, Any] | None
        if parts[0] == "api" and len(parts) == 2:
            found = discovery.api_resource_list(self.registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            found = discovery.api_group(self.registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            found = discovery.api_resource_list(self.registry, parts[1], parts[2])
        elif path == "/openapi/v3":
            found = openapi.v3_index(self.registry)
        elif parts[:2] == ["openapi", "v3"] and len(parts) >= 3:
            v3 = openapi.v3(self.registry, "/".join(parts[2:]))
            if v3 is None:
                raise routing.not_found()
            return Response(200, v3.body, codec.JSON, {"ETag": f'"{v3.hash}"'})
        else:
            found = None
        if found is None:
            raise routing.not_found()
        return json_response(200, found, accept)

    async def _health(self, path: str, query_params: Mapping[str, str]) -> Response:
        checks = {"ping": True, "etcd": True}
        if path != "/livez":
            try:
                await asyncio.wait_for(self.store.current_revision(), 2.0)
            except (TimeoutError, StorageError):
                checks["etcd"] = False
        if path == "/readyz":
            checks["informer-sync"] = await self.caches_ready()
        healthy = all(checks.values())
        if "verbose" in query_params:
            lines = [
                f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}" for name, ok in checks.items()
            ]
            lines.append(f"{path.strip('/')} check {'passed' if healthy else 'failed'}")
            text = "\n".join(lines) + "\n"
        else:
            text = "ok" if healthy else "unhealthy"
        return Response(200 if healthy else 500, text.encode(), "text/plain; charset=utf-8")

    # ---- resources ----

    async def _resource(self, info: routing.RequestInfo, request: Request) -> Response:
        """Writes first note the request's field manager and fieldValidation (contextvars read by
        the REST layer) and send back the Warning headers decoding produced."""
        rest = self.rest_for(info.resource)
        q = request.query
        if info.resource.namespaced and info.namespace is None and info.verb not in ("list", "watch"):
            raise routing.not_found()
        if info.verb in ("create", "update", "patch"):
            manager = q.get("fieldManager") or managedfields.default_manager(
                request.headers.get("user-agent", "")
            )
            managedfields.validate_options(_OPTIONS_KIND[info.verb], manager)
            rest_module.FIELD_MANAGER.set(manager)
            rest_module.FIELD_VALIDATION.set(q.get("fieldValidation", ""))
            warnings: list[str] = []
            rest_module.WARNINGS.set(warnings)
            response = await self._serve_verb(rest, info, request)
            if warnings:  # RFC 7234 warn-code 299, as kube-apiserver sends them
                quoted = ['299 - "' + warning.replace('"', '\\"') + '"' for warning in warnings]
                response.headers["Warning"] = ", ".join(quoted)
            return response
        return await self._serve_verb(rest, info, request)

    async def _serve_verb(self, rest: ResourceREST, info: routing.RequestInfo, request: Request) -> Response:
        accept = request.headers.get("accept")
        q = request.query
        namespace, name, sub = info.namespace, info.name, info.subresource
        if sub == "scale":
            return await self._scale(rest, info, request, query.dry_run(q))
        if sub == "token":
            return await self._token(rest, info, request)
        if sub in ("binding", "eviction", "approval"):
            return await self._pod_or_csr_subresource(rest, info, request, query.dry_run(q))
        if sub in KUBELET_SUBRESOURCES:
            return await self.kubelet.serve_http(info, request)
        if sub not in (None, "status", "finalize"):
            raise errors.method_not_supported(f"{info.resource.name}/{sub}", info.verb)
        if info.verb == "list":
            listed = await rest.list(namespace, query.list_options(info.resource, q))
            return self._maybe_table(
                info.resource, listed["items"], listed["metadata"], accept, q
            ) or json_response(200, listed, accept)
        if info.verb == "watch":
            events = rest.watch(namespace, query.list_options(info.resource, q))
            if tables.parse_table_accept(accept or ""):
                events = self._table_events(info.resource, events, accept or "", q)
            return Response(200, stream=_ndjson(events), content_type=codec.JSON)
        assert name is not None or info.verb in ("create", "deletecollection")
        dry_run = query.dry_run(q)
        if info.verb == "get":
            found = await rest.get(namespace, name or "", resource_version=q.get("resourceVersion", ""))
            return self._maybe_table(info.resource, [found], {}, accept, q) or json_response(
                200, found, accept
            )
        if info.verb == "create":
            if name is not None:
                raise errors.method_not_supported(info.resource.name, "create")
            body = codec.decode(request.body, request.headers.get("content-type"))
            return json_response(201, await rest.create(namespace, body, dry_run=dry_run), accept)
        if info.verb == "update":
            body = codec.decode(request.body, request.headers.get("content-type"))
            if sub == "finalize":
                return json_response(200, await self._finalize(rest, name or "", body, dry_run), accept)
            code, stored = await rest.update(namespace, name or "", body, subresource=sub, dry_run=dry_run)
            return json_response(code, stored, accept)
        if info.verb == "patch":
            return await self._patch(rest, info, request, dry_run)
        if info.verb == "delete":
            options = query.delete_options(q, _delete_options_body(request))
            deleted, obj = await rest.delete(namespace, name or "", options, dry_run=dry_run)
            if deleted and info.resource.kind != "Pod":
                return json_response(200, _success(info.resource, obj), accept)
            return json_response(200, obj, accept)
        if info.verb == "deletecollection":
            options = query.delete_options(q, _delete_options_body(request))
            listed = await rest.delete_collection(
                namespace, query.list_options(info.resource, q), options, dry_run=dry_run
            )
            return json_response(200, listed, accept)
        raise errors.method_not_supported(info.resource.name, info.verb)

    async def _scale(
        self, rest: ResourceREST, info: routing.RequestInfo, request: Request, dry_run: bool
    ) -> Response:
        accept = request.headers.get("accept")
        namespace, name = info.namespace, info.name or ""
        if info.verb == "get":
            return json_response(200, scale.to_scale(await rest.get(namespace, name)), accept)
        if info.verb == "update":
            wanted = codec.decode(request.body, request.headers.get("content-type"))

            def change(parent: dict[str, Any]) -> dict[str, Any]:
                return scale.with_replicas(parent, wanted)

        elif info.verb == "patch":
            content_type = codec.media_type(request.headers.get("content-type"))
            node = schema.for_kind("autoscaling", "v1", "Scale")

            def change(parent: dict[str, Any]) -> dict[str, Any]:
                patched = patches.apply_patch(scale.to_scale(parent), request.body, content_type, node)
                return scale.with_replicas(parent, patched)

        else:
            raise errors.method_not_supported(f"{info.resource.name}/scale", info.verb)
        updated = await rest.patch(namespace, name, change, dry_run=dry_run)
        return json_response(200, scale.to_scale(updated), accept)

    async def _pod_or_csr_subresource(
        self, rest: ResourceREST, info: routing.RequestInfo, request: Request, dry_run: bool
    ) -> Response:
        namespace, name, sub = info.namespace or "", info.name or "", info.subresource
        accept = request.headers.get("accept")
        if sub == "approval" and info.verb == "get":
            return json_response(200, await rest.get(None, name), accept)
        if (sub, info.verb) not in (("binding", "create"), ("eviction", "create"), ("approval", "update")):
            raise errors.method_not_supported(f"{info.resource.name}/{sub}", info.verb)
        body = codec.decode(request.body, request.headers.get("content-type"))
        if sub == "binding":
            return json_response(201, await pods.bind(rest, namespace, name, body, dry_run=dry_run), accept)
        if sub == "eviction":
            budgets = self.rest[("policy", "v1", "poddisruptionbudgets")]
            return json_response(
                201, await pods.evict(rest, budgets, namespace, name, body, dry_run=dry_run), accept
            )
        approved = await rest.patch(
            None, name, lambda csr: pods.approve(csr, body), subresource="status", dry_run=dry_run
        )
        return json_response(200, approved, accept)

    async def _token(self, rest: ResourceREST, info: routing.RequestInfo, request: Request) -> Response:
        if info.verb != "create":
            raise errors.method_not_supported("serviceaccounts/token", info.verb)
        if self.tokens is None:
            raise errors.StatusError(
                503, "ServiceUnavailable", "no --service-account-signing-key-file: tokens cannot be issued"
            )
        service_account = await rest.get(info.namespace, info.name or "")
        body = codec.decode(request.body, request.headers.get("content-type"))
        answered = self.tokens.token_request(service_account, body, self.clock())
        return json_response(201, answered, request.headers.get("accept"))

    async def _finalize(
        self, rest: ResourceREST, name: str, body: dict[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        finalizers = list((body.get("spec") or {}).get("finalizers") or [])

        def change(current: dict[str, Any]) -> dict[str, Any]:
            current.setdefault("spec", {})["finalizers"] = finalizers
            return current

        return await rest.patch(None, name, change, dry_run=dry_run)

    async def _patch(
        self, rest: ResourceREST, info: routing.RequestInfo, request: Request, dry_run: bool
    ) -> Response:
        content_type = codec.media_type(request.headers.get("content-type"))
        node = schema.for_kind(info.resource.group, info.resource.version, info.resource.kind)
        accept = request.headers.get("accept")
        if content_type == patches.APPLY_PATCH:
            return await self._server_side_apply(rest, info, request, node, dry_run)

        def apply(current: dict[str, Any]) -> dict[str, Any]:
            return patches.apply_patch(current, request.body, content_type, node)

        patched = await rest.patch(
            info.namespace, info.name or "", apply, subresource=info.subresource, dry_run=dry_run
        )
        return json_response(200, patched, accept)

    async def _server_side_apply(
        self,
        rest: ResourceREST,
        info: routing.RequestInfo,
        request: Request,
        node: schema.Node | None,
        dry_run: bool,
    ) -> Response:
        """`kubectl apply --server-side`: create (201) when absent, else merge with field ownership."""
        q = request.query
        manager = q.get("fieldManager", "")
        force = q.get("force", "").lower() in ("true", "1")
        managedfields.validate_options("PatchOptions", manager, apply=True, force=force)
        applied = codec.decode(request.body, codec.YAML)  # the body is YAML or JSON (JSON is YAML)
        now = strategy.timestamp(self.clock())
        name, subresource = info.name or "", info.subresource or ""

        def merge(current: dict[str, Any] | None) -> dict[str, Any]:
            return apply.server_side_apply(
                current,
                applied,
                manager=manager,
                force=force,
                schema_node=node,
                now=now,
                subresource=subresource,
            )

        token = rest_module.FIELD_MANAGER.set(None)  # the apply keeps its own books
        try:
            try:
                patched = await rest.patch(
                    info.namespace, name, merge, subresource=info.subresource, dry_run=dry_run
                )
            except errors.StatusError as error:
                if error.code != 404 or info.subresource is not None:
                    raise
                created = await rest.create(info.namespace, merge(None), dry_run=dry_run)
                return json_response(201, created, request.headers.get("accept"))
        finally:
            rest_module.FIELD_MANAGER.reset(token)
        return json_response(200, patched, request.headers.get("accept"))

    async def _table_events(
        self, resource: Resource, events: AsyncIterator[dict[str, Any]], accept: str, q: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """A watch for `kubectl get -w`: each object as a one-row Table, headers only in the first."""
        include = tables.include_object_option(q.get("includeObject"))
        version = tables.table_api_version(accept) or "meta.k8s.io/v1"
        first = True
        async for event in events:
            if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                obj = event["object"]
                rv = obj.get("metadata", {}).get("resourceVersion", "")
                table = tables.table(
                    resource.name,
                    resource.group,
                    [obj],
                    now=self.clock(),
                    include_object=include,
                    list_meta={"resourceVersion": rv},
                    api_version=version,
                    no_headers=not first,
                )
                event = {"type": event["type"], "object": table}
                first = False
            yield event

    def _maybe_table(
        self,
        resource: Resource,
        items: list[dict[str, Any]],
        list_meta: dict[str, Any],
        accept: str | None,
        q: Mapping[str, str],
    ) -> Response | None:
        if not tables.parse_table_accept(accept or ""):
            return None
        if not list_meta and len(items) == 1:
            list_meta = {"resourceVersion": items[0].get("metadata", {}).get("resourceVersion", "")}
        table = tables.table(
            resource.name,
            resource.group,
            items,
            now=self.clock(),
            include_object=tables.include_object_option(q.get("includeObject")),
            list_meta=list_meta,
            api_version=tables.table_api_version(accept or "") or "meta.k8s.io/v1",
        )
        return json_response(200, table)


def _delete_options_body(request: Request) -> dict[str, Any] | None:
    """The DeleteOptions a DELETE may carry (kubectl sends one; curl users often none)."""
    return codec.decode(request.body, request.headers.get("content-type")) if request.body.strip() else None


def _success(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    details: dict[str, Any] = {"name": meta.get("name", ""), "kind": resource.name}
    if resource.group:
        details["group"] = resource.group
    if meta.get("uid"):
        details["uid"] = meta["uid"]
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


async def _ndjson(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for event in events:
        metrics.WATCH_EVENTS.inc()
        yield codec.dumps(event) + b"\n"

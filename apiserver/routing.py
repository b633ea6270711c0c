"""Which resource, scope, name, subresource and verb a request URL names (upstream's
RequestInfoFactory): `/api/v1/namespaces/default/pods/web/status`, `/apis/apps/v1/deployments`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeapi import errors
from kubeapi.resources import Registry, Resource

NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class RequestInfo:
    verb: str  # get list watch create update patch delete deletecollection
    resource: Resource
    namespace: str | None  # None: cluster-scoped, or a namespaced collection across namespaces
    name: str | None
    subresource: str | None


def not_found() -> errors.StatusError:
    return errors.StatusError(404, "NotFound", "the server could not find the requested resource")


def parse(method: str, path: str, query: Mapping[str, str], registry: Registry) -> RequestInfo | None:
    """The request's target, or None when the path is not a resource path (discovery, /version)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    resource = registry.get(group, version, rest[0])
    if resource is None or (len(rest) > 3 and rest[2] != "proxy"):  # proxy/{path} may go deeper
        raise not_found()
    if namespace is not None and not resource.namespaced:
        raise not_found()
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) >= 3 else None
    if subresource is not None and resource.subresource(subresource) is None:
        raise not_found()
    if resource.name == "namespaces" and name is not None:
        namespace = None  # /api/v1/namespaces/NAME is the Namespace itself
    return RequestInfo(_verb(method, name, query), resource, namespace, name, subresource)


def _verb(method: str, name: str | None, query: Mapping[str, str]) -> str:
    watching = query.get("watch", "").lower() in ("true", "1")
    if method in ("GET", "HEAD"):
        if name is None:
            return "watch" if watching else "list"
        return "get"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method == "DELETE":
        return "delete" if name is not None else "deletecollection"
    if method not in verbs:
        raise errors.StatusError(405, "MethodNotAllowed", f"the server does not allow the method {method}")
    return verbs[method]

"""Discovery: the documents from which clients learn which resources exist, their kinds, scopes, verbs,
short names and categories, before they can turn `kubectl get deploy` into a URL.

Both forms kube-apiserver serves, as pure functions of a `Registry`: the legacy documents (`/api`
APIVersions, `/apis` APIGroupList, `/apis/<group>` APIGroup, `/api/v1` and `/apis/<group>/<version>`
APIResourceList) and the aggregated `apidiscovery.k8s.io/v2` APIGroupDiscoveryList, which kubectl asks
for first because it answers in two requests what the legacy form needs one per group-version for.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kubeapi.resources import Registry, Resource, Subresource

JSON = dict[str, Any]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
"""The Content-Type of an aggregated answer: client-go reads the body as APIGroupDiscoveryList only
when the response says so, and as legacy discovery otherwise."""

_AGGREGATED_PARAMS = {"g": "apidiscovery.k8s.io", "v": "v2", "as": "APIGroupDiscoveryList"}

# Connect subresources take an options kind named after the parent: pods/exec PodExecOptions,
# nodes/proxy NodeProxyOptions, services/proxy ServiceProxyOptions (as upstream's discovery says).
_CONNECT_OPTIONS = {
    "attach": "AttachOptions",
    "exec": "ExecOptions",
    "portforward": "PortForwardOptions",
    "proxy": "ProxyOptions",
}


def is_connect(sub: Subresource) -> bool:
    """Whether a subresource is a connection (exec, attach, portforward, proxy) rather than an object."""
    return sub.name in _CONNECT_OPTIONS


def subresource_kind(resource: Resource, sub: Subresource) -> tuple[str, str, str]:
    """The group, version and kind upstream's discovery gives a subresource: its own when it has one
    (Scale, Eviction, Binding, TokenRequest), the connect options kind for connections, else the
    parent's (status, log, ephemeralcontainers, finalize, approval)."""
    if sub.kind is not None:
        group = resource.group if sub.group is None else sub.group
        return group, sub.version or resource.version, sub.kind
    if is_connect(sub):
        return resource.group, resource.version, resource.kind + _CONNECT_OPTIONS[sub.name]
    return resource.group, resource.version, resource.kind


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Upstream's opaque storage version hash: base64 of the first 8 bytes of sha256("group/version/kind").
    Clients only compare it (the storage version migrator watches it change)."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def wants_aggregated(accept: str | None) -> bool:
    """Whether an Accept header lists the v2 aggregated form as JSON. kubectl 1.32 sends
    `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`, then the v2beta1 form, then
    plain `application/json`. A client listing only v2beta1 gets the legacy form: it predates v2 and
    would not read a v2 answer."""
    for media_range in (accept or "").split(","):
        media_type, *params = (part.strip() for part in media_range.split(";"))
        values = dict(param.partition("=")[::2] for param in params)
        if media_type.lower() == "application/json" and all(
            values.get(key) == value for key, value in _AGGREGATED_PARAMS.items()
        ):
            return True
    return False


def api_versions(server_address: str) -> JSON:
    """`/api`: the core group's versions, and the address clients should use (host:port)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_body(group: str, versions: tuple[str, ...]) -> JSON:
    listed = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(registry: Registry) -> JSON:
    """`/apis`: every named group (not the core group, which `/api` lists), preferred version first."""
    groups = [_group_body(group, versions) for group, versions in registry.group_versions().items() if group]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> JSON | None:
    """`/apis/<group>`, or None for a group the registry does not serve."""
    versions = registry.group_versions().get(group) if group else None
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_body(group, versions)}


def _resource_entry(resource: Resource) -> JSON:
    entry: JSON = {
        "name": resource.name,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    entry["storageVersionHash"] = storage_version_hash(resource.group, resource.version, resource.kind)
    return entry


def _subresource_entry(resource: Resource, sub: Subresource) -> JSON:
    """`pods/eviction` and the like: group and version appear only where they differ from the list's."""
    group, version, kind = subresource_kind(resource, sub)
    entry: JSON = {
        "name": f"{resource.name}/{sub.name}",
        "singularName": "",
        "namespaced": resource.namespaced,
    }
    if (group, version) != (resource.group, resource.version):
        entry |= {"group": group, "version": version}
    return entry | {"kind": kind, "verbs": list(sub.verbs)}


def api_resource_list(registry: Registry, group: str, version: str) -> JSON | None:
    """`/api/v1` or `/apis/<group>/<version>`: resources and subresources as separate entries sorted
    by name (as kube-apiserver's installer registers them), or None for an unknown group-version."""
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    entries = [_resource_entry(r) for r in resources]
    entries += [_subresource_entry(r, sub) for r in resources for sub in r.subresources]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": sorted(entries, key=lambda entry: str(entry["name"])),
    }


def _gvk(group: str, version: str, kind: str) -> JSON:
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(resource: Resource) -> JSON:
    entry: JSON = {
        "resource": resource.name,
        "responseKind": _gvk(resource.group, resource.version, resource.kind),
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    if resource.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": _gvk(*subresource_kind(resource, sub)),
                "verbs": list(sub.verbs),
            }
            for sub in sorted(resource.subresources, key=lambda sub: sub.name)
        ]
    return entry


def _group_discovery(registry: Registry, group: str, versions: tuple[str, ...]) -> JSON:
    listed = [
        {
            "version": version,
            "resources": [
                _resource_discovery(r)
                for r in sorted(registry.in_group_version(group, version), key=lambda r: r.name)
            ],
            "freshness": "Current",
        }
        for version in versions
    ]
    return {"metadata": {"name": group} if group else {}, "versions": listed}


def aggregated(registry: Registry, legacy_core: bool) -> JSON:
    """The apidiscovery.k8s.io/v2 APIGroupDiscoveryList: for `/api` (legacy_core: the core group
    alone) or for `/apis` (every named group, in the registry's order, which is their priority)."""
    items = [
        _group_discovery(registry, group, versions)
        for group, versions in registry.group_versions().items()
        if (group == "") == legacy_core
    ]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }

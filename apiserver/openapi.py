"""OpenAPI v3: the `/openapi/v3` index (one document per group-version, each URL carrying a hash of its
document so that clients cache it until it changes) and those documents, built from the registry and
the checked-in v1.32 definitions.

kubectl reads them for more than `explain`: `apply` and `create -f` stop before sending anything
unless the document of the object's group-version has a PATCH operation for its kind
(`x-kubernetes-group-version-kind`) with a `fieldValidation` query parameter (cli-runtime's
QueryParamVerifierV3; the server then validates, kubectl sends `fieldValidation=Strict`), and
client-side apply reads the strategic-merge-patch extensions of the schemas. The shapes follow
upstream's api/openapi-spec/v3: operation ids, tags and `x-kubernetes-action`s as kube-apiserver's
installer names them, and a `$ref` with sibling keys wrapped in `allOf` (OpenAPI 3.0 ignores a
`$ref`'s siblings, which would lose descriptions and patch extensions).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from apiserver.discovery import is_connect, subresource_kind
from kubeapi import schema
from kubeapi.resources import Registry, Resource, Subresource

JSON = dict[str, Any]
GVK = tuple[str, str, str]

_SCHEMAS = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_STATUS = _META + "Status"
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_METHODS = {"get": "get", "create": "post", "update": "put", "patch": "patch", "delete": "delete"}

# Upstream's v3 writes these two as unions where swagger (and so our definitions) says "string".
_UNIONS: Mapping[str, JSON] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}


def _query(name: str, kind: str, description: str) -> JSON:
    return {"name": name, "in": "query", "description": description, "schema": {"type": kind}}


def _in_path(name: str, description: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_NAMESPACE = _in_path("namespace", "object name and auth scope, such as for teams and projects")
_PRETTY = _query("pretty", "string", "If 'true', then the output is pretty printed.")
_DRY_RUN = _query(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. Valid values: All.",
)
_WRITE = (
    _DRY_RUN,
    _query(
        "fieldManager", "string", "fieldManager is a name associated with the actor making these changes."
    ),
    _query(
        "fieldValidation",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
        "containing unknown or duplicate fields: Ignore, Warn (the default) or Strict.",
    ),
)
_FORCE = _query(
    "force",
    "boolean",
    'Force "forces" Apply requests: the caller re-acquires fields owned by other managers.',
)
_SELECT = (
    _query("continue", "string", "The continue token of a previous list call, to get the next chunk."),
    _query("fieldSelector", "string", "A selector to restrict the returned objects by their fields."),
    _query("labelSelector", "string", "A selector to restrict the returned objects by their labels."),
    _query(
        "limit", "integer", "The maximum number of objects to return; more remain if the list has a continue."
    ),
    _query(
        "resourceVersion", "string", "A constraint on what resource versions a request may be served from."
    ),
    _query("resourceVersionMatch", "string", "How resourceVersion is applied to list calls."),
    _query(
        "sendInitialEvents", "boolean", "Start a watch with events for the current state, then a BOOKMARK."
    ),
    _query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
)
_LIST = (
    _query("allowWatchBookmarks", "boolean", 'Requests watch events with type "BOOKMARK".'),
    *_SELECT,
    _query(
        "watch", "boolean", "Watch for changes and return them as a stream of add, update and remove events."
    ),
)
_DELETE = (
    _DRY_RUN,
    _query("gracePeriodSeconds", "integer", "Seconds before the object should be deleted; zero means now."),
    _query(
        "ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "Delete an unreadable object (unsafe)."
    ),
    _query("orphanDependents", "boolean", "Deprecated: use propagationPolicy."),
    _query(
        "propagationPolicy",
        "string",
        "Whether and how dependents are deleted: Orphan, Background or Foreground.",
    ),
)
_STREAMS = (
    _query("container", "string", "The container in the pod (optional when the pod has one)."),
    _query("stderr", "boolean", "Redirect the standard error stream of the pod."),
    _query("stdin", "boolean", "Redirect the standard input stream of the pod."),
    _query("stdout", "boolean", "Redirect the standard output stream of the pod."),
    _query("tty", "boolean", "Allocate a terminal."),
)
_CONNECT = {
    "attach": _STREAMS,
    "exec": (_query("command", "string", "The command to run, one argument per parameter."), *_STREAMS),
    "portforward": (_query("ports", "integer", "The ports to forward."),),
    "proxy": (_query("path", "string", "The path of the request to proxy."),),
}
_LOG = (
    _query("container", "string", "The container to stream logs of (optional when the pod has one)."),
    _query("follow", "boolean", "Follow the log stream of the pod."),
    _query("insecureSkipTLSVerifyBackend", "boolean", "Do not verify the kubelet's serving certificate."),
    _query(
        "limitBytes", "integer", "The number of bytes to read from the server before terminating the output."
    ),
    _query("previous", "boolean", "Return the logs of the previously terminated container."),
    _query("sinceSeconds", "integer", "Only logs newer than this many seconds."),
    _query("tailLines", "integer", "The number of lines from the end of the logs to show."),
    _query("timestamps", "boolean", "Prefix each line of log output with an RFC3339 timestamp."),
)


def _id_part(text: str, capitalize: bool = True) -> str:
    """kube-openapi's ToValidOperationID: drops what is not a letter, digit or `_` and capitalizes the
    letter after it ("rbac.authorization" -> "RbacAuthorization")."""
    out = []
    for i, char in enumerate(text):
        if char.isalpha() or char == "_" or (i and char.isdigit()):
            out.append(char.upper() if capitalize else char)
            capitalize = False
        else:
            capitalize = True
    return "".join(out)


@dataclass(frozen=True)
class _Api:
    """Where a group-version's operations live and what upstream calls them."""

    group: str
    version: str

    @property
    def url(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def short(self) -> str:
        return self.group.removesuffix(".k8s.io") or "core"

    @property
    def name(self) -> str:
        """The part of an operation id after the verb: "CoreV1", "AppsV1", "RbacAuthorizationV1"."""
        return _id_part(self.short) + _id_part(self.version)

    @property
    def tag(self) -> str:
        """ "core_v1", "rbacAuthorization_v1"."""
        return f"{_id_part(self.short, False)}_{_id_part(self.version, False)}"


def _ref(name: str) -> JSON:
    return {"$ref": _SCHEMAS + name}


def _kind_ref(group: str, version: str, kind: str) -> str:
    name = schema.definition_name(group, version, kind)
    if name is None:
        raise LookupError(f"no OpenAPI definition for {group}/{version} {kind}")
    return name


def _responses(schema_node: JSON, *codes: str, media: Iterable[str] = ("application/json",)) -> JSON:
    described = {"200": "OK", "201": "Created", "202": "Accepted"}
    content = {media_type: {"schema": schema_node} for media_type in media}
    return {code: {"description": described[code], "content": content} for code in codes or ("200",)}


def _body(name: str, media: Iterable[str] = ("*/*",)) -> JSON:
    return {"content": {media_type: {"schema": _ref(name)} for media_type in media}, "required": True}


_PATCH_BODY = _body(_META + "Patch", _PATCH_TYPES)
_DELETE_BODY = _body(_META + "DeleteOptions")


def _operation(
    tag: str,
    op_id: str,
    description: str,
    responses: JSON,
    action: str | None = None,
    gvk: GVK | None = None,
    parameters: Iterable[JSON] = (),
    body: JSON | None = None,
) -> JSON:
    op: JSON = {"description": description, "operationId": op_id, "tags": [tag]}
    if parameters := list(parameters):
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    op["responses"] = responses
    if action is not None and gvk is not None:
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = dict(zip(("group", "version", "kind"), gvk, strict=True))
    return op


def _object_operations(api: _Api, gvk: GVK, verbs: Iterable[str], named: str, what: str) -> JSON:
    """GET, PUT, PATCH, POST and DELETE of one object (or object-valued subresource), those its verbs
    allow; `named` is the operation id after the group-version ("NamespacedPodStatus")."""
    ref = _kind_ref(*gvk)
    # verb: operation id verb, description verb, response codes, x-kubernetes-action, parameters, body
    table: dict[str, tuple[str, str, tuple[str, ...], str, tuple[JSON, ...], JSON | None]] = {
        "get": ("read", "read", ("200",), "get", (), None),
        "update": ("replace", "replace", ("200", "201"), "put", _WRITE, _body(ref)),
        "patch": ("patch", "partially update", ("200", "201"), "patch", (*_WRITE, _FORCE), _PATCH_BODY),
        "create": ("create", "create", ("200", "201", "202"), "post", _WRITE, _body(ref)),
        "delete": ("delete", "delete", ("200", "202"), "delete", _DELETE, _DELETE_BODY),
    }  # fmt: skip
    operations: JSON = {}
    for verb in verbs:
        if verb in table:
            id_verb, doing, codes, action, parameters, body = table[verb]
            returns = _ref(_STATUS if verb == "delete" else ref)
            op_id = f"{id_verb}{api.name}{named}"
            operations[_METHODS[verb]] = _operation(
                api.tag, op_id, f"{doing} {what}", _responses(returns, *codes), action, gvk, parameters, body
            )
    return operations


def _subresource_paths(
    api: _Api, resource: Resource, sub: Subresource, path: str
) -> Iterator[tuple[str, JSON]]:
    gvk = subresource_kind(resource, sub)
    named = ("Namespaced" if resource.namespaced else "") + resource.kind + sub.name.capitalize()
    parameters = [_in_path("name", f"name of the {gvk[2]}")] + ([_NAMESPACE] if resource.namespaced else [])
    if is_connect(sub):
        variants = [("", path, parameters)]
        if sub.name == "proxy":  # and the same with the path to proxy to in the URL
            variants.append(
                ("WithPath", path + "/{path}", [*parameters, _in_path("path", "path to the resource")])
            )
        text = _responses({"type": "string"}, media=("*/*",))
        for suffix, at, path_parameters in variants:
            operations = {
                _METHODS[verb]: _operation(
                    api.tag,
                    f"connect{api.name}{_METHODS[verb].title()}{named}{suffix}",
                    f"connect {_METHODS[verb].upper()} requests to {sub.name} of {resource.kind}",
                    text,
                    "connect",
                    gvk,
                    _CONNECT[sub.name],
                )
                for verb in sub.verbs
            }
            yield at, {**operations, "parameters": path_parameters}
    elif sub.name == "log":
        log = _operation(
            api.tag, f"read{api.name}{named}", f"read log of the specified {resource.kind}",
            _responses({"type": "string"}, media=("text/plain",)), "get", gvk, _LOG,
        )  # fmt: skip
        yield path, {"get": log, "parameters": [*parameters, _PRETTY]}
    else:
        what = f"{sub.name} of the specified {resource.kind}"
        yield (
            path,
            {**_object_operations(api, gvk, sub.verbs, named, what), "parameters": [*parameters, _PRETTY]},
        )


def _resource_paths(resource: Resource) -> Iterator[tuple[str, JSON]]:
    """The collection, the object and its subresources, and (for a namespaced resource) the list
    across namespaces, as kube-apiserver's installer registers them."""
    api = _Api(resource.group, resource.version)
    gvk = (resource.group, resource.version, resource.kind)
    scope = "Namespaced" if resource.namespaced else ""
    scoped = [_NAMESPACE] if resource.namespaced else []
    collection_path = f"{api.url}{'/namespaces/{namespace}' if resource.namespaced else ''}/{resource.name}"
    listed = _responses(
        _ref(_kind_ref(resource.group, resource.version, resource.list_kind)),
        media=("application/json", "application/json;stream=watch"),
    )
    collection: JSON = {}
    if "list" in resource.verbs:
        op_id = f"list{api.name}{scope}{resource.kind}"
        doing = f"list or watch objects of kind {resource.kind}"
        collection["get"] = _operation(api.tag, op_id, doing, listed, "list", gvk, _LIST)
    if "deletecollection" in resource.verbs:
        op_id = f"delete{api.name}Collection{scope}{resource.kind}"
        deleted = _responses(_ref(_STATUS))
        collection["delete"] = _operation(
            api.tag, op_id, f"delete collection of {resource.kind}", deleted, "deletecollection", gvk,
            (*_DELETE, *_SELECT), _DELETE_BODY,
        )  # fmt: skip
    creates = [verb for verb in resource.verbs if verb == "create"]
    collection |= _object_operations(api, gvk, creates, scope + resource.kind, f"a {resource.kind}")
    if collection:
        yield collection_path, {**collection, "parameters": [*scoped, _PRETTY]}

    item_path = collection_path + "/{name}"
    verbs = [verb for verb in resource.verbs if verb != "create"]
    item = _object_operations(api, gvk, verbs, scope + resource.kind, f"the specified {resource.kind}")
    if item:
        named = _in_path("name", f"name of the {resource.kind}")
        yield item_path, {**item, "parameters": [named, *scoped, _PRETTY]}

    if resource.namespaced and "list" in resource.verbs:
        op_id = f"list{api.name}{resource.kind}ForAllNamespaces"
        everywhere = _operation(
            api.tag, op_id, f"list or watch objects of kind {resource.kind}", listed, "list", gvk, _LIST
        )
        yield f"{api.url}/{resource.name}", {"get": everywhere, "parameters": [_PRETTY]}
    for sub in resource.subresources:
        yield from _subresource_paths(api, resource, sub, f"{item_path}/{sub.name}")


def _refs(node: object) -> Iterator[str]:
    """The names every `$ref` under a JSON node points at (either form: swagger's or v3's; a property
    named "$ref", as JSONSchemaProps has, is a schema, not a reference)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _convert(node: Mapping[str, Any]) -> JSON:
    """A swagger schema node in OpenAPI 3 form: refs to `#/components/schemas/`, a ref with siblings
    wrapped in `allOf`, and no `enum` (our definitions' only enums are the apiVersion and kind values
    the JSON Schema conversion added; upstream's schemas have none there)."""
    out: JSON = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = _SCHEMAS + value.rsplit("/", 1)[1]
        elif key == "properties":
            out[key] = {name: _convert(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = _convert(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_convert(child) for child in value]
        elif key != "enum":
            out[key] = value
    if "$ref" in out and len(out) > 1:
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


@functools.cache
def _component(name: str) -> JSON:
    """One definition in v3 form, converted once and shared by every document (read-only)."""
    converted = _convert(schema.definitions()[name])
    if name in _UNIONS:
        converted = {key: value for key, value in converted.items() if key not in ("type", "format")}
        converted |= _UNIONS[name]
    return converted


def _document(paths: JSON) -> JSON:
    """A document with the schemas its operations name, and everything those reference, transitively."""
    names: set[str] = set()
    pending = list(_refs(paths))
    while pending:
        if (name := pending.pop()) not in names:
            names.add(name)
            pending += _refs(schema.definitions()[name])
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": {name: _component(name) for name in sorted(names)}},
    }


def _discovery_document(tag: str, url: str, op_id: str, kind: str) -> JSON:
    get = _operation(tag, op_id, "get available API versions", _responses(_ref(_META + kind)))
    return _document({url: {"get": get}})


def _group_version_document(registry: Registry, group: str, version: str) -> JSON:
    api = _Api(group, version)
    resources = _responses(_ref(_META + "APIResourceList"))
    paths = {
        f"{api.url}/": {
            "get": _operation(api.tag, f"get{api.name}APIResources", "get available resources", resources)
        }
    }
    for resource in registry.in_group_version(group, version):
        paths.update(_resource_paths(resource))
    return _document(paths)


def _build(registry: Registry, path: str) -> JSON:
    match path.split("/"):
        case ["api"]:
            return _discovery_document("core", "/api/", "getCoreAPIVersions", "APIVersions")
        case ["apis"]:
            return _discovery_document("apis", "/apis/", "getAPIVersions", "APIGroupList")
        case ["apis", group]:
            short = _Api(group, "").short
            return _discovery_document(
                _id_part(short, False), f"/apis/{group}/", f"get{_id_part(short)}APIGroup", "APIGroup"
            )
        case ["api", version]:
            return _group_version_document(registry, "", version)
        case ["apis", group, version]:
            return _group_version_document(registry, group, version)
    raise LookupError(path)


@dataclass(frozen=True)
class V3Document:
    """One document as served: its JSON (what `/openapi/v3/<path>` answers) and the upper-case hex
    sha512 of that JSON (the `hash` query of its URL in the index, as upstream computes it)."""

    path: str  # the index key: "api/v1", "apis/apps/v1", "api", "apis", "apis/apps"
    content: JSON  # read-only: shared with every caller
    body: bytes
    hash: str


@functools.cache
def _index_paths(registry: Registry) -> tuple[str, ...]:
    paths = ["api", "apis"]
    for group, versions in registry.group_versions().items():
        if group:
            paths.append(f"apis/{group}")
        paths += [f"apis/{group}/{version}" if group else f"api/{version}" for version in versions]
    return tuple(paths)


@functools.cache
def _built(registry: Registry, path: str) -> V3Document:
    content = _build(registry, path)
    body = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return V3Document(path, content, body, hashlib.sha512(body).hexdigest().upper())


def v3(registry: Registry, path: str) -> V3Document | None:
    """The document at `/openapi/v3/<path>`, built on first use and kept (the core group's is over a
    megabyte), or None for a path the index does not list."""
    return _built(registry, path) if path in _index_paths(registry) else None


def v3_index(registry: Registry) -> JSON:
    """`/openapi/v3`: each document's path and its URL with the hash of its current content."""
    urls = {path: f"/openapi/v3/{path}?hash={_built(registry, path).hash}" for path in _index_paths(registry)}
    return {"paths": {path: {"serverRelativeURL": url} for path, url in urls.items()}}


def v3_document(registry: Registry, group: str, version: str) -> JSON | None:
    """The document of one group-version ("" is the core group), or None if the registry has none."""
    document = v3(registry, f"apis/{group}/{version}" if group else f"api/{version}")
    return None if document is None else document.content

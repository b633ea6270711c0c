"""OpenAPI v3 documents: the index, what kubectl's apply/create/explain look for, upstream's operation
ids and actions, and schemas in v3 form whose every reference resolves inside their document."""

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from apiserver import openapi
from kubeapi.resources import BUILTIN_REGISTRY, Registry, Resource

INDEX_PATHS = list(openapi.v3_index(BUILTIN_REGISTRY)["paths"])
META = "io.k8s.apimachinery.pkg.apis.meta.v1."


def document(group: str, version: str = "v1") -> dict[str, Any]:
    found = openapi.v3_document(BUILTIN_REGISTRY, group, version)
    assert found is not None
    return found


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def test_the_index_lists_every_group_version_with_the_hash_of_its_document() -> None:
    index = openapi.v3_index(BUILTIN_REGISTRY)["paths"]
    for group, versions in BUILTIN_REGISTRY.group_versions().items():
        for version in versions:
            assert (f"apis/{group}/{version}" if group else f"api/{version}") in index
    assert {"api", "apis", "apis/apps"} <= index.keys()
    for path, entry in index.items():
        served = openapi.v3(BUILTIN_REGISTRY, path)
        assert served is not None and json.loads(served.body) == served.content
        assert served.hash == hashlib.sha512(served.body).hexdigest().upper()
        assert entry == {"serverRelativeURL": f"/openapi/v3/{path}?hash={served.hash}"}


def test_documents_are_built_once_and_unknown_paths_have_none() -> None:
    assert openapi.v3_document(BUILTIN_REGISTRY, "apps", "v1") is openapi.v3_document(
        BUILTIN_REGISTRY, "apps", "v1"
    )
    assert openapi.v3_document(BUILTIN_REGISTRY, "apps", "v1beta1") is None
    for path in ("apis/example.com/v1", "api/v1/pods", "openapi", ""):
        assert openapi.v3(BUILTIN_REGISTRY, path) is None


@pytest.mark.parametrize("path", INDEX_PATHS)
def test_every_reference_resolves_inside_its_document(path: str) -> None:
    served = openapi.v3(BUILTIN_REGISTRY, path)
    assert served is not None and served.content["openapi"] == "3.0.0"
    schemas = served.content["components"]["schemas"]
    for ref in refs(served.content):
        assert (
            ref.startswith("#/components/schemas/") and ref.removeprefix("#/components/schemas/") in schemas
        )
    assert b"#/definitions/" not in served.body


def test_the_deployment_patch_is_what_kubectls_field_validation_check_looks_for() -> None:
    patch = document("apps")["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert (patch["operationId"], patch["x-kubernetes-action"]) == (
        "patchAppsV1NamespacedDeployment",
        "patch",
    )
    query = {p["name"] for p in patch["parameters"] if p["in"] == "query"}
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= query
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    }
    returned = patch["responses"]["200"]["content"]["application/json"]["schema"]
    assert returned == {"$ref": "#/components/schemas/io.k8s.api.apps.v1.Deployment"}


@pytest.mark.parametrize("resource", BUILTIN_REGISTRY.resources, ids=lambda r: f"{r.group}/{r.name}")
def test_every_patch_of_every_kind_takes_field_validation(resource: Resource) -> None:
    """kubectl checks the first PATCH operation it meets for the kind (in map order): all must do."""
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    patches = [
        op
        for _, method, op in operations(document(resource.group, resource.version))
        if method == "patch" and op["x-kubernetes-group-version-kind"] == gvk
    ]
    assert patches
    for op in patches:
        assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in op["parameters"])


PODS = "/api/v1/namespaces/{namespace}/pods"


@pytest.mark.parametrize(
    ("path", "method", "operation_id", "action"),
    [
        (PODS, "get", "listCoreV1NamespacedPod", "list"),
        (PODS, "post", "createCoreV1NamespacedPod", "post"),
        (PODS, "delete", "deleteCoreV1CollectionNamespacedPod", "deletecollection"),
        (PODS + "/{name}", "get", "readCoreV1NamespacedPod", "get"),
        (PODS + "/{name}", "put", "replaceCoreV1NamespacedPod", "put"),
        (PODS + "/{name}", "delete", "deleteCoreV1NamespacedPod", "delete"),
        ("/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list"),
        (PODS + "/{name}/status", "patch", "patchCoreV1NamespacedPodStatus", "patch"),
        (PODS + "/{name}/log", "get", "readCoreV1NamespacedPodLog", "get"),
        (PODS + "/{name}/exec", "get", "connectCoreV1GetNamespacedPodExec", "connect"),
        (PODS + "/{name}/exec", "post", "connectCoreV1PostNamespacedPodExec", "connect"),
        (PODS + "/{name}/eviction", "post", "createCoreV1NamespacedPodEviction", "post"),
        ("/api/v1/nodes/{name}/proxy/{path}", "get", "connectCoreV1GetNodeProxyWithPath", "connect"),
        ("/api/v1/namespaces/{name}", "get", "readCoreV1Namespace", "get"),
        ("/api/v1/namespaces/{name}/finalize", "put", "replaceCoreV1NamespaceFinalize", "put"),
        ("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "patch",
         "patchAppsV1NamespacedDeploymentScale", "patch"),
        ("/apis/rbac.authorization.k8s.io/v1/clusterroles", "get",
         "listRbacAuthorizationV1ClusterRole", "list"),
    ],
)  # fmt: skip
def test_operation_ids_and_actions_are_upstreams(
    path: str, method: str, operation_id: str, action: str
) -> None:
    group = path.split("/")[2] if path.startswith("/apis/") else ""
    op = document(group)["paths"][path][method]
    assert (op["operationId"], op["x-kubernetes-action"]) == (operation_id, action)


def test_subresource_operations_carry_the_kind_they_take() -> None:
    core, apps = document(""), document("apps")
    scale = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }
    exec_ = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["post"]
    assert exec_["x-kubernetes-group-version-kind"]["kind"] == "PodExecOptions"
    assert {p["name"] for p in exec_["parameters"]} >= {"command", "container", "stdin", "stdout", "tty"}
    status = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/status"]["get"]
    assert status["x-kubernetes-group-version-kind"]["kind"] == "Pod"
    assert apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["parameters"][
        0
    ] == {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "name of the Scale",
        "schema": {"type": "string"},
    }


def test_path_parameters_name_the_object_and_its_namespace() -> None:
    paths = document("")["paths"]

    def in_path(path: str) -> set[str]:
        return {p["name"] for p in paths[path]["parameters"] if p["in"] == "path"}

    assert in_path("/api/v1/namespaces/{namespace}/pods/{name}") == {"name", "namespace"}
    assert in_path("/api/v1/namespaces/{namespace}/pods") == {"namespace"}
    assert in_path("/api/v1/nodes/{name}") == {"name"}
    assert in_path("/api/v1/pods") == set()
    assert "/api/v1/nodes/{name}/proxy/{path}" in paths and "/api/v1/namespaces" in paths


def test_schemas_hold_the_kinds_of_the_operations_and_the_meta_types() -> None:
    core, apps = document("")["components"]["schemas"], document("apps")["components"]["schemas"]
    for name in (
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.apps.v1.DeploymentList",
        "io.k8s.api.autoscaling.v1.Scale",
    ):
        assert name in apps
    for kind in ("ObjectMeta", "Status", "DeleteOptions", "Patch", "APIResourceList", "Time"):
        assert META + kind in apps
    for name in (
        "io.k8s.api.policy.v1.Eviction",
        "io.k8s.api.core.v1.Binding",
        "io.k8s.api.authentication.v1.TokenRequest",
    ):
        assert name in core
    assert apps["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]


def test_schemas_are_in_v3_form_with_their_extensions() -> None:
    schemas = document("")["components"]["schemas"]
    pod = schemas["io.k8s.api.core.v1.Pod"]["properties"]
    assert pod["metadata"]["allOf"] == [{"$ref": f"#/components/schemas/{META}ObjectMeta"}]
    assert pod["metadata"]["description"].startswith("Standard object's metadata.")
    assert "enum" not in pod["apiVersion"] and pod["kind"]["type"] == "string"
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    assert (containers["x-kubernetes-patch-strategy"], containers["x-kubernetes-patch-merge-key"]) == (
        "merge",
        "name",
    )
    assert (containers["x-kubernetes-list-type"], containers["x-kubernetes-list-map-keys"]) == (
        "map",
        ["name"],
    )
    assert schemas["io.k8s.api.core.v1.PodSpec"]["required"] == ["containers"]
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    }
    quantity = schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    assert quantity["oneOf"] == [{"type": "string"}, {"type": "number"}] and "type" not in quantity


def test_a_resource_gets_the_operations_its_verbs_allow() -> None:
    leases = Resource("coordination.k8s.io", "v1", "leases", "Lease", True, verbs=("get", "list", "watch"))
    found = openapi.v3_document(Registry([leases]), "coordination.k8s.io", "v1")
    assert found is not None
    methods = {path: set(item) - {"parameters"} for path, item in found["paths"].items()}
    assert methods["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"] == {"get"}
    assert methods["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"] == {"get"}


def test_a_kind_without_a_definition_is_an_error_not_a_document_with_dangling_refs() -> None:
    widgets = Registry([Resource("example.com", "v1", "widgets", "Widget", True)])
    with pytest.raises(LookupError, match="Widget"):
        openapi.v3_document(widgets, "example.com", "v1")


def test_a_definition_with_a_property_named_ref_converts_whole() -> None:
    """JSONSchemaProps (CRD schemas) has properties named "$ref" and "enum": schemas, not keywords."""
    crds = Resource(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False
    )
    found = openapi.v3_document(Registry([crds]), "apiextensions.k8s.io", "v1")
    assert found is not None
    props = found["components"]["schemas"][
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
    ]
    assert props["properties"]["$ref"] == {"type": "string"} and "enum" in props["properties"]
    schemas = found["components"]["schemas"]
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs(found))

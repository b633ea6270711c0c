"""Discovery documents in both forms kubectl reads, with upstream's shapes, kinds and hashes."""

from typing import Any

import pytest

from apiserver import discovery
from kubeapi.resources import BUILTIN_REGISTRY

KUBECTL_1_32_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


def legacy_entries(group: str, version: str) -> dict[str, dict[str, Any]]:
    listed = discovery.api_resource_list(BUILTIN_REGISTRY, group, version)
    assert listed is not None
    return {entry["name"]: entry for entry in listed["resources"]}


def test_api_lists_the_core_version_and_where_to_reach_the_server() -> None:
    assert discovery.api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}],
    }


def test_apis_lists_every_named_group_with_its_preferred_version_but_not_the_core_group() -> None:
    listed = discovery.api_group_list(BUILTIN_REGISTRY)
    assert (listed["kind"], listed["apiVersion"]) == ("APIGroupList", "v1")
    groups = {group["name"]: group for group in listed["groups"]}
    assert "" not in groups and {"apps", "batch", "rbac.authorization.k8s.io"} <= groups.keys()
    assert groups["apps"]["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}


def test_a_group_document_exists_only_for_a_served_named_group() -> None:
    apps = discovery.api_group(BUILTIN_REGISTRY, "apps")
    assert apps is not None and (apps["kind"], apps["name"]) == ("APIGroup", "apps")
    assert discovery.api_group(BUILTIN_REGISTRY, "example.com") is None
    assert discovery.api_group(BUILTIN_REGISTRY, "") is None


def test_a_resource_entry_carries_what_kubectl_maps_names_and_short_names_with() -> None:
    pods = legacy_entries("", "v1")["pods"]
    assert pods == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"],
        "categories": ["all"],
        "storageVersionHash": "xPOwRZ+Yhw8=",  # as kube-apiserver v1.32 reports it
    }
    assert legacy_entries("", "v1")["configmaps"]["storageVersionHash"] == "qFsyl6wFWjQ="
    assert "categories" not in legacy_entries("", "v1")["configmaps"]


@pytest.mark.parametrize(
    ("group", "name", "expected"),
    [
        ("", "pods/status", {"kind": "Pod", "verbs": ["get", "patch", "update"]}),
        ("", "pods/log", {"kind": "Pod", "verbs": ["get"]}),
        ("", "pods/exec", {"kind": "PodExecOptions", "verbs": ["create", "get"]}),
        ("", "pods/attach", {"kind": "PodAttachOptions", "verbs": ["create", "get"]}),
        ("", "pods/portforward", {"kind": "PodPortForwardOptions", "verbs": ["create", "get"]}),
        ("", "pods/binding", {"kind": "Binding", "verbs": ["create"]}),
        ("", "pods/eviction", {"group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}),
        ("", "nodes/proxy", {"kind": "NodeProxyOptions"}),
        ("", "services/proxy", {"kind": "ServiceProxyOptions"}),
        (
            "",
            "serviceaccounts/token",
            {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"},
        ),
        ("", "namespaces/finalize", {"kind": "Namespace", "verbs": ["update"], "namespaced": False}),
        ("apps", "deployments/scale", {"group": "autoscaling", "version": "v1", "kind": "Scale"}),
    ],
)
def test_a_subresource_is_an_entry_of_its_own_with_upstreams_kind(
    group: str, name: str, expected: dict[str, Any]
) -> None:
    entry = legacy_entries(group, "v1")[name]
    assert entry["singularName"] == "" and "storageVersionHash" not in entry
    assert {key: entry.get(key) for key in expected} == expected
    if "group" not in expected:  # the list's own group-version goes without saying
        assert "group" not in entry and "version" not in entry


def test_a_resource_list_is_sorted_by_name_and_exists_only_for_a_served_group_version() -> None:
    listed = discovery.api_resource_list(BUILTIN_REGISTRY, "apps", "v1")
    assert listed is not None and listed["groupVersion"] == "apps/v1"
    names = [entry["name"] for entry in listed["resources"]]
    assert names == sorted(names) and names.index("deployments") < names.index("deployments/scale")
    assert discovery.api_resource_list(BUILTIN_REGISTRY, "apps", "v1beta1") is None
    assert discovery.api_resource_list(BUILTIN_REGISTRY, "", "v2") is None


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (KUBECTL_1_32_ACCEPT, True),
        ("application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io", True),
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", False),
        ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", False),
        ("application/json, */*", False),
        (None, False),
    ],
)
def test_the_aggregated_form_is_answered_when_accept_lists_v2_as_json(
    accept: str | None, wanted: bool
) -> None:
    assert discovery.wants_aggregated(accept) is wanted


def test_aggregated_api_holds_the_core_group_with_subresources_inside_their_resource() -> None:
    document = discovery.aggregated(BUILTIN_REGISTRY, legacy_core=True)
    assert (document["kind"], document["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    (core,) = document["items"]
    assert core["metadata"] == {} and [v["version"] for v in core["versions"]] == ["v1"]
    assert core["versions"][0]["freshness"] == "Current"
    pods = next(r for r in core["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert (pods["scope"], pods["singularResource"], pods["shortNames"], pods["categories"]) == (
        "Namespaced",
        "pod",
        ["po"],
        ["all"],
    )
    subresources = {sub["subresource"]: sub for sub in pods["subresources"]}
    assert list(subresources) == sorted(subresources)
    assert subresources["eviction"] == {
        "subresource": "eviction",
        "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
        "verbs": ["create"],
    }


def test_aggregated_apis_holds_every_named_group_in_the_registrys_order() -> None:
    items = discovery.aggregated(BUILTIN_REGISTRY, legacy_core=False)["items"]
    named = [group for group in BUILTIN_REGISTRY.group_versions() if group]
    assert [item["metadata"]["name"] for item in items] == named
    apps = items[named.index("apps")]["versions"][0]["resources"]
    deployments = next(r for r in apps if r["resource"] == "deployments")
    scale = next(sub for sub in deployments["subresources"] if sub["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert next(r for r in apps if r["resource"] == "controllerrevisions").get("shortNames") is None


Entries = dict[tuple[str, str, str], tuple[bool, str, list[str]]]


def flattened_aggregated() -> Entries:
    """Both aggregated documents as legacy entries: (group, version, name) -> (namespaced, kind, verbs)."""
    flat: Entries = {}
    for core in (True, False):
        for item in discovery.aggregated(BUILTIN_REGISTRY, legacy_core=core)["items"]:
            group = item["metadata"].get("name", "")
            for listed in item["versions"]:
                for r in listed["resources"]:
                    namespaced = r["scope"] == "Namespaced"
                    flat[group, listed["version"], r["resource"]] = (
                        namespaced,
                        r["responseKind"]["kind"],
                        r["verbs"],
                    )
                    for sub in r.get("subresources", ()):
                        name = f"{r['resource']}/{sub['subresource']}"
                        flat[group, listed["version"], name] = (
                            namespaced,
                            sub["responseKind"]["kind"],
                            sub["verbs"],
                        )
    return flat


def test_the_aggregated_and_legacy_forms_describe_the_same_resources() -> None:
    legacy: Entries = {
        (group, version, name): (entry["namespaced"], entry["kind"], entry["verbs"])
        for group, versions in BUILTIN_REGISTRY.group_versions().items()
        for version in versions
        for name, entry in legacy_entries(group, version).items()
    }
    assert flattened_aggregated() == legacy

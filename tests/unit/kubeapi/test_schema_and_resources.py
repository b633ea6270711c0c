"""The checked-in v1.32 definitions and the resource table agree with each other and with upstream."""

import subprocess
import sys

import pytest

from kubeapi import schema
from kubeapi.resources import BUILTIN_REGISTRY


@pytest.mark.parametrize("resource", BUILTIN_REGISTRY.resources, ids=lambda r: f"{r.group}/{r.name}")
def test_every_served_kind_and_subresource_kind_has_a_definition(resource) -> None:  # type: ignore[no-untyped-def]
    assert schema.for_kind(resource.group, resource.version, resource.kind) is not None
    for sub in resource.subresources:
        if sub.kind is not None:
            assert schema.for_kind(sub.group or "", sub.version or "", sub.kind) is not None


def test_field_extensions_sit_on_the_property_and_refs_resolve() -> None:
    pod = schema.for_kind("", "v1", "Pod")
    assert pod is not None
    containers = schema.property_node(schema.property_node(pod, "spec") or {}, "containers")
    assert containers is not None and schema.patch_strategy(containers) == ("merge", "name")
    container = schema.items_node(containers)
    assert container is not None and schema.ref_name(container) == "io.k8s.api.core.v1.Container"
    ports = schema.property_node(container, "ports")
    assert ports is not None and schema.patch_strategy(ports) == ("merge", "containerPort")
    labels = schema.property_node(schema.property_node(pod, "metadata") or {}, "labels")
    assert labels is not None and schema.type_of(schema.values_node(labels) or {}) == "string"


def test_int_or_string_and_quantity_are_strings_with_upstreams_format() -> None:
    defs = schema.definitions()
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "type": "string",
        "format": "int-or-string",
    }
    assert defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"


def test_storage_prefixes_follow_kube_apiserver() -> None:
    prefixes = {r.name: r.storage for r in BUILTIN_REGISTRY.resources if r.group == ""}
    assert prefixes["services"] == "services/specs" and prefixes["endpoints"] == "services/endpoints"
    assert prefixes["nodes"] == "minions" and prefixes["replicationcontrollers"] == "controllers"
    assert prefixes["pods"] == "pods"


def test_the_checked_in_definitions_regenerate_byte_for_byte() -> None:
    """Downloads the pinned source package from PyPI (the one network dependency CI has anyway)."""
    result = subprocess.run(
        [sys.executable, "-m", "kubeapi.schema.generate", "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]

"""Field selectors parse and escape as apimachinery's pkg/fields does, and each resource accepts and
extracts the fields kube-apiserver's registries define."""

from __future__ import annotations

from typing import Any

import pytest

from kubeapi import fields
from kubeapi.errors import StatusError
from kubeapi.fields import FieldRequirement, FieldSelector


@pytest.mark.parametrize(
    ("text", "requirements", "printed"),
    [
        pytest.param("", (), "", id="the empty selector has no terms"),
        pytest.param(",,", (), "", id="empty terms are skipped"),
        pytest.param(
            "metadata.name=foo,status.phase!=Running",
            (("metadata.name", "=", "foo"), ("status.phase", "!=", "Running")),
            "metadata.name=foo,status.phase!=Running",
            id="equality and inequality",
        ),
        pytest.param("a==b", (("a", "=", "b"),), "a=b", id="double equals is equality"),
        pytest.param("b=2,a=1", (("a", "=", "1"), ("b", "=", "2")), "a=1,b=2", id="terms are sorted"),
        pytest.param("a=", (("a", "=", ""),), "a=", id="an empty value"),
        pytest.param("a=b\\,c", (("a", "=", "b,c"),), "a=b\\,c", id="an escaped comma stays in the value"),
        pytest.param("a=b\\=c", (("a", "=", "b=c"),), "a=b\\=c", id="an escaped equals"),
        pytest.param("a=b\\\\c", (("a", "=", "b\\c"),), "a=b\\\\c", id="an escaped backslash"),
        pytest.param("a=!b", (("a", "=", "!b"),), "a=!b", id="the first operator splits the term"),
        pytest.param(" a = b", ((" a ", "=", " b"),), " a = b", id="spaces are kept as written"),
    ],
)
def test_a_field_selector_parses_into_sorted_terms(
    text: str, requirements: tuple[tuple[str, str, str], ...], printed: str
) -> None:
    selector = fields.parse(text)
    assert tuple((r.field, r.operator, r.value) for r in selector.requirements) == requirements
    assert str(selector) == printed
    assert selector.empty is (not requirements)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("x", "invalid selector: 'x'; can't understand 'x'", id="a term without an operator"),
        pytest.param(
            "a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'", id="a bare word after a comma"
        ),
        pytest.param(
            "a=b=c",
            "invalid field selector: unescaped character in value: 61",
            id="an unescaped equals is reported by code point",
        ),
        pytest.param(
            "a\\=b=c",
            "invalid field selector: unescaped character in value: 61",
            id="field names have no escapes",
        ),
        pytest.param(
            "a=b\\x", "invalid field selector: invalid escape sequence: \\x", id="an unknown escape"
        ),
        pytest.param(
            "a!==b", "invalid field selector: unescaped character in value: 61", id="'!==' is '!=' then '='"
        ),
        pytest.param(
            "a=b\\", "invalid field selector: invalid escape sequence: \\", id="a trailing backslash"
        ),
    ],
)
def test_malformed_field_selectors_are_bad_requests(text: str, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        fields.parse(text)
    assert (raised.value.code, raised.value.reason, raised.value.message) == (400, "BadRequest", message)


def test_a_field_selector_over_the_size_limit_is_refused() -> None:
    with pytest.raises(StatusError) as raised:
        fields.parse("a=" + "b" * fields.MAX_SELECTOR_BYTES)
    assert raised.value.message == "field selector is too long: 65538 bytes, the limit is 65536"


@pytest.mark.parametrize("value", ["plain", "a,b", "a=b", "back\\slash", "\\,=\\", ""])
def test_escaped_values_round_trip(value: str) -> None:
    assert fields.unescape_value(fields.escape_value(value)) == value
    assert fields.parse(f"f={fields.escape_value(value)}").requirements[0].value == value


@pytest.mark.parametrize(
    ("text", "field_values", "expected"),
    [
        pytest.param("a=1", {"a": "1"}, True, id="equality matches"),
        pytest.param("a=1", {"a": "2"}, False, id="equality fails"),
        pytest.param("a!=1", {"a": "2"}, True, id="inequality matches"),
        pytest.param("a=", {}, True, id="a missing field is the empty string"),
        pytest.param("a!=", {}, False, id="a missing field equals the empty string"),
        pytest.param("a=1,b!=2", {"a": "1", "b": "3"}, True, id="all terms must hold"),
        pytest.param("a=1,b!=2", {"a": "1", "b": "2"}, False, id="one failing term fails"),
        pytest.param("", {"a": "1"}, True, id="the empty selector matches anything"),
    ],
)
def test_field_selectors_match_field_sets(text: str, field_values: dict[str, str], expected: bool) -> None:
    assert fields.parse(text).matches(field_values) is expected


def test_requires_exact_match_finds_an_equality_term() -> None:
    selector = fields.parse("spec.nodeName=n1,status.phase!=Failed")
    assert selector.requires_exact_match("spec.nodeName") == "n1"
    assert selector.requires_exact_match("status.phase") is None


@pytest.mark.parametrize(
    ("resource", "group", "text", "checked"),
    [
        pytest.param(
            "pods",
            "",
            "spec.nodeName=n1,status.phase=Running",
            "spec.nodeName=n1,status.phase=Running",
            id="pod fields",
        ),
        pytest.param(
            "pods", "", "spec.host=n1", "spec.nodeName=n1", id="pods' legacy spec.host means spec.nodeName"
        ),
        pytest.param(
            "pods", "", "status.podIPs=10.0.0.1", "status.podIPs=10.0.0.1", id="pods accept status.podIPs"
        ),
        pytest.param("pods", "", "spec.hostNetwork=true", "spec.hostNetwork=true", id="pods' host network"),
        pytest.param(
            "nodes", "", "spec.unschedulable=true", "spec.unschedulable=true", id="node schedulability"
        ),
        pytest.param(
            "events",
            "",
            "involvedObject.name=p,reason=Failed",
            "involvedObject.name=p,reason=Failed",
            id="core events",
        ),
        pytest.param(
            "events",
            "events.k8s.io",
            "regarding.kind=Pod,reportingController=kubelet",
            "involvedObject.kind=Pod,reportingComponent=kubelet",
            id="events.k8s.io names map to core event fields",
        ),
        pytest.param("secrets", "", "type=Opaque", "type=Opaque", id="secret type"),
        pytest.param("namespaces", "", "status.phase=Active", "status.phase=Active", id="namespace phase"),
        pytest.param("services", "", "spec.type=NodePort", "spec.type=NodePort", id="service type"),
        pytest.param(
            "replicationcontrollers", "", "status.replicas=0", "status.replicas=0", id="rc replicas"
        ),
        pytest.param("jobs", "batch", "status.successful=1", "status.successful=1", id="job successes"),
        pytest.param(
            "certificatesigningrequests",
            "certificates.k8s.io",
            "spec.signerName=kubernetes.io/kubelet-serving",
            "spec.signerName=kubernetes.io/kubelet-serving",
            id="csr signer",
        ),
        pytest.param(
            "configmaps",
            "",
            "metadata.name=a,metadata.namespace=b",
            "metadata.name=a,metadata.namespace=b",
            id="default fields",
        ),
        pytest.param(
            "clusterroles",
            "rbac.authorization.k8s.io",
            "metadata.namespace=x",
            "metadata.namespace=x",
            id="the default accepts metadata.namespace even on cluster-scoped resources",
        ),
    ],
)
def test_supported_fields_are_accepted_in_stored_names(
    resource: str, group: str, text: str, checked: str
) -> None:
    assert str(fields.check_supported(resource, group, fields.parse(text))) == checked


@pytest.mark.parametrize(
    ("resource", "group", "text", "message"),
    [
        pytest.param(
            "pods", "", "spec.containers=x", "field label not supported: spec.containers", id="a pod field"
        ),
        pytest.param(
            "nodes",
            "",
            "metadata.namespace=x",
            "field label not supported: metadata.namespace",
            id="nodes have no namespace",
        ),
        pytest.param(
            "namespaces",
            "",
            "metadata.namespace=x",
            "field label not supported: metadata.namespace",
            id="namespaces neither",
        ),
        pytest.param(
            "events",
            "events.k8s.io",
            "involvedObject.kind=Pod",
            "field label not supported: involvedObject.kind",
            id="core names on events.k8s.io",
        ),
        pytest.param(
            "jobs",
            "batch",
            "status.active=1",
            'field label "status.active" not supported for batchv1.Job',
            id="jobs word it their way",
        ),
        pytest.param(
            "configmaps",
            "",
            "data.x=1",
            '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"',
            id="the default message",
        ),
        pytest.param(
            "replicasets",
            "apps",
            "status.replicas=1",
            '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"',
            id="apps/v1 replicasets register no conversion upstream",
        ),
        pytest.param(
            "pods",
            "",
            "metadata.name=a,spec.zzz=1",
            "field label not supported: spec.zzz",
            id="the first unsupported term",
        ),
    ],
)
def test_unsupported_fields_are_bad_requests(resource: str, group: str, text: str, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        fields.check_supported(resource, group, fields.parse(text))
    assert (raised.value.code, raised.value.message) == (400, message)


POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {
        "nodeName": "n1",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccount": "legacy",
        "hostNetwork": True,
    },
    "status": {
        "phase": "Running",
        "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
        "nominatedNodeName": "",
    },
}


@pytest.mark.parametrize(
    ("resource", "group", "obj", "expected"),
    [
        pytest.param(
            "pods",
            "",
            POD,
            {
                "metadata.name": "web-1",
                "metadata.namespace": "default",
                "spec.nodeName": "n1",
                "spec.restartPolicy": "Always",
                "spec.schedulerName": "default-scheduler",
                "spec.serviceAccountName": "legacy",
                "spec.hostNetwork": "true",
                "status.phase": "Running",
                "status.podIP": "10.0.0.7",
                "status.nominatedNodeName": "",
            },
            id="a pod, its IP from podIPs and its account from the deprecated field",
        ),
        pytest.param(
            "pods",
            "",
            {"metadata": {"name": "p", "namespace": "d"}, "spec": {}, "status": {"podIP": "10.0.0.9"}},
            {
                "metadata.name": "p",
                "metadata.namespace": "d",
                "spec.nodeName": "",
                "spec.restartPolicy": "",
                "spec.schedulerName": "",
                "spec.serviceAccountName": "",
                "spec.hostNetwork": "false",
                "status.phase": "",
                "status.podIP": "10.0.0.9",
                "status.nominatedNodeName": "",
            },
            id="an unscheduled pod has empty fields and hostNetwork false",
        ),
        pytest.param(
            "nodes",
            "",
            {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
            {"metadata.name": "n1", "spec.unschedulable": "true"},
            id="a cordoned node, no namespace field",
        ),
        pytest.param(
            "events",
            "",
            {
                "metadata": {"name": "e", "namespace": "d"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u1"},
                "reason": "Scheduled",
                "reportingComponent": "default-scheduler",
                "type": "Normal",
            },
            {
                "metadata.name": "e",
                "metadata.namespace": "d",
                "involvedObject.kind": "Pod",
                "involvedObject.namespace": "d",
                "involvedObject.name": "p",
                "involvedObject.uid": "u1",
                "involvedObject.apiVersion": "",
                "involvedObject.resourceVersion": "",
                "involvedObject.fieldPath": "",
                "reason": "Scheduled",
                "reportingComponent": "default-scheduler",
                "source": "default-scheduler",
                "type": "Normal",
            },
            id="a core event without a source uses the reporting component",
        ),
        pytest.param(
            "events",
            "events.k8s.io",
            {
                "metadata": {"name": "e", "namespace": "d"},
                "regarding": {"kind": "Node", "name": "n1"},
                "reason": "Rebooted",
                "reportingController": "kubelet",
                "deprecatedSource": {"component": "kubelet-n1"},
                "type": "Warning",
            },
            {
                "metadata.name": "e",
                "metadata.namespace": "d",
                "involvedObject.kind": "Node",
                "involvedObject.namespace": "",
                "involvedObject.name": "n1",
                "involvedObject.uid": "",
                "involvedObject.apiVersion": "",
                "involvedObject.resourceVersion": "",
                "involvedObject.fieldPath": "",
                "reason": "Rebooted",
                "reportingComponent": "kubelet",
                "source": "kubelet-n1",
                "type": "Warning",
            },
            id="an events.k8s.io event in core event terms",
        ),
        pytest.param(
            "secrets",
            "",
            {"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/tls"},
            {"metadata.name": "s", "metadata.namespace": "d", "type": "kubernetes.io/tls"},
            id="a secret",
        ),
        pytest.param(
            "namespaces",
            "",
            {"metadata": {"name": "d"}, "status": {"phase": "Terminating"}},
            {"metadata.name": "d", "status.phase": "Terminating"},
            id="a namespace",
        ),
        pytest.param(
            "services",
            "",
            {"metadata": {"name": "s", "namespace": "d"}, "spec": {"type": "ClusterIP", "clusterIP": "None"}},
            {
                "metadata.name": "s",
                "metadata.namespace": "d",
                "spec.clusterIP": "None",
                "spec.type": "ClusterIP",
            },
            id="a headless service",
        ),
        pytest.param(
            "replicationcontrollers",
            "",
            {"metadata": {"name": "r", "namespace": "d"}, "status": {"replicas": 3}},
            {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "3"},
            id="a replication controller",
        ),
        pytest.param(
            "jobs",
            "batch",
            {"metadata": {"name": "j", "namespace": "d"}, "status": {}},
            {"metadata.name": "j", "metadata.namespace": "d", "status.successful": "0"},
            id="a job with no successes yet",
        ),
        pytest.param(
            "certificatesigningrequests",
            "certificates.k8s.io",
            {"metadata": {"name": "c"}, "spec": {"signerName": "kubernetes.io/kube-apiserver-client"}},
            {"metadata.name": "c", "spec.signerName": "kubernetes.io/kube-apiserver-client"},
            id="a certificate signing request",
        ),
        pytest.param(
            "configmaps",
            "",
            {"metadata": {"name": "c", "namespace": "d"}},
            {"metadata.name": "c", "metadata.namespace": "d"},
            id="a namespaced resource with only the defaults",
        ),
        pytest.param(
            "clusterroles",
            "rbac.authorization.k8s.io",
            {"metadata": {"name": "admin"}},
            {"metadata.name": "admin"},
            id="a cluster-scoped resource has no namespace field",
        ),
        pytest.param(
            "widgets",
            "example.com",
            {"metadata": {"name": "w", "namespace": "d"}},
            {"metadata.name": "w", "metadata.namespace": "d"},
            id="an unknown resource with a namespace counts as namespaced",
        ),
    ],
)
def test_field_sets_hold_what_upstream_registries_extract(
    resource: str, group: str, obj: dict[str, Any], expected: dict[str, str]
) -> None:
    assert fields.field_set(resource, group, obj) == expected


def test_a_checked_selector_matches_the_field_set_of_a_pod() -> None:
    selector = fields.check_supported(
        "pods", "", fields.parse("spec.host=n1,status.phase!=Failed,spec.hostNetwork=true")
    )
    assert selector.matches(fields.field_set("pods", "", POD))
    assert not selector.matches(fields.field_set("pods", "", {**POD, "spec": {"nodeName": "n2"}}))


def test_selectors_are_immutable_values() -> None:
    selector = fields.parse("a=1")
    assert selector == FieldSelector((FieldRequirement("a", "=", "1"),))
    with pytest.raises(AttributeError):
        selector.requirements = ()  # type: ignore[misc]

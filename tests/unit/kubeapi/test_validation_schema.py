"""The decode step: bodies checked against the v1.32 OpenAPI schema give kube-apiserver's 400s for
wrong types, and fieldValidation decides what unknown fields do (Strict 400, Warn headers,
Ignore silence), the stored object never keeping them."""

from __future__ import annotations

from typing import Any

import pytest

from kubeapi.errors import StatusError
from kubeapi.schema import Node, for_kind, property_node
from kubeapi.validation.schema import (
    apply_field_validation,
    check_structure,
    decode_message,
    drop_unknown,
    go_base64_error,
    go_type_name,
)


def schema(group: str, kind: str) -> Node:
    node = for_kind(group, "v1", kind)
    assert node is not None
    return node


DEPLOYMENT = schema("apps", "Deployment")
POD = schema("", "Pod")
SECRET = schema("", "Secret")


def deployment(**spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template, **spec},
    }


TYPE_ERRORS = [
    (
        "replicas written as a string",
        deployment(replicas="3"),
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        "replicas beyond int32",
        deployment(replicas=3_000_000_000),
        "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas "
        "of type int32",
    ),
    (
        "replicas as a fraction",
        deployment(replicas=1.5),
        "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        "paused written as a string",
        deployment(paused="yes"),
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
    ),
    (
        "strategy written as a list",
        deployment(strategy=[]),
        "json: cannot unmarshal array into Go struct field DeploymentSpec.spec.strategy of type "
        "v1.DeploymentStrategy",
    ),
]


@pytest.mark.parametrize(("name", "body", "message"), TYPE_ERRORS, ids=[t[0] for t in TYPE_ERRORS])
def test_wrong_types_are_reported_as_gos_decoder_does(name: str, body: dict[str, Any], message: str) -> None:
    assert decode_message(body, DEPLOYMENT) == message


def test_a_label_value_that_is_a_number_names_the_object_meta_field() -> None:
    body = deployment()
    body["metadata"]["labels"] = {"app": "web", "tier": 1}
    causes, unknown = check_structure(body, DEPLOYMENT)
    assert [(c.type, c.field, c.message) for c in causes] == [
        (
            "FieldValueTypeInvalid",
            "metadata.labels.tier",
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        )
    ]
    assert unknown == []


def test_fields_inside_lists_name_the_innermost_struct_and_drop_indices_as_go_does() -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "PORT", "value": 8080}]
    causes, _ = check_structure(body, DEPLOYMENT)
    assert causes[0].field == "spec.template.spec.containers[0].env[0].value"
    assert causes[0].message == (
        "json: cannot unmarshal number into Go struct field "
        "EnvVar.spec.template.spec.containers.env.value of type string"
    )


def test_a_malformed_quantity_wins_over_an_earlier_type_error_because_it_stops_decoding() -> None:
    body = deployment(replicas="3")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "1 gig"}}
    assert decode_message(body, DEPLOYMENT) == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_quantities_may_be_bare_numbers() -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 0.5, "memory": 1024}}
    assert check_structure(body, DEPLOYMENT) == ([], [])


def test_an_int_or_string_port_that_is_a_bool_is_an_int32_error_in_context() -> None:
    body = {
        "spec": {"containers": [{"name": "a", "image": "b", "livenessProbe": {"httpGet": {"port": True}}}]}
    }
    assert decode_message(body, POD) == (
        "json: cannot unmarshal bool into Go struct field "
        "HTTPGetAction.spec.containers.livenessProbe.httpGet.port "
        "of type int32"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("aGVsbG8=", None),
        ("aGVs\nbG8=", None),
        ("", None),
        ("hello", "illegal base64 data at input byte 4"),
        ("abc", "illegal base64 data at input byte 0"),
        ("pass word", "illegal base64 data at input byte 4"),
        ("YQ==YQ==", "illegal base64 data at input byte 4"),
    ],
)
def test_secret_data_is_base64_as_gos_standard_encoding_reads_it(text: str, problem: str | None) -> None:
    assert go_base64_error(text) == problem


def test_a_secret_with_plain_text_data_is_a_bad_request() -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "hunter2"}}
    with pytest.raises(StatusError) as raised:
        apply_field_validation(body, SECRET, "Strict")
    assert (raised.value.code, raised.value.reason) == (400, "BadRequest")
    assert raised.value.message == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'
    )


def test_type_errors_are_bad_requests_whatever_the_directive() -> None:
    with pytest.raises(StatusError) as raised:
        apply_field_validation(deployment(replicas="3"), DEPLOYMENT, "Ignore")
    assert raised.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: '
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    )


def with_unknown_fields() -> dict[str, Any]:
    body = deployment(replica=3)
    body["spec"]["template"]["spec"]["containers"][0]["ports"][0]["contianerPort"] = 8080
    body["metadata"]["lables"] = {"tier": "web"}
    return body


def test_strict_rejects_every_unknown_field_in_document_order() -> None:
    with pytest.raises(StatusError) as raised:
        apply_field_validation(with_unknown_fields(), DEPLOYMENT, "Strict")
    assert raised.value.code == 400
    assert raised.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "metadata.lables", '
        'unknown field "spec.template.spec.containers[0].ports[0].contianerPort", unknown field '
        '"spec.replica"'
    )


def test_warn_stores_without_the_unknown_fields_and_warns_about_each() -> None:
    stored, warnings = apply_field_validation(with_unknown_fields(), DEPLOYMENT, "Warn")
    assert warnings == [
        'unknown field "metadata.lables"',
        'unknown field "spec.template.spec.containers[0].ports[0].contianerPort"',
        'unknown field "spec.replica"',
    ]
    assert stored == deployment()


@pytest.mark.parametrize(("directive", "warned"), [("Ignore", False), ("", True)])
def test_ignore_is_silent_and_no_directive_means_warn(directive: str, warned: bool) -> None:
    stored, warnings = apply_field_validation(with_unknown_fields(), DEPLOYMENT, directive)
    assert stored == deployment()
    assert bool(warnings) is warned


def test_an_unsupported_directive_is_an_invalid_create_options() -> None:
    with pytest.raises(StatusError) as raised:
        apply_field_validation(deployment(), DEPLOYMENT, "strict")
    assert raised.value.code == 422
    assert raised.value.message == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )


def test_raw_extensions_and_managed_fields_take_any_json() -> None:
    revision_schema = schema("apps", "ControllerRevision")
    revision = {
        "metadata": {
            "name": "web-5d8f",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
        },
        "data": {"spec": {"template": {"anything": ["goes", 1, True]}}},
        "revision": 1,
    }
    assert check_structure(revision, revision_schema) == ([], [])
    assert drop_unknown(revision, revision_schema) == revision


def test_nulls_are_accepted_and_not_stored() -> None:
    body = deployment(paused=None, strategy=None)
    assert check_structure(body, DEPLOYMENT) == ([], [])
    assert "paused" not in drop_unknown(body, DEPLOYMENT)["spec"]


def test_go_type_names_follow_reflect() -> None:
    spec = DEPLOYMENT["properties"]["spec"]
    assert go_type_name(spec) == "v1.DeploymentSpec"
    pod_spec = POD["properties"]["spec"]
    containers = property_node(pod_spec, "containers")
    selector = property_node(pod_spec, "nodeSelector")
    assert containers is not None and selector is not None
    assert go_type_name(containers) == "[]v1.Container"
    assert go_type_name(selector) == "map[string]string"

"""managedFields for writes that are not applies, and the field sets beneath them.

Expected entries are kube-apiserver v1.32's: the create case is the entry `kubectl create
deployment web --image=nginx` gets (defaults included, since kube-apiserver records the decoded,
defaulted object).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeapi import schema
from kubeapi.errors import StatusError
from kubeapi.fieldpath import (
    UNTYPED,
    FieldSet,
    FieldType,
    compare,
    field_pe,
    field_set,
    key_pe,
    merge,
    path_string,
    value_pe,
)
from kubeapi.managedfields import (
    decode,
    default_manager,
    encode,
    reset_fields,
    update_managed_fields,
    validate_options,
)

DEPLOYMENT = schema.for_kind("apps", "v1", "Deployment")
POD = schema.for_kind("", "v1", "Pod")
T0, T1, T2 = "2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z", "2024-05-01T10:02:00Z"


def created_deployment() -> dict[str, Any]:
    """What kube-apiserver stores for `kubectl create deployment web --image=nginx` (defaulted)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx",
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "imagePullPolicy": "Always",
                        }
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                },
            },
        },
        "status": {},
    }


KUBECTL_CREATE_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:progressDeadlineSeconds": {},
        "f:replicas": {},
        "f:revisionHistoryLimit": {},
        "f:selector": {},
        "f:strategy": {
            "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
            "f:type": {},
        },
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    }
                },
                "f:dnsPolicy": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {},
            },
        },
    },
}


def stored(obj: dict[str, Any], uid: str = "u-1") -> dict[str, Any]:
    """The object as the store holds it after a create."""
    out = copy.deepcopy(obj)
    out["metadata"].update(uid=uid, resourceVersion="1", creationTimestamp=T0)
    return out


def entries(obj: dict[str, Any]) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    return [
        (e.get("manager", ""), e["operation"], e.get("time"), e["fieldsV1"])
        for e in obj["metadata"].get("managedFields", [])
    ]


def test_a_create_records_every_field_it_sets_like_kube_apiserver() -> None:
    created = update_managed_fields(None, created_deployment(), manager="kubectl-create", now=T0)
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": KUBECTL_CREATE_FIELDS,
        }
    ]
    assert "managedFields" not in created_deployment()["metadata"]  # the input is not changed


def test_an_update_takes_the_fields_it_changes_from_every_other_manager() -> None:
    live = stored(update_managed_fields(None, created_deployment(), manager="kubectl-create", now=T0))
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 3
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    edited["metadata"]["labels"]["tier"] = "front"
    result = update_managed_fields(live, edited, manager="kubectl-edit", now=T1)
    owners = {manager: fields for manager, _, _, fields in entries(result)}
    assert owners["kubectl-edit"] == {
        "f:metadata": {"f:labels": {"f:tier": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:template": {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {"f:image": {}}}}},
        },
    }
    create = owners["kubectl-create"]
    assert "f:replicas" not in create["f:spec"]
    assert "f:image" not in create["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert [(m, t) for m, _, t, _ in entries(result)] == [("kubectl-create", T0), ("kubectl-edit", T1)]


def test_removed_fields_leave_every_set_and_empty_entries_go() -> None:
    live = stored(created_deployment())
    live["metadata"]["managedFields"] = [
        {
            "manager": "labeller",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}},
        }
    ]
    unlabelled = copy.deepcopy(live)
    del unlabelled["metadata"]["labels"]
    result = update_managed_fields(live, unlabelled, manager="kubectl-label", now=T1)
    assert "managedFields" not in result["metadata"]


def test_an_update_that_changes_nothing_keeps_managed_fields_and_times() -> None:
    live = stored(update_managed_fields(None, created_deployment(), manager="kubectl-create", now=T0))
    result = update_managed_fields(live, copy.deepcopy(live), manager="kubectl-edit", now=T1)
    assert result["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_an_object_stored_without_managed_fields_is_not_tracked_by_updates() -> None:
    live = stored(created_deployment())
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 4
    assert "managedFields" not in update_managed_fields(live, edited, manager="x", now=T1)["metadata"]


@pytest.mark.parametrize("sent", [[], [{}]], ids=["empty list", "one empty entry"])
def test_a_client_clears_managed_fields_by_sending_an_empty_list_or_entry(sent: list[Any]) -> None:
    live = stored(update_managed_fields(None, created_deployment(), manager="kubectl-create", now=T0))
    edited = copy.deepcopy(live)
    edited["metadata"]["managedFields"] = sent
    edited["spec"]["replicas"] = 2
    assert "managedFields" not in update_managed_fields(live, edited, manager="x", now=T1)["metadata"]


def test_managed_fields_sent_with_an_update_replace_the_stored_ones_but_not_through_a_subresource() -> None:
    live = stored(update_managed_fields(None, created_deployment(), manager="kubectl-create", now=T0))
    mine = {
        "manager": "restore",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:paused": {}}},
    }
    sent = copy.deepcopy(live)
    sent["metadata"]["managedFields"] = [mine]
    assert update_managed_fields(live, sent, manager="x", now=T1)["metadata"]["managedFields"] == [mine]
    through_status = update_managed_fields(live, sent, manager="x", now=T1, subresource="status")
    assert through_status["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_status_written_through_the_main_resource_is_not_owned_but_through_status_it_is() -> None:
    live = stored(update_managed_fields(None, created_deployment(), manager="kubectl-create", now=T0))
    with_status = copy.deepcopy(live)
    with_status["status"] = {"replicas": 1}
    main = update_managed_fields(live, with_status, manager="someone", now=T1)
    assert main["metadata"]["managedFields"] == live["metadata"]["managedFields"]
    with_status["spec"]["paused"] = True
    status = update_managed_fields(
        live, with_status, manager="kube-controller-manager", now=T1, subresource="status"
    )
    entry = status["metadata"]["managedFields"][-1]
    assert (entry["manager"], entry["subresource"], entry["fieldsV1"]) == (
        "kube-controller-manager",
        "status",
        {"f:status": {"f:replicas": {}}},
    )


def test_more_than_ten_update_managers_fold_the_oldest_into_ancient_changes() -> None:
    live = stored(created_deployment())
    live["metadata"]["labels"] = {}
    live["metadata"]["managedFields"] = [
        {
            "manager": f"m{i:02}",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": f"2024-05-01T09:{i:02}:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {f"f:l{i}": {}}}},
        }
        for i in range(10)
    ]
    for i in range(10):
        live["metadata"]["labels"][f"l{i}"] = "x"
    edited = copy.deepcopy(live)
    edited["metadata"]["labels"]["new"] = "x"
    result = update_managed_fields(live, edited, manager="newcomer", now=T1)
    managers = [(m, t) for m, _, t, _ in entries(result)]
    assert len(managers) == 10
    assert managers[0] == ("ancient-changes", "2024-05-01T09:01:00Z")
    assert entries(result)[0][3] == {"f:metadata": {"f:labels": {"f:l0": {}, "f:l1": {}}}}


@pytest.mark.parametrize(
    ("user_agent", "manager"),
    [
        ("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9", "kubectl"),
        (
            "kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/70d3cc9/system:serviceaccount",
            "kube-controller-manager",
        ),
        ("curl\x07/8.5", "curl"),
        ("", ""),
        ("x" * 200, "x" * 128),
    ],
    ids=["kubectl", "a controller", "unprintable characters dropped", "no user agent", "cut at 128 bytes"],
)
def test_the_default_manager_is_the_user_agent_before_its_first_slash(user_agent: str, manager: str) -> None:
    assert default_manager(user_agent) == manager


def test_a_write_without_a_manager_is_recorded_as_unknown() -> None:
    created = update_managed_fields(None, created_deployment(), manager="", now=T0)
    assert created["metadata"]["managedFields"][0]["manager"] == "unknown"


@pytest.mark.parametrize(
    ("options", "field_manager", "apply", "force", "causes"),
    [
        (
            "PatchOptions",
            "",
            True,
            None,
            [("FieldValueRequired", "fieldManager", "Required value: is required for apply patch")],
        ),
        (
            "PatchOptions",
            "m",
            False,
            True,
            [("FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch")],
        ),
        (
            "UpdateOptions",
            "m" * 129,
            False,
            None,
            [("FieldValueTooLong", "fieldManager", "Too long: may not be more than 128 bytes")],
        ),
        (
            "CreateOptions",
            "a\tb",
            False,
            None,
            [
                (
                    "FieldValueInvalid",
                    "fieldManager",
                    'Invalid value: "a\\tb": invalid character U+0009 (at position 1)',
                )
            ],
        ),
    ],
    ids=[
        "apply without a manager",
        "force on a merge patch",
        "a manager over 128 bytes",
        "an unprintable manager",
    ],
)
def test_bad_field_manager_parameters_are_invalid_options(
    options: str, field_manager: str, apply: bool, force: bool | None, causes: list[tuple[str, str, str]]
) -> None:
    with pytest.raises(StatusError) as raised:
        validate_options(options, field_manager, apply=apply, force=force)
    error = raised.value
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message.startswith(f'{options}.meta.k8s.io "" is invalid: ')
    assert [(c["reason"], c["field"], c["message"]) for c in error.details["causes"]] == causes


def test_good_field_manager_parameters_pass() -> None:
    validate_options("PatchOptions", "kubectl", apply=True, force=True)
    validate_options("CreateOptions", "")


@pytest.mark.parametrize(
    ("api_version", "kind", "subresource", "paths"),
    [
        ("apps/v1", "Deployment", "", ["status"]),
        ("apps/v1", "Deployment", "status", ["spec", "metadata.labels"]),
        ("v1", "Pod", "status", ["spec", "metadata.deletionTimestamp", "metadata.ownerReferences"]),
        ("v1", "ConfigMap", "", []),
        ("v1", "Namespace", "finalize", ["status"]),
        ("apps/v1", "Deployment", "scale", []),
    ],
)
def test_reset_fields_follow_the_strategies(
    api_version: str, kind: str, subresource: str, paths: list[str]
) -> None:
    expected = FieldSet.of(*[tuple(field_pe(p) for p in path.split(".")) for path in paths])
    assert reset_fields(api_version, kind, subresource) == expected


# ---- field sets ----


def test_fields_v1_marks_a_member_with_children_by_a_dot_and_orders_fields_keys_values() -> None:
    fields = FieldSet.of(
        ("f:spec", "f:containers", key_pe({"name": "b"})),
        ("f:spec", "f:containers", key_pe({"name": "b"}), "f:image"),
        ("f:spec", "f:containers", key_pe({"name": "a"})),
        ("f:metadata", "f:finalizers", value_pe("z")),
        ("f:metadata", "f:finalizers", value_pe("a")),
        ("f:metadata", "f:labels"),
        ("f:metadata", "f:labels", "f:app"),
    )
    encoded = fields.to_fields_v1()
    assert encoded == {
        "f:metadata": {
            "f:finalizers": {'v:"a"': {}, 'v:"z"': {}},
            "f:labels": {".": {}, "f:app": {}},
        },
        "f:spec": {"f:containers": {'k:{"name":"a"}': {}, 'k:{"name":"b"}': {".": {}, "f:image": {}}}},
    }
    assert list(encoded["f:metadata"]["f:labels"]) == [".", "f:app"]
    assert FieldSet.from_fields_v1(encoded) == fields


def test_stored_keys_are_respelled_so_they_match_ours() -> None:
    stored_set = FieldSet.from_fields_v1({'k:{"protocol":"TCP", "containerPort":80}': {}, "x:unknown": {}})
    assert stored_set == FieldSet.of((key_pe({"containerPort": 80, "protocol": "TCP"}),))
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1({"f:spec": "nope"})


def test_paths_print_as_conflicts_name_them() -> None:
    path = (
        "f:spec",
        "f:containers",
        key_pe({"name": "web"}),
        "f:ports",
        key_pe({"containerPort": 80, "protocol": "TCP"}),
        "f:hostPort",
    )
    assert path_string(path) == '.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].hostPort'
    assert path_string(("f:metadata", "f:finalizers", value_pe("a"))) == '.metadata.finalizers[="a"]'


def test_set_algebra_difference_is_exact_recursive_difference_takes_subtrees() -> None:
    spec = FieldSet.of(("f:spec",), ("f:spec", "f:replicas"), ("f:spec", "f:paused"))
    assert spec.difference(FieldSet.of(("f:spec",))) == FieldSet.of(
        ("f:spec", "f:replicas"), ("f:spec", "f:paused")
    )
    assert spec.recursive_difference(FieldSet.of(("f:spec",))).empty()
    assert spec.intersection(FieldSet.of(("f:spec", "f:paused"), ("f:x",))) == FieldSet.of(
        ("f:spec", "f:paused")
    )


def test_untyped_values_are_granular_maps_and_atomic_lists() -> None:
    value = {"a": {"b": 1, "c": [1, 2]}}
    assert field_set(value, UNTYPED) == FieldSet.of(("f:a",), ("f:a", "f:b"), ("f:a", "f:c"))
    assert merge({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}}, UNTYPED) == {"a": {"b": 1, "c": [3]}}


def test_compare_tells_added_modified_and_removed_leaves() -> None:
    t = FieldType(POD)
    old = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"nodeName": "n1"}}
    new = {"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"nodeName": "n2"}}
    result = compare(old, new, t)
    labels = ("f:metadata", "f:labels")
    assert result.added == FieldSet.of((*labels, "f:c"))
    assert result.removed == FieldSet.of((*labels, "f:b"))
    assert result.modified == FieldSet.of(("f:spec", "f:nodeName"))


def test_entries_encode_apply_first_then_by_time_and_decode_back() -> None:
    managed = decode(
        [
            {
                "manager": "b",
                "operation": "Update",
                "apiVersion": "v1",
                "time": T0,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:x": {}},
            },
            {
                "manager": "a",
                "operation": "Update",
                "apiVersion": "v1",
                "time": T2,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:y": {}},
            },
            {
                "manager": "c",
                "operation": "Apply",
                "apiVersion": "v1",
                "time": T1,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:z": {}},
            },
        ]
    )
    assert [e["manager"] for e in encode(managed)] == ["c", "b", "a"]
    with pytest.raises(ValueError, match="operation must be"):
        decode([{"manager": "x", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}])


def test_unreadable_stored_managed_fields_are_not_trusted_by_an_update() -> None:
    live = stored(created_deployment())
    live["metadata"]["managedFields"] = [{"manager": "x", "operation": "Bogus"}]
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 5
    assert "managedFields" not in update_managed_fields(live, edited, manager="m", now=T1)["metadata"]

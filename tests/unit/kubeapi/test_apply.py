"""Server-side apply: merging, ownership, pruning and conflicts, as kube-apiserver v1.32 answers
`kubectl apply --server-side` (structured-merge-diff's semantics; the exact entries are the ones
kube-apiserver writes for the same requests)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeapi import schema
from kubeapi.apply import server_side_apply
from kubeapi.errors import StatusError
from kubeapi.managedfields import LAST_APPLIED, update_managed_fields

DEPLOYMENT = schema.for_kind("apps", "v1", "Deployment")
T0, T1, T2, T3 = (f"2024-05-01T10:0{i}:00Z" for i in range(4))


def deployment(
    *,
    replicas: int | None = 3,
    containers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """The manifest `kubectl apply --server-side` sends for a small Deployment."""
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers if containers is not None else [nginx()]},
            },
            **spec,
        },
    }
    if replicas is not None:
        body["spec"]["replicas"] = replicas
    if labels is not None:
        body["metadata"]["labels"] = labels
    return body


def nginx(image: str = "nginx:1.27", **extra: Any) -> dict[str, Any]:
    return {"name": "nginx", "image": image, **extra}


def partial(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """A configuration that cares about a few fields only."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", **metadata},
        "spec": spec,
    }


def apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str = "kubectl",
    *,
    force: bool = False,
    now: str = T0,
    subresource: str = "",
) -> dict[str, Any]:
    result = server_side_apply(
        live, config, manager=manager, force=force, schema_node=DEPLOYMENT, now=now, subresource=subresource
    )
    if live is None:  # what the store adds on create
        result["metadata"].update(uid="u-1", resourceVersion="1", creationTimestamp=T0)
    return result


def owned(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    return entry["fieldsV1"]  # type: ignore[no-any-return]


def managers(obj: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(e["manager"], e["operation"], e.get("time")) for e in obj["metadata"].get("managedFields", [])]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def conflict(call: Any) -> StatusError:
    with pytest.raises(StatusError) as raised:
        call()
    assert (raised.value.code, raised.value.reason) == (409, "Conflict")
    return raised.value


KUBECTL_APPLY_FIELDS = {
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
                        },
                    }
                }
            },
        },
    }
}


def test_create_by_apply_stores_the_manifest_and_owns_exactly_its_fields() -> None:
    manifest = deployment(containers=[nginx(ports=[{"containerPort": 80}])])
    sent = copy.deepcopy(manifest)
    created = server_side_apply(
        None, manifest, manager="kubectl", force=False, schema_node=DEPLOYMENT, now=T0
    )
    assert manifest == sent
    assert {k: v for k, v in created.items() if k != "metadata"} == {
        k: v for k, v in manifest.items() if k != "metadata"
    }
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": KUBECTL_APPLY_FIELDS,
        }
    ]


def test_apply_server_side_then_scale_then_reapply_without_replicas_leaves_them_to_the_scaler() -> None:
    manifest = deployment(containers=[nginx(ports=[{"containerPort": 80}])])
    live = apply(None, manifest)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled = update_managed_fields(live, scaled, manager="kubectl-scale", now=T1, subresource="scale")
    without_replicas = copy.deepcopy(manifest)
    del without_replicas["spec"]["replicas"]
    result = apply(scaled, without_replicas, now=T2)

    assert result["spec"]["replicas"] == 5
    apply_fields = copy.deepcopy(KUBECTL_APPLY_FIELDS)
    del apply_fields["f:spec"]["f:replicas"]
    assert result["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,  # the object did not change
            "fieldsType": "FieldsV1",
            "fieldsV1": apply_fields,
        },
        {
            "manager": "kubectl-scale",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
            "subresource": "scale",
        },
    ]
    error = conflict(lambda: apply(result, deployment(replicas=7), now=T3))
    assert error.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-scale" with subresource "scale" using apps/v1: '
        ".spec.replicas"
    )


def test_reapplying_without_fields_the_applier_owned_removes_them() -> None:
    sidecar = {"name": "sidecar", "image": "busybox"}
    live = apply(None, deployment(labels={"app": "web", "tier": "front"}, containers=[nginx(), sidecar]))
    result = apply(live, deployment(labels={"app": "web"}, containers=[nginx()]), now=T1)
    assert result["metadata"]["labels"] == {"app": "web"}
    assert containers(result) == [nginx()]
    assert owned(result, "kubectl")["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert managers(result) == [("kubectl", "Apply", T1)]


def test_reapplying_without_the_only_label_removes_the_labels_map() -> None:
    live = apply(None, deployment(labels={"tier": "front"}))
    result = apply(live, deployment(), now=T1)
    assert "labels" not in result["metadata"]
    assert "f:metadata" not in owned(result, "kubectl")


def test_fields_nobody_owns_like_server_defaults_survive_a_reapply() -> None:
    live = apply(None, deployment(containers=[nginx(ports=[{"containerPort": 80}])]))
    live["spec"]["progressDeadlineSeconds"] = 600  # what defaulting adds, owned by no one
    live["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicy="IfNotPresent")
    result = apply(live, deployment(containers=[nginx()]), now=T1)
    assert result["spec"]["progressDeadlineSeconds"] == 600
    assert containers(result) == [nginx(imagePullPolicy="IfNotPresent")]  # the ports went


def test_two_appliers_setting_a_field_to_one_value_share_it_and_it_stays_while_one_still_applies_it() -> None:
    live = apply(None, deployment(labels={"app": "web"}))
    shared = apply(live, partial({}, labels={"app": "web"}), "ops", now=T1)
    assert owned(shared, "ops") == {"f:metadata": {"f:labels": {"f:app": {}}}}
    assert owned(shared, "kubectl")["f:metadata"] == {"f:labels": {"f:app": {}}}

    result = apply(shared, deployment(), now=T2)  # kubectl no longer applies the label
    assert result["metadata"]["labels"] == {"app": "web"}
    assert "f:metadata" not in owned(result, "kubectl")
    assert owned(result, "ops") == {"f:metadata": {"f:labels": {"f:app": {}}}}


def test_changing_a_field_another_applier_owns_is_a_conflict_with_one_cause_per_field() -> None:
    live = apply(None, deployment(), "a")
    change = partial(
        {"replicas": 5, "template": {"spec": {"containers": [nginx("nginx:1.28")]}}},
    )
    error = conflict(lambda: apply(live, change, "b", now=T1))
    assert error.message == (
        'Apply failed with 2 conflicts: conflicts with "a":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image'
    )
    assert error.details == {
        "causes": [
            {"reason": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".spec.replicas"},
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "a"',
                "field": '.spec.template.spec.containers[name="nginx"].image',
            },
        ]
    }
    assert error.to_status()["details"] == error.details


def test_force_moves_conflicting_fields_to_the_applier() -> None:
    live = apply(None, deployment(), "a")
    result = apply(live, partial({"replicas": 5}), "b", force=True, now=T1)
    assert result["spec"]["replicas"] == 5
    assert owned(result, "b") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owned(result, "a")["f:spec"]
    assert managers(result) == [("a", "Apply", T0), ("b", "Apply", T1)]


def test_a_field_changed_by_an_update_conflicts_with_the_next_apply() -> None:
    live = apply(None, deployment())
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 4
    edited = update_managed_fields(live, edited, manager="kubectl-edit", now=T1)
    assert "f:replicas" not in owned(edited, "kubectl")["f:spec"]
    error = conflict(lambda: apply(edited, deployment(replicas=6), now=T2))
    assert error.details["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-edit" using apps/v1',
            "field": ".spec.replicas",
        }
    ]
    assert apply(edited, deployment(replicas=4), now=T2)["spec"]["replicas"] == 4  # same value: shared


def test_map_list_elements_merge_by_key_and_each_applier_keeps_its_own() -> None:
    live = apply(None, deployment(containers=[nginx()]))
    sidecar = {"name": "sidecar", "image": "busybox"}
    with_sidecar = apply(live, partial({"template": {"spec": {"containers": [sidecar]}}}), "mesh", now=T1)
    assert containers(with_sidecar) == [nginx(), sidecar]
    assert owned(with_sidecar, "mesh") == {
        "f:spec": {
            "f:template": {
                "f:spec": {"f:containers": {'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}}}}
            }
        }
    }
    result = apply(with_sidecar, deployment(containers=[nginx("nginx:1.28")]), now=T2)
    assert containers(result) == [nginx("nginx:1.28"), sidecar]


def test_the_applied_order_wins_and_others_elements_keep_their_place_among_the_shared_ones() -> None:
    def named(*names: str) -> list[dict[str, Any]]:
        return [{"name": n, "image": n} for n in names]

    live = apply(None, deployment(containers=named("a", "c")))
    live = apply(live, partial({"template": {"spec": {"containers": named("b")}}}), "other", now=T1)
    assert [c["name"] for c in containers(live)] == ["a", "c", "b"]
    live["spec"]["template"]["spec"]["containers"] = named("a", "b", "c")  # someone reordered them
    result = apply(live, deployment(containers=named("c", "a")), now=T2)
    assert [c["name"] for c in containers(result)] == ["b", "c", "a"]


def test_ports_merge_by_container_port_and_protocol_which_defaults_to_tcp() -> None:
    live = apply(None, deployment(containers=[nginx(ports=[{"containerPort": 80}])]))
    live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"  # defaulted
    ports = [{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "UDP"}]
    result = apply(live, deployment(containers=[nginx(ports=ports)]), now=T1)
    assert containers(result)[0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"},
        {"containerPort": 53, "protocol": "UDP"},
    ]
    owned_ports = owned(result, "kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"][
        'k:{"name":"nginx"}'
    ]["f:ports"]
    assert owned_ports == {
        'k:{"containerPort":53,"protocol":"UDP"}': {".": {}, "f:containerPort": {}, "f:protocol": {}},
        'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}, "f:name": {}},
    }


def test_service_ports_are_keyed_by_port_and_protocol() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dns", "namespace": "default"},
        "spec": {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "targetPort": 5353}]},
    }
    created = server_side_apply(
        None,
        service,
        manager="kubectl",
        force=False,
        schema_node=schema.for_kind("", "v1", "Service"),
        now=T0,
    )
    assert owned(created, "kubectl") == {
        "f:spec": {
            "f:ports": {
                'k:{"port":53,"protocol":"TCP"}': {".": {}, "f:port": {}, "f:targetPort": {}},
                'k:{"port":53,"protocol":"UDP"}': {".": {}, "f:port": {}, "f:protocol": {}},
            }
        }
    }


def test_set_lists_merge_by_value_and_each_applier_removes_only_its_own() -> None:
    live = apply(None, partial({}, finalizers=["example.com/a"]), "a")
    live = apply(live, partial({}, finalizers=["example.com/b"]), "b", now=T1)
    assert live["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert owned(live, "b") == {"f:metadata": {"f:finalizers": {'v:"example.com/b"': {}}}}
    result = apply(live, partial({}), "a", now=T2)
    assert result["metadata"]["finalizers"] == ["example.com/b"]
    assert managers(result) == [("b", "Apply", T1)]


@pytest.mark.parametrize(
    ("field", "first", "second", "owned_as"),
    [
        (
            "selector",
            {"matchLabels": {"app": "web", "tier": "x"}},
            {"matchLabels": {"app": "web"}},
            {"f:selector": {}},
        ),
        (
            "template",
            {"spec": {"containers": [nginx(args=["a", "b"])]}},
            {"spec": {"containers": [nginx(args=["c"])]}},
            {
                "f:template": {
                    "f:spec": {
                        "f:containers": {
                            'k:{"name":"nginx"}': {".": {}, "f:args": {}, "f:image": {}, "f:name": {}}
                        }
                    }
                }
            },
        ),
        (
            "template",
            {"spec": {"containers": [nginx()], "nodeSelector": {"zone": "a", "disk": "ssd"}}},
            {"spec": {"containers": [nginx()], "nodeSelector": {"zone": "b"}}},
            {
                "f:template": {
                    "f:spec": {
                        "f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {}}},
                        "f:nodeSelector": {},
                    }
                }
            },
        ),
    ],
    ids=["an atomic struct (a label selector)", "an atomic list (args)", "an atomic map (nodeSelector)"],
)
def test_atomic_fields_are_replaced_whole_and_owned_as_one(
    field: str, first: dict[str, Any], second: dict[str, Any], owned_as: dict[str, Any]
) -> None:
    live = apply(None, partial({field: first}))
    result = apply(live, partial({field: second}), now=T1)
    assert result["spec"][field] == second
    assert owned(result, "kubectl") == {"f:spec": owned_as}


def test_changing_one_key_of_an_atomic_map_conflicts_on_the_whole_map() -> None:
    template = {"spec": {"containers": [nginx()], "nodeSelector": {"zone": "a", "disk": "ssd"}}}
    live = apply(None, partial({"template": template}), "a")
    change = partial({"template": {"spec": {"nodeSelector": {"zone": "a", "disk": "hdd"}}}})
    error = conflict(lambda: apply(live, change, "b", now=T1))
    assert [c["field"] for c in error.details["causes"]] == [".spec.template.spec.nodeSelector"]


def test_fields_the_schema_does_not_know_are_granular_maps_and_atomic_lists() -> None:
    created = apply(None, partial({"extra": {"knob": 1, "list": [1, 2]}}))
    assert owned(created, "kubectl") == {"f:spec": {"f:extra": {".": {}, "f:knob": {}, "f:list": {}}}}
    result = apply(created, partial({"extra": {"list": [3]}}), "other", force=True, now=T1)
    assert result["spec"]["extra"] == {"knob": 1, "list": [3]}


def test_status_is_not_owned_through_the_main_resource_and_spec_not_through_status() -> None:
    with_status = deployment()
    with_status["status"] = {"replicas": 3}
    created = apply(None, with_status)
    assert "f:status" not in owned(created, "kubectl")
    status = partial({"replicas": 9})
    status["status"] = {"availableReplicas": 3}
    result = apply(created, status, "kube-controller-manager", subresource="status", now=T1)
    (entry,) = [e for e in result["metadata"]["managedFields"] if e["manager"] == "kube-controller-manager"]
    assert (entry["operation"], entry["subresource"], entry["fieldsV1"]) == (
        "Apply",
        "status",
        {"f:status": {"f:availableReplicas": {}}},
    )


def test_applying_null_clears_a_field_the_applier_keeps_owning() -> None:
    live = apply(None, deployment())
    config = deployment()
    config["spec"]["replicas"] = None
    result = apply(live, config, now=T1)
    assert "replicas" not in result["spec"]
    assert "f:replicas" in owned(result, "kubectl")["f:spec"]


def test_reapplying_the_same_manifest_changes_nothing_and_keeps_the_time() -> None:
    live = apply(None, deployment())
    result = apply(live, deployment(), now=T2)
    assert result == live


def test_objects_from_before_tracking_give_their_fields_to_before_first_apply() -> None:
    live = deployment(replicas=2)
    live["metadata"].update(uid="u-1", resourceVersion="7")
    error = conflict(lambda: apply(live, deployment(replicas=4), now=T1))
    assert error.details["causes"][0]["message"] == 'conflict with "before-first-apply" using apps/v1'
    result = apply(live, deployment(replicas=2), now=T1)
    assert managers(result) == [("kubectl", "Apply", None), ("before-first-apply", "Update", T1)]


def test_kubectl_takes_over_fields_it_last_applied_client_side() -> None:
    manifest = deployment(replicas=2)
    last_applied = json.dumps(manifest)
    csa = copy.deepcopy(manifest)
    csa["metadata"]["annotations"] = {LAST_APPLIED: last_applied}
    live = update_managed_fields(None, csa, manager="kubectl-client-side-apply", now=T0)
    live["metadata"].update(uid="u-1", resourceVersion="1")

    conflict(lambda: apply(live, deployment(replicas=3), "someone-else", now=T1))
    result = apply(live, deployment(replicas=3), now=T1)
    assert result["spec"]["replicas"] == 3
    assert "f:replicas" not in owned(result, "kubectl-client-side-apply")["f:spec"]
    annotation = result["metadata"]["annotations"][LAST_APPLIED]
    assert annotation.endswith("\n")
    assert json.loads(annotation) == deployment(replicas=3)


def test_a_field_changed_since_the_last_client_side_apply_still_conflicts() -> None:
    manifest = deployment(replicas=2)
    csa = copy.deepcopy(manifest)
    csa["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(manifest)}
    live = update_managed_fields(None, csa, manager="kubectl-client-side-apply", now=T0)
    live["metadata"].update(uid="u-1", resourceVersion="1")
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 8
    scaled = update_managed_fields(live, scaled, manager="kubectl-client-side-apply", now=T1)
    error = conflict(lambda: apply(scaled, deployment(replicas=3), now=T2))
    assert [c["field"] for c in error.details["causes"]] == [".spec.replicas"]


def bad(**changes: Any) -> dict[str, Any]:
    body = deployment()
    for path, value in changes.items():
        node = body
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "manager", "code", "message"),
    [
        (
            deployment(),
            "",
            422,
            'PatchOptions.meta.k8s.io "" is invalid: '
            "fieldManager: Required value: is required for apply patch",
        ),
        (
            deployment(),
            "m" * 129,
            422,
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes',
        ),
        (["not", "an", "object"], "kubectl", 400, "error decoding YAML: the apply patch must be an object"),
        (bad(apiVersion=KeyError, kind=KeyError), "kubectl", 400, "invalid object type: /, Kind="),
        (bad(kind="StatefulSet"), "kubectl", 400, "invalid object type: apps/v1, Kind=StatefulSet"),
        (
            bad(apiVersion="apps/v1beta2"),
            "kubectl",
            400,
            "invalid object type: apps/v1beta2, Kind=Deployment",
        ),
        (bad(metadata__name=KeyError), "kubectl", 400, "metadata.name is required for apply"),
        (bad(metadata__managedFields=[]), "kubectl", 400, "metadata.managedFields must be nil"),
        (
            bad(spec__template__spec__containers=[{"image": "nginx"}]),
            "kubectl",
            400,
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
            ".spec.template.spec.containers: element 0: associative list with keys has an element that "
            'omits key field "name" (and doesn\'t have default value)',
        ),
        (
            bad(spec__template__spec__containers=[nginx(), nginx("other")]),
            "kubectl",
            400,
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
            '.spec.template.spec.containers: duplicate entries for key [name="nginx"]',
        ),
    ],
    ids=[
        "no field manager",
        "a field manager over 128 bytes",
        "a body that is not an object",
        "no apiVersion and kind",
        "another kind",
        "another version",
        "no name",
        "managedFields in the body",
        "a container without its name",
        "two containers with one name",
    ],
)
def test_bad_apply_requests_are_refused_like_upstream(
    body: Any, manager: str, code: int, message: str
) -> None:
    with pytest.raises(StatusError) as raised:
        server_side_apply(None, body, manager=manager, force=False, schema_node=DEPLOYMENT, now=T0)
    assert (raised.value.code, raised.value.message) == (code, message)


def test_the_name_cannot_differ_from_the_live_object() -> None:
    live = apply(None, deployment())
    renamed = deployment()
    renamed["metadata"]["name"] = "other"
    with pytest.raises(StatusError) as raised:
        apply(live, renamed, now=T1)
    assert raised.value.message == "the name of the object (other) does not match the name on the URL (web)"

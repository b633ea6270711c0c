"""Strategic merge patch, and `apply_patch`'s dispatch on the content type.

Expected results are kube-apiserver's: every successful case here gives the same object as
`kubectl patch --local --type strategic` (v1.32, the same apimachinery code) on the same input.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeapi import schema
from kubeapi.errors import StatusError
from kubeapi.patch import apply_patch, strategic

DEPLOYMENT = schema.for_kind("apps", "v1", "Deployment")
POD = schema.for_kind("", "v1", "Pod")
PDB = schema.for_kind("policy", "v1", "PodDisruptionBudget")
SMP = "application/strategic-merge-patch+json"


def deployment(containers: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", **metadata},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
        },
    }


def pod_spec(patch: dict[str, Any]) -> dict[str, Any]:
    """A Deployment patch touching only the pod template's spec."""
    return {"spec": {"template": {"spec": patch}}}


def containers_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


# kubectl apply: the live object (with the server's defaults) and the three-way patch kubectl sends
# when the manifest changes LOG_LEVEL, adds a "metrics" container, drops the "sidecar" container
# and the "tier" label. Deletions come from the last-applied configuration, the rest from the live
# object; $setElementOrder keeps the manifest's order.
LIVE = deployment(
    [
        {
            "name": "web",
            "image": "nginx:1.27",
            "env": [{"name": "MODE", "value": "prod"}, {"name": "LOG_LEVEL", "value": "info"}],
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
        },
        {"name": "sidecar", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"},
    ],
    labels={"app": "web", "tier": "frontend"},
    annotations={"kubectl.kubernetes.io/last-applied-configuration": "{...old...}\n"},
    resourceVersion="41",
)
REAPPLY = {
    "metadata": {
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...new...}\n"},
        "labels": {"tier": None},
    },
    "spec": {
        "template": {
            "spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "metrics"}],
                "containers": [
                    {
                        "$setElementOrder/env": [{"name": "MODE"}, {"name": "LOG_LEVEL"}],
                        "env": [{"name": "LOG_LEVEL", "value": "debug"}],
                        "name": "web",
                    },
                    {"image": "prom/exporter:1", "name": "metrics"},
                    {"$patch": "delete", "name": "sidecar"},
                ],
            }
        }
    },
}
REAPPLIED = deployment(
    [
        {
            "name": "web",
            "image": "nginx:1.27",
            "env": [{"name": "MODE", "value": "prod"}, {"name": "LOG_LEVEL", "value": "debug"}],
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
        },
        {"image": "prom/exporter:1", "name": "metrics"},
    ],
    labels={"app": "web"},
    annotations={"kubectl.kubernetes.io/last-applied-configuration": "{...new...}\n"},
    resourceVersion="41",
)

ABC = deployment([{"name": n, "image": f"{n}:1"} for n in "abc"], finalizers=["f1", "f2", "f3"])


def with_containers(*containers: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return deployment(list(containers), finalizers=["f1", "f2", "f3"], **metadata)


def c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": f"{name}:1", **fields}


CASES = [
    pytest.param(
        LIVE, REAPPLY, REAPPLIED, id="kubectl apply re-apply changes an env var, adds and removes containers"
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [{"name": "new", "image": "redis"}]}),
        with_containers({"name": "new", "image": "redis"}, c("a"), c("b"), c("c")),
        id="kubectl patch adding a container puts it before the existing ones",
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [{"name": "b", "image": "b:2", "tty": True}]}),
        with_containers(c("a"), c("b", image="b:2", tty=True), c("c")),
        id="a container named in the patch merges in place",
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [{"name": "b", "image": "b:2"}, c("d")]}),
        with_containers(c("a"), c("b", image="b:2"), c("d"), c("c")),
        id="patch elements keep their order and server-only ones stay where they were before them",
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [{"name": "c"}, {"name": "a"}]}),
        with_containers(c("b"), c("c"), c("a")),
        id="the patch's order wins for the elements it names",
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [{"$patch": "delete", "name": "b"}]}),
        with_containers(c("a"), c("c")),
        id="a $patch delete element removes the element with that merge key",
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [{"$patch": "delete", "name": "a"}, {"name": "a", "image": "fresh"}]}),
        with_containers({"name": "a", "image": "fresh"}, c("b"), c("c")),
        id="deleting and re-adding one key in a patch starts the element afresh",
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [c("z"), {"$patch": "replace"}]}),
        with_containers(c("z")),
        id="a $patch replace element makes the list exactly the patch's elements",
    ),
    pytest.param(
        ABC,
        pod_spec({"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}),
        with_containers(c("c"), c("b"), c("a")),
        id="$setElementOrder alone reorders the list",
    ),
    pytest.param(
        with_containers(*(c(n) for n in "abcde")),
        pod_spec(
            {
                "$setElementOrder/containers": [{"name": "d"}, {"name": "b"}],
                "containers": [{"name": "d", "tty": True}],
            }
        ),
        with_containers(c("a"), c("c"), c("d", tty=True), c("b"), c("e")),
        id="$setElementOrder keeps elements only the server has before those they preceded",
    ),
    pytest.param(
        ABC,
        pod_spec({"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}),
        with_containers(c("a", env=[{"name": "X", "value": "1"}]), c("b"), c("c")),
        id="a list the original element lacks is added to it",
    ),
    pytest.param(
        with_containers(c("a", ports=[{"containerPort": 80}, {"containerPort": 443}])),
        pod_spec({"containers": [{"name": "a", "ports": [{"containerPort": 443, "name": "https"}]}]}),
        with_containers(c("a", ports=[{"containerPort": 80}, {"containerPort": 443, "name": "https"}])),
        id="ports merge by containerPort",
    ),
    pytest.param(
        ABC,
        pod_spec(
            {
                "containers": [
                    {
                        "name": "a",
                        "ports": [
                            {"containerPort": 53, "protocol": "TCP"},
                            {"containerPort": 53, "protocol": "UDP"},
                        ],
                    }
                ]
            }
        ),
        with_containers(
            c(
                "a",
                ports=[{"containerPort": 53, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}],
            ),
            c("b"),
            c("c"),
        ),
        id="a new list is taken as it is, so two ports with one number stay two",
    ),
    pytest.param(
        ABC,
        pod_spec({"tolerations": [{"key": "gpu", "operator": "Exists", "effect": None}]}),
        {
            **ABC,
            "spec": {
                **ABC["spec"],
                "template": {
                    **ABC["spec"]["template"],
                    "spec": {
                        "containers": containers_of(ABC),
                        "tolerations": [{"key": "gpu", "operator": "Exists"}],
                    },
                },
            },
        },
        id="nulls in a new value are dropped",
    ),
    pytest.param(
        {
            **ABC,
            "spec": {
                **ABC["spec"],
                "template": {
                    **ABC["spec"]["template"],
                    "spec": {"containers": containers_of(ABC), "tolerations": [{"key": "a"}, {"key": "b"}]},
                },
            },
        },
        pod_spec({"tolerations": [{"key": "c"}]}),
        {
            **ABC,
            "spec": {
                **ABC["spec"],
                "template": {
                    **ABC["spec"]["template"],
                    "spec": {"containers": containers_of(ABC), "tolerations": [{"key": "c"}]},
                },
            },
        },
        id="a list without a patch strategy is replaced whole",
    ),
    pytest.param(
        ABC,
        {"metadata": {"finalizers": ["f4"]}},
        {**ABC, "metadata": {**ABC["metadata"], "finalizers": ["f4", "f1", "f2", "f3"]}},
        id="finalizers merge as a set, a new one first",
    ),
    pytest.param(
        ABC,
        {"metadata": {"finalizers": ["f2", "f9"]}},
        {**ABC, "metadata": {**ABC["metadata"], "finalizers": ["f1", "f2", "f9", "f3"]}},
        id="finalizers already present are not repeated",
    ),
    pytest.param(
        ABC,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f2", "absent"]}},
        {**ABC, "metadata": {**ABC["metadata"], "finalizers": ["f1", "f3"]}},
        id="$deleteFromPrimitiveList removes values from a list of primitives",
    ),
    pytest.param(
        ABC,
        {
            "metadata": {
                "$setElementOrder/finalizers": ["f1", "f3", "f4"],
                "$deleteFromPrimitiveList/finalizers": ["f2"],
                "finalizers": ["f4"],
            }
        },
        {**ABC, "metadata": {**ABC["metadata"], "finalizers": ["f1", "f3", "f4"]}},
        id="kubectl apply's finalizers change with $setElementOrder and $deleteFromPrimitiveList",
    ),
    pytest.param(
        ABC,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f2"], "finalizers": ["f2", "f9"]}},
        {**ABC, "metadata": {**ABC["metadata"], "finalizers": ["f2", "f9", "f1", "f3"]}},
        id="without $setElementOrder deletions apply before additions",
    ),
    pytest.param(
        ABC,
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        {**ABC, "spec": {**ABC["spec"], "strategy": {"type": "Recreate"}}},
        id="$retainKeys on the strategy switching to Recreate drops rollingUpdate",
    ),
    pytest.param(
        ABC,
        {"spec": {"strategy": {"type": "Recreate"}}},
        {
            **ABC,
            "spec": {
                **ABC["spec"],
                "strategy": {"type": "Recreate", "rollingUpdate": ABC["spec"]["strategy"]["rollingUpdate"]},
            },
        },
        id="without $retainKeys the strategy map merges",
    ),
    pytest.param(
        {**ABC, "metadata": {**ABC["metadata"], "labels": {"app": "web", "tier": "x"}}},
        {"metadata": {"labels": {"$patch": "replace", "team": "x"}}},
        {**ABC, "metadata": {**ABC["metadata"], "labels": {"team": "x"}}},
        id="$patch replace in a map replaces it",
    ),
    pytest.param(
        {**ABC, "metadata": {**ABC["metadata"], "labels": {"app": "web"}}},
        {"metadata": {"labels": {"$patch": "delete"}}},
        {**ABC, "metadata": {**ABC["metadata"], "labels": {}}},
        id="$patch delete in a map empties it",
    ),
    pytest.param(
        ABC,
        {
            "spec": {
                "paused": True,
                "extra": {"a": {"b": 1, "c": None}},
                "template": {"spec": {"misspelt": [1]}},
            }
        },
        {
            **ABC,
            "spec": {
                **ABC["spec"],
                "paused": True,
                "extra": {"a": {"b": 1}},
                "template": {
                    **ABC["spec"]["template"],
                    "spec": {"containers": containers_of(ABC), "misspelt": [1]},
                },
            },
        },
        id="fields the schema does not know merge like a JSON merge patch",
    ),
]


@pytest.mark.parametrize(("original", "patch", "expected"), CASES)
def test_strategic_merge_patch_gives_upstreams_result(
    original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert strategic.apply(original, patch, DEPLOYMENT) == expected


POD_WITH_VOLUMES = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {
        "containers": [{"name": "a", "image": "x"}],
        "volumes": [
            {"name": "v", "emptyDir": {"medium": "Memory"}},
            {"name": "w", "secret": {"secretName": "s"}},
        ],
    },
    "status": {
        "phase": "Pending",
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
    },
}


def test_retain_keys_in_a_volume_switches_its_source() -> None:
    patch = {
        "spec": {
            "$setElementOrder/volumes": [{"name": "v"}, {"name": "w"}],
            "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}, "name": "v"}],
        }
    }
    patched = strategic.apply(POD_WITH_VOLUMES, patch, POD)
    assert patched["spec"]["volumes"] == [
        {"name": "v", "configMap": {"name": "cm"}},
        {"name": "w", "secret": {"secretName": "s"}},
    ]


def test_status_conditions_merge_by_type() -> None:
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert strategic.apply(POD_WITH_VOLUMES, patch, POD)["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "PodScheduled", "status": "True"},
    ]


def test_a_map_with_the_replace_strategy_is_replaced_whole() -> None:
    pdb = {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "a"}, "matchExpressions": []}}}
    patched = strategic.apply(pdb, {"spec": {"selector": {"matchLabels": {"app": "b"}}}}, PDB)
    assert patched == {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "b"}}}}


def test_patch_replace_in_a_map_the_original_lacks_keeps_the_rest_of_it() -> None:
    """A deliberate difference: upstream drops such a map (and its content) altogether."""
    patched = strategic.apply(ABC, {"metadata": {"labels": {"$patch": "replace", "team": "x"}}}, DEPLOYMENT)
    assert patched["metadata"]["labels"] == {"team": "x"}


def test_without_a_schema_it_merges_like_a_merge_patch() -> None:
    original = {"spec": {"items": [1, 2], "map": {"a": 1, "b": 2}}}
    patch = {"spec": {"items": [3], "map": {"a": None, "c": 3}}}
    assert strategic.apply(original, patch, None) == {"spec": {"items": [3], "map": {"b": 2, "c": 3}}}


def test_inputs_are_not_changed_and_the_result_shares_nothing_with_them() -> None:
    live, patch = copy.deepcopy(LIVE), copy.deepcopy(REAPPLY)
    patched = strategic.apply(live, patch, DEPLOYMENT)
    assert live == LIVE and patch == REAPPLY
    containers_of(patched)[0]["env"].append({"name": "NEW"})
    patched["metadata"]["labels"]["x"] = "y"
    containers_of(patched)[1]["image"] = "changed"
    assert live == LIVE and patch == REAPPLY


ERRORS = [
    pytest.param(
        [{"op": "add"}],
        400,
        "a strategic merge patch must be a JSON object",
        id="a patch that is not an object",
    ),
    pytest.param(
        {"metadata": {"labels": {"$patch": "merge"}}},
        400,
        "merging lists cannot yet be specified",
        id="$patch merge in a map",
    ),
    pytest.param(
        {"metadata": {"labels": {"$patch": "bogus"}}},
        400,
        'unknown patch type: "bogus" in map',
        id="unknown $patch in a map",
    ),
    pytest.param(
        pod_spec({"containers": [{"$patch": "bogus", "name": "a"}]}),
        400,
        'unknown patch type: "bogus" in map: {"$patch":"bogus","name":"a"}',
        id="unknown $patch in a list",
    ),
    pytest.param(
        pod_spec({"containers": [{"image": "x"}]}),
        400,
        'map: {"image":"x"} does not contain declared merge key: name',
        id="a list element without its merge key",
    ),
    pytest.param(
        pod_spec({"containers": [{"$patch": "delete"}]}),
        400,
        'map: {"$patch":"delete"} does not contain declared merge key: name',
        id="a delete directive without the merge key",
    ),
    pytest.param(
        pod_spec(
            {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
                "containers": [{"name": "c"}, {"name": "a"}],
            }
        ),
        400,
        "doesn't match $setElementOrder/containers list",
        id="a patch list out of $setElementOrder's order",
    ),
    pytest.param(
        pod_spec({"$setElementOrder/containers": [{"image": "a"}]}),
        400,
        "does not contain declared merge key: name",
        id="a $setElementOrder entry without the merge key",
    ),
    pytest.param(
        {"metadata": {"$setElementOrderfinalizers": ["a"]}},
        400,
        'invalid patch format of setElementOrder list: "$setElementOrderfinalizers"',
        id="a $setElementOrder key without a field",
    ),
    pytest.param(
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "f1"}},
        400,
        "invalid patch format of primitive list",
        id="a $deleteFromPrimitiveList that is not a list",
    ),
    pytest.param(
        {
            "spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
            }
        },
        400,
        'invalid patch format of retainKeys: the patch sets "rollingUpdate"',
        id="a patch setting a key $retainKeys does not list",
    ),
    pytest.param(
        {"metadata": {"finalizers": [1]}},
        400,
        "list element types are not identical",
        id="a merging list of mixed types",
    ),
    pytest.param(
        {"metadata": {"finalizers": [["a"]]}}, 422, "lists of lists are not supported", id="a list of lists"
    ),
]


@pytest.mark.parametrize(("patch", "code", "message"), ERRORS)
def test_a_bad_patch_is_refused_with_upstreams_reason(patch: Any, code: int, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        strategic.apply(ABC, patch, DEPLOYMENT)
    assert raised.value.code == code and message in raised.value.message


# apply_patch: the content type picks the patch type.


def test_apply_patch_dispatches_on_the_content_type_ignoring_parameters() -> None:
    body = json.dumps(pod_spec({"containers": [{"name": "b", "image": "b:2"}]})).encode()
    patched = apply_patch(ABC, body, f"{SMP}; charset=utf-8", DEPLOYMENT)
    assert containers_of(patched) == [c("a"), c("b", image="b:2"), c("c")]
    merged = apply_patch(ABC, body.decode(), "application/merge-patch+json", DEPLOYMENT)
    assert containers_of(merged) == [{"name": "b", "image": "b:2"}]
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5}]
    assert apply_patch(ABC, ops, "application/json-patch+json", DEPLOYMENT)["spec"]["replicas"] == 5


def test_a_kind_without_a_schema_refuses_strategic_merge_patch_with_415() -> None:
    with pytest.raises(StatusError) as raised:
        apply_patch({"kind": "Widget"}, b"{}", SMP, None)
    assert (raised.value.code, raised.value.reason) == (415, "UnsupportedMediaType")
    assert raised.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/apply-patch+yaml"])
def test_other_content_types_are_refused_with_415(content_type: str) -> None:
    with pytest.raises(StatusError) as raised:
        apply_patch(ABC, b"{}", content_type, DEPLOYMENT)
    assert raised.value.code == 415
    assert raised.value.message.endswith(
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        pytest.param(b'{"spec": ', SMP, "the patch is not valid JSON: Expecting value", id="truncated JSON"),
        pytest.param(b'{"spec": {"replicas": NaN}}', SMP, "NaN is not a JSON value", id="NaN"),
        pytest.param(b"\xff", SMP, "the patch is not valid JSON", id="not UTF-8"),
        pytest.param(
            b"[1]",
            "application/merge-patch+json",
            "a merge patch must be a JSON object, not an array",
            id="merge patch array",
        ),
        pytest.param(
            b"null",
            "application/merge-patch+json",
            "a merge patch must be a JSON object, not null",
            id="merge patch null",
        ),
    ],
)
def test_a_body_that_is_not_a_patch_is_a_bad_request(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        apply_patch(ABC, body, content_type, DEPLOYMENT)
    assert raised.value.code == 400 and message in raised.value.message


def test_a_json_patch_that_leaves_no_object_is_invalid() -> None:
    with pytest.raises(StatusError) as raised:
        apply_patch(
            ABC, b'[{"op": "replace", "path": "", "value": 5}]', "application/json-patch+json", DEPLOYMENT
        )
    assert (raised.value.code, raised.value.message) == (
        422,
        "the patched document is a number, not an object",
    )

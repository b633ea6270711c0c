"""JSON Merge Patch (RFC 7386): what `kubectl patch --type merge` and `kubectl scale` send.

The RFC's appendix A examples, kube-apiserver's null pruning inside lists (checked against
`kubectl patch --local --type merge`, v1.32), and the two-way diff `create`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeapi.patch import merge_patch

RFC_7386_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC_7386_APPENDIX_A)
def test_the_rfcs_examples(original: Any, patch: Any, expected: Any) -> None:
    assert merge_patch.apply(original, patch) == expected


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "frontend"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "side", "image": "busybox"}]}
        },
    },
}


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        pytest.param(
            {"spec": {"replicas": 3}},
            {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": 3}},
            id="kubectl scale's patch sets the replicas",
        ),
        pytest.param(
            {"metadata": {"labels": {"tier": None, "version": "v2"}}},
            {**DEPLOYMENT, "metadata": {"name": "web", "labels": {"app": "web", "version": "v2"}}},
            id="null deletes a label and a new one is added",
        ),
        pytest.param(
            {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "redis"}]}}}},
            {
                **DEPLOYMENT,
                "spec": {
                    "replicas": 2,
                    "template": {"spec": {"containers": [{"name": "only", "image": "redis"}]}},
                },
            },
            id="a list is replaced whole, unlike a strategic merge patch",
        ),
        pytest.param(
            {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": None}, None]}}}},
            {
                **DEPLOYMENT,
                "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "only"}, None]}}},
            },
            id="nulls inside a list's objects are dropped as upstream does",
        ),
        pytest.param(
            {"metadata": {"annotations": {"a": None, "b": {"c": None, "d": [{"e": None}]}}}},
            {**DEPLOYMENT, "metadata": {**DEPLOYMENT["metadata"], "annotations": {"b": {"d": [{}]}}}},
            id="nulls in a new value are dropped at any depth",
        ),
        pytest.param(
            {"metadata": {"labels": [{"a": None}]}},
            {**DEPLOYMENT, "metadata": {"name": "web", "labels": [{"a": None}]}},
            id="a list replacing an object is taken as it is as upstream does",
        ),
    ],
)
def test_kubectl_merge_patches_give_upstreams_result(patch: dict[str, Any], expected: dict[str, Any]) -> None:
    assert merge_patch.apply(DEPLOYMENT, patch) == expected


def test_inputs_are_not_changed_and_the_result_shares_nothing_with_them() -> None:
    document, patch = (
        copy.deepcopy(DEPLOYMENT),
        {"metadata": {"annotations": {"a": "1"}}, "spec": {"replicas": 5}},
    )
    patched = merge_patch.apply(document, patch)
    patched["metadata"]["labels"]["x"] = "y"
    patched["metadata"]["annotations"]["b"] = "2"
    patched["spec"]["template"]["spec"]["containers"].clear()
    assert document == DEPLOYMENT
    assert patch == {"metadata": {"annotations": {"a": "1"}}, "spec": {"replicas": 5}}


@pytest.mark.parametrize(
    ("original", "modified", "patch"),
    [
        pytest.param(DEPLOYMENT, DEPLOYMENT, {}, id="no change is an empty patch"),
        pytest.param(
            DEPLOYMENT,
            {**DEPLOYMENT, "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "1"}}},
            {"metadata": {"labels": {"tier": None}, "annotations": {"a": "1"}}},
            id="removed keys become null and new ones are set",
        ),
        pytest.param(
            DEPLOYMENT,
            {
                **DEPLOYMENT,
                "spec": {**DEPLOYMENT["spec"], "template": {"spec": {"containers": [{"name": "web"}]}}},
            },
            {"spec": {"template": {"spec": {"containers": [{"name": "web"}]}}}},
            id="a changed list is sent whole",
        ),
        pytest.param({"a": 1}, {"a": 1.0, "b": True}, {"b": True}, id="equal numbers are no change"),
        pytest.param({"a": 1}, {"a": True}, {"a": True}, id="true is a change from 1"),
        pytest.param({"a": {"b": 1}}, {"a": "x"}, {"a": "x"}, id="an object replaced by a string"),
        pytest.param({"a": 1}, ["x"], ["x"], id="a document that is not an object is the patch itself"),
    ],
)
def test_create_gives_the_two_way_diff(original: Any, modified: Any, patch: Any) -> None:
    created = merge_patch.create(original, modified)
    assert created == patch
    assert merge_patch.apply(original, created) == modified

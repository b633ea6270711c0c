"""JSON Patch (RFC 6902) as kube-apiserver applies it: what `kubectl patch --type json` sends.

Successful cases give the same object as `kubectl patch --local --type json` (v1.32, the same
evanphx/json-patch library kube-apiserver uses), including its leniencies.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeapi.errors import StatusError
from kubeapi.patch import json_patch

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web",
        "labels": {"app.kubernetes.io/name": "web", "tier": "frontend"},
        "annotations": {"a~b": "1"},
    },
    "spec": {
        "containers": [
            {"name": "web", "image": "nginx:1.27", "args": ["-g", "daemon off;"]},
            {"name": "sidecar", "image": "busybox"},
        ]
    },
}


def changed(**paths: Any) -> dict[str, Any]:
    """POD with top-level sections replaced, e.g. changed(metadata={...})."""
    return {**copy.deepcopy(POD), **paths}


def with_containers(*containers: dict[str, Any]) -> dict[str, Any]:
    return changed(spec={"containers": list(containers)})


WEB, SIDECAR = POD["spec"]["containers"]

CASES = [
    pytest.param(
        [{"op": "add", "path": "/metadata/labels/version", "value": "v2"}],
        changed(metadata={**POD["metadata"], "labels": {**POD["metadata"]["labels"], "version": "v2"}}),
        id="add sets a member of an object",
    ),
    pytest.param(
        [{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.28"}],
        with_containers({**WEB, "image": "nginx:1.28"}, SIDECAR),
        id="replace changes a container's image by index",
    ),
    pytest.param(
        [{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1name"}],
        changed(metadata={**POD["metadata"], "labels": {"tier": "frontend"}}),
        id="~1 in a pointer stands for a slash in a key",
    ),
    pytest.param(
        [{"op": "replace", "path": "/metadata/annotations/a~0b", "value": "2"}],
        changed(metadata={**POD["metadata"], "annotations": {"a~b": "2"}}),
        id="~0 in a pointer stands for a tilde in a key",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/containers/-", "value": {"name": "new"}}],
        with_containers(WEB, SIDECAR, {"name": "new"}),
        id="add at - appends to an array",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/containers/0", "value": {"name": "new"}}],
        with_containers({"name": "new"}, WEB, SIDECAR),
        id="add at an index inserts before it",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/containers/2", "value": {"name": "new"}}],
        with_containers(WEB, SIDECAR, {"name": "new"}),
        id="add at the array's length appends",
    ),
    pytest.param(
        [{"op": "remove", "path": "/spec/containers/1"}],
        with_containers(WEB),
        id="remove deletes an array element",
    ),
    pytest.param(
        [
            {"op": "remove", "path": "/spec/containers/-1"},
            {"op": "add", "path": "/spec/containers/-1", "value": {"name": "z"}},
        ],
        with_containers(WEB, {"name": "z"}),
        id="negative indices count from the end as upstream allows",
    ),
    pytest.param(
        [{"op": "replace", "path": "/spec/containers/01/image", "value": "b"}],
        with_containers(WEB, {**SIDECAR, "image": "b"}),
        id="an index with a leading zero is read as a number as upstream does",
    ),
    pytest.param(
        [{"op": "replace", "path": "/metadata/namespace", "value": "prod"}],
        changed(metadata={**POD["metadata"], "namespace": "prod"}),
        id="replace of a missing member of an existing object adds it as upstream does",
    ),
    pytest.param(
        [
            {"op": "test", "path": "/spec/containers/0/name", "value": "web"},
            {"op": "test", "path": "/metadata/namespace", "value": None},
            {"op": "remove", "path": "/spec/containers/0"},
        ],
        with_containers(SIDECAR),
        id="tests that pass let the patch apply, null matching a missing member",
    ),
    pytest.param(
        [{"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/annotations/tier"}],
        changed(
            metadata={
                **POD["metadata"],
                "labels": {"app.kubernetes.io/name": "web"},
                "annotations": {"a~b": "1", "tier": "frontend"},
            }
        ),
        id="move takes a value from one place to another",
    ),
    pytest.param(
        [{"op": "copy", "from": "/spec/containers/0", "path": "/spec/containers/-"}],
        with_containers(WEB, SIDECAR, WEB),
        id="copy duplicates a value",
    ),
    pytest.param(
        [{"op": "replace", "path": "", "value": {"kind": "Pod"}}],
        {"kind": "Pod"},
        id="replace at the root replaces the document",
    ),
    pytest.param([], POD, id="an empty patch changes nothing"),
]


@pytest.mark.parametrize(("operations", "expected"), CASES)
def test_json_patch_gives_upstreams_result(operations: list[dict[str, Any]], expected: Any) -> None:
    assert json_patch.apply(POD, operations) == expected


def test_inputs_are_not_changed_and_inserted_values_are_copies() -> None:
    document, value = copy.deepcopy(POD), {"name": "new", "env": []}
    operations = [
        {"op": "add", "path": "/spec/containers/-", "value": value},
        {"op": "add", "path": "/spec/containers/2/env/-", "value": {"name": "X"}},
    ]
    patched = json_patch.apply(document, operations)
    assert document == POD and value == {"name": "new", "env": []}
    patched["metadata"]["labels"]["x"] = "y"
    assert document == POD


MALFORMED = [
    pytest.param(
        {"op": "add"}, "a JSON patch must be a JSON array of operations, not an object", id="not an array"
    ),
    pytest.param(
        ["add"],
        "operation 0 of the JSON patch is a string, not an object",
        id="an operation that is not an object",
    ),
    pytest.param(
        [{"op": "frob", "path": "/spec"}],
        'operation 0 of the JSON patch has an unknown op "frob" '
        "(expected one of add, remove, replace, move, copy, test)",
        id="an unknown op",
    ),
    pytest.param([{"path": "/spec"}], "has an unknown op missing", id="no op"),
    pytest.param(
        [{"op": "add", "value": 1}], 'operation 0 (add) of the JSON patch has no string "path"', id="no path"
    ),
    pytest.param(
        [{"op": "test", "path": "/kind", "value": "Pod"}, {"op": "add", "path": "/spec/x"}],
        'operation 1 (add) of the JSON patch has no "value"',
        id="no value",
    ),
    pytest.param(
        [{"op": "move", "path": "/spec"}],
        'operation 0 (move) of the JSON patch has no string "from"',
        id="no from",
    ),
    pytest.param(
        [{"op": "remove", "path": "spec/replicas"}],
        'JSON pointer "spec/replicas" does not start with "/"',
        id="a pointer without a leading slash",
    ),
    pytest.param(
        [{"op": "remove", "path": "/metadata/a~2b"}],
        'JSON pointer "/metadata/a~2b" has a "~" not followed by 0 or 1',
        id="a pointer with a bad escape",
    ),
]


@pytest.mark.parametrize(("operations", "message"), MALFORMED)
def test_a_malformed_patch_is_a_bad_request(operations: Any, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        json_patch.apply(POD, operations)
    assert (raised.value.code, raised.value.reason) == (400, "BadRequest")
    assert message in raised.value.message


NOT_APPLICABLE = [
    pytest.param(
        [{"op": "replace", "path": "/spec/foo/bar", "value": 1}],
        'replace operation does not apply: doc is missing path: "/spec/foo/bar": missing value',
        id="replace under a missing member",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/foo/bar", "value": 1}],
        'add operation does not apply: doc is missing path: "/spec/foo/bar": missing value',
        id="add under a missing member",
    ),
    pytest.param(
        [{"op": "remove", "path": "/metadata/namespace"}],
        'remove operation does not apply: doc is missing path: "/metadata/namespace": missing value',
        id="remove of a missing member",
    ),
    pytest.param(
        [{"op": "add", "path": "/metadata/name/x", "value": 1}],
        'add operation does not apply: doc is missing path: "/metadata/name/x": missing value',
        id="add under a string",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/containers/3", "value": {}}],
        "add operation does not apply: index 3 is out of range in path: "
        '"/spec/containers/3": invalid index referenced',
        id="add past the end of an array",
    ),
    pytest.param(
        [{"op": "remove", "path": "/spec/containers/-3"}],
        'remove operation does not apply: index -3 is out of range in path: "/spec/containers/-3"',
        id="remove before the start of an array",
    ),
    pytest.param(
        [{"op": "replace", "path": "/spec/containers/-", "value": {}}],
        'replace operation does not apply: "-" is not an array index in path: "/spec/containers/-"',
        id="replace at the end marker",
    ),
    pytest.param(
        [{"op": "add", "path": "/spec/containers/x", "value": {}}],
        'add operation does not apply: "x" is not an array index in path: "/spec/containers/x"',
        id="a name as an array index",
    ),
    pytest.param(
        [{"op": "test", "path": "/spec/containers/0/image", "value": "nginx:1.26"}],
        'test operation does not apply: the value at "/spec/containers/0/image" '
        "is not the one the test expects",
        id="a failed test",
    ),
    pytest.param(
        [{"op": "test", "path": "/metadata/namespace", "value": "prod"}],
        'test operation does not apply: doc is missing path: "/metadata/namespace": missing value',
        id="a test of a missing member",
    ),
    pytest.param(
        [{"op": "move", "from": "/metadata/labels", "path": "/metadata/labels/inner"}],
        'move operation does not apply: path "/metadata/labels/inner" is inside from path "/metadata/labels"',
        id="a move into its own child",
    ),
    pytest.param(
        [{"op": "copy", "from": "/metadata/namespace", "path": "/metadata/ns"}],
        'copy operation does not apply: doc is missing from path: "/metadata/namespace": missing value',
        id="a copy from a missing member (where upstream copies a null)",
    ),
    pytest.param(
        [{"op": "add", "path": "", "value": {}}],
        'add operation does not apply: doc is missing path: "": missing value',
        id="add at the root",
    ),
    pytest.param(
        [{"op": "remove", "path": ""}],
        'remove operation does not apply: doc is missing path: "": missing value',
        id="remove of the root",
    ),
]


@pytest.mark.parametrize(("operations", "message"), NOT_APPLICABLE)
def test_an_operation_that_does_not_apply_is_invalid(operations: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(StatusError) as raised:
        json_patch.apply(POD, operations)
    assert (raised.value.code, raised.value.reason) == (422, "Invalid")
    assert raised.value.message.startswith(message)


def test_a_failing_operation_aborts_the_whole_patch() -> None:
    document = copy.deepcopy(POD)
    operations = [
        {"op": "add", "path": "/metadata/labels/version", "value": "v2"},
        {"op": "test", "path": "/spec/containers/0/name", "value": "other"},
    ]
    with pytest.raises(StatusError):
        json_patch.apply(document, operations)
    assert document == POD


def test_more_operations_than_upstream_allows_is_too_large() -> None:
    operations = [{"op": "test", "path": "/kind", "value": "Pod"}] * (json_patch.MAX_OPERATIONS + 1)
    with pytest.raises(StatusError) as raised:
        json_patch.apply(POD, operations)
    assert raised.value.code == 413
    assert raised.value.message == "The allowed maximum operations in a JSON patch is 10000, got: 10001"


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        pytest.param(1, 1.0, True, id="numbers compare by value"),
        pytest.param(True, 1, False, id="true is not 1"),
        pytest.param(False, 0, False, id="false is not 0"),
        pytest.param(None, False, False, id="null is not false"),
        pytest.param("1", 1, False, id="a string is not a number"),
        pytest.param(
            {"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]}, True, id="nested values compare deeply"
        ),
        pytest.param({"a": 1}, {"a": 1, "b": 2}, False, id="objects need the same members"),
        pytest.param([1, 2], [2, 1], False, id="arrays are ordered"),
    ],
)
def test_json_equality_is_rfc_6902s(a: Any, b: Any, equal: bool) -> None:
    assert json_patch.json_equal(a, b) is equal
    assert json_patch.json_equal(b, a) is equal


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        ("", []),
        ("/", [""]),
        ("/a/b", ["a", "b"]),
        ("/a~1b/c~0d", ["a/b", "c~d"]),
        ("/~01", ["~1"]),
        ("/spec/containers/-", ["spec", "containers", "-"]),
    ],
)
def test_pointers_decode_per_rfc_6901(pointer: str, tokens: list[str]) -> None:
    assert json_patch.parse_pointer(pointer) == tokens

"""What configMap, secret and downwardAPI volume files hold (upstream's MakePayload and CollectData)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubelet.volumes.atomic_writer import FileProjection
from kubelet.volumes.downward import (
    DownwardAPIError,
    container_resource_value,
    convert_field_label,
    extract_field_path,
    format_map,
    resource_value,
)
from kubelet.volumes.payload import (
    SourceError,
    aggregate,
    config_map_payload,
    downward_api_payload,
    secret_payload,
)

CONFIG_MAP = {"data": {"a": "1", "b": "2"}, "binaryData": {"bin": base64.b64encode(b"\x00\xff").decode()}}
SECRET = {"data": {"user": base64.b64encode(b"admin").decode(), "pw": base64.b64encode(b"s3cret").decode()}}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


POD: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "namespace": "prod",
        "uid": "u-1",
        "labels": {"tier": "front", "app": "web"},
        "annotations": {"note": 'say "hi"\n', "k8s.io/x": "y"},
    },
    "spec": {
        "containers": [
            {
                "name": "app",
                "resources": {
                    "requests": {"cpu": "250m", "memory": "64Mi"},
                    "limits": {"cpu": "1500m", "memory": "128Mi"},
                },
            },
            {"name": "side"},
        ]
    },
}


def test_config_map_without_items_has_every_key_with_the_default_mode() -> None:
    payload = config_map_payload(CONFIG_MAP, None, 0o600, False)
    assert payload == {
        "a": FileProjection(b"1", 0o600),
        "b": FileProjection(b"2", 0o600),
        "bin": FileProjection(b"\x00\xff", 0o600),
    }


def test_config_map_items_pick_keys_to_paths_with_their_own_modes() -> None:
    items = [{"key": "a", "path": "conf/a.txt", "mode": 0o400}, {"key": "bin", "path": "b.bin"}]
    assert config_map_payload(CONFIG_MAP, items, None, False) == {
        "conf/a.txt": FileProjection(b"1", 0o400),
        "b.bin": FileProjection(b"\x00\xff", 0o644),
    }


def test_a_missing_item_key_is_an_error_unless_optional() -> None:
    items = [{"key": "nope", "path": "x"}, {"key": "a", "path": "a"}]
    with pytest.raises(SourceError, match=r"^configmap references non-existent config key: nope$"):
        config_map_payload(CONFIG_MAP, items, None, False)
    assert config_map_payload(CONFIG_MAP, items, None, True) == {"a": FileProjection(b"1", 0o644)}


def test_secret_values_are_decoded_and_missing_keys_named() -> None:
    assert secret_payload(SECRET, None, 0o400, False) == {
        "user": FileProjection(b"admin", 0o400),
        "pw": FileProjection(b"s3cret", 0o400),
    }
    with pytest.raises(SourceError, match=r"^references non-existent secret key: token$"):
        secret_payload(SECRET, [{"key": "token", "path": "t"}], None, False)


def test_an_empty_source_gives_an_empty_payload() -> None:
    assert config_map_payload({}, None, None, True) == {}
    assert secret_payload({}, None, None, True) == {}


def test_format_map_sorts_keys_and_go_quotes_values() -> None:
    assert format_map({"b": "2", "a": 'x"y\n', "c": "é"}) == 'a="x\\"y\\n"\nb="2"\nc="é"'


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "web"),
        ("metadata.namespace", "prod"),
        ("metadata.uid", "u-1"),
        ("metadata.labels", 'app="web"\ntier="front"'),
        ("metadata.annotations", 'k8s.io/x="y"\nnote="say \\"hi\\"\\n"'),
        ("metadata.labels['tier']", "front"),
        ("metadata.labels['missing']", ""),
        ("metadata.annotations['k8s.io/x']", "y"),
    ],
)
def test_field_paths(path: str, value: str) -> None:
    assert extract_field_path(POD, path) == value


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("spec.nodeName", "unsupported fieldPath: spec.nodeName"),
        ("metadata.name['x']", "fieldPath \"metadata.name['x']\" does not support subscript"),
        ("metadata.labels['-bad-']", "invalid key subscript in metadata.labels['-bad-']: name part must"),
    ],
)
def test_field_path_errors(path: str, message: str) -> None:
    with pytest.raises(DownwardAPIError) as error:
        extract_field_path(POD, path)
    assert str(error.value).startswith(message)


def test_field_labels_convert_like_upstream() -> None:
    assert convert_field_label("v1", "spec.host") == "spec.nodeName"
    assert convert_field_label("", "status.podIP") == "status.podIP"
    with pytest.raises(DownwardAPIError, match=r"^unsupported pod version: v2$"):
        convert_field_label("v2", "metadata.name")
    with pytest.raises(DownwardAPIError, match=r"^field label not supported: spec.bogus$"):
        convert_field_label("v1", "spec.bogus")
    with pytest.raises(DownwardAPIError, match=r"^field label does not support subscript: spec\['x'\]$"):
        convert_field_label("v1", "spec['x']")


@pytest.mark.parametrize(
    ("resource", "divisor", "value"),
    [
        ("limits.cpu", None, "2"),  # 1.5 cores, rounded up
        ("limits.cpu", "1m", "1500"),
        ("requests.cpu", "100m", "3"),  # 250m / 100m = 2.5 -> 3
        ("limits.memory", None, str(128 * 2**20)),
        ("limits.memory", "1Mi", "128"),
        ("requests.memory", "1M", "68"),  # 67.1 MB -> 68
        ("requests.ephemeral-storage", None, "0"),
    ],
)
def test_container_resource_values_are_ceilings_in_divisor_units(
    resource: str, divisor: str | None, value: str
) -> None:
    selector = {"resource": resource, **({"divisor": divisor} if divisor else {})}
    assert container_resource_value(selector, POD["spec"]["containers"][0]) == value


def test_unset_limits_default_to_the_node_allocatable() -> None:
    selector = {"containerName": "side", "resource": "limits.memory", "divisor": "1Mi"}
    assert resource_value(selector, POD, None, {"memory": "2Gi", "cpu": "4"}) == "2048"
    assert (
        resource_value({**selector, "resource": "limits.cpu", "divisor": "1"}, POD, None, {"cpu": "4"}) == "4"
    )
    # Requests are not defaulted.
    assert resource_value({**selector, "resource": "requests.cpu"}, POD, None, {"cpu": "4"}) == "0"


def test_resource_errors_name_the_problem() -> None:
    with pytest.raises(DownwardAPIError, match=r"^container nope not found$"):
        resource_value({"containerName": "nope", "resource": "limits.cpu"}, POD, None, None)
    with pytest.raises(DownwardAPIError, match=r"^unsupported container resource : limits.gpu$"):
        resource_value({"containerName": "app", "resource": "limits.gpu"}, POD, None, None)


def test_downward_api_payload_collects_every_item_and_reports_all_errors() -> None:
    items = [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "./sub/name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
        {
            "path": "mem",
            "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"},
        },
    ]
    assert downward_api_payload(items, POD, None, None) == {
        "labels": FileProjection(b'app="web"\ntier="front"', 0o644),
        "sub/name": FileProjection(b"web", 0o400),
        "mem": FileProjection(b"128", 0o644),
    }
    bad = [
        {"path": "a", "fieldRef": {"fieldPath": "spec.nodeName"}},
        {"path": "b", "resourceFieldRef": {"containerName": "x", "resource": "limits.cpu"}},
    ]
    with pytest.raises(SourceError) as error:
        downward_api_payload(bad, POD, None, None)
    assert str(error.value) == "[unsupported fieldPath: spec.nodeName, container x not found]"


def test_aggregate_reads_like_upstream() -> None:
    assert aggregate(["one"]) == "one"
    assert aggregate(["a", "b", "a"]) == "[a, b]"

"""What the files of a configMap, secret or downwardAPI volume hold (pure): upstream's MakePayload and
CollectData. A payload maps a path inside the volume to its bytes and mode; the AtomicWriter puts it
on disk. Failures raise `PayloadError`-style ValueErrors with upstream's messages.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from typing import Any

from kubelet.volumes.atomic_writer import FileProjection
from kubelet.volumes.downward import DownwardAPIError, extract_field_path, resource_value

Obj = Mapping[str, Any]
DEFAULT_MODE = 0o644  # the API's default for defaultMode (420)


class SourceError(ValueError):
    """A key an item names is missing, or a downward API value cannot be read."""


def aggregate(messages: Sequence[str]) -> str:
    """utilerrors.NewAggregate's text: one message as it is, several as "[a, b]" (duplicates once)."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def decode_data(obj: Obj, field: str) -> dict[str, bytes]:
    """A base64 map of a Secret (`data`) or ConfigMap (`binaryData`), decoded."""
    out = {}
    for key, value in (obj.get(field) or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise SourceError(f"{field}[{key}]: not valid base64") from None
    return out


def config_map_data(config_map: Obj) -> dict[str, bytes]:
    data = {key: str(value).encode() for key, value in (config_map.get("data") or {}).items()}
    return {**data, **{k: v for k, v in decode_data(config_map, "binaryData").items() if k not in data}}


def _keyed_payload(
    data: Mapping[str, bytes],
    items: Sequence[Obj] | None,
    default_mode: int | None,
    optional: bool,
    missing: str,
) -> dict[str, FileProjection]:
    mode = DEFAULT_MODE if default_mode is None else default_mode
    if not items:
        return {key: FileProjection(value, mode) for key, value in data.items()}
    payload = {}
    for item in items:
        key = str(item.get("key") or "")
        if key not in data:
            if optional:
                continue
            raise SourceError(f"{missing}: {key}")
        item_mode = item.get("mode")
        payload[str(item.get("path") or key)] = FileProjection(
            data[key], mode if item_mode is None else int(item_mode)
        )
    return payload


def config_map_payload(
    config_map: Obj, items: Sequence[Obj] | None, default_mode: int | None, optional: bool
) -> dict[str, FileProjection]:
    missing = "configmap references non-existent config key"
    return _keyed_payload(config_map_data(config_map), items, default_mode, optional, missing)


def secret_payload(
    secret: Obj, items: Sequence[Obj] | None, default_mode: int | None, optional: bool
) -> dict[str, FileProjection]:
    return _keyed_payload(
        decode_data(secret, "data"), items, default_mode, optional, "references non-existent secret key"
    )


def downward_api_payload(
    items: Sequence[Obj] | None,
    pod: Obj,
    default_mode: int | None,
    node_allocatable: Mapping[str, str] | None,
) -> dict[str, FileProjection]:
    """One file per item: a pod metadata field, or a container's resource in units of the divisor.
    Every item is tried; the errors are reported together, as upstream's aggregate."""
    mode = DEFAULT_MODE if default_mode is None else default_mode
    payload, errors = {}, []
    for item in items or []:
        item_mode = item.get("mode")
        data = b""
        try:
            if item.get("fieldRef"):
                data = extract_field_path(pod, str(item["fieldRef"].get("fieldPath") or "")).encode()
            elif item.get("resourceFieldRef"):
                data = resource_value(item["resourceFieldRef"], pod, None, node_allocatable).encode()
        except DownwardAPIError as error:
            errors.append(str(error))
        payload[os.path.normpath(str(item.get("path") or ""))] = FileProjection(
            data, mode if item_mode is None else int(item_mode)
        )
    if errors:
        raise SourceError(aggregate(errors))
    return payload

"""Request bodies in (JSON, YAML, Kubernetes protobuf) and responses out (JSON or YAML), with the
errors upstream gives for bodies it cannot read."""

from __future__ import annotations

import json
from typing import Any

import yaml

from kubeapi import errors
from kubeapi.protobuf import decode as decode_protobuf

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type or one Accept entry ("application/json")."""
    return (header or "").split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None) -> dict[str, Any]:
    """An object from a create/update body; 400 when it is not one, 415 for unknown types."""
    kind = media_type(content_type) or JSON
    try:
        if kind in (JSON, "*/*"):
            obj = json.loads(body)
        elif kind in (YAML, "application/x-yaml", "text/yaml"):
            obj = yaml.safe_load(body)
        elif kind == PROTOBUF:
            obj = decode_protobuf(body)
        else:
            raise errors.unsupported_media_type(content_type or "")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {error}") from None
    except yaml.YAMLError as error:
        raise errors.bad_request(f"error converting YAML to JSON: {error}") from None
    if not isinstance(obj, dict):
        raise errors.bad_request("the body of the request is not a JSON object")
    return obj


def wants_yaml(accept: str | None) -> bool:
    first = media_type((accept or "").split(",", 1)[0])
    return first in (YAML, "application/x-yaml")


def encode(obj: Any, accept: str | None) -> tuple[bytes, str]:
    """The response body and its content type: YAML when asked for first, else JSON (also for
    clients that prefer protobuf: they accept JSON too)."""
    if wants_yaml(accept):
        return yaml.safe_dump(obj, sort_keys=False).encode(), YAML
    return dumps(obj), JSON


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

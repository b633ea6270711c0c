"""The PATCH verb's three patch types, as kube-apiserver applies them: pure functions from the
stored object and the request body to the patched object (which the caller then decodes,
defaults, validates and stores like an update).

    content type                                module       what sends it
    application/json-patch+json                 json_patch   kubectl patch --type json
    application/merge-patch+json                merge_patch  kubectl patch --type merge, kubectl scale
    application/strategic-merge-patch+json      strategic    kubectl apply (client-side), kubectl patch

Server-side apply (`application/apply-patch+yaml`) is not a patch of the stored object and is
handled elsewhere; route it before calling `apply_patch`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubeapi import errors, schema
from kubeapi.patch import json_patch, merge_patch, strategic

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# The order upstream lists them in its 415 answer; kinds without a schema (custom resources)
# accept no strategic merge patch.
_ACCEPTED_WITH_SCHEMA = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
_ACCEPTED_WITHOUT_SCHEMA = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)


def apply_patch(
    document: Mapping[str, Any],
    patch: bytes | bytearray | str | dict[str, Any] | list[Any],
    content_type: str,
    schema_node: schema.Node | None,
) -> dict[str, Any]:
    """The document patched as `content_type` says (parameters like "; charset=utf-8" ignored).

    `patch` is the request body (bytes or str, parsed as JSON) or an already parsed value.
    `schema_node` is the definition of the object's kind (`schema.for_kind`), None for a kind
    without one. Raises StatusError: 415 for a content type this kind does not take, 400 for a
    body that is not JSON or not a patch of that type, 422 for a patch that does not apply.
    """
    media_type = content_type.split(";", 1)[0].strip()
    accepted = _ACCEPTED_WITHOUT_SCHEMA if schema_node is None else _ACCEPTED_WITH_SCHEMA
    # The server takes apply patches too (hence the list), but routes them elsewhere first.
    if media_type not in accepted or media_type == APPLY_PATCH:
        raise unsupported_patch_type(accepted)
    body = decode_body(patch)
    try:
        if media_type == JSON_PATCH:
            patched = json_patch.apply(document, body)
        elif media_type == MERGE_PATCH:
            if not isinstance(body, dict):
                raise errors.bad_request(
                    f"a merge patch must be a JSON object, not {json_patch.json_type(body)}"
                )
            patched = merge_patch.apply(document, body)
        else:
            patched = strategic.apply(document, body, schema_node)
    except RecursionError:
        raise errors.bad_request("the patch is nested too deeply") from None
    if not isinstance(patched, dict):
        raise errors.StatusError(
            422, "Invalid", f"the patched document is {json_patch.json_type(patched)}, not an object"
        )
    return patched


def decode_body(patch: bytes | bytearray | str | dict[str, Any] | list[Any]) -> Any:
    """A patch body as JSON values (400 if it is not JSON; NaN and Infinity are not JSON)."""
    if not isinstance(patch, bytes | bytearray | str):
        return patch
    try:
        return json.loads(patch, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise errors.bad_request(f"the patch is not valid JSON: {e}") from None


def unsupported_patch_type(accepted: tuple[str, ...]) -> errors.StatusError:
    """415 worded as kube-apiserver words it for PATCH."""
    return errors.StatusError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_patch",
    "decode_body",
    "json_patch",
    "merge_patch",
    "strategic",
    "unsupported_patch_type",
]

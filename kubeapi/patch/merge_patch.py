"""RFC 7386 JSON Merge Patch (`application/merge-patch+json`): what `kubectl patch --type merge`
and `kubectl scale` send, and the only merging patch custom resources accept.

The patch mirrors the document: an object merges key by key (recursively), `null` deletes a key,
and anything else - a string, a number, a whole list - replaces what was there. Lists cannot be
merged; that is what the strategic merge patch adds for built-in kinds.

Like kube-apiserver (evanphx/json-patch), a value that replaces a non-object, or lands where there
was nothing, loses the `null` members of its objects, also inside lists (RFC 7386 would keep
those in lists); a list replacing an object is taken as it is.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeapi.patch.json_patch import json_equal


def apply(document: Any, patch: Any) -> Any:
    """The document with the patch merged in (the inputs are not changed)."""
    return _merge(copy.deepcopy(document), copy.deepcopy(patch))


def create(original: Any, modified: Any) -> Any:
    """The patch that turns `original` into `modified` (the two-way diff).

    A `null` inside `modified` cannot be expressed (it reads as "delete"), which RFC 7386 accepts
    as its limit; Kubernetes objects omit empty fields rather than storing nulls.
    """
    if not (isinstance(original, dict) and isinstance(modified, dict)):
        return copy.deepcopy(modified)
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, value in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif isinstance(original[key], dict) and isinstance(value, dict):
            if nested := create(original[key], value):
                patch[key] = nested
        elif not json_equal(original[key], value):
            patch[key] = copy.deepcopy(value)
    return patch


def _merge(target: Any, patch: Any) -> Any:
    """MergePatch on private copies, so untouched values can be shared."""
    if not isinstance(target, dict):
        return _without_nulls(patch)
    if not isinstance(patch, dict):
        return patch
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif merged.get(key) is None:
            merged[key] = _without_nulls(value)
        else:
            merged[key] = _merge(merged[key], value)
    return merged


def _without_nulls(value: Any) -> Any:
    """The value without `null` object members, at any depth (null list elements stay)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value

"""The `scale` subresource of Deployments, ReplicaSets, StatefulSets and ReplicationControllers:
an autoscaling/v1 Scale view of the parent's replicas (what `kubectl scale` and autoscalers use)."""

from __future__ import annotations

import copy
from typing import Any

from kubeapi import errors, labels

Object = dict[str, Any]


def selector_string(parent: Object) -> str:
    selector = parent.get("spec", {}).get("selector")
    if selector is None:
        return ""
    if parent.get("kind") == "ReplicationController":  # a plain map there
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return str(labels.from_label_selector(selector))


def to_scale(parent: Object) -> Object:
    meta = parent.get("metadata", {})
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": parent.get("spec", {}).get("replicas", 1)},
        "status": {
            "replicas": parent.get("status", {}).get("replicas", 0),
            "selector": selector_string(parent),
        },
    }


def with_replicas(parent: Object, scale: Object) -> Object:
    """The parent with the replicas a Scale asks for (checked like upstream)."""
    if scale.get("kind") not in (None, "Scale"):
        raise errors.bad_request(
            f"the kind in the data ({scale.get('kind')}) does not match the expected kind (Scale)"
        )
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        cause = errors.Cause(
            "FieldValueInvalid",
            f"Invalid value: {replicas!r}: must be greater than or equal to 0",
            "spec.replicas",
        )
        raise errors.invalid("Scale", parent["metadata"]["name"], [cause], "autoscaling")
    wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
    if wanted_rv and wanted_rv != parent["metadata"].get("resourceVersion"):
        raise errors.conflict(
            "scale",
            parent["metadata"]["name"],
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    updated = copy.deepcopy(parent)
    updated.setdefault("spec", {})["replicas"] = replicas
    updated["metadata"].pop("resourceVersion", None)
    return updated

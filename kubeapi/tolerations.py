"""Whether a pod's toleration tolerates a node's taint (upstream Toleration.ToleratesTaint, v1.32):
the scheduler's TaintToleration filter and the node lifecycle controller's eviction ask the same
question, and the kubelet will too.

    tolerates({"key": "dedicated", "operator": "Equal", "value": "web"}, taint)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """An empty effect or key matches any; operator Exists matches any value, Equal (or none) needs
    the same value; other operators match nothing."""
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")

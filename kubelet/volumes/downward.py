"""The downward API's values (pure): what `fieldRef` and `resourceFieldRef` read from a pod, for both
downwardAPI volume files and container environment variables.

Upstream: pkg/fieldpath (ExtractFieldPathAsString, FormatMap, SplitMaybeSubscriptedPath),
pkg/apis/core/pods (ConvertDownwardAPIFieldLabel) and pkg/api/v1/resource
(ExtractContainerResourceValue, whose values are ceilings of value/divisor). Failures raise
`DownwardAPIError` with upstream's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeapi.quantity import parse_quantity
from kubeapi.validation import go_quote
from kubeapi.validation.names import is_qualified_name

Obj = Mapping[str, Any]

# Field labels a fieldRef may name (ConvertDownwardAPIFieldLabel); only some of them have values.
FIELD_LABELS = frozenset(
    {
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    }
)
# Limits that default to the node's allocatable when a container sets none (MergeContainerResourceLimits).
DEFAULTED_LIMITS = ("cpu", "memory", "ephemeral-storage")


class DownwardAPIError(ValueError):
    pass


def split_maybe_subscripted_path(field_path: str) -> tuple[str, str, bool]:
    """ "metadata.labels['app']" -> ("metadata.labels", "app", True)."""
    if not field_path.endswith("']"):
        return field_path, "", False
    head, sep, subscript = field_path[:-2].partition("['")
    if not sep or not head:
        return field_path, "", False
    return head, subscript, True


def convert_field_label(api_version: str, label: str) -> str:
    """The internal field path of a fieldRef (only v1; `spec.host` is the old name of spec.nodeName)."""
    if (api_version or "v1") != "v1":
        raise DownwardAPIError(f"unsupported pod version: {api_version}")
    path, _, subscripted = split_maybe_subscripted_path(label)
    if subscripted:
        if path in ("metadata.annotations", "metadata.labels"):
            return label
        raise DownwardAPIError(f"field label does not support subscript: {label}")
    if label in FIELD_LABELS:
        return label
    if label == "spec.host":
        return "spec.nodeName"
    raise DownwardAPIError(f"field label not supported: {label}")


def format_map(values: Mapping[str, str]) -> str:
    """Labels or annotations as a file: `key="value"` lines sorted by key, Go-quoted values."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


def extract_field_path(pod: Obj, field_path: str) -> str:
    """The metadata fields the downward API exposes (ExtractFieldPathAsString)."""
    meta = pod.get("metadata") or {}
    path, subscript, subscripted = split_maybe_subscripted_path(field_path)
    if subscripted:
        if path == "metadata.annotations":
            errs = is_qualified_name(subscript.lower())
            if errs:
                raise DownwardAPIError(f"invalid key subscript in {field_path}: {';'.join(errs)}")
            return str((meta.get("annotations") or {}).get(subscript, ""))
        if path == "metadata.labels":
            errs = is_qualified_name(subscript)
            if errs:
                raise DownwardAPIError(f"invalid key subscript in {field_path}: {';'.join(errs)}")
            return str((meta.get("labels") or {}).get(subscript, ""))
        raise DownwardAPIError(f'fieldPath "{field_path}" does not support subscript')
    if field_path == "metadata.annotations":
        return format_map(meta.get("annotations") or {})
    if field_path == "metadata.labels":
        return format_map(meta.get("labels") or {})
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(field_path.split(".", 1)[1]) or "")
    raise DownwardAPIError(f"unsupported fieldPath: {field_path}")


def find_container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if container.get("name") == name:
            return dict(container)
    raise DownwardAPIError(f"container {name} not found")


def with_default_limits(container: Obj, node_allocatable: Mapping[str, str] | None) -> Obj:
    """The container with unset cpu/memory/ephemeral-storage limits set to the node's allocatable,
    which is what a container without a limit can use at most."""
    resources = dict(container.get("resources") or {})
    limits = dict(resources.get("limits") or {})
    for name in DEFAULTED_LIMITS:
        if name not in limits and node_allocatable and name in node_allocatable:
            limits[name] = node_allocatable[name]
    return {**container, "resources": {**resources, "limits": limits}}


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def container_resource_value(selector: Obj, container: Obj) -> str:
    """One `limits.*`/`requests.*` value of a container in units of the divisor, rounded up."""
    resource = str(selector.get("resource") or "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise DownwardAPIError(f"unsupported container resource : {resource}")
    amounts = (container.get("resources") or {}).get(kind) or {}
    try:
        divisor_text = selector.get("divisor")
        divisor = parse_quantity(str(divisor_text)) if divisor_text not in (None, "") else None
        amount = parse_quantity(str(amounts[name])) if name in amounts else parse_quantity("0")
    except ValueError as error:
        raise DownwardAPIError(f"{resource}: {error}") from None
    if divisor is not None and divisor.is_zero():
        divisor = None  # an unset (zero) divisor means 1
    if name == "cpu":
        milli_divisor = divisor.milli_value() if divisor is not None else 1000
        return str(_ceil_div(amount.milli_value(), milli_divisor))
    if name in ("memory", "ephemeral-storage") or name.startswith("hugepages-"):
        value_divisor = divisor.value() if divisor is not None else 1
        return str(_ceil_div(amount.value(), value_divisor))
    raise DownwardAPIError(f"unsupported container resource : {resource}")


def resource_value(
    selector: Obj, pod: Obj, container: Obj | None, node_allocatable: Mapping[str, str] | None
) -> str:
    """A resourceFieldRef's value: of `selector.containerName`, or of `container` when it names none
    (environment variables); limits default to the node's allocatable."""
    name = selector.get("containerName")
    if name:
        target = find_container(pod, str(name))
    elif container is not None:
        target = container
    else:
        raise DownwardAPIError("resourceFieldRef needs a containerName")
    return container_resource_value(selector, with_default_limits(target, node_allocatable))

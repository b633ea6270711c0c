"""Validation of apps/v1 (pkg/apis/apps/validation and the apps registry strategies): selectors
that select the template's pods and never change, replica counts, and update strategies."""

from __future__ import annotations

import re
from typing import Any

from kubeapi.errors import Cause
from kubeapi.validation import forbidden, not_supported, required
from kubeapi.validation.core import validate_claim_spec
from kubeapi.validation.meta import (
    as_dict,
    dicts,
    go_label_selector,
    immutable,
    int_or_string_text,
    non_negative,
    selector_matches_template,
    selector_of,
    shown,
    validate_label_selector,
    validate_meta,
)
from kubeapi.validation.names import name_is_dns_label, name_is_dns_subdomain
from kubeapi.validation.pods import controller_template_rules, validate_pod_template_spec

Object = dict[str, Any]

_PERCENT = re.compile(r"[0-9]+%")
PERCENT_ERROR = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)


def validate_deployment(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    causes += non_negative(spec.get("replicas"), "spec.replicas")
    causes += _selector_and_template(spec, "deployment", "Deployment")
    causes += _validate_deployment_strategy(as_dict(spec.get("strategy")), "spec.strategy")
    causes += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    causes += non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        causes += non_negative(deadline, "spec.progressDeadlineSeconds")
        if isinstance(deadline, int) and deadline <= (spec.get("minReadySeconds") or 0):
            causes.append(
                shown("spec.progressDeadlineSeconds", str(deadline), "must be greater than minReadySeconds")
            )
    return causes + _selector_immutable(obj, old)


def validate_replica_set(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    causes += non_negative(spec.get("replicas"), "spec.replicas")
    causes += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    causes += _selector_and_template(spec, "deployment", "ReplicaSet")  # sic: upstream says deployment
    return causes + _selector_immutable(obj, old)


def validate_daemon_set(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    selector = spec.get("selector")
    causes += validate_label_selector(selector, "spec.selector")
    causes += selector_matches_template(selector, spec.get("template"), "spec.template")
    if (
        isinstance(selector, dict)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
    ):
        causes.append(
            shown("spec.selector", go_label_selector(selector), "empty selector is invalid for daemonset")
        )
    causes += validate_pod_template_spec(spec.get("template"), "spec.template")
    causes += controller_template_rules(spec.get("template"), "spec.template", "DaemonSet")
    causes += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    causes += _validate_daemon_set_strategy(as_dict(spec.get("updateStrategy")), "spec.updateStrategy")
    causes += non_negative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    return causes + _selector_immutable(obj, old)


def validate_stateful_set(obj: Object, old: Object | None) -> list[Cause]:
    causes = (
        validate_meta(obj, True, name_is_dns_label) if old is None else validate_meta(obj, True, _any_name)
    )
    spec = as_dict(obj.get("spec"))
    policy = spec.get("podManagementPolicy", "")
    if policy == "":
        causes.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        causes.append(
            shown("spec.podManagementPolicy", f'"{policy}"', "must be 'OrderedReady' or 'Parallel'")
        )
    causes += _validate_stateful_set_strategy(as_dict(spec.get("updateStrategy")), "spec.updateStrategy")
    retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for key in ("whenDeleted", "whenScaled"):
        if key in retention and retention[key] not in ("Retain", "Delete"):
            field = f"spec.persistentVolumeClaimRetentionPolicy.{key}"
            causes.append(not_supported(field, retention[key], ("Retain", "Delete")))
    causes += non_negative(spec.get("replicas"), "spec.replicas")
    causes += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    causes += non_negative(as_dict(spec.get("ordinals")).get("start"), "spec.ordinals.start")
    selector = spec.get("selector")
    template = spec.get("template")
    if selector is None:
        causes.append(required("spec.selector"))
    else:
        causes += validate_label_selector(selector, "spec.selector")
        if not as_dict(selector).get("matchLabels") and not as_dict(selector).get("matchExpressions"):
            causes.append(
                shown(
                    "spec.selector", go_label_selector(selector), "empty selector is invalid for statefulset"
                )
            )
    if selector_of(selector) is None:
        causes.append(shown("spec.selector", go_label_selector(selector), ""))
    elif not isinstance(template, dict):
        causes.append(required("spec.template"))
    else:
        causes += selector_matches_template(selector, template, "spec.template")
        causes += validate_pod_template_spec(template, "spec.template")
    causes += controller_template_rules(template, "spec.template", "StatefulSet")
    for index, claim in enumerate(dicts(spec.get("volumeClaimTemplates"))):
        path = f"spec.volumeClaimTemplates[{index}]"
        causes += validate_claim_spec(as_dict(claim.get("spec")), f"{path}.spec")
    if old is not None:
        causes += _stateful_set_update(spec, as_dict(old.get("spec")))
    return causes


def _any_name(name: str, prefix: bool) -> list[str]:
    """StatefulSet updates do not re-check the name: old objects may have subdomain names."""
    return []


def _stateful_set_update(spec: Object, old_spec: Object) -> list[Cause]:
    mutable = (
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    )
    if {k: v for k, v in spec.items() if k not in mutable} != {
        k: v for k, v in old_spec.items() if k not in mutable
    }:
        detail = (
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
            "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        )
        return [forbidden("spec", detail)]
    return []


# ---- shared by Deployment and ReplicaSet ----


def _selector_and_template(spec: Object, noun: str, kind: str) -> list[Cause]:
    causes: list[Cause] = []
    selector = spec.get("selector")
    if selector is None:
        causes.append(required("spec.selector"))
    else:
        causes += validate_label_selector(selector, "spec.selector")
        if not as_dict(selector).get("matchLabels") and not as_dict(selector).get("matchExpressions"):
            causes.append(
                shown("spec.selector", go_label_selector(selector), f"empty selector is invalid for {noun}")
            )
    if selector_of(selector) is None:
        return [*causes, shown("spec.selector", go_label_selector(selector), "invalid label selector")]
    template = spec.get("template")
    if not isinstance(template, dict):
        return [*causes, required("spec.template")]
    causes += selector_matches_template(selector, template, "spec.template")
    causes += validate_pod_template_spec(template, "spec.template")
    return causes + controller_template_rules(template, "spec.template", kind)


def _selector_immutable(obj: Object, old: Object | None) -> list[Cause]:
    """apps/v1 selectors never change (the strategies' ValidateUpdate)."""
    if old is None:
        return []
    new_selector = as_dict(obj.get("spec")).get("selector")
    old_selector = as_dict(old.get("spec")).get("selector")
    return immutable(new_selector, old_selector, "spec.selector", go_label_selector)


# ---- strategies ----


def _percent(value: Any) -> int | None:
    if isinstance(value, str) and _PERCENT.fullmatch(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    percent = _percent(value)
    if percent is not None:
        return percent
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return 0


def validate_int_or_percent(value: Any, field: str) -> list[Cause]:
    """ValidatePositiveIntOrPercent."""
    if isinstance(value, str):
        if _percent(value) is None:
            return [
                shown(
                    field,
                    int_or_string_text(value),
                    PERCENT_ERROR,
                )
            ]
        return []
    return non_negative(value, field)


def not_more_than_100_percent(value: Any, field: str) -> list[Cause]:
    percent = _percent(value)
    if percent is None or percent <= 100:
        return []
    return [shown(field, int_or_string_text(value), "must not be greater than 100%")]


def _validate_deployment_strategy(strategy: Object, field: str) -> list[Cause]:
    kind = strategy.get("type")
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [
                forbidden(f"{field}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
            ]
        return []
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            return [required(f"{field}.rollingUpdate", "this should be defaulted and never be nil")]
        path = f"{field}.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable", 0), rolling.get("maxSurge", 0)
        causes = validate_int_or_percent(unavailable, f"{path}.maxUnavailable")
        causes += validate_int_or_percent(surge, f"{path}.maxSurge")
        if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
            causes.append(
                shown(
                    f"{path}.maxUnavailable",
                    int_or_string_text(unavailable),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
        return causes + not_more_than_100_percent(unavailable, f"{path}.maxUnavailable")
    shown_strategy = (
        f'apps.DeploymentStrategy{{Type:"{kind or ""}", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}'
    )
    message = f'Unsupported value: {shown_strategy}: supported values: "Recreate", "RollingUpdate"'
    return [Cause("FieldValueNotSupported", message, field)]


def _validate_daemon_set_strategy(strategy: Object, field: str) -> list[Cause]:
    kind = strategy.get("type")
    if kind == "OnDelete":
        return []
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            return [required(f"{field}.rollingUpdate")]
        path = f"{field}.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable", 0), rolling.get("maxSurge", 0)
        causes = validate_int_or_percent(unavailable, f"{path}.maxUnavailable")
        causes += validate_int_or_percent(surge, f"{path}.maxSurge")
        causes += not_more_than_100_percent(unavailable, f"{path}.maxUnavailable")
        causes += not_more_than_100_percent(surge, f"{path}.maxSurge")
        has_unavailable, has_surge = (
            _int_or_percent_value(unavailable) != 0,
            _int_or_percent_value(surge) != 0,
        )
        if has_unavailable and has_surge:
            causes.append(
                shown(
                    f"{path}.maxSurge",
                    int_or_string_text(surge),
                    "may not be set when maxUnavailable is non-zero",
                )
            )
        elif not has_unavailable and not has_surge:
            causes.append(required(f"{path}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
        return causes
    shown_strategy = (
        f'apps.DaemonSetUpdateStrategy{{Type:"{kind or ""}", '
        "RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}"
    )
    message = f'Unsupported value: {shown_strategy}: supported values: "RollingUpdate", "OnDelete"'
    return [Cause("FieldValueNotSupported", message, field)]


def _validate_stateful_set_strategy(strategy: Object, field: str) -> list[Cause]:
    kind = strategy.get("type", "")
    rolling = strategy.get("rollingUpdate")
    if kind == "":
        return [required(field)]
    if kind == "OnDelete":
        if rolling is not None:
            return [
                shown(
                    f"{field}.rollingUpdate",
                    "&apps.RollingUpdateStatefulSetStrategy{...}",
                    "only allowed for updateStrategy 'RollingUpdate'",
                )
            ]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return []
        causes = non_negative(rolling.get("partition"), f"{field}.rollingUpdate.partition")
        unavailable = rolling.get("maxUnavailable")
        if unavailable is not None:
            path = f"{field}.rollingUpdate.maxUnavailable"
            causes += validate_int_or_percent(unavailable, path)
            if _int_or_percent_value(unavailable) == 0:
                causes.append(shown(path, int_or_string_text(unavailable), "cannot be 0"))
            causes += not_more_than_100_percent(unavailable, path)
        return causes
    return [
        shown(
            field,
            f'apps.StatefulSetUpdateStrategy{{Type:"{kind}", '
            "RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}",
            "must be 'RollingUpdate' or 'OnDelete'",
        )
    ]

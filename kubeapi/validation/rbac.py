"""Validation of rbac.authorization.k8s.io/v1 (pkg/apis/rbac/validation): rules that name verbs
and what they apply to, bindings whose role reference is complete and never changes."""

from __future__ import annotations

from typing import Any

from kubeapi.errors import Cause
from kubeapi.validation import invalid, not_supported, required
from kubeapi.validation.meta import as_dict, dicts, shown, validate_meta
from kubeapi.validation.names import name_is_dns_subdomain, validate_path_segment_name

Object = dict[str, Any]

GROUP = "rbac.authorization.k8s.io"


def _minimal_name(name: str, prefix: bool) -> list[str]:
    """Roles and bindings may be named anything that fits in a URL path segment."""
    return validate_path_segment_name(name, prefix)


def validate_role(obj: Object, old: Object | None) -> list[Cause]:
    return _validate_role(obj, namespaced=True)


def validate_cluster_role(obj: Object, old: Object | None) -> list[Cause]:
    return _validate_role(obj, namespaced=False)


def _validate_role(obj: Object, *, namespaced: bool) -> list[Cause]:
    causes = validate_meta(obj, namespaced, _minimal_name)
    for index, rule in enumerate(dicts(obj.get("rules"))):
        causes += _validate_rule(rule, namespaced, f"rules[{index}]")
    return causes


def _validate_rule(rule: Object, namespaced: bool, field: str) -> list[Cause]:
    causes: list[Cause] = []
    if not rule.get("verbs"):
        causes.append(required(f"{field}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        shown_urls = "[]string{" + ", ".join(f'"{u}"' for u in urls) + "}"
        if namespaced:
            causes.append(
                shown(
                    f"{field}.nonResourceURLs",
                    shown_urls,
                    "namespaced rules cannot apply to non-resource URLs",
                )
            )
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            detail = "rules cannot apply to both regular resources and non-resource URLs"
            causes.append(shown(f"{field}.nonResourceURLs", shown_urls, detail))
        return causes
    if not rule.get("apiGroups"):
        causes.append(required(f"{field}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        causes.append(required(f"{field}.resources", "resource rules must supply at least one resource"))
    return causes


def validate_role_binding(obj: Object, old: Object | None) -> list[Cause]:
    return _validate_binding(obj, old, namespaced=True)


def validate_cluster_role_binding(obj: Object, old: Object | None) -> list[Cause]:
    return _validate_binding(obj, old, namespaced=False)


def _validate_binding(obj: Object, old: Object | None, *, namespaced: bool) -> list[Cause]:
    causes = validate_meta(obj, namespaced, _minimal_name)
    ref = as_dict(obj.get("roleRef"))
    if ref.get("apiGroup") != GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), (GROUP,)))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    name = str(ref.get("name") or "")
    if not name:
        causes.append(required("roleRef.name"))
    else:
        causes += [invalid("roleRef.name", name, msg) for msg in _minimal_name(name, False)]
    for index, subject in enumerate(dicts(obj.get("subjects"))):
        causes += _validate_subject(subject, namespaced, f"subjects[{index}]")
    if old is not None and as_dict(old.get("roleRef")) != ref:
        shown_ref = (
            f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", '
            f'Name:"{ref.get("name", "")}"}}'
        )
        causes.append(shown("roleRef", shown_ref, "cannot change roleRef"))
    return causes


def _validate_subject(subject: Object, namespaced: bool, field: str) -> list[Cause]:
    causes: list[Cause] = []
    name = str(subject.get("name") or "")
    group = subject.get("apiGroup", "")
    if not name:
        causes.append(required(f"{field}.name"))
    kind = subject.get("kind", "")
    if kind == "ServiceAccount":
        if name:
            causes += [invalid(f"{field}.name", name, msg) for msg in name_is_dns_subdomain(name, False)]
        if group:
            causes.append(not_supported(f"{field}.apiGroup", group, ("",)))
        if not namespaced and not subject.get("namespace"):
            causes.append(required(f"{field}.namespace"))
    elif kind in ("User", "Group"):
        if not name:
            causes.append(invalid(f"{field}.name", name, f"{kind.lower()} name cannot be empty"))
        if group != GROUP:
            causes.append(not_supported(f"{field}.apiGroup", group, (GROUP,)))
    else:
        causes.append(not_supported(f"{field}.kind", kind, ("ServiceAccount", "User", "Group")))
    return causes

"""Validation of pod specs wherever they sit (Pods, PodTemplates, ReplicationControllers and the
templates of apps/ and batch/ controllers) and of Pod updates: upstream's ValidatePodSpec,
ValidatePodTemplateSpec and ValidatePodUpdate with their field paths and messages.

Specs are validated after defaulting, as upstream does, so a field that defaulting always fills
(`dnsPolicy`, a container's `terminationMessagePolicy`) is reported Required only when a client
sent an explicit empty value. Rules behind feature gates that are off in v1.32 are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from kubeapi.errors import Cause
from kubeapi.validation import duplicate, forbidden, invalid, not_supported, required
from kubeapi.validation.containers import (
    id_errors,
    one_of,
    validate_containers,
    validate_ephemeral_containers,
    validate_init_containers,
    validate_seccomp,
    validate_volumes,
)
from kubeapi.validation.core import (
    validate_ip,
    validate_taint_effect,
)
from kubeapi.validation.meta import (
    as_dict,
    dicts,
    int_value,
    non_negative,
    selector_matches_template,
    string_map,
    validate_label_selector,
    validate_meta,
    validate_template_meta,
)
from kubeapi.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    name_is_dns_subdomain,
    validate_labels,
)

Object = dict[str, Any]

MAX_INT32 = 2**31 - 1
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
UPDATABLE_POD_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


# ---- kinds ----


def validate_pod(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    causes += validate_pod_spec(spec, "spec", is_pod=True)
    for key in ("containers", "initContainers"):
        for index, container in enumerate(dicts(spec.get(key))):
            image = str(container.get("image") or "")
            if image != image.strip():
                causes.append(
                    invalid(
                        f"spec.{key}[{index}].image", image, "must not have leading or trailing whitespace"
                    )
                )
    if old is None:
        if spec.get("ephemeralContainers"):
            causes.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
        if spec.get("nodeName") and spec.get("schedulingGates"):
            causes.append(
                forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")
            )
    else:
        causes += validate_pod_update(spec, as_dict(old.get("spec")))
    return causes


def validate_pod_template(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    return causes + validate_pod_template_spec(obj.get("template"), "template")


def validate_replication_controller(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    causes += non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = string_map(spec.get("selector"))
    if not selector:
        causes.append(required("spec.selector"))
    causes += non_negative(spec.get("replicas"), "spec.replicas")
    template = spec.get("template")
    if not isinstance(template, dict):
        return [*causes, required("spec.template")]
    if selector:
        causes += selector_matches_template({"matchLabels": selector}, template, "spec.template")
    causes += validate_pod_template_spec(template, "spec.template")
    causes += controller_template_rules(template, "spec.template", "ReplicationController")
    return causes


def controller_template_rules(template: Any, field: str, kind: str) -> list[Cause]:
    """What Deployments, ReplicaSets, DaemonSets and RCs demand of their pods: they restart."""
    spec = as_dict(as_dict(template).get("spec"))
    causes: list[Cause] = []
    if spec.get("restartPolicy") != "Always":
        causes.append(
            not_supported(f"{field}.spec.restartPolicy", spec.get("restartPolicy", ""), ("Always",))
        )
    if spec.get("activeDeadlineSeconds") is not None:
        detail = f"activeDeadlineSeconds in {kind} is not Supported"
        causes.append(forbidden(f"{field}.spec.activeDeadlineSeconds", detail))
    return causes


def validate_pod_template_spec(template: Any, field: str) -> list[Cause]:
    """ValidatePodTemplateSpec: labels, annotations and the spec of an embedded template."""
    template = as_dict(template)
    causes = validate_template_meta(template, f"{field}.metadata")
    causes = [_unnest_meta(cause, field) for cause in causes]
    spec = as_dict(template.get("spec"))
    causes += validate_pod_spec(spec, f"{field}.spec", is_pod=False)
    if spec.get("ephemeralContainers"):
        causes.append(
            forbidden(f"{field}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template")
        )
    return causes


def _unnest_meta(cause: Cause, field: str) -> Cause:
    """Upstream names template labels `spec.template.labels` (ObjectMeta is embedded in Go)."""
    prefix = f"{field}.metadata."
    if cause.field.startswith(prefix):
        return Cause(cause.type, cause.message, f"{field}.{cause.field[len(prefix) :]}")
    return cause


# ---- the spec ----


def validate_pod_spec(spec: Object, field: str, *, is_pod: bool) -> list[Cause]:
    causes: list[Cause] = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        causes.append(required(f"{field}.terminationGracePeriodSeconds"))
    volumes, volume_causes = validate_volumes(dicts(spec.get("volumes")), f"{field}.volumes")
    causes += volume_causes
    containers, init_containers = dicts(spec.get("containers")), dicts(spec.get("initContainers"))
    causes += validate_containers(containers, volumes, grace, f"{field}.containers")
    causes += validate_init_containers(init_containers, containers, volumes, grace, f"{field}.initContainers")
    causes += validate_ephemeral_containers(spec, volumes, f"{field}.ephemeralContainers")
    causes += _validate_host_network(spec, field, is_pod)
    causes += _validate_restart_policy(spec.get("restartPolicy"), f"{field}.restartPolicy")
    causes += _validate_dns_policy(spec.get("dnsPolicy"), f"{field}.dnsPolicy")
    causes += validate_labels(string_map(spec.get("nodeSelector")), f"{field}.nodeSelector")
    causes += _validate_pod_security_context(as_dict(spec.get("securityContext")), f"{field}.securityContext")
    for index, secret in enumerate(dicts(spec.get("imagePullSecrets"))):
        if set(secret) - {"name"}:
            causes.append(invalid(f"{field}.imagePullSecrets[{index}]", str(secret), "only name may be set"))
    causes += _validate_affinity(as_dict(spec.get("affinity")), f"{field}.affinity")
    causes += _validate_dns_config(spec, f"{field}.dnsConfig")
    for index, gate in enumerate(dicts(spec.get("readinessGates"))):
        value = str(gate.get("conditionType") or "")
        causes += [
            invalid(f"{field}.readinessGates[{index}].conditionType", value, m)
            for m in is_qualified_name(value)
        ]
    causes += _validate_scheduling_gates(spec.get("schedulingGates"), f"{field}.schedulingGates")
    causes += _validate_topology_spread(
        dicts(spec.get("topologySpreadConstraints")), f"{field}.topologySpreadConstraints"
    )
    for key in ("serviceAccountName", "nodeName"):
        if spec.get(key):
            name = str(spec[key])
            causes += [invalid(f"{field}.{key}", name, msg) for msg in is_dns1123_subdomain(name)]
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (int_value(deadline) is None or not 1 <= deadline <= MAX_INT32):
        causes.append(
            invalid(
                f"{field}.activeDeadlineSeconds", deadline, f"must be between 1 and {MAX_INT32}, inclusive"
            )
        )
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            causes += [invalid(f"{field}.{key}", spec[key], msg) for msg in is_dns1123_label(str(spec[key]))]
    causes += validate_tolerations(dicts(spec.get("tolerations")), f"{field}.tolerations")
    for index, alias in enumerate(dicts(spec.get("hostAliases"))):
        causes += validate_ip(alias.get("ip"), f"{field}.hostAliases[{index}].ip")
        for number, name in enumerate(alias.get("hostnames") or []):
            path = f"{field}.hostAliases[{index}].hostnames[{number}]"
            causes += [invalid(path, name, msg) for msg in is_dns1123_subdomain(str(name))]
    if spec.get("priorityClassName"):
        value = str(spec["priorityClassName"])
        causes += [invalid(f"{field}.priorityClassName", value, msg) for msg in is_dns1123_subdomain(value)]
    if spec.get("runtimeClassName") is not None:
        value = str(spec["runtimeClassName"])
        causes += [invalid(f"{field}.runtimeClassName", value, msg) for msg in is_dns1123_subdomain(value)]
    if spec.get("preemptionPolicy") is not None:
        causes += one_of(
            spec["preemptionPolicy"], ("PreemptLowerPriority", "Never"), f"{field}.preemptionPolicy"
        )
    os = spec.get("os")
    if isinstance(os, dict):
        if not os.get("name"):
            causes.append(required(f"{field}.os.name", "cannot be empty"))
        elif os["name"] not in ("linux", "windows"):
            causes.append(not_supported(f"{field}.os", os["name"], ("linux", "windows")))
    return causes


def _validate_restart_policy(policy: Any, field: str) -> list[Cause]:
    return one_of(policy if policy is not None else "", RESTART_POLICIES, field)


def _validate_dns_policy(policy: Any, field: str) -> list[Cause]:
    return one_of(policy if policy is not None else "", DNS_POLICIES, field)


# ---- scheduling, security, DNS ----


def validate_tolerations(tolerations: list[Object], field: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, toleration in enumerate(tolerations):
        path = f"{field}[{index}]"
        key = str(toleration.get("key") or "")
        operator = toleration.get("operator", "")
        effect = str(toleration.get("effect") or "")
        value = str(toleration.get("value") or "")
        if key:
            causes += [invalid(f"{path}.key", key, msg) for msg in is_qualified_name(key)]
        if not key and operator != "Exists":
            detail = (
                'operator must be Exists when `key` is empty, which means "match all values and all keys"'
            )
            causes.append(invalid(f"{path}.operator", operator, detail))
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(
                invalid(
                    f"{path}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"
                )
            )
        if operator in ("Equal", ""):
            problems = is_valid_label_value(value)
            if problems:
                causes.append(invalid(f"{path}.operator", value, ";".join(problems)))
        elif operator == "Exists":
            if value:
                causes.append(
                    invalid(f"{path}.operator", value, "value must be empty when `operator` is 'Exists'")
                )
        else:
            causes.append(not_supported(f"{path}.operator", operator, ("Equal", "Exists")))
        if effect:
            causes += validate_taint_effect(effect, f"{path}.effect", allow_empty=True)
    return causes


def _validate_host_network(spec: Object, field: str, is_pod: bool) -> list[Cause]:
    if not spec.get("hostNetwork"):
        return []
    causes: list[Cause] = []
    for index, container in enumerate(dicts(spec.get("containers"))):
        for number, port in enumerate(dicts(container.get("ports"))):
            host, target = port.get("hostPort", 0) or 0, port.get("containerPort", 0) or 0
            if (is_pod or host != 0) and host != target:
                path = f"{field}.containers[{index}].ports[{number}].hostPort"
                causes.append(invalid(path, host, "must match `containerPort` when `hostNetwork` is true"))
    return causes


def _validate_pod_security_context(context: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("fsGroup", "runAsUser", "runAsGroup"):
        causes += id_errors(context.get(key), f"{field}.{key}")
    for index, group in enumerate(context.get("supplementalGroups") or []):
        causes += id_errors(group, f"{field}.supplementalGroups[{index}]")
    names: set[str] = set()
    for index, sysctl in enumerate(dicts(context.get("sysctls"))):
        name = str(sysctl.get("name") or "")
        path = f"{field}.sysctls[{index}].name"
        if not name:
            causes.append(required(path))
        elif name in names:
            causes.append(duplicate(path, name))
        names.add(name)
    policy = context.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        causes.append(not_supported(f"{field}.fsGroupChangePolicy", policy, ("Always", "OnRootMismatch")))
    causes += validate_seccomp(context.get("seccompProfile"), f"{field}.seccompProfile")
    return causes


def _validate_affinity(affinity: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    node = as_dict(affinity.get("nodeAffinity"))
    required_terms = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required_terms, dict):
        path = f"{field}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        terms = dicts(required_terms.get("nodeSelectorTerms"))
        if not terms:
            causes.append(required(path, "must have at least one node selector term"))
        for index, term in enumerate(terms):
            causes += _validate_node_selector_term(term, f"{path}[{index}]")
    for index, preferred in enumerate(dicts(node.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        path = f"{field}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{index}]"
        weight = preferred.get("weight", 0)
        if not isinstance(weight, int) or not 0 < weight <= 100:
            causes.append(invalid(f"{path}.weight", weight, "must be in the range 1-100"))
        causes += _validate_node_selector_term(as_dict(preferred.get("preference")), f"{path}.preference")
    for kind in ("podAffinity", "podAntiAffinity"):
        pod = as_dict(affinity.get(kind))
        for index, term in enumerate(dicts(pod.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            causes += _validate_pod_affinity_term(
                term, f"{field}.{kind}.requiredDuringSchedulingIgnoredDuringExecution[{index}]"
            )
        for index, weighted in enumerate(dicts(pod.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            path = f"{field}.{kind}.preferredDuringSchedulingIgnoredDuringExecution[{index}]"
            weight = weighted.get("weight", 0)
            if not isinstance(weight, int) or not 0 < weight <= 100:
                causes.append(invalid(f"{path}.weight", weight, "must be in the range 1-100"))
            causes += _validate_pod_affinity_term(
                as_dict(weighted.get("podAffinityTerm")), f"{path}.podAffinityTerm"
            )
    return causes


def _validate_node_selector_term(term: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, expression in enumerate(dicts(term.get("matchExpressions"))):
        path = f"{field}.matchExpressions[{index}]"
        operator, values = expression.get("operator"), expression.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(
                    required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                causes.append(forbidden(f"{path}.values", detail))
        elif operator in ("Gt", "Lt"):
            if len(values) != 1:
                detail = "must be specified single value when `operator` is 'Lt' or 'Gt'"
                causes.append(required(f"{path}.values", detail))
        else:
            causes.append(invalid(f"{path}.operator", str(operator or ""), "not a valid selector operator"))
        key = str(expression.get("key") or "")
        causes += [invalid(f"{path}.key", key, msg) for msg in is_qualified_name(key)]
        for number, value in enumerate(values):
            causes += [
                invalid(f"{path}.values[{number}]", value, msg) for msg in is_valid_label_value(str(value))
            ]
    return causes


def _validate_pod_affinity_term(term: Object, field: str) -> list[Cause]:
    causes = validate_label_selector(term.get("labelSelector"), f"{field}.labelSelector")
    causes += validate_label_selector(term.get("namespaceSelector"), f"{field}.namespaceSelector")
    for name in term.get("namespaces") or []:
        causes += [invalid(f"{field}.namespace", name, msg) for msg in is_dns1123_label(str(name))]
    key = str(term.get("topologyKey") or "")
    if not key:
        causes.append(required(f"{field}.topologyKey", "can not be empty"))
    return causes + [invalid(f"{field}.topologyKey", key, msg) for msg in is_qualified_name(key)]


def _validate_dns_config(spec: Object, field: str) -> list[Cause]:
    config = spec.get("dnsConfig")
    if spec.get("dnsPolicy") == "None":
        if not isinstance(config, dict):
            return [required(field, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not config.get("nameservers"):
            return [
                required(
                    f"{field}.nameservers",
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            ]
    if not isinstance(config, dict):
        return []
    causes: list[Cause] = []
    servers = config.get("nameservers") or []
    if len(servers) > 3:
        causes.append(invalid(f"{field}.nameservers", servers, "must not have more than 3 nameservers"))
    for index, server in enumerate(servers):
        causes += validate_ip(server, f"{field}.nameservers[{index}]")
    searches = [str(s) for s in config.get("searches") or []]
    if len(searches) > 32:
        causes.append(invalid(f"{field}.searches", searches, "must not have more than 32 search paths"))
    for index, search in enumerate(searches):
        if search != ".":
            trimmed = search.removesuffix(".")
            for msg in is_dns1123_subdomain(trimmed.replace("_", "a")):
                causes.append(invalid(f"{field}.searches[{index}]", trimmed, msg))
    for index, option in enumerate(dicts(config.get("options"))):
        if not option.get("name"):
            causes.append(required(f"{field}.options[{index}]", "must not be empty"))
    return causes


def _validate_scheduling_gates(gates: Any, field: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for index, gate in enumerate(dicts(gates)):
        name = str(gate.get("name") or "")
        causes += [invalid(f"{field}[{index}]", name, msg) for msg in is_qualified_name(name)]
        if name in seen:
            causes.append(duplicate(f"{field}[{index}]", name))
        seen.add(name)
    return causes


def _validate_topology_spread(constraints: list[Object], field: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, constraint in enumerate(constraints):
        path = f"{field}[{index}]"
        skew = constraint.get("maxSkew", 0)
        if not isinstance(skew, int) or skew <= 0:
            causes.append(invalid(f"{path}.maxSkew", skew, "must be greater than zero"))
        if not constraint.get("topologyKey"):
            causes.append(required(f"{path}.topologyKey", "can not be empty"))
        action = constraint.get("whenUnsatisfiable", "")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            causes.append(
                not_supported(f"{path}.whenUnsatisfiable", action, ("DoNotSchedule", "ScheduleAnyway"))
            )
        for other in constraints[index + 1 :]:
            if (other.get("topologyKey"), other.get("whenUnsatisfiable")) == (
                constraint.get("topologyKey"),
                action,
            ):
                value = f"{{{constraint.get('topologyKey', '')}, {action}}}"
                causes.append(duplicate(f"{path}.{{topologyKey, whenUnsatisfiable}}", value))
                break
        causes += validate_label_selector(constraint.get("labelSelector"), f"{path}.labelSelector")
    return causes


# ---- Pod updates ----


def validate_pod_update(spec: Object, old_spec: Object) -> list[Cause]:
    """What may change in a running pod: images, a shorter deadline, added tolerations, removed
    scheduling gates, and a negative grace period raised to 1."""
    causes: list[Cause] = []
    for key in ("containers", "initContainers"):
        new_list, old_list = dicts(spec.get(key)), dicts(old_spec.get(key))
        if len(new_list) != len(old_list):
            return [*causes, forbidden(f"spec.{key}", "pod updates may not add or remove containers")]
        for index, container in enumerate(new_list):
            if not container.get("image"):
                causes.append(required(f"spec.{key}[{index}].image"))
    deadline, old_deadline = spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if deadline is not None:
        if not isinstance(deadline, int) or not 0 <= deadline <= MAX_INT32:
            detail = f"must be between 0 and {MAX_INT32}, inclusive"
            return [*causes, invalid("spec.activeDeadlineSeconds", deadline, detail)]
        if old_deadline is not None and old_deadline < deadline:
            detail = "must be less than or equal to previous value"
            return [*causes, invalid("spec.activeDeadlineSeconds", deadline, detail)]
    elif old_deadline is not None:
        causes.append(
            invalid(
                "spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"
            )
        )
    causes += _only_added_tolerations(dicts(spec.get("tolerations")), dicts(old_spec.get("tolerations")))
    old_gates = {str(g.get("name")) for g in dicts(old_spec.get("schedulingGates"))}
    for index, gate in enumerate(dicts(spec.get("schedulingGates"))):
        if str(gate.get("name")) not in old_gates:
            detail = f"only deletion is allowed, but found new scheduling gate '{gate.get('name')}'"
            causes.append(forbidden(f"spec.schedulingGates[{index}].name", detail))
    munged = _munged(spec, old_spec)
    if munged != old_spec:
        message = "pod updates may not change fields other than " + ",".join(UPDATABLE_POD_FIELDS)
        causes.append(forbidden("spec", f"{message}\n{spec_diff(old_spec, munged)}"))
    return causes


def _munged(spec: Object, old_spec: Object) -> Object:
    munged = dict(spec)
    for key in ("containers", "initContainers"):
        if key in spec:
            olds = dicts(old_spec.get(key))
            munged[key] = [
                {**c, "image": olds[i].get("image")} if "image" in olds[i] else c
                for i, c in enumerate(dicts(spec[key]))
            ]
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        if key in old_spec:
            munged[key] = old_spec[key]
        else:
            munged.pop(key, None)
    old_grace, grace = (
        old_spec.get("terminationGracePeriodSeconds"),
        munged.get("terminationGracePeriodSeconds"),
    )
    if isinstance(old_grace, int) and old_grace < 0 and grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if old_spec.get("schedulingGates") and "nodeSelector" in munged:
        old_selector = string_map(old_spec.get("nodeSelector"))
        if all(old_selector.get(k) == v for k, v in old_selector.items() if k in munged["nodeSelector"]):
            munged["nodeSelector"] = old_spec.get("nodeSelector")
    return munged


def _only_added_tolerations(new: list[Object], old: list[Object]) -> list[Cause]:
    def without_seconds(toleration: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in toleration.items() if k != "tolerationSeconds"}

    remaining = [without_seconds(t) for t in new]
    for toleration in old:
        if without_seconds(toleration) not in remaining:
            return [
                forbidden(
                    "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return validate_tolerations(new, "spec.tolerations")


def spec_diff(old: Object, new: Object) -> str:
    """A short go-cmp-like diff of the changed top-level fields (upstream prints cmp.Diff of the
    Go structs; this names the same fields in the same form, but not byte for byte)."""
    lines = ["  core.PodSpec{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            go_name = key[:1].upper() + key[1:]
            if key in old:
                lines.append(f"- \t{go_name}: {_go_repr(old[key])},")
            if key in new:
                lines.append(f"+ \t{go_name}: {_go_repr(new[key])},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _go_repr(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


__all__ = [
    "controller_template_rules",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_template",
    "validate_pod_template_spec",
    "validate_pod_update",
    "validate_replication_controller",
    "validate_tolerations",
]

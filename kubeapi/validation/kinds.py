"""Validation of the built-in kinds, as kube-apiserver runs it after defaulting on create and
update (each registry strategy's Validate and ValidateUpdate):

    causes = validate("apps", "v1", "Deployment", obj)             # create
    causes = validate("apps", "v1", "Deployment", obj, old=stored)  # update
    if causes:
        raise errors.invalid("Deployment", name, causes, "apps")   # 422, upstream's message

Causes carry upstream's reasons (FieldValueRequired, FieldValueInvalid, ...), field paths
(`spec.template.spec.containers[0].image`) and messages. The big groups have their own modules
(core, pods, apps, batch, rbac); the small ones are here. Unknown kinds get metadata checks only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeapi.errors import Cause
from kubeapi.validation import apps, batch, core, forbidden, invalid, not_supported, pods, rbac, required
from kubeapi.validation.apps import not_more_than_100_percent, validate_int_or_percent
from kubeapi.validation.core import (
    parse_ip,
    validate_non_special_ip,
)
from kubeapi.validation.meta import (
    as_dict,
    dicts,
    immutable,
    int_value,
    non_negative,
    shown,
    string_map,
    validate_label_selector,
    validate_meta,
)
from kubeapi.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    name_is_dns_subdomain,
    validate_labels,
    validate_path_segment_name,
)

Object = dict[str, Any]
Validator = Callable[[Object, Object | None], list[Cause]]

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}


def validate(group: str, version: str, kind: str, obj: Object, *, old: Object | None = None) -> list[Cause]:
    """The causes `obj` is invalid for (empty when valid); `old` is the stored object on update.
    Call it with the defaulted object the apiserver will store."""
    validator = _VALIDATORS.get((group, kind))
    if validator is None:
        return validate_meta(
            obj, bool(as_dict(obj.get("metadata")).get("namespace")), validate_path_segment_name
        )
    return validator(obj, old)


# ---- policy/v1 ----


def validate_pod_disruption_budget(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, validate_path_segment_name)
    spec = as_dict(obj.get("spec"))
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    if low is not None and high is not None:
        shown_spec = f"policy.PodDisruptionBudgetSpec{{MinAvailable:{low}, MaxUnavailable:{high}}}"
        causes.append(shown("spec", shown_spec, "minAvailable and maxUnavailable cannot be both set"))
    for key, value in (("minAvailable", low), ("maxUnavailable", high)):
        if value is not None:
            causes += validate_int_or_percent(value, f"spec.{key}")
            causes += not_more_than_100_percent(value, f"spec.{key}")
    causes += validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        causes.append(
            not_supported("spec.unhealthyPodEvictionPolicy", policy, ("AlwaysAllow", "IfHealthyBudget"))
        )
    return causes


# ---- scheduling.k8s.io/v1 ----


def validate_priority_class(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, False, name_is_dns_subdomain)
    name = str(as_dict(obj.get("metadata")).get("name") or "")
    value = int_value(obj.get("value")) or 0
    if name.startswith("system-"):
        problem = None
        if name not in SYSTEM_PRIORITY_CLASSES:
            problem = f"{name} is not a known system priority class"
        elif value != SYSTEM_PRIORITY_CLASSES[name]:
            problem = f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
        elif obj.get("globalDefault"):
            problem = f"globalDefault of {name} PriorityClass must be false"
        if problem:
            reserved = "priority class names with 'system-' prefix are reserved for system use only"
            detail = f"{reserved}. error: {problem}"
            causes.append(forbidden("metadata.name", detail))
    elif value > HIGHEST_USER_PRIORITY:
        causes.append(
            forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}")
        )
    policy = obj.get("preemptionPolicy")
    if policy is not None:
        if policy == "":
            causes.append(required("preemptionPolicy"))
        elif policy not in ("PreemptLowerPriority", "Never"):
            causes.append(not_supported("preemptionPolicy", policy, ("PreemptLowerPriority", "Never")))
    if old is not None:
        if obj.get("value") != old.get("value"):
            causes.append(forbidden("value", "may not be changed in an update."))
        causes += immutable(obj.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy")
    return causes


# ---- coordination.k8s.io/v1 ----


def validate_lease(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and transitions < 0:
        causes.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    return causes


# ---- discovery.k8s.io/v1 ----

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def validate_endpoint_slice(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    kind = obj.get("addressType", "")
    allowed = ADDRESS_TYPES if old is None else ("FQDN", "IP", "IPv4", "IPv6")
    if not kind:
        causes.append(required("addressType"))
    elif kind not in allowed:
        causes.append(not_supported("addressType", kind, allowed))
    endpoints = dicts(obj.get("endpoints"))
    if len(endpoints) > 1000:
        causes.append(
            Cause(
                "FieldValueTooMany", f"Too many: {len(endpoints)}: must have at most 1000 items", "endpoints"
            )
        )
    for index, endpoint in enumerate(endpoints[:1000]):
        causes += _validate_slice_endpoint(endpoint, kind, f"endpoints[{index}]")
    ports = dicts(obj.get("ports"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        path = f"ports[{index}]"
        name = str(port.get("name") or "")
        if name:
            causes += [invalid(f"{path}.name", name, msg) for msg in is_dns1123_label(name)]
        if name in names:
            causes.append(Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{path}.name"))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            causes.append(required(f"{path}.protocol"))
        elif protocol not in ("SCTP", "TCP", "UDP"):
            causes.append(not_supported(f"{path}.protocol", protocol, ("SCTP", "TCP", "UDP")))
        app_protocol = port.get("appProtocol")
        if isinstance(app_protocol, str):
            causes += [
                invalid(f"{path}.appProtocol", app_protocol, m) for m in is_qualified_name(app_protocol)
            ]
    if old is not None:
        causes += immutable(obj.get("addressType"), old.get("addressType"), "addressType")
    return causes


def _validate_slice_endpoint(endpoint: Object, kind: Any, field: str) -> list[Cause]:
    causes: list[Cause] = []
    addresses = [str(a) for a in endpoint.get("addresses") or []]
    if not addresses:
        causes.append(required(f"{field}.addresses", "must contain at least 1 address"))
    for index, address in enumerate(addresses):
        path = f"{field}.addresses[{index}]"
        ip = parse_ip(address)
        if kind == "IPv4":
            if ip is None or ip.version != 4:
                causes.append(invalid(path, address, "must be a valid IPv4 address"))
            else:
                causes += validate_non_special_ip(address, path)
        elif kind == "IPv6":
            if ip is None or ip.version != 6:
                causes.append(invalid(path, address, "must be a valid IPv6 address"))
            else:
                causes += validate_non_special_ip(address, path)
        elif kind == "FQDN":
            causes += _fqdn(address, path)
    topology = string_map(endpoint.get("deprecatedTopology"))
    causes += validate_labels(topology, f"{field}.deprecatedTopology")
    hostname = endpoint.get("hostname")
    if hostname is not None:
        causes += [invalid(f"{field}.hostname", hostname, msg) for msg in is_dns1123_label(str(hostname))]
    return causes


def _fqdn(name: str, field: str) -> list[Cause]:
    """IsFullyQualifiedDomainName."""
    if not name:
        return [required(field)]
    name = name.removesuffix(".")
    errs = is_dns1123_subdomain(name)
    if errs:
        return [invalid(field, name, ",".join(errs))]
    labels = name.split(".")
    if len(labels) < 2:
        return [invalid(field, name, "should be a domain with at least two segments separated by dots")]
    for label in labels:
        errs = is_dns1123_label(label)
        if errs:
            return [invalid(field, label, ",".join(errs))]
    return []


# ---- storage.k8s.io/v1 ----


def validate_storage_class(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, False, name_is_dns_subdomain)
    provisioner = str(obj.get("provisioner") or "")
    if not provisioner:
        causes.append(required("provisioner"))
    else:
        causes += [
            invalid("provisioner", provisioner.lower(), m) for m in is_qualified_name(provisioner.lower())
        ]
    policy = obj.get("reclaimPolicy")
    if policy and policy not in ("Delete", "Retain"):
        causes.append(not_supported("reclaimPolicy", policy, ("Delete", "Retain")))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        causes.append(required("volumeBindingMode"))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        causes.append(not_supported("volumeBindingMode", mode, ("Immediate", "WaitForFirstConsumer")))
    if old is not None:
        if (obj.get("parameters") or None) != (old.get("parameters") or None):
            causes.append(forbidden("parameters", "updates to parameters are forbidden."))
        if obj.get("provisioner") != old.get("provisioner"):
            causes.append(forbidden("provisioner", "updates to provisioner are forbidden."))
        if obj.get("reclaimPolicy") != old.get("reclaimPolicy"):
            causes.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
        causes += immutable(obj.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode")
    return causes


# ---- certificates.k8s.io/v1 and apps/v1 ControllerRevision ----


def validate_certificate_signing_request(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, False, validate_path_segment_name)
    spec = as_dict(obj.get("spec"))
    if not spec.get("request"):
        causes.append(required("spec.request"))
    if not spec.get("signerName"):
        causes.append(required("spec.signerName"))
    if not spec.get("usages"):
        causes.append(required("spec.usages"))
    return causes


def validate_controller_revision(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    if obj.get("data") is None:
        causes.append(required("data", "data is mandatory"))
    causes += non_negative(obj.get("revision"), "revision")
    if old is not None and obj.get("data") != old.get("data"):
        causes.append(shown("data", "runtime.RawExtension{...}", "field is immutable"))
    return causes


_VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "Pod"): pods.validate_pod,
    ("", "PodTemplate"): pods.validate_pod_template,
    ("", "ReplicationController"): pods.validate_replication_controller,
    ("", "Service"): core.validate_service,
    ("", "ConfigMap"): core.validate_config_map,
    ("", "Secret"): core.validate_secret,
    ("", "Namespace"): core.validate_namespace,
    ("", "ServiceAccount"): core.validate_named(True),
    ("", "Event"): core.validate_named(True),
    ("", "Node"): core.validate_node,
    ("", "Endpoints"): core.validate_endpoints,
    ("", "LimitRange"): core.validate_limit_range,
    ("", "ResourceQuota"): core.validate_resource_quota,
    ("", "PersistentVolume"): core.validate_persistent_volume,
    ("", "PersistentVolumeClaim"): core.validate_persistent_volume_claim,
    ("apps", "Deployment"): apps.validate_deployment,
    ("apps", "ReplicaSet"): apps.validate_replica_set,
    ("apps", "DaemonSet"): apps.validate_daemon_set,
    ("apps", "StatefulSet"): apps.validate_stateful_set,
    ("apps", "ControllerRevision"): validate_controller_revision,
    ("batch", "Job"): batch.validate_job,
    ("batch", "CronJob"): batch.validate_cron_job,
    ("rbac.authorization.k8s.io", "Role"): rbac.validate_role,
    ("rbac.authorization.k8s.io", "ClusterRole"): rbac.validate_cluster_role,
    ("rbac.authorization.k8s.io", "RoleBinding"): rbac.validate_role_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): rbac.validate_cluster_role_binding,
    ("policy", "PodDisruptionBudget"): validate_pod_disruption_budget,
    ("scheduling.k8s.io", "PriorityClass"): validate_priority_class,
    ("coordination.k8s.io", "Lease"): validate_lease,
    ("discovery.k8s.io", "EndpointSlice"): validate_endpoint_slice,
    ("storage.k8s.io", "StorageClass"): validate_storage_class,
    ("certificates.k8s.io", "CertificateSigningRequest"): validate_certificate_signing_request,
    ("events.k8s.io", "Event"): core.validate_named(True),
}

__all__ = ["validate"]

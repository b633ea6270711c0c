"""Defaulting of the built-in kinds, as kube-apiserver applies it while decoding a request body
(upstream's SetDefaults_* functions and their generated callers): the fields an object has after a
create or update that nobody wrote, like a Deployment's `strategy` or a container's
`imagePullPolicy`. The apiserver calls `apply_defaults` after the field-validation decode step and
before the strategy and validation; Jobs then get `job_selector_and_labels` on create.

    apply_defaults("apps", "v1", "Deployment", obj) -> a new, defaulted dict
    apply_defaults("", "v1", "Pod", obj, old=stored_pod)   # on update: keeps the old priority
    job_selector_and_labels(job, uid)                      # batch/v1 Job create, in place

Quantities are rewritten in upstream's stored form for every kind (see `quantities`). Kinds
without defaults come back as copies, unchanged but for that.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubeapi.defaults import cluster, pods, workloads
from kubeapi.defaults.quantities import canonicalize
from kubeapi.defaults.workloads import job_selector_and_labels
from kubeapi.schema import for_kind

Object = dict[str, Any]
Defaulter = Callable[[Object], None]

_DEFAULTERS: dict[tuple[str, str], Defaulter] = {
    ("", "PodTemplate"): workloads.default_pod_template,
    ("", "ReplicationController"): workloads.default_replication_controller,
    ("", "Secret"): cluster.default_secret,
    ("", "Namespace"): cluster.default_namespace,
    ("", "PersistentVolume"): cluster.default_persistent_volume,
    ("", "PersistentVolumeClaim"): cluster.default_persistent_volume_claim,
    ("", "Endpoints"): cluster.default_endpoints,
    ("", "Node"): cluster.default_node,
    ("", "LimitRange"): cluster.default_limit_range,
    ("apps", "Deployment"): workloads.default_deployment,
    ("apps", "ReplicaSet"): workloads.default_replica_set,
    ("apps", "DaemonSet"): workloads.default_daemon_set,
    ("apps", "StatefulSet"): workloads.default_stateful_set,
    ("batch", "Job"): workloads.default_job,
    ("batch", "CronJob"): workloads.default_cron_job,
    ("discovery.k8s.io", "EndpointSlice"): cluster.default_endpoint_slice,
    ("rbac.authorization.k8s.io", "RoleBinding"): cluster.default_role_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): cluster.default_role_binding,
    ("scheduling.k8s.io", "PriorityClass"): cluster.default_priority_class,
    ("storage.k8s.io", "StorageClass"): cluster.default_storage_class,
}


def apply_defaults(group: str, version: str, kind: str, obj: Object, *, old: Object | None = None) -> Object:
    """A defaulted copy of `obj`. `old` is the stored object on update; only Pods use it (the
    priority that admission set on create stays)."""
    obj = copy.deepcopy(obj)
    if (group, kind) == ("", "Pod"):
        pods.default_pod(obj, old)
    else:
        defaulter = _DEFAULTERS.get((group, kind))
        if defaulter is not None:
            defaulter(obj)
    node = for_kind(group, version, kind)
    if node is not None:
        canonicalize(obj, node)
    return obj


__all__ = ["apply_defaults", "job_selector_and_labels"]

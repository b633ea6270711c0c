"""The pod subresources that change pods through the API (upstream's pod REST): `binding`, which
the scheduler posts to put a pod on a node, and `eviction`, which deletes a pod unless a
PodDisruptionBudget forbids it. (log, exec, attach and portforward go to the kubelet: kubelet_proxy.)"""

from __future__ import annotations

import copy
from typing import Any

from apiserver.rest import ListOptions, ResourceREST
from apiserver.strategy import timestamp
from kubeapi import errors, labels

Object = dict[str, Any]


def _scheduled_condition(now: str) -> Object:
    return {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}


async def bind(pods: ResourceREST, namespace: str, name: str, binding: Object, *, dry_run: bool) -> Object:
    """Set spec.nodeName from a Binding (once: a bound pod answers 409) and PodScheduled=True."""
    target = binding.get("target") or {}
    node = target.get("name")
    if not node:
        cause = errors.Cause("FieldValueRequired", "Required value", "target.name")
        raise errors.invalid("Binding", name, [cause])
    if binding.get("metadata", {}).get("name", name) != name:
        raise errors.bad_request("the name of the binding does not match the name of the pod")
    now = timestamp(pods.clock())

    def assign(pod: Object) -> Object:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            raise pods.conflict(name, "pod is being deleted, cannot be assigned to a host")
        current = pod.get("spec", {}).get("nodeName")
        if current:
            raise pods.conflict(name, f'pod {name} is already assigned to node "{current}"')
        pod["spec"]["nodeName"] = node
        annotations = binding.get("metadata", {}).get("annotations")
        if annotations:
            meta.setdefault("annotations", {}).update(annotations)
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        status["conditions"] = [*conditions, _scheduled_condition(now)]
        return pod

    await pods.patch(namespace, name, assign, subresource="binding", dry_run=dry_run)
    return _success("pods", name)


async def evict(
    pods: ResourceREST, budgets: ResourceREST, namespace: str, name: str, eviction: Object, *, dry_run: bool
) -> Object:
    """Delete the pod if every PodDisruptionBudget covering it allows one more disruption, and
    record the disruption in those budgets; 429 otherwise (the caller retries later)."""
    pod = await pods.get(namespace, name)
    options = eviction.get("deleteOptions") or {}
    phase = pod.get("status", {}).get("phase")
    if phase not in ("Succeeded", "Failed", "Pending") and not pod["metadata"].get("deletionTimestamp"):
        pod_labels = pod["metadata"].get("labels") or {}
        listed = await budgets.list(namespace, ListOptions())
        covering = [
            pdb
            for pdb in listed["items"]
            if labels.from_label_selector(pdb.get("spec", {}).get("selector")).matches(pod_labels)
        ]
        if len(covering) > 1:
            raise errors.internal(
                "This pod has more than one PodDisruptionBudget, "
                "which the eviction subresource does not support."
            )
        for pdb in covering:
            if pdb.get("status", {}).get("disruptionsAllowed", 0) < 1:
                status = pdb.get("status", {})
                message = (
                    f"The disruption budget {pdb['metadata']['name']} needs "
                    f"{status.get('desiredHealthy', 0)} healthy pods and has "
                    f"{status.get('currentHealthy', 0)} currently"
                )
                raise errors.StatusError(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    {"causes": [{"reason": "DisruptionBudget", "message": message}]},
                    retry_after=10,
                )
            if not dry_run:
                await _record_disruption(budgets, pdb, name, timestamp(pods.clock()))
    await pods.delete(namespace, name, options, dry_run=dry_run)
    return _success("pods", name)


async def _record_disruption(budgets: ResourceREST, pdb: Object, pod: str, now: str) -> None:
    def change(current: Object) -> Object:
        status = current.setdefault("status", {})
        allowed = status.get("disruptionsAllowed", 0)
        if allowed < 1:
            raise errors.too_many_requests(
                "Cannot evict pod as it would violate the pod's disruption budget.", 10
            )
        status["disruptionsAllowed"] = allowed - 1
        status.setdefault("disruptedPods", {})[pod] = now
        return current

    meta = pdb["metadata"]
    await budgets.patch(meta["namespace"], meta["name"], change, subresource="status")


def _success(kind: str, name: str) -> Object:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
        "details": {"name": name, "kind": kind},
    }


def approve(current: Object, request: Object) -> Object:
    """A CSR's `approval` subresource: only status.conditions change."""
    updated = copy.deepcopy(current)
    updated.setdefault("status", {})["conditions"] = copy.deepcopy(
        (request.get("status") or {}).get("conditions") or []
    )
    return updated

"""Printers for apps/v1: deployments, replica sets, stateful sets, daemon sets and controller
revisions, with kube-apiserver's columns (READY as "ready/desired" for deployments and stateful
sets, separate counts for replica and daemon sets)."""

from __future__ import annotations

from datetime import datetime

from .cells import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age,
    doc,
    format_label_selector,
    format_labels,
    items,
    mapping,
    name,
    number,
    selector_string,
    template_containers,
    text,
)

READY = Column("Ready", description="Number of the pod with ready state")


def _ready_of_desired(obj: Obj) -> str:
    return f"{number(obj, 'status', 'readyReplicas')}/{number(obj, 'spec', 'replicas', default=1)}"


def _deployments(obj: Obj, now: datetime) -> Cells:
    selector = selector_string(mapping(obj, "spec", "selector"))
    return [
        name(obj),
        _ready_of_desired(obj),
        number(obj, "status", "updatedReplicas"),
        number(obj, "status", "availableReplicas"),
        age(obj, now),
        *template_containers(obj, "spec", "template"),
        "<invalid>" if selector is None else selector,
    ]


DEPLOYMENTS = Printer(
    (
        NAME,
        READY,
        Column("Up-to-date", description=doc("apps.v1.DeploymentStatus", "updatedReplicas")),
        Column("Available", description=doc("apps.v1.DeploymentStatus", "availableReplicas")),
        AGE,
        CONTAINERS,
        IMAGES,
        Column("Selector", priority=1, description=doc("apps.v1.DeploymentSpec", "selector")),
    ),
    _deployments,
)


def _replica_sets(obj: Obj, now: datetime) -> Cells:
    return [
        name(obj),
        number(obj, "spec", "replicas", default=1),
        number(obj, "status", "replicas"),
        number(obj, "status", "readyReplicas"),
        age(obj, now),
        *template_containers(obj, "spec", "template"),
        format_label_selector(mapping(obj, "spec", "selector")),
    ]


REPLICA_SETS = Printer(
    (
        NAME,
        Column("Desired", "integer", doc("apps.v1.ReplicaSetSpec", "replicas")),
        Column("Current", "integer", doc("apps.v1.ReplicaSetStatus", "replicas")),
        Column("Ready", "integer", doc("apps.v1.ReplicaSetStatus", "readyReplicas")),
        AGE,
        CONTAINERS,
        IMAGES,
        Column("Selector", priority=1, description=doc("apps.v1.ReplicaSetSpec", "selector")),
    ),
    _replica_sets,
)

STATEFUL_SETS = Printer(
    (NAME, READY, AGE, CONTAINERS, IMAGES),
    lambda obj, now: [
        name(obj),
        _ready_of_desired(obj),
        age(obj, now),
        *template_containers(obj, "spec", "template"),
    ],
)


def _daemon_sets(obj: Obj, now: datetime) -> Cells:
    status = mapping(obj, "status")
    return [
        name(obj),
        number(status, "desiredNumberScheduled"),
        number(status, "currentNumberScheduled"),
        number(status, "numberReady"),
        number(status, "updatedNumberScheduled"),
        number(status, "numberAvailable"),
        format_labels(mapping(obj, "spec", "template", "spec", "nodeSelector")),
        age(obj, now),
        *template_containers(obj, "spec", "template"),
        format_label_selector(mapping(obj, "spec", "selector")),
    ]


DAEMON_SETS = Printer(
    (
        NAME,
        Column("Desired", "integer", doc("apps.v1.DaemonSetStatus", "desiredNumberScheduled")),
        Column("Current", "integer", doc("apps.v1.DaemonSetStatus", "currentNumberScheduled")),
        Column("Ready", "integer", doc("apps.v1.DaemonSetStatus", "numberReady")),
        Column("Up-to-date", "integer", doc("apps.v1.DaemonSetStatus", "updatedNumberScheduled")),
        Column("Available", "integer", doc("apps.v1.DaemonSetStatus", "numberAvailable")),
        Column("Node Selector", description=doc("core.v1.PodSpec", "nodeSelector")),
        AGE,
        CONTAINERS,
        IMAGES,
        Column("Selector", priority=1, description=doc("apps.v1.DaemonSetSpec", "selector")),
    ),
    _daemon_sets,
)


def controller_name(obj: Obj) -> str:
    """The controlling owner as lower-case "kind.group/name" ("statefulset.apps/web")."""
    owner = next((o for o in items(obj, "metadata", "ownerReferences") if o.get("controller") is True), None)
    if owner is None:
        return "<none>"
    group, kind = text(owner, "apiVersion").rpartition("/")[0], text(owner, "kind")
    if not group and not kind:
        return text(owner, "name")
    group_kind = f"{kind}.{group}" if group else kind
    return f"{group_kind.lower()}/{text(owner, 'name')}"


CONTROLLER_REVISIONS = Printer(
    (
        NAME,
        Column("Controller", description="Controller of the object"),
        Column("Revision", description=doc("apps.v1.ControllerRevision", "revision")),
        AGE,
    ),
    lambda obj, now: [name(obj), controller_name(obj), number(obj, "revision"), age(obj, now)],
)

PRINTERS = {
    "deployments": DEPLOYMENTS,
    "replicasets": REPLICA_SETS,
    "statefulsets": STATEFUL_SETS,
    "daemonsets": DAEMON_SETS,
    "controllerrevisions": CONTROLLER_REVISIONS,
}

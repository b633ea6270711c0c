"""VolumeBinding, the basics: a pod's PersistentVolumeClaims must exist, be bound unless their
StorageClass waits for the first consumer, and a bound claim's volume must be reachable from the
node (its PV's `spec.nodeAffinity.required`) (upstream plugins/volumebinding).

The plugin reads claims, volumes and classes through `handle.volume_listers`, an object with the
`VolumeListers` methods below (the scheduler's informers); without one every claim is missing.

Not done here, unlike upstream: binding unbound WaitForFirstConsumer claims (finding a matching PV or
checking the class's provisioner, allowedTopologies and storage capacity, then Reserve/PreBind), CSI
translation of in-tree volumes, and the capacity Score. A claim counts as bound when it names its
volume (`spec.volumeName`); upstream also waits for the PV controller's
pv.kubernetes.io/bind-completed annotation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    EnqueueExtensions,
    FilterPlugin,
    Handle,
    PluginArgs,
    PreFilterPlugin,
    PreFilterResult,
)
from scheduler.framework.status import SKIP, SUCCESS, Status
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.node_affinity import NodeSelector

Obj = Mapping[str, Any]

REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
REASON_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
REASON_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"

BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
LABEL_HOSTNAME = "kubernetes.io/hostname"
DEFAULT_BIND_TIMEOUT_SECONDS = 600


class VolumeListers(Protocol):
    """What the plugin reads of the cluster's storage objects (the scheduler's informer caches)."""

    def get_pvc(self, namespace: str, name: str) -> Obj | None: ...

    def get_pv(self, name: str) -> Obj | None: ...

    def get_storage_class(self, name: str) -> Obj | None: ...


class _NoVolumes:
    def get_pvc(self, namespace: str, name: str) -> Obj | None:
        return None

    def get_pv(self, name: str) -> Obj | None:
        return None

    def get_storage_class(self, name: str) -> Obj | None:
        return None


@dataclass(frozen=True, slots=True)
class BoundClaim:
    claim: Obj
    volume: Obj | None
    """None when the PV the claim names does not exist."""
    node_affinity: NodeSelector | None
    """The PV's required node affinity, parsed; None when it has none."""


@dataclass(frozen=True, slots=True)
class PodVolumeClaims:
    bound: tuple[BoundClaim, ...]
    unbound_delay_binding: tuple[Obj, ...]
    """Claims whose class binds on first consumer; upstream binds them in Reserve/PreBind."""

    def clone(self) -> PodVolumeClaims:
        return self  # other pods do not change it


class ClaimError(Exception):
    """A claim the pod cannot be scheduled with until it changes (missing, lost, being deleted)."""


def claim_names(pod: PodInfo) -> list[tuple[str, bool]]:
    """The pod's claims as (name, is_ephemeral); a generic ephemeral volume's claim is named
    "<pod>-<volume>" (upstream ephemeral.VolumeClaimName)."""
    names = []
    for volume in pod.spec.get("volumes") or ():
        if (claim := volume.get("persistentVolumeClaim")) is not None:
            names.append((str(claim.get("claimName", "")), False))
        elif volume.get("ephemeral") is not None:
            names.append((f"{pod.name}-{volume.get('name', '')}", True))
    return names


def storage_class_name(claim: Obj) -> str:
    """The beta annotation wins over spec.storageClassName (upstream GetPersistentVolumeClaimClass)."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def local_volume_node_names(volume: Obj) -> set[str] | None:
    """The node names a PV pins itself to with `kubernetes.io/hostname In` terms (upstream
    GetLocalPersistentVolumeNodeNames); None when it pins none."""
    required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    result: set[str] | None = None
    for term in required.get("nodeSelectorTerms") or ():
        nodes: set[str] | None = None
        for expr in term.get("matchExpressions") or ():
            if expr.get("key") == LABEL_HOSTNAME and expr.get("operator") == "In":
                values = set(expr.get("values") or ())
                nodes = values if nodes is None else nodes & values
        if nodes is not None:
            result = nodes if result is None else result | nodes
    return result or None


class VolumeBinding(PreFilterPlugin, FilterPlugin, EnqueueExtensions):
    name = "VolumeBinding"

    def __init__(
        self, listers: VolumeListers, bind_timeout_seconds: int = DEFAULT_BIND_TIMEOUT_SECONDS
    ) -> None:
        self.listers = listers
        self.bind_timeout_seconds = bind_timeout_seconds

    def events_to_register(self) -> Sequence[ClusterEvent]:
        changes = ActionType.ADD | ActionType.UPDATE
        node_changes = ActionType.ADD | ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT
        return (
            ClusterEvent("StorageClass", changes),
            ClusterEvent("PersistentVolumeClaim", changes),
            ClusterEvent("PersistentVolume", changes),
            ClusterEvent("Node", node_changes),
        )

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        names = claim_names(pod)
        if not names:
            return None, SKIP
        try:
            claims = [self._claim(pod, name, ephemeral) for name, ephemeral in names]
            delay_binding = [self._is_delay_binding(claim) for claim in claims]
        except ClaimError as err:
            return None, Status.unresolvable(str(err))
        except ValueError as err:
            return None, Status.error(str(err))
        bound, unbound_delay_binding = [], []
        for claim, delayed in zip(claims, delay_binding, strict=True):
            volume_name = (claim.get("spec") or {}).get("volumeName") or ""
            if volume_name:
                bound.append(self._bound_claim(claim, volume_name))
            elif delayed:
                unbound_delay_binding.append(claim)
            else:
                return None, Status.unresolvable(REASON_UNBOUND_IMMEDIATE)
        state.write(self.name, PodVolumeClaims(tuple(bound), tuple(unbound_delay_binding)))
        eligible = _eligible_nodes(bound)
        return (PreFilterResult(eligible) if eligible is not None else None), SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        claims: PodVolumeClaims | None = state.get(self.name)
        if claims is None:
            return Status.error(f"reading {self.name!r} from cycle state: PreFilter did not run")
        node_labels = node_info.labels
        for bound in claims.bound:
            if bound.volume is None:
                return Status.unresolvable(REASON_PV_NOT_EXIST)
            # upstream checks a PV's affinity against the node's labels only (matchFields ignored)
            if bound.node_affinity is not None and not bound.node_affinity.matches("", node_labels):
                return Status.unresolvable(REASON_NODE_CONFLICT)
        return SUCCESS

    def _claim(self, pod: PodInfo, name: str, ephemeral: bool) -> Obj:
        claim = self.listers.get_pvc(pod.namespace, name)
        if claim is None:
            if ephemeral:
                raise ClaimError(
                    f'waiting for ephemeral volume controller to create the persistentvolumeclaim "{name}"'
                )
            raise ClaimError(f'persistentvolumeclaim "{name}" not found')
        meta, spec = claim.get("metadata") or {}, claim.get("spec") or {}
        if (claim.get("status") or {}).get("phase") == "Lost":
            volume_name = spec.get("volumeName") or ""
            raise ClaimError(
                f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume "{volume_name}"'
            )
        if meta.get("deletionTimestamp"):
            raise ClaimError(f'persistentvolumeclaim "{name}" is being deleted')
        if ephemeral and not _controlled_by(claim, pod):
            raise ClaimError(
                f"PVC {meta.get('namespace', '')}/{name} was not created for pod {pod.key} (pod is not owner)"
            )
        return claim

    def _is_delay_binding(self, claim: Obj) -> bool:
        """Whether the claim's class binds on first consumer (upstream IsDelayBindingMode); a claim
        without a class or with a missing one binds immediately."""
        class_name = storage_class_name(claim)
        if not class_name:
            return False
        storage_class = self.listers.get_storage_class(class_name)
        if storage_class is None:
            return False
        mode = storage_class.get("volumeBindingMode")
        if not mode:
            raise ValueError(f'VolumeBindingMode not set for StorageClass "{class_name}"')
        return bool(mode == "WaitForFirstConsumer")

    def _bound_claim(self, claim: Obj, volume_name: str) -> BoundClaim:
        volume = self.listers.get_pv(volume_name)
        required = ((volume or {}).get("spec") or {}).get("nodeAffinity") or {}
        affinity = NodeSelector.parse(required["required"]) if required.get("required") is not None else None
        return BoundClaim(claim, volume, affinity)


def _controlled_by(claim: Obj, pod: PodInfo) -> bool:
    meta = claim.get("metadata") or {}
    if meta.get("namespace", "") != pod.namespace:
        return False
    return any(
        ref.get("controller") and ref.get("uid") == pod.uid for ref in meta.get("ownerReferences") or ()
    )


def _eligible_nodes(bound: Sequence[BoundClaim]) -> set[str] | None:
    """The nodes the bound local volumes allow (upstream GetEligibleNodes): the intersection of their
    hostname pins; None (every node) when no volume pins one or some volume is missing."""
    eligible: set[str] | None = None
    for claim in bound:
        if claim.volume is None:
            return None
        names = local_volume_node_names(claim.volume)
        if names is not None:
            eligible = names if eligible is None else eligible & names
    return eligible


def new(args: PluginArgs, handle: Handle) -> VolumeBinding:
    """Args: VolumeBindingArgs, `{"bindTimeoutSeconds": 600}`; `shape` needs the alpha
    VolumeCapacityPriority feature and is refused. The listers come from `handle.volume_listers`."""
    if args.get("kind", "VolumeBindingArgs") != "VolumeBindingArgs":
        raise ValueError(f"args are not of type VolumeBindingArgs, got {args['kind']}")
    if unknown := sorted(set(args) - {"apiVersion", "kind", "bindTimeoutSeconds", "shape"}):
        raise ValueError(f"VolumeBindingArgs: unknown field(s) {unknown}")
    timeout = args.get("bindTimeoutSeconds", DEFAULT_BIND_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise ValueError(f"bindTimeoutSeconds: must be an integer, got {timeout!r}")
    if timeout < 0:
        raise ValueError(
            f"bindTimeoutSeconds: Invalid value: {timeout}: "
            "invalid BindTimeoutSeconds, should not be a negative value"
        )
    if args.get("shape"):
        raise ValueError("shape: Invalid value: unsupported when VolumeCapacityPriority feature is disabled")
    listers: VolumeListers = getattr(handle, "volume_listers", None) or _NoVolumes()
    return VolumeBinding(listers, timeout)

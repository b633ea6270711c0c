"""The Deployment controller's decisions as pure functions over API objects (upstream's
pkg/controller/deployment/util/deployment_util.go and the arithmetic of sync.go, rolling.go,
recreate.go and progress.go): which ReplicaSet is new, what revision it gets, how far a rolling
update may scale each ReplicaSet under maxSurge/maxUnavailable, how a scaling event is shared out
among ReplicaSets in proportion, what the status and its conditions are, and when a rollout has run
out of time. Nothing here does I/O; `deployment.py` reads the caches, calls these and writes.

Objects are plain dicts as the apiserver serves them; functions that change one say so and are given
copies. Time is an argument (`now`), never read here.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeapi import labels

Obj = dict[str, Any]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
ANNOTATIONS_NOT_COPIED = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    }
)
"""Deployment annotations that stay off its ReplicaSets (everything else, e.g.
kubernetes.io/change-cause, is copied so `kubectl rollout history` can show it)."""

MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1
"""progressDeadlineSeconds or revisionHistoryLimit at MaxInt32 mean "no deadline" / "keep all"."""

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"

# Condition types and reasons (upstream's names: kubectl and users match on them).
PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET = "NewReplicaSetCreated"
FOUND_NEW_REPLICA_SET = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""apimachinery's rand.SafeEncodeString alphabet: no vowels (no words), no 0/1/3 look-alikes."""

_STATUS_COUNTS = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
)


# --- reading objects --------------------------------------------------------------------------


def meta(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("metadata") or {})


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name", ""))


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid", ""))


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(meta(obj).get("annotations") or {})


def spec_replicas(obj: Mapping[str, Any]) -> int:
    """spec.replicas of a Deployment or ReplicaSet; absent means the apiserver's default, 1."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_count(obj: Mapping[str, Any] | None, name: str) -> int:
    if obj is None:
        return 0
    return int((obj.get("status") or {}).get(name) or 0)


def set_spec_replicas(obj: Obj, replicas: int) -> None:
    obj.setdefault("spec", {})["replicas"] = replicas


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_ref(obj: Mapping[str, Any]) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(deployment: Mapping[str, Any]) -> Obj:
    """The controller reference a Deployment puts on its ReplicaSets (metav1.NewControllerRef)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name_of(deployment),
        "uid": uid_of(deployment),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def parse_time(value: Any) -> datetime:
    """An RFC 3339 timestamp as written in objects; absent sorts first."""
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(now: datetime) -> str:
    """metav1.Time's wire form: UTC, whole seconds."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def creation_order(rs: Mapping[str, Any]) -> tuple[datetime, str]:
    """controller.ReplicaSetsByCreationTimestamp: older first, then by name."""
    return parse_time(meta(rs).get("creationTimestamp")), name_of(rs)


def by_creation(rss: Iterable[Obj], newest_first: bool = False) -> list[Obj]:
    return sorted(rss, key=creation_order, reverse=newest_first)


def selector_of(deployment: Mapping[str, Any]) -> labels.Selector:
    return labels.from_label_selector((deployment.get("spec") or {}).get("selector"))


def selects_everything(deployment: Mapping[str, Any]) -> bool:
    """An empty selector: upstream refuses to act on it (event SelectingAll)."""
    selector = (deployment.get("spec") or {}).get("selector") or {}
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


# --- strategy parameters ----------------------------------------------------------------------


def strategy_type(deployment: Mapping[str, Any]) -> str:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    return str(strategy.get("type") or ROLLING_UPDATE)


def is_rolling_update(deployment: Mapping[str, Any]) -> bool:
    return strategy_type(deployment) == ROLLING_UPDATE


def _rolling_params(deployment: Mapping[str, Any]) -> tuple[int | str, int | str]:
    """(maxSurge, maxUnavailable), with the apiserver's 25% defaults when absent."""
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    surge = rolling.get("maxSurge", "25%")
    unavailable = rolling.get("maxUnavailable", "25%")
    return (0 if surge is None else surge), (0 if unavailable is None else unavailable)


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of `total` rounded up or down."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {text}")
    percent = int(text[:-1])
    product = percent * total
    return -(-product // 100) if round_up else product // 100


def resolve_fenceposts(max_surge: int | str, max_unavailable: int | str, desired: int) -> tuple[int, int]:
    """(surge, unavailable) for `desired` replicas: surge rounds up, unavailable down; if both come
    to zero, unavailable is 1 so that a rollout can still move (surge may be blocked by quota)."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(deployment: Mapping[str, Any]) -> int:
    if not is_rolling_update(deployment):
        return 0
    surge, unavailable = _rolling_params(deployment)
    return resolve_fenceposts(surge, unavailable, spec_replicas(deployment))[0]


def max_unavailable(deployment: Mapping[str, Any]) -> int:
    replicas = spec_replicas(deployment)
    if not is_rolling_update(deployment) or replicas == 0:
        return 0
    surge, unavailable = _rolling_params(deployment)
    return min(resolve_fenceposts(surge, unavailable, replicas)[1], replicas)


def progress_deadline(deployment: Mapping[str, Any]) -> int | None:
    """progressDeadlineSeconds, or None when progress is not checked (MaxInt32); absent means the
    apiserver's default, 600."""
    value = (deployment.get("spec") or {}).get("progressDeadlineSeconds", 600)
    if value is None or int(value) == MAX_INT32:
        return None
    return int(value)


def revision_history_limit(deployment: Mapping[str, Any]) -> int | None:
    """revisionHistoryLimit, or None to keep every old ReplicaSet (MaxInt32); absent means 10."""
    value = (deployment.get("spec") or {}).get("revisionHistoryLimit", 10)
    if value is None or int(value) == MAX_INT32:
        return None
    return int(value)


# --- the pod template hash ----------------------------------------------------------------------


def fnv1a_32(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode_string(text: str) -> str:
    """rand.SafeEncodeString: each byte picks a letter of SAFE_ALPHABET (byte mod 27)."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def compute_hash(template: Mapping[str, Any], collision_count: int | None) -> str:
    """controller.ComputeHash: FNV-1a 32 over the template (here its canonical JSON, where upstream
    hashes Go's printed struct), then the collision count as 8 little-endian bytes if set, written
    as the decimal number in the safe alphabet ("5d4f7c9b8")."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if collision_count is not None:
        canonical += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    return safe_encode_string(str(fnv1a_32(canonical)))


def _semantic(value: Any) -> Any:
    """What apiequality.Semantic.DeepEqual cannot tell apart: absent, null, empty list, empty map."""
    if isinstance(value, Mapping):
        cleaned = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def semantic_template(template: Mapping[str, Any] | None) -> Any:
    """A pod template as equal_ignore_hash compares it: `_semantic`, without the pod-template-hash
    label (and without the labels, or metadata, that only it kept from being empty). A new structure,
    so the template is neither copied first nor changed."""
    cleaned = _semantic(dict(template or {}))
    template_meta = cleaned.get("metadata")
    template_labels = template_meta.get("labels") if isinstance(template_meta, dict) else None
    if isinstance(template_labels, dict) and POD_TEMPLATE_HASH_LABEL in template_labels:
        del template_labels[POD_TEMPLATE_HASH_LABEL]
        if not template_labels:
            del template_meta["labels"]
            if not template_meta:
                del cleaned["metadata"]
    return cleaned


def equal_ignore_hash(template1: Mapping[str, Any] | None, template2: Mapping[str, Any] | None) -> bool:
    """Pod templates equal but for the pod-template-hash label (a ReplicaSet's template has it,
    the Deployment's does not; hash values also change when the template schema grows)."""
    return bool(semantic_template(template1) == semantic_template(template2))


def template_of(obj: Mapping[str, Any]) -> Obj:
    return dict((obj.get("spec") or {}).get("template") or {})


# --- new and old ReplicaSets ---------------------------------------------------------------------


def find_new_replica_set(deployment: Mapping[str, Any], rss: Sequence[Obj]) -> Obj | None:
    """The ReplicaSet whose template is the Deployment's; the oldest if several (issue 40415)."""
    wanted = semantic_template(template_of(deployment))
    for rs in by_creation(rss):
        if semantic_template(template_of(rs)) == wanted:
            return rs
    return None


def find_old_replica_sets(deployment: Mapping[str, Any], rss: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(old ReplicaSets with replicas, all old ReplicaSets), in creation order."""
    new_rs = find_new_replica_set(deployment, rss)
    old = [rs for rs in by_creation(rss) if new_rs is None or uid_of(rs) != uid_of(new_rs)]
    return [rs for rs in old if spec_replicas(rs) != 0], old


def filter_active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """The only active ReplicaSet, or the newest when none is active; None when several are active
    (then a scaling event is shared out proportionally)."""
    if new_rs is None and not old_rss:
        return None
    newest_first = by_creation(old_rss, newest_first=True)
    active = filter_active([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def int_annotation(obj: Mapping[str, Any], key: str) -> int | None:
    value = annotations_of(obj).get(key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def is_scaling_event(deployment: Mapping[str, Any], new_rs: Obj | None, old_rss: Sequence[Obj]) -> bool:
    """spec.replicas changed since the active ReplicaSets were last sized (their desired-replicas)."""
    replicas = spec_replicas(deployment)
    for rs in filter_active([*old_rss, new_rs]):
        desired = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
        if desired is not None and desired != replicas:
            return True
    return False


def is_saturated(deployment: Mapping[str, Any], rs: Obj | None) -> bool:
    """The new ReplicaSet runs all desired replicas, available, and knows it is meant to."""
    if rs is None:
        return False
    desired = int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
    replicas = spec_replicas(deployment)
    return (
        desired is not None
        and spec_replicas(rs) == replicas
        and desired == replicas
        and status_count(rs, "availableReplicas") == replicas
    )


# --- revisions and annotations ---------------------------------------------------------------------


def revision(obj: Mapping[str, Any]) -> int:
    """The revision annotation as a number (0 when absent); ValueError when it is not one."""
    value = annotations_of(obj).get(REVISION_ANNOTATION)
    return 0 if value is None else int(value)


def max_revision(rss: Iterable[Obj]) -> int:
    best = 0
    for rs in rss:
        try:
            best = max(best, revision(rs))
        except ValueError:  # unparsable revisions are skipped, as upstream does
            continue
    return best


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """ReplicaSetsByRevision: ascending revision, creation order between equal or unparsable ones."""

    def key(rs: Obj) -> tuple[int, datetime, str]:
        try:
            number = revision(rs)
        except ValueError:
            number = -1
        return (number, *creation_order(rs))

    return sorted(rss, key=key)


def copy_deployment_annotations(deployment: Mapping[str, Any], rs: Obj) -> bool:
    """Copy the Deployment's annotations (but ANNOTATIONS_NOT_COPIED) onto `rs`; True if any changed."""
    rs_annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in annotations_of(deployment).items():
        if key in ANNOTATIONS_NOT_COPIED or rs_annotations.get(key) == value:
            continue
        rs_annotations[key] = value
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    rs_annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(maximum))):
        if rs_annotations.get(key) != value:
            rs_annotations[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Mapping[str, Any], desired: int, maximum: int) -> bool:
    current = annotations_of(rs)
    return current.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or current.get(
        MAX_REPLICAS_ANNOTATION
    ) != str(maximum)


def set_new_replica_set_annotations(
    deployment: Mapping[str, Any], rs: Obj, new_revision: int, exists: bool
) -> bool:
    """Bring the new ReplicaSet's annotations up to date (it is changed in place): the Deployment's
    annotations, revision raised to `new_revision` (a rollback to an old ReplicaSet keeps the
    revisions it served before in revision-history, at most 2000 characters), and on creation the
    desired/max replicas. True if anything changed."""
    changed = copy_deployment_annotations(deployment, rs)
    rs_annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    old_text = rs_annotations.get(REVISION_ANNOTATION)
    try:
        old_revision = int(old_text) if old_text else 0
    except ValueError:
        return False
    if old_revision < new_revision:
        rs_annotations[REVISION_ANNOTATION] = str(new_revision)
        changed = True
        if old_text is not None:
            history = rs_annotations.get(REVISION_HISTORY_ANNOTATION, "")
            if not history:
                rs_annotations[REVISION_HISTORY_ANNOTATION] = old_text
            else:
                served = history.split(",")
                total = len(history) + len(old_text) + 1
                start = 0
                while total > MAX_REVISION_HISTORY_CHARS and start < len(served):
                    total -= len(served[start]) + 1
                    start += 1
                if total <= MAX_REVISION_HISTORY_CHARS:
                    rs_annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*served[start:], old_text])
    replicas = spec_replicas(deployment)
    if not exists and set_replicas_annotations(rs, replicas, replicas + max_surge(deployment)):
        changed = True
    return changed


def new_replica_set(deployment: Mapping[str, Any], pod_template_hash: str, new_revision: int) -> Obj:
    """The new ReplicaSet for the Deployment's current template, named "<deployment>-<hash>" (a
    deterministic name makes a repeated create fail instead of duplicating), with 0 replicas (the
    caller sizes it) and the hash label on its selector, template and itself."""
    d_meta = meta(deployment)
    spec = deployment.get("spec") or {}
    template = copy.deepcopy(template_of(deployment))
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {
        **(template_meta.get("labels") or {}),
        POD_TEMPLATE_HASH_LABEL: pod_template_hash,
    }
    selector = copy.deepcopy(dict(spec.get("selector") or {}))
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        POD_TEMPLATE_HASH_LABEL: pod_template_hash,
    }
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{d_meta.get('name')}-{pod_template_hash}",
            "namespace": d_meta.get("namespace"),
            "ownerReferences": [owner_reference(deployment)],
            "labels": dict(template_meta["labels"]),
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
    }
    set_new_replica_set_annotations(deployment, rs, new_revision, exists=False)
    return rs


# --- sizing ---------------------------------------------------------------------------------------


def new_rs_new_replicas(deployment: Mapping[str, Any], all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How big the new ReplicaSet may be now: Recreate all at once; RollingUpdate up to
    replicas + maxSurge pods in total, never beyond replicas."""
    replicas = spec_replicas(deployment)
    kind = strategy_type(deployment)
    if kind == RECREATE:
        return replicas
    if kind != ROLLING_UPDATE:
        raise ValueError(f"deployment type {kind} isn't supported")
    surge = scaled_value(_rolling_params(deployment)[0], replicas, True)
    current = sum(spec_replicas(rs) for rs in all_rss if rs is not None)
    max_total = replicas + surge
    if current >= max_total:
        return spec_replicas(new_rs)
    scale_up = min(max_total - current, replicas - spec_replicas(new_rs))
    return spec_replicas(new_rs) + scale_up


def _round_half_away(value: float) -> int:
    """Go's math.Round (halves away from zero), not Python's banker's rounding."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def replica_set_fraction(rs: Mapping[str, Any], deployment: Mapping[str, Any]) -> int:
    """How many replicas `rs` gains (or loses) if the Deployment's new size is shared out in the
    proportion it had of the old size (its max-replicas annotation)."""
    replicas = spec_replicas(deployment)
    if replicas == 0:
        return -spec_replicas(rs)
    deployment_replicas = replicas + max_surge(deployment)
    annotated = int_annotation(rs, MAX_REPLICAS_ANNOTATION)
    if annotated is None:
        annotated = status_count(deployment, "replicas")
    if annotated <= 0:  # no base to estimate a proportion: the leftover goes to the largest
        return 0
    size = spec_replicas(rs) * deployment_replicas / annotated
    return _round_half_away(size) - spec_replicas(rs)


def proportion(rs: Mapping[str, Any], deployment: Mapping[str, Any], to_add: int, added: int) -> int:
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, deployment)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_sizes(
    deployment: Mapping[str, Any], new_rs: Obj | None, old_rss: Sequence[Obj]
) -> list[tuple[Obj, int]]:
    """A scaling event in the middle of a rollout: every active ReplicaSet keeps its share of the
    pods, so that neither the new nor the old template gains ground by the resize. Scaling up, the
    larger (then newer) ReplicaSets come first; scaling down, the larger (then older); rounding
    leftovers go to the first. Returns (ReplicaSet, new size) for each active ReplicaSet."""
    active = filter_active([*by_creation(old_rss, newest_first=True), new_rs])
    replicas = spec_replicas(deployment)
    allowed_size = replicas + max_surge(deployment) if replicas > 0 else 0
    to_add = allowed_size - sum(spec_replicas(rs) for rs in active)
    if to_add > 0:
        active = sorted(by_creation(active, newest_first=True), key=lambda rs: -spec_replicas(rs))
    elif to_add < 0:
        active = sorted(by_creation(active), key=lambda rs: -spec_replicas(rs))
    sizes: list[int] = []
    added = 0
    for rs in active:
        share = proportion(rs, deployment, to_add, added) if to_add else 0
        sizes.append(spec_replicas(rs) + share)
        added += share
    if active and to_add:
        sizes[0] = max(0, sizes[0] + to_add - added)
    return list(zip(active, sizes, strict=True))


def max_scaled_down(deployment: Mapping[str, Any], all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How many old pods a rolling update may remove now: what exceeds minAvailable, not counting the
    new ReplicaSet's unavailable pods (so a crash-looping new template does not eat the old ones)."""
    min_available = spec_replicas(deployment) - max_unavailable(deployment)
    all_pods = sum(spec_replicas(rs) for rs in all_rss if rs is not None)
    new_unavailable = spec_replicas(new_rs) - status_count(new_rs, "availableReplicas")
    return all_pods - min_available - new_unavailable


def unhealthy_cleanup_plan(old_rss: Sequence[Obj], max_cleanup: int) -> list[tuple[Obj, int]] | None:
    """Scale old ReplicaSets down by their unavailable pods first (oldest first, at most
    `max_cleanup` in all): removing those costs no availability. None when an old ReplicaSet
    reports more available pods than it wants (upstream refuses the round then)."""
    plan: list[tuple[Obj, int]] = []
    total = 0
    for rs in by_creation(old_rss):
        if total >= max_cleanup:
            break
        replicas = spec_replicas(rs)
        available = status_count(rs, "availableReplicas")
        if replicas == 0 or replicas == available:
            continue
        count = min(max_cleanup - total, replicas - available)
        if count < 0:
            return None
        plan.append((rs, replicas - count))
        total += count
    return plan


def rolling_scale_down_plan(
    deployment: Mapping[str, Any], all_rss: Sequence[Obj | None], old_rss: Sequence[Obj]
) -> list[tuple[Obj, int]]:
    """Scale old ReplicaSets down (oldest first) by the available pods above minAvailable."""
    min_available = spec_replicas(deployment) - max_unavailable(deployment)
    available = sum(status_count(rs, "availableReplicas") for rs in all_rss if rs is not None)
    if available <= min_available:
        return []
    plan: list[tuple[Obj, int]] = []
    wanted = available - min_available
    total = 0
    for rs in by_creation(old_rss):
        if total >= wanted:
            break
        replicas = spec_replicas(rs)
        if replicas == 0:
            continue
        count = min(replicas, wanted - total)
        plan.append((rs, replicas - count))
        total += count
    return plan


def old_pods_running(
    new_rs: Obj | None, old_rss: Sequence[Obj], pod_map: Mapping[str, Sequence[Obj]]
) -> bool:
    """Recreate waits until no old ReplicaSet reports pods and no pod of an old ReplicaSet is
    anything but Succeeded or Failed (Unknown counts as running: it may be)."""
    if sum(status_count(rs, "replicas") for rs in old_rss) > 0:
        return True
    new_uid = uid_of(new_rs) if new_rs is not None else None
    for rs_uid, pods in pod_map.items():
        if rs_uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False


def replica_sets_to_clean_up(deployment: Mapping[str, Any], old_rss: Sequence[Obj]) -> list[Obj]:
    """The oldest old ReplicaSets beyond revisionHistoryLimit that are fully scaled down and
    observed so (the rest of history stays for `kubectl rollout undo`)."""
    limit = revision_history_limit(deployment)
    if limit is None:
        return []
    alive = [rs for rs in old_rss if not is_deleting(rs)]
    excess = len(alive) - limit
    if excess <= 0:
        return []
    doomed = []
    for rs in by_revision(alive)[:excess]:
        observed = status_count(rs, "observedGeneration")
        generation = int(meta(rs).get("generation") or 0)
        if status_count(rs, "replicas") != 0 or spec_replicas(rs) != 0 or generation > observed:
            continue
        doomed.append(rs)
    return doomed


# --- adoption ---------------------------------------------------------------------------------


@dataclass
class Claims:
    """What ClaimReplicaSets decides for one Deployment over its namespace's ReplicaSets."""

    owned: list[Obj] = field(default_factory=list)
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def claim_replica_sets(deployment: Mapping[str, Any], rss: Iterable[Obj]) -> Claims:
    """Owned ReplicaSets that match the selector are kept; owned ones that no longer match are
    released; orphans that match are adopted (not while either side is being deleted). ReplicaSets
    controlled by something else are left alone."""
    selector = selector_of(deployment)
    deleting = is_deleting(deployment)
    claims = Claims()
    for rs in rss:
        matches = selector.matches(meta(rs).get("labels") or {})
        ref = controller_ref(rs)
        if ref is not None:
            if ref.get("uid") != uid_of(deployment):
                continue
            if matches:
                claims.owned.append(rs)
            elif not deleting:
                claims.release.append(rs)
        elif matches and not deleting and not is_deleting(rs):
            claims.adopt.append(rs)
    return claims


# --- conditions ---------------------------------------------------------------------------------


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    stamp = format_time(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Mapping[str, Any] | None, type_: str) -> Obj | None:
    for condition in (status or {}).get("conditions") or ():
        if condition.get("type") == type_:
            return dict(condition)
    return None


def set_condition(status: Obj, condition: Obj) -> None:
    """Add or replace the condition of its type; one with the same status and reason is kept as is,
    and lastTransitionTime carries over while the status stays the same."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"]:
        if current.get("reason") == condition["reason"]:
            return
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status["conditions"] = [*(status.get("conditions") or []), condition]


def remove_condition(status: Obj, type_: str) -> None:
    kept = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def paused_condition(deployment: Obj, now: datetime) -> bool:
    """checkPausedConditions: mark Progressing Unknown when paused or resumed, so that time spent
    paused never counts against progressDeadlineSeconds. Changes the Deployment's status in place;
    True if it changed. A reported timeout is not overwritten."""
    if progress_deadline(deployment) is None:
        return False
    status = deployment.setdefault("status", {})
    current = get_condition(status, PROGRESSING)
    if current is not None and current.get("reason") == TIMED_OUT:
        return False
    paused_now = current is not None and current.get("reason") == PAUSED
    paused = bool((deployment.get("spec") or {}).get("paused"))
    if paused and not paused_now:
        set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now))
        return True
    if not paused and paused_now:
        set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now))
        return True
    return False


# --- status -------------------------------------------------------------------------------------


def normalized_status(status: Mapping[str, Any] | None) -> Obj:
    """A status as Go serializes it: zero counts and empty lists left out (all omitempty), so a
    status read back compares equal to the one computed."""
    return {
        k: v
        for k, v in (status or {}).items()
        if (v is not None if k == "collisionCount" else v not in (None, 0, [], {}))
    }


def calculate_status(
    all_rss: Sequence[Obj | None], new_rs: Obj | None, deployment: Mapping[str, Any], now: datetime
) -> Obj:
    """The status the ReplicaSets' own statuses add up to, with the Available condition; other
    conditions carried over from the Deployment's status."""
    present = [rs for rs in all_rss if rs is not None]
    available = sum(status_count(rs, "availableReplicas") for rs in present)
    total = sum(spec_replicas(rs) for rs in present)
    old_status = deployment.get("status") or {}
    status: Obj = {
        "observedGeneration": int(meta(deployment).get("generation") or 0),
        "replicas": sum(status_count(rs, "replicas") for rs in present),
        "updatedReplicas": status_count(new_rs, "replicas"),
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in present),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    if old_status.get("collisionCount") is not None:
        status["collisionCount"] = old_status["collisionCount"]
    conditions = copy.deepcopy(list(old_status.get("conditions") or []))
    if conditions:
        status["conditions"] = conditions
    if available >= spec_replicas(deployment) - max_unavailable(deployment):
        condition = new_condition(
            AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability.", now
        )
    else:
        condition = new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    set_condition(status, condition)
    return normalized_status(status)


def deployment_complete(deployment: Mapping[str, Any], status: Mapping[str, Any] | None) -> bool:
    """All desired replicas updated and available, none old, and this generation observed."""
    replicas = spec_replicas(deployment)
    status = status or {}
    return (
        int(status.get("updatedReplicas") or 0) == replicas
        and int(status.get("replicas") or 0) == replicas
        and int(status.get("availableReplicas") or 0) == replicas
        and int(status.get("observedGeneration") or 0) >= int(meta(deployment).get("generation") or 0)
    )


def deployment_progressing(deployment: Mapping[str, Any], new_status: Mapping[str, Any]) -> bool:
    """Progress since the last status: more updated, ready or available pods, or fewer old ones."""
    old = deployment.get("status") or {}

    def count(status: Mapping[str, Any], key: str) -> int:
        return int(status.get(key) or 0)

    old_old = count(old, "replicas") - count(old, "updatedReplicas")
    new_old = count(new_status, "replicas") - count(new_status, "updatedReplicas")
    return (
        count(new_status, "updatedReplicas") > count(old, "updatedReplicas")
        or new_old < old_old
        or count(new_status, "readyReplicas") > count(old, "readyReplicas")
        or count(new_status, "availableReplicas") > count(old, "availableReplicas")
    )


def deployment_timed_out(deployment: Mapping[str, Any], new_status: Mapping[str, Any], now: datetime) -> bool:
    """No progress reported for progressDeadlineSeconds since the Progressing condition's
    lastUpdateTime (a finished rollout never times out; a timed-out one stays so)."""
    deadline = progress_deadline(deployment)
    if deadline is None:
        return False
    condition = get_condition(new_status, PROGRESSING)
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
        return False
    if condition.get("reason") == TIMED_OUT:
        return True
    return parse_time(condition.get("lastUpdateTime")).timestamp() + deadline < now.timestamp()


def replica_failure_conditions(all_rss: Sequence[Obj | None], new_rs: Obj | None) -> list[Obj]:
    """ReplicaFailure conditions of the ReplicaSets (the new one's first) as Deployment conditions."""

    def of(rs: Obj) -> list[Obj]:
        return [
            {
                "type": REPLICA_FAILURE,
                "status": c.get("status"),
                "lastUpdateTime": c.get("lastTransitionTime"),
                "lastTransitionTime": c.get("lastTransitionTime"),
                "reason": c.get("reason"),
                "message": c.get("message"),
            }
            for c in (rs.get("status") or {}).get("conditions") or ()
            if c.get("type") == REPLICA_FAILURE
        ]

    if new_rs is not None and (found := of(new_rs)):
        return found
    return [c for rs in all_rss if rs is not None for c in of(rs)]


def rollout_status(
    all_rss: Sequence[Obj | None], new_rs: Obj | None, deployment: Mapping[str, Any], now: datetime
) -> Obj:
    """syncRolloutStatus's status: calculate_status plus the Progressing condition (complete ->
    NewReplicaSetAvailable; progress -> ReplicaSetUpdated with a fresh lastUpdateTime; no progress
    past the deadline -> False ProgressDeadlineExceeded) and ReplicaFailure from the ReplicaSets."""
    status = calculate_status(all_rss, new_rs, deployment, now)
    d_name = name_of(deployment)
    if progress_deadline(deployment) is None:
        remove_condition(status, PROGRESSING)
    current = get_condition(deployment.get("status"), PROGRESSING)
    finished = (
        int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE
    )
    subject = f'ReplicaSet "{name_of(new_rs)}"' if new_rs is not None else f'Deployment "{d_name}"'
    if progress_deadline(deployment) is not None and not finished:
        if deployment_complete(deployment, status):
            message = f"{subject} has successfully progressed."
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, now))
        elif deployment_progressing(deployment, status):
            condition = new_condition(
                PROGRESSING, "True", REPLICA_SET_UPDATED, f"{subject} is progressing.", now
            )
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, condition)
        elif deployment_timed_out(deployment, status, now):
            message = f"{subject} has timed out progressing."
            set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT, message, now))
    failures = replica_failure_conditions(all_rss, new_rs)
    if failures:
        set_condition(status, failures[0])
    else:
        remove_condition(status, REPLICA_FAILURE)
    return normalized_status(status)


def stuck_requeue_after(
    deployment: Mapping[str, Any], new_status: Mapping[str, Any], now: datetime
) -> float | None:
    """Seconds until the Deployment must be looked at again to notice a missed deadline (no event
    would wake it up otherwise), or None when there is nothing to time out."""
    deadline = progress_deadline(deployment)
    current = get_condition(deployment.get("status"), PROGRESSING)
    if deadline is None or current is None:
        return None
    if deployment_complete(deployment, new_status) or current.get("reason") == TIMED_OUT:
        return None
    due = parse_time(current.get("lastUpdateTime")).timestamp() + deadline
    return due - now.timestamp()

"""Two admission plugins upstream runs on every new pod by default:

- Priority: a pod's `priorityClassName` becomes its `spec.priority` and `spec.preemptionPolicy`;
  without a name the cluster's globalDefault class applies, or priority 0. The two system classes
  exist from the start.
- DefaultTolerationSeconds: a pod that does not tolerate the node.kubernetes.io/not-ready and
  unreachable NoExecute taints gets tolerations for them with tolerationSeconds 300 (the flags
  --default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds), which is
  how pods leave a dead node five minutes after it is marked unreachable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver.rest import ListOptions, ResourceREST
from kubeapi import errors, validation

Object = dict[str, object]

SYSTEM_PRIORITY_CLASSES = (
    (
        "system-node-critical",
        2000001000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2000000000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if "
        "necessary.",
    ),
)
PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"


def system_priority_classes() -> list[Object]:
    return [
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
         "value": value, "description": description, "preemptionPolicy": PREEMPT_LOWER_PRIORITY}
        for name, value, description in SYSTEM_PRIORITY_CLASSES
    ]  # fmt: skip


class PodREST(ResourceREST):
    """Pods, with priority admitted on create."""

    def __init__(
        self,
        *args: Any,
        priority_classes: Callable[[], ResourceREST],
        default_toleration_seconds: tuple[int, int] = (300, 300),
        allow_privileged: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.priority_classes = priority_classes
        self.default_toleration_seconds = default_toleration_seconds
        self.allow_privileged = allow_privileged

    async def create(self, namespace: str | None, obj: Object, *, dry_run: bool = False) -> Object:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            if not self.allow_privileged:
                self._refuse_privileged(obj, spec)
            await self._admit_priority(obj, spec)
            add_default_tolerations(spec, *self.default_toleration_seconds)
        return await super().create(namespace, obj, dry_run=dry_run)

    async def _admit_priority(self, pod: Object, spec: dict[str, object]) -> None:
        name = spec.get("priorityClassName")
        classes = self.priority_classes()
        if name:
            try:
                found = await classes.get(None, str(name), resource_version="0")
            except errors.StatusError as error:
                if error.code != 404:
                    raise
                raise self._forbidden(pod, f"no PriorityClass with name {name} was found") from None
        else:
            listed = await classes.list(None, ListOptions(resource_version="0"))
            defaults = [c for c in listed.get("items") or () if c.get("globalDefault")]
            if not defaults:
                return  # defaulting gives priority 0 and PreemptLowerPriority
            found = min(defaults, key=lambda c: int(c.get("value") or 0))
            spec["priorityClassName"] = found["metadata"]["name"]
        value = int(found.get("value") or 0)
        if spec.get("priority") is not None and spec["priority"] != value:
            raise self._forbidden(
                pod,
                f"the integer value of priority ({spec['priority']}) must not be provided in pod spec; "
                f"priority admission controller computed {value} from the given PriorityClass name",
            )
        policy = found.get("preemptionPolicy") or PREEMPT_LOWER_PRIORITY
        if spec.get("preemptionPolicy") not in (None, policy):
            raise self._forbidden(
                pod,
                f"the string value of PreemptionPolicy ({spec['preemptionPolicy']}) must not be provided in "
                f"pod spec; priority admission controller computed {policy} from the given PriorityClass "
                "name",
            )
        spec["priority"], spec["preemptionPolicy"] = value, policy

    def _refuse_privileged(self, pod: Object, spec: dict[str, object]) -> None:
        """kube-apiserver without --allow-privileged: a privileged container is invalid (upstream's
        pod validation, "disallowed by cluster policy")."""
        causes = []
        for field in ("initContainers", "containers", "ephemeralContainers"):
            containers = spec.get(field)
            for index, container in enumerate(containers if isinstance(containers, list) else []):
                security = container.get("securityContext") if isinstance(container, dict) else None
                if isinstance(security, dict) and security.get("privileged") is True:
                    path = f"spec.{field}[{index}].securityContext.privileged"
                    causes.append(validation.forbidden(path, "disallowed by cluster policy"))
        if causes:
            meta = pod.get("metadata")
            name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
            raise errors.invalid("Pod", name, causes)

    def _forbidden(self, pod: Object, message: str) -> errors.StatusError:
        meta = pod.get("metadata")
        name = meta.get("name") or meta.get("generateName") or "" if isinstance(meta, dict) else ""
        error = errors.forbidden(f'pods "{name}" is forbidden: {message}')
        error.details.update({"name": name, "kind": "pods"})
        return error


def add_default_tolerations(
    spec: dict[str, object], not_ready_seconds: int, unreachable_seconds: int
) -> None:
    """DefaultTolerationSeconds: a toleration with this key (or no key) and effect NoExecute (or no
    effect) counts as tolerating already."""
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    added = list(tolerations)
    for key, seconds in (
        ("node.kubernetes.io/not-ready", not_ready_seconds),
        ("node.kubernetes.io/unreachable", unreachable_seconds),
    ):
        tolerated = any(
            isinstance(t, dict) and t.get("key", "") in ("", key) and t.get("effect", "") in ("", "NoExecute")
            for t in tolerations
        )
        if not tolerated:
            added.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
            )
    if len(added) != len(tolerations):
        spec["tolerations"] = added

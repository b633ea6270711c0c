"""The resources the apiserver serves: group, version, plural name, kind, scope, short names,
categories, verbs, subresources and the storage prefix kube-apiserver uses for each (so
`etcdctl get /registry/...` finds objects where an operator expects them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_WRITE_VERBS = ("get", "patch", "update")
CONNECT_VERBS = ("create", "get")
PROXY_VERBS = ("create", "delete", "get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    name: str  # "status", "scale", "log", ...
    verbs: tuple[str, ...]
    group: str | None = None  # the kind it takes and returns, when not the parent's
    version: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    name: str  # plural, as in the URL
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    storage: str = ""  # the etcd prefix under /registry/ (default: the plural name)
    verbs: tuple[str, ...] = STANDARD_VERBS
    singular: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "singular", self.kind.lower())
        if not self.storage:
            object.__setattr__(self, "storage", self.name)

    @property
    def group_version(self) -> str:
        """ "v1" for the core group, else "group/version" (an object's apiVersion)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def subresource(self, name: str) -> Subresource | None:
        return next((sub for sub in self.subresources if sub.name == name), None)


STATUS = Subresource("status", READ_WRITE_VERBS)
SCALE = Subresource("scale", READ_WRITE_VERBS, "autoscaling", "v1", "Scale")
WORKLOAD = ("all",)


def _core(name: str, kind: str, namespaced: bool = True, **extra: object) -> Resource:
    return Resource("", "v1", name, kind, namespaced, **extra)  # type: ignore[arg-type]


BUILTIN: tuple[Resource, ...] = (
    _core(
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        subresources=(STATUS, Subresource("finalize", ("update",))),
    ),
    _core(
        "pods",
        "Pod",
        short_names=("po",),
        categories=WORKLOAD,
        subresources=(
            STATUS,
            Subresource("binding", ("create",), "", "v1", "Binding"),
            Subresource("eviction", ("create",), "policy", "v1", "Eviction"),
            Subresource("log", ("get",)),
            Subresource("exec", CONNECT_VERBS),
            Subresource("attach", CONNECT_VERBS),
            Subresource("portforward", CONNECT_VERBS),
            Subresource("ephemeralcontainers", READ_WRITE_VERBS),
        ),
    ),
    _core(
        "services",
        "Service",
        short_names=("svc",),
        categories=WORKLOAD,
        storage="services/specs",
        subresources=(STATUS, Subresource("proxy", PROXY_VERBS)),
    ),
    _core("endpoints", "Endpoints", short_names=("ep",), storage="services/endpoints"),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core(
        "serviceaccounts",
        "ServiceAccount",
        short_names=("sa",),
        subresources=(Subresource("token", ("create",), "authentication.k8s.io", "v1", "TokenRequest"),),
    ),
    _core(
        "nodes",
        "Node",
        False,
        short_names=("no",),
        storage="minions",
        subresources=(STATUS, Subresource("proxy", PROXY_VERBS)),
    ),
    _core("events", "Event", short_names=("ev",)),
    _core("limitranges", "LimitRange", short_names=("limits",)),
    _core("resourcequotas", "ResourceQuota", short_names=("quota",), subresources=(STATUS,)),
    _core("persistentvolumes", "PersistentVolume", False, short_names=("pv",), subresources=(STATUS,)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",), subresources=(STATUS,)),
    _core(
        "replicationcontrollers",
        "ReplicationController",
        short_names=("rc",),
        categories=WORKLOAD,
        storage="controllers",
        subresources=(STATUS, SCALE),
    ),
    _core("podtemplates", "PodTemplate"),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), WORKLOAD, (STATUS, SCALE)),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), WORKLOAD, (STATUS, SCALE)),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), WORKLOAD, (STATUS, SCALE)),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), WORKLOAD, (STATUS,)),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    Resource("batch", "v1", "jobs", "Job", True, (), WORKLOAD, (STATUS,)),
    Resource("batch", "v1", "cronjobs", "CronJob", True, ("cj",), WORKLOAD, (STATUS,)),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    Resource("events.k8s.io", "v1", "events", "Event", True, ("ev",), storage="events"),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        False,
        ("csr",),
        (),
        (STATUS, Subresource("approval", READ_WRITE_VERBS)),
    ),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), (), (STATUS,)),
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
)


class Registry:
    """Resources by group, version and name, and by kind."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources = tuple(resources)
        self._by_name = {(r.group, r.version, r.name): r for r in self.resources}
        self._by_kind = {(r.group, r.version, r.kind): r for r in self.resources}

    def get(self, group: str, version: str, name: str) -> Resource | None:
        return self._by_name.get((group, version, name))

    def by_kind(self, group: str, version: str, kind: str) -> Resource | None:
        return self._by_kind.get((group, version, kind))

    def group_versions(self) -> Mapping[str, tuple[str, ...]]:
        """Each group's versions, in the order the resources list them (core group: "")."""
        versions: dict[str, list[str]] = {}
        for r in self.resources:
            listed = versions.setdefault(r.group, [])
            if r.version not in listed:
                listed.append(r.version)
        return MappingProxyType({group: tuple(v) for group, v in versions.items()})

    def in_group_version(self, group: str, version: str) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if (r.group, r.version) == (group, version))


BUILTIN_REGISTRY = Registry(BUILTIN)

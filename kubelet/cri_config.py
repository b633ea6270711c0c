"""The CRI messages the kubelet sends for a pod: its sandbox config and each container's config, built
from the Pod object as upstream's kuberuntime does (kuberuntime_sandbox.go, kuberuntime_container.go,
kuberuntime_container_linux.go, dns.go). Pure: everything the node contributes comes in as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeapi.quantity import parse_quantity
from kubelet import pods
from kubelet.cri import labels
from kubelet.cri.api import api_pb2 as cri
from kubelet.envvars import expand_command_and_args
from kubelet.pods import Container, Pod
from kubelet.qos import qos_class

CPU_PERIOD_US = 100_000
MIN_SHARES = 2
MAX_SHARES = 262_144
MIN_QUOTA_US = 1_000
NDOTS = 5
MAX_DNS_SEARCHES = 32
MAX_HOSTNAME = 63

# Upstream's defaults unless procMount is Unmasked (securitycontext.ConvertToRuntimeMaskedPaths).
DEFAULT_MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
DEFAULT_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

PROTOCOLS = {"TCP": cri.TCP, "UDP": cri.UDP, "SCTP": cri.SCTP}


@dataclass(frozen=True)
class HostDNS:
    """The node's resolv.conf, which `Default` pods get and cluster pods extend."""

    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HostDNS:
        servers: list[str] = []
        searches: list[str] = []
        options: list[str] = []
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "nameserver" and len(words) > 1:
                servers.append(words[1])
            elif words[0] in ("search", "domain"):
                searches = words[1:]
            elif words[0] == "options":
                options.extend(words[1:])
        return cls(tuple(servers), tuple(searches), tuple(options))

    @classmethod
    def read(cls, path: str) -> HostDNS:
        try:
            return cls.parse(Path(path).read_text())
        except OSError:
            return cls()


@dataclass(frozen=True)
class NodeContext:
    """What the node adds to every pod's CRI config."""

    pod_logs_dir: Path
    cluster_dns: Sequence[str] = ()
    cluster_domain: str = ""
    host_dns: HostDNS = field(default_factory=HostDNS)
    memory_capacity: int = 0  # bytes, for Burstable oom_score_adj


def dns_config(pod: Pod, node: NodeContext) -> cri.DNSConfig:
    """Upstream's getPodDNS for the pod's dnsPolicy; ClusterFirst without clusterDNS falls back to the
    node's resolv.conf, as upstream does (with a warning event there)."""
    spec = pods.spec(pod)
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_network = pods.host_network(pod)
    cluster = bool(node.cluster_dns) and (
        (policy == "ClusterFirst" and not host_network) or policy == "ClusterFirstWithHostNet"
    )
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy == "None":
        pass
    elif cluster:
        servers = list(node.cluster_dns)
        if node.cluster_domain:
            namespace = pods.namespace(pod)
            searches = [
                f"{namespace}.svc.{node.cluster_domain}",
                f"svc.{node.cluster_domain}",
                node.cluster_domain,
            ]
        searches += [s for s in node.host_dns.searches if s not in searches]
        options = [f"ndots:{NDOTS}"]
    else:
        servers, searches, options = (
            list(node.host_dns.servers),
            list(node.host_dns.searches),
            list(node.host_dns.options),
        )
    extra = spec.get("dnsConfig") or {}
    servers += [s for s in extra.get("nameservers") or [] if s not in servers]
    searches += [s for s in extra.get("searches") or [] if s not in searches]
    for option in extra.get("options") or []:
        name = option.get("name", "")
        options = [o for o in options if o.split(":", 1)[0] != name]
        options.append(f"{name}:{option['value']}" if option.get("value") is not None else name)
    return cri.DNSConfig(servers=servers, searches=searches[:MAX_DNS_SEARCHES], options=options)


def pod_hostname(pod: Pod) -> str:
    spec = pods.spec(pod)
    return str(spec.get("hostname") or pods.name(pod))[:MAX_HOSTNAME].rstrip("-.")


def namespace_options(pod: Pod) -> cri.NamespaceOption:
    spec = pods.spec(pod)
    return cri.NamespaceOption(
        network=cri.NODE if spec.get("hostNetwork") else cri.POD,
        pid=cri.NODE
        if spec.get("hostPID")
        else (cri.POD if spec.get("shareProcessNamespace") else cri.CONTAINER),
        ipc=cri.NODE if spec.get("hostIPC") else cri.POD,
    )


def port_mappings(pod: Pod) -> list[cri.PortMapping]:
    mappings = []
    for container in pods.containers(pod):
        for port in container.get("ports") or []:
            if not port.get("hostPort"):
                continue
            mappings.append(
                cri.PortMapping(
                    protocol=PROTOCOLS.get(port.get("protocol") or "TCP", cri.TCP),
                    container_port=int(port["containerPort"]),
                    host_port=int(port["hostPort"]),
                    host_ip=port.get("hostIP", ""),
                )
            )
    return mappings


def sandbox_config(pod: Pod, attempt: int, node: NodeContext, cgroup_parent: str) -> cri.PodSandboxConfig:
    meta = pod["metadata"]
    uid, namespace, name = pods.uid(pod), pods.namespace(pod), pods.name(pod)
    security = pods.spec(pod).get("securityContext") or {}
    sandbox_security = cri.LinuxSandboxSecurityContext(
        namespace_options=namespace_options(pod),
        privileged=any(
            (c.get("securityContext") or {}).get("privileged")
            for c in [*pods.init_containers(pod), *pods.containers(pod)]
        ),
        supplemental_groups=[int(g) for g in security.get("supplementalGroups") or []],
    )
    if security.get("runAsUser") is not None:
        sandbox_security.run_as_user.value = int(security["runAsUser"])
    if security.get("runAsGroup") is not None:
        sandbox_security.run_as_group.value = int(security["runAsGroup"])
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=attempt),
        hostname="" if pods.host_network(pod) else pod_hostname(pod),
        log_directory=str(labels.pod_log_dir(node.pod_logs_dir, namespace, name, uid)),
        dns_config=dns_config(pod, node),
        port_mappings=port_mappings(pod),
        labels={**(meta.get("labels") or {}), **labels.pod_labels(namespace, name, uid)},
        annotations=dict(meta.get("annotations") or {}),
        linux=cri.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent,
            security_context=sandbox_security,
            sysctls={s["name"]: str(s.get("value", "")) for s in security.get("sysctls") or []},
        ),
    )


def _quantity(resources: dict[str, Any], kind: str, name: str) -> Any:
    value = (resources.get(kind) or {}).get(name)
    return None if value is None else parse_quantity(str(value))


def milli_cpu_to_shares(milli: int) -> int:
    if milli == 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * 1024 // 1000))


def milli_cpu_to_quota(milli: int, period: int = CPU_PERIOD_US) -> int:
    return max(MIN_QUOTA_US, milli * period // 1000) if milli else 0


def oom_score_adj(pod: Pod, container: Container, memory_capacity: int) -> int:
    """Upstream's GetContainerOOMScoreAdjust (containerd clamps it to its own score when restricted)."""
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return -997
    if qos == "BestEffort":
        return 1000
    request = _quantity(container.get("resources") or {}, "requests", "memory")
    if request is None or not memory_capacity:
        return 999
    adjust = 1000 - (1000 * request.value()) // memory_capacity
    return int(max(3, min(999, adjust)))


def container_resources(pod: Pod, container: Container, memory_capacity: int) -> cri.LinuxContainerResources:
    resources = container.get("resources") or {}
    cpu_request = _quantity(resources, "requests", "cpu")
    cpu_limit = _quantity(resources, "limits", "cpu")
    memory_limit = _quantity(resources, "limits", "memory")
    if cpu_request is None and cpu_limit is not None:
        cpu_request = cpu_limit  # upstream defaults requests to limits
    linux = cri.LinuxContainerResources(
        cpu_shares=milli_cpu_to_shares(cpu_request.milli_value() if cpu_request else 0),
        oom_score_adj=oom_score_adj(pod, container, memory_capacity),
    )
    if cpu_limit is not None:
        linux.cpu_period = CPU_PERIOD_US
        linux.cpu_quota = milli_cpu_to_quota(cpu_limit.milli_value())
    if memory_limit is not None:
        linux.memory_limit_in_bytes = memory_limit.value()
    return linux


def container_security(pod: Pod, container: Container) -> cri.LinuxContainerSecurityContext:
    pod_security = pods.spec(pod).get("securityContext") or {}
    security = container.get("securityContext") or {}
    merged = {**{k: v for k, v in pod_security.items() if k in ("runAsUser", "runAsGroup")}, **security}
    privileged = bool(security.get("privileged"))
    capabilities = security.get("capabilities") or {}
    context = cri.LinuxContainerSecurityContext(
        privileged=privileged,
        namespace_options=namespace_options(pod),
        readonly_rootfs=bool(security.get("readOnlyRootFilesystem")),
        supplemental_groups=[int(g) for g in pod_security.get("supplementalGroups") or []],
        no_new_privs=security.get("allowPrivilegeEscalation") is False,
        capabilities=cri.Capability(
            add_capabilities=[_cap(c) for c in capabilities.get("add") or []],
            drop_capabilities=[_cap(c) for c in capabilities.get("drop") or []],
        ),
    )
    if not privileged and security.get("procMount") != "Unmasked":
        context.masked_paths.extend(DEFAULT_MASKED_PATHS)
        context.readonly_paths.extend(DEFAULT_READONLY_PATHS)
    if merged.get("runAsUser") is not None:
        context.run_as_user.value = int(merged["runAsUser"])
    if merged.get("runAsGroup") is not None:
        context.run_as_group.value = int(merged["runAsGroup"])
    return context


def _cap(name: str) -> str:
    """CRI wants CAP_-prefixed names; pod specs usually omit the prefix."""
    upper = name.upper()
    return upper if upper.startswith("CAP_") or upper == "ALL" else f"CAP_{upper}"


def container_config(
    pod: Pod,
    container: Container,
    *,
    attempt: int,
    env: Sequence[tuple[str, str]],
    mounts: Sequence[cri.Mount],
    node: NodeContext,
    init: bool = False,
) -> cri.ContainerConfig:
    uid, namespace, name = pods.uid(pod), pods.namespace(pod), pods.name(pod)
    command, args = expand_command_and_args(container, env)
    annotations = {
        labels.CONTAINER_HASH: pods.container_hash(container),
        labels.CONTAINER_RESTART_COUNT: str(attempt),
        labels.TERMINATION_MESSAGE_PATH: container.get("terminationMessagePath") or "/dev/termination-log",
        labels.TERMINATION_MESSAGE_POLICY: container.get("terminationMessagePolicy") or "File",
        labels.TERMINATION_GRACE_PERIOD: str(pods.grace_period_seconds(pod)),
    }
    if init:
        annotations[labels.INIT_CONTAINER] = "true"
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=container["name"], attempt=attempt),
        image=cri.ImageSpec(image=container.get("image", "")),
        command=command,
        args=args,
        working_dir=container.get("workingDir", ""),
        envs=[cri.KeyValue(key=key, value=value) for key, value in env],
        mounts=list(mounts),
        labels=labels.container_labels(namespace, name, uid, container["name"]),
        annotations=annotations,
        log_path=labels.container_log_path(container["name"], attempt),
        stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")),
        linux=cri.LinuxContainerConfig(
            resources=container_resources(pod, container, node.memory_capacity),
            security_context=container_security(pod, container),
        ),
    )

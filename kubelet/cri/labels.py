"""The labels, annotations and log paths upstream's kubelet puts on what it asks CRI to create.

Everything the kubelet needs to find a pod's sandbox and containers again after a restart is on
them, so the runtime is the source of truth (kubelet/pkg/kubelet/kuberuntime/labels.go):

    sandbox labels       io.kubernetes.pod.{name,namespace,uid} (+ the pod's own labels)
    container labels     the three above + io.kubernetes.container.name
    container annotations io.kubernetes.container.{hash,restartCount,terminationMessagePath,...}

Logs follow upstream's layout: <podLogsDir>/<namespace>_<name>_<uid>/<container>/<restartCount>.log.
"""

from __future__ import annotations

from pathlib import Path

POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"
CONTAINER_TYPE = "io.kubernetes.container.type"  # "sandbox" on the pause container (CRI sets it)

CONTAINER_HASH = "io.kubernetes.container.hash"
CONTAINER_RESTART_COUNT = "io.kubernetes.container.restartCount"
TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
TERMINATION_MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy"
TERMINATION_GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"
PRE_STOP_HANDLER = "io.kubernetes.container.preStopHandler"
INIT_CONTAINER = "io.kubernetes.container.init"  # kplane's: "true" on init containers
CONFIG_SOURCE = "kubernetes.io/config.source"  # "api", "file" or "http" (annotation on the sandbox)

DEFAULT_POD_LOGS_DIR = Path("/var/log/pods")


def pod_labels(namespace: str, name: str, uid: str) -> dict[str, str]:
    return {POD_NAME: name, POD_NAMESPACE: namespace, POD_UID: uid}


def container_labels(namespace: str, name: str, uid: str, container: str) -> dict[str, str]:
    return {**pod_labels(namespace, name, uid), CONTAINER_NAME: container}


def pod_log_dir(pod_logs_dir: Path, namespace: str, name: str, uid: str) -> Path:
    return pod_logs_dir / f"{namespace}_{name}_{uid}"


def container_log_path(container: str, restart_count: int) -> str:
    """Relative to the sandbox's log_directory, as CRI's ContainerConfig.log_path wants it."""
    return f"{container}/{restart_count}.log"

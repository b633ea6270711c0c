"""Finding a pod's sandbox and containers through the runtime by upstream's CRI labels, so the
server needs no other kubelet state: the newest container of a name is the current attempt and
the one before it the previous one."""

from __future__ import annotations

from typing import Protocol

from kubelet.cri import labels
from kubelet.cri.api import api_pb2
from kubelet.server.errors import HandlerError, bad_request, not_found


class Runtime(Protocol):
    """The runtime calls the server makes (kubelet.cri.client.RuntimeClient has them all)."""

    async def list_containers(
        self, filter: api_pb2.ContainerFilter | None = None
    ) -> list[api_pb2.Container]: ...

    async def list_pod_sandbox(
        self, filter: api_pb2.PodSandboxFilter | None = None
    ) -> list[api_pb2.PodSandbox]: ...

    async def container_status(
        self, container_id: str, verbose: bool = False
    ) -> api_pb2.ContainerStatusResponse: ...

    async def exec_sync(
        self,
        container_id: str,
        cmd: list[str],
        timeout: int,  # noqa: ASYNC109 (CRI's command timeout)
    ) -> api_pb2.ExecSyncResponse: ...

    async def exec(self, request: api_pb2.ExecRequest) -> str: ...

    async def attach(self, request: api_pb2.AttachRequest) -> str: ...

    async def port_forward(self, sandbox_id: str, ports: list[int]) -> str: ...


async def containers_newest_first(
    runtime: Runtime, namespace: str, pod: str, container: str, uid: str | None = None
) -> list[api_pb2.Container]:
    selector = {labels.POD_NAMESPACE: namespace, labels.POD_NAME: pod, labels.CONTAINER_NAME: container}
    if uid:
        selector[labels.POD_UID] = uid
    found = await runtime.list_containers(api_pb2.ContainerFilter(label_selector=selector))
    return sorted(found, key=lambda c: c.created_at, reverse=True)


async def find_container(
    runtime: Runtime,
    namespace: str,
    pod: str,
    container: str,
    *,
    previous: bool = False,
    uid: str | None = None,
) -> api_pb2.Container:
    found = await containers_newest_first(runtime, namespace, pod, container, uid)
    if not found:
        if not await find_sandboxes(runtime, namespace, pod, uid):
            raise not_found(f'pod "{pod}" in namespace "{namespace}" does not exist on this node')
        raise bad_request(f'container "{container}" in pod "{pod}" is not available')
    if previous:
        if len(found) < 2:
            raise bad_request(f'previous terminated container "{container}" in pod "{pod}" not found')
        return found[1]
    return found[0]


async def find_sandboxes(
    runtime: Runtime, namespace: str, pod: str, uid: str | None = None
) -> list[api_pb2.PodSandbox]:
    selector = {labels.POD_NAMESPACE: namespace, labels.POD_NAME: pod}
    if uid:
        selector[labels.POD_UID] = uid
    found = await runtime.list_pod_sandbox(api_pb2.PodSandboxFilter(label_selector=selector))
    return sorted(found, key=lambda s: s.created_at, reverse=True)


async def ready_sandbox(
    runtime: Runtime, namespace: str, pod: str, uid: str | None = None
) -> api_pb2.PodSandbox:
    sandboxes = await find_sandboxes(runtime, namespace, pod, uid)
    for sandbox in sandboxes:
        if sandbox.state == api_pb2.SANDBOX_READY:
            return sandbox
    if sandboxes:
        raise HandlerError(400, f'pod "{pod}" in namespace "{namespace}" is not running')
    raise not_found(f'pod "{pod}" in namespace "{namespace}" does not exist on this node')


async def running_container(
    runtime: Runtime, namespace: str, pod: str, container: str, uid: str | None = None
) -> api_pb2.Container:
    current = await find_container(runtime, namespace, pod, container, uid=uid)
    if current.state != api_pb2.CONTAINER_RUNNING:
        raise bad_request(f'container "{container}" in pod "{pod}" is not running')
    return current

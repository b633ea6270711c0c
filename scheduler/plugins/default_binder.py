"""DefaultBinder: `POST pods/NAME/binding`, the one write that places a pod."""

from __future__ import annotations

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import BindPlugin, Handle, PluginArgs
from scheduler.framework.status import Status
from scheduler.framework.types import PodInfo


class DefaultBinder(BindPlugin):
    name = "DefaultBinder"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        try:
            await self.handle.client.create(
                "pods", binding, namespace=pod.namespace, name=pod.name, subresource="binding"
            )
        except Exception as error:  # any failure un-assumes the pod and retries it
            return Status.error(f"binding rejected: {error}")
        return Status()


def new(args: PluginArgs, handle: Handle) -> DefaultBinder:
    if args:
        raise ValueError(f"DefaultBinder takes no args, got {sorted(args)}")
    return DefaultBinder(handle)

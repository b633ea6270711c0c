"""An async CRI (runtime.v1) client: RuntimeService and ImageService over one unix socket.

Thin on purpose: the kubelet builds the request messages; this module sends them with a deadline and
turns gRPC failures into `CRIError`, one line naming the rpc. Like upstream's remote runtime client:
- every call has `timeout` seconds (upstream's --runtime-request-timeout, 2 minutes by default);
- ExecSync gets its own command timeout on top, and none at all when the command has none;
- PullImage has no deadline (a pull takes as long as the image is big).
containerd 1.6 answers ImageStatus for an image it does not have with an empty response, not an error:
`image_status` returns None then.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from kubelet.cri.api import api_pb2

API_VERSION = "v1"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # upstream's maxMsgSize: big ListContainers answers fit
DEFAULT_TIMEOUT = 120.0

Resp = TypeVar("Resp", bound=Message)


class CRIError(Exception):
    """A CRI call failed. `code` says whether retrying can help: UNAVAILABLE and DEADLINE_EXCEEDED are
    the runtime being down or slow; NOT_FOUND is final for that id."""

    def __init__(self, rpc: str, code: grpc.StatusCode, message: str) -> None:
        self.rpc = rpc
        self.code = code
        self.message = " ".join(message.split())  # one line: runtime messages may span several
        super().__init__(f"{rpc}: {self.message}")


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, CRIError) and err.code == grpc.StatusCode.NOT_FOUND


def grpc_target(endpoint: str) -> str:
    """`unix:///run/containerd.sock` or a plain absolute path -> the gRPC target for that socket."""
    if endpoint.startswith("unix://"):
        path = endpoint.removeprefix("unix://")
    elif endpoint.startswith("/"):
        path = endpoint
    else:
        raise ValueError(f"container runtime endpoint {endpoint!r} is not unix:///PATH or an absolute path")
    if not path.startswith("/"):
        raise ValueError(f"container runtime endpoint {endpoint!r} needs an absolute socket path")
    return f"unix://{path}"


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


class RuntimeClient:
    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.target = grpc_target(endpoint)
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._callables: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._callables.clear()
        if channel is not None:
            await channel.close()

    async def __aenter__(self) -> RuntimeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _method(self, path: str, response_type: type[Resp]) -> grpc.aio.UnaryUnaryMultiCallable[Any, Resp]:
        # Made on first use, so the channel belongs to the event loop that calls it.
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self.target,
                options=[
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ],
            )
        method = self._callables.get(path)
        if method is None:
            method = self._channel.unary_unary(
                path, request_serializer=_serialize, response_deserializer=response_type.FromString
            )
            self._callables[path] = method
        return method

    async def _call(
        self,
        service: str,
        rpc: str,
        request: Message,
        response_type: type[Resp],
        *,
        deadline: float | Literal["default"] | None = "default",
    ) -> Resp:
        """One unary call with the client's timeout, another deadline (seconds), or none (None)."""
        method = self._method(f"/runtime.v1.{service}/{rpc}", response_type)
        timeout = self.timeout if deadline == "default" else deadline
        try:
            response: Resp = await method(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise CRIError(rpc, err.code(), err.details() or err.code().name) from None
        return response

    async def _runtime(self, rpc: str, request: Message, response_type: type[Resp], **kw: Any) -> Resp:
        return await self._call("RuntimeService", rpc, request, response_type, **kw)

    async def _image(self, rpc: str, request: Message, response_type: type[Resp], **kw: Any) -> Resp:
        return await self._call("ImageService", rpc, request, response_type, **kw)

    # ---- runtime ----

    async def version(self) -> api_pb2.VersionResponse:
        return await self._runtime(
            "Version", api_pb2.VersionRequest(version=API_VERSION), api_pb2.VersionResponse
        )

    async def status(self, verbose: bool = False) -> api_pb2.StatusResponse:
        return await self._runtime("Status", api_pb2.StatusRequest(verbose=verbose), api_pb2.StatusResponse)

    async def update_runtime_config(self, pod_cidr: str) -> None:
        config = api_pb2.RuntimeConfig(network_config=api_pb2.NetworkConfig(pod_cidr=pod_cidr))
        await self._runtime(
            "UpdateRuntimeConfig",
            api_pb2.UpdateRuntimeConfigRequest(runtime_config=config),
            api_pb2.UpdateRuntimeConfigResponse,
        )

    # ---- sandboxes ----

    async def run_pod_sandbox(self, config: api_pb2.PodSandboxConfig, runtime_handler: str = "") -> str:
        request = api_pb2.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler)
        response = await self._runtime("RunPodSandbox", request, api_pb2.RunPodSandboxResponse)
        return response.pod_sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        request = api_pb2.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)
        await self._runtime("StopPodSandbox", request, api_pb2.StopPodSandboxResponse)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        request = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)
        await self._runtime("RemovePodSandbox", request, api_pb2.RemovePodSandboxResponse)

    async def pod_sandbox_status(
        self, sandbox_id: str, verbose: bool = False
    ) -> api_pb2.PodSandboxStatusResponse:
        request = api_pb2.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose)
        return await self._runtime("PodSandboxStatus", request, api_pb2.PodSandboxStatusResponse)

    async def list_pod_sandbox(
        self, filter: api_pb2.PodSandboxFilter | None = None
    ) -> list[api_pb2.PodSandbox]:
        request = api_pb2.ListPodSandboxRequest(filter=filter)
        response = await self._runtime("ListPodSandbox", request, api_pb2.ListPodSandboxResponse)
        return list(response.items)

    # ---- containers ----

    async def create_container(
        self, sandbox_id: str, config: api_pb2.ContainerConfig, sandbox_config: api_pb2.PodSandboxConfig
    ) -> str:
        request = api_pb2.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
        )
        response = await self._runtime("CreateContainer", request, api_pb2.CreateContainerResponse)
        return response.container_id

    async def start_container(self, container_id: str) -> None:
        request = api_pb2.StartContainerRequest(container_id=container_id)
        await self._runtime("StartContainer", request, api_pb2.StartContainerResponse)

    async def stop_container(self, container_id: str, timeout: int) -> None:  # noqa: ASYNC109 (CRI's)
        """Signal, wait up to `timeout` seconds, then kill. The rpc itself may take that long, so
        its deadline is the grace period on top of the client's timeout (as upstream)."""
        request = api_pb2.StopContainerRequest(container_id=container_id, timeout=timeout)
        await self._runtime(
            "StopContainer", request, api_pb2.StopContainerResponse, deadline=self.timeout + max(timeout, 0)
        )

    async def remove_container(self, container_id: str) -> None:
        request = api_pb2.RemoveContainerRequest(container_id=container_id)
        await self._runtime("RemoveContainer", request, api_pb2.RemoveContainerResponse)

    async def list_containers(self, filter: api_pb2.ContainerFilter | None = None) -> list[api_pb2.Container]:
        request = api_pb2.ListContainersRequest(filter=filter)
        response = await self._runtime("ListContainers", request, api_pb2.ListContainersResponse)
        return list(response.containers)

    async def container_status(
        self, container_id: str, verbose: bool = False
    ) -> api_pb2.ContainerStatusResponse:
        request = api_pb2.ContainerStatusRequest(container_id=container_id, verbose=verbose)
        return await self._runtime("ContainerStatus", request, api_pb2.ContainerStatusResponse)

    async def update_container_resources(
        self, container_id: str, linux: api_pb2.LinuxContainerResources
    ) -> None:
        request = api_pb2.UpdateContainerResourcesRequest(container_id=container_id, linux=linux)
        await self._runtime("UpdateContainerResources", request, api_pb2.UpdateContainerResourcesResponse)

    async def reopen_container_log(self, container_id: str) -> None:
        request = api_pb2.ReopenContainerLogRequest(container_id=container_id)
        await self._runtime("ReopenContainerLog", request, api_pb2.ReopenContainerLogResponse)

    # ---- exec, attach, port-forward ----

    async def exec_sync(
        self,
        container_id: str,
        cmd: list[str],
        timeout: int,  # noqa: ASYNC109 (the command's, CRI's field)
    ) -> api_pb2.ExecSyncResponse:
        """Run `cmd` and collect its output. A command that outlives `timeout` seconds fails with
        DEADLINE_EXCEEDED; `timeout=0` waits for as long as the command runs."""
        request = api_pb2.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=timeout)
        deadline = self.timeout + timeout if timeout > 0 else None
        return await self._runtime("ExecSync", request, api_pb2.ExecSyncResponse, deadline=deadline)

    async def exec(self, request: api_pb2.ExecRequest) -> str:
        """The one-use streaming URL for the exec."""
        return (await self._runtime("Exec", request, api_pb2.ExecResponse)).url

    async def attach(self, request: api_pb2.AttachRequest) -> str:
        return (await self._runtime("Attach", request, api_pb2.AttachResponse)).url

    async def port_forward(self, sandbox_id: str, ports: list[int]) -> str:
        request = api_pb2.PortForwardRequest(pod_sandbox_id=sandbox_id, port=ports)
        return (await self._runtime("PortForward", request, api_pb2.PortForwardResponse)).url

    # ---- stats ----

    async def container_stats(self, container_id: str) -> api_pb2.ContainerStats:
        request = api_pb2.ContainerStatsRequest(container_id=container_id)
        return (await self._runtime("ContainerStats", request, api_pb2.ContainerStatsResponse)).stats

    async def list_container_stats(
        self, filter: api_pb2.ContainerStatsFilter | None = None
    ) -> list[api_pb2.ContainerStats]:
        request = api_pb2.ListContainerStatsRequest(filter=filter)
        response = await self._runtime("ListContainerStats", request, api_pb2.ListContainerStatsResponse)
        return list(response.stats)

    async def list_pod_sandbox_stats(
        self, filter: api_pb2.PodSandboxStatsFilter | None = None
    ) -> list[api_pb2.PodSandboxStats]:
        request = api_pb2.ListPodSandboxStatsRequest(filter=filter)
        response = await self._runtime("ListPodSandboxStats", request, api_pb2.ListPodSandboxStatsResponse)
        return list(response.stats)

    # ---- images ----

    async def list_images(self) -> list[api_pb2.Image]:
        response = await self._image("ListImages", api_pb2.ListImagesRequest(), api_pb2.ListImagesResponse)
        return list(response.images)

    async def image_status(self, image: str) -> api_pb2.Image | None:
        """The image, or None when the runtime does not have it."""
        request = api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=image))
        response = await self._image("ImageStatus", request, api_pb2.ImageStatusResponse)
        return response.image if response.HasField("image") and response.image.id else None

    async def pull_image(self, image: str, sandbox_config: api_pb2.PodSandboxConfig | None = None) -> str:
        """Pull `image`; returns the image reference (its id). No deadline: see the module docstring."""
        spec = api_pb2.ImageSpec(image=image)
        request = api_pb2.PullImageRequest(image=spec, sandbox_config=sandbox_config)
        response = await self._image("PullImage", request, api_pb2.PullImageResponse, deadline=None)
        return response.image_ref

    async def remove_image(self, image: str) -> None:
        request = api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=image))
        await self._image("RemoveImage", request, api_pb2.RemoveImageResponse)

    async def image_fs_info(self) -> api_pb2.ImageFsInfoResponse:
        return await self._image("ImageFsInfo", api_pb2.ImageFsInfoRequest(), api_pb2.ImageFsInfoResponse)

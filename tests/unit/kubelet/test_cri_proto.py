"""kubelet/cri/api: the generated code is reproducible from api.proto, the schema is upstream's
runtime.v1 on the wire (field numbers, enum values, method paths), and the client speaks it: every
RuntimeClient method reaches the right rpc of an in-process server, and failures become one-line
CRIErrors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf.descriptor import Descriptor

from kubelet.cri import generate
from kubelet.cri.api import api_pb2, api_pb2_grpc
from kubelet.cri.client import CRIError, RuntimeClient, grpc_target, is_not_found


def test_checked_in_code_is_what_the_proto_generates() -> None:
    assert [str(p) for p in generate.proto_files()] == ["kubelet/cri/api/api.proto"]
    assert generate.stale_files() == [], "regenerate with: python -m kubelet.cri.generate"


def test_check_flag_reports_up_to_date() -> None:
    assert generate.main(["--check"]) == 0


def fields(message: Descriptor) -> dict[str, int]:
    return {field.name: field.number for field in message.fields}


# Spot checks against upstream's k8s.io/cri-api/pkg/apis/runtime/v1/api.proto (and notes/cri.md).
UPSTREAM_FIELDS: dict[Descriptor, dict[str, int]] = {
    api_pb2.PodSandboxConfig.DESCRIPTOR: {
        "metadata": 1, "hostname": 2, "log_directory": 3, "dns_config": 4, "port_mappings": 5,
        "labels": 6, "annotations": 7, "linux": 8,
    },
    api_pb2.PodSandboxMetadata.DESCRIPTOR: {"name": 1, "uid": 2, "namespace": 3, "attempt": 4},
    api_pb2.LinuxPodSandboxConfig.DESCRIPTOR: {"cgroup_parent": 1, "security_context": 2, "sysctls": 3},
    api_pb2.LinuxSandboxSecurityContext.DESCRIPTOR: {
        "namespace_options": 1, "selinux_options": 2, "run_as_user": 3, "readonly_rootfs": 4,
        "supplemental_groups": 5, "privileged": 6, "run_as_group": 8, "seccomp": 9, "apparmor": 10,
    },
    api_pb2.NamespaceOption.DESCRIPTOR: {"network": 1, "pid": 2, "ipc": 3, "target_id": 4},
    api_pb2.Mount.DESCRIPTOR: {
        "container_path": 1, "host_path": 2, "readonly": 3, "selinux_relabel": 4, "propagation": 5,
    },
    api_pb2.PortMapping.DESCRIPTOR: {"protocol": 1, "container_port": 2, "host_port": 3, "host_ip": 4},
    api_pb2.RunPodSandboxRequest.DESCRIPTOR: {"config": 1, "runtime_handler": 2},
    api_pb2.PodSandboxStatus.DESCRIPTOR: {
        "id": 1, "metadata": 2, "state": 3, "created_at": 4, "network": 5, "linux": 6, "labels": 7,
        "annotations": 8, "runtime_handler": 9,
    },
    api_pb2.PodSandboxStatusResponse.DESCRIPTOR: {"status": 1, "info": 2},
    api_pb2.PodSandboxFilter.DESCRIPTOR: {"id": 1, "state": 2, "label_selector": 3},
    api_pb2.ListPodSandboxResponse.DESCRIPTOR: {"items": 1},
    api_pb2.ContainerConfig.DESCRIPTOR: {
        "metadata": 1, "image": 2, "command": 3, "args": 4, "working_dir": 5, "envs": 6, "mounts": 7,
        "devices": 8, "labels": 9, "annotations": 10, "log_path": 11, "stdin": 12, "stdin_once": 13,
        "tty": 14, "linux": 15,
    },
    api_pb2.LinuxContainerConfig.DESCRIPTOR: {"resources": 1, "security_context": 2},
    api_pb2.LinuxContainerResources.DESCRIPTOR: {
        "cpu_period": 1, "cpu_quota": 2, "cpu_shares": 3, "memory_limit_in_bytes": 4, "oom_score_adj": 5,
        "cpuset_cpus": 6, "cpuset_mems": 7, "hugepage_limits": 8, "unified": 9,
        "memory_swap_limit_in_bytes": 10,
    },
    api_pb2.LinuxContainerSecurityContext.DESCRIPTOR: {
        "capabilities": 1, "privileged": 2, "namespace_options": 3, "selinux_options": 4, "run_as_user": 5,
        "run_as_username": 6, "readonly_rootfs": 7, "supplemental_groups": 8, "no_new_privs": 11,
        "run_as_group": 12, "masked_paths": 13, "readonly_paths": 14, "seccomp": 15, "apparmor": 16,
    },
    api_pb2.CreateContainerRequest.DESCRIPTOR: {"pod_sandbox_id": 1, "config": 2, "sandbox_config": 3},
    api_pb2.StopContainerRequest.DESCRIPTOR: {"container_id": 1, "timeout": 2},
    api_pb2.ContainerStatus.DESCRIPTOR: {
        "id": 1, "metadata": 2, "state": 3, "created_at": 4, "started_at": 5, "finished_at": 6,
        "exit_code": 7, "image": 8, "image_ref": 9, "reason": 10, "message": 11, "labels": 12,
        "annotations": 13, "mounts": 14, "log_path": 15, "resources": 16,
    },
    api_pb2.ContainerFilter.DESCRIPTOR: {"id": 1, "state": 2, "pod_sandbox_id": 3, "label_selector": 4},
    api_pb2.ExecSyncRequest.DESCRIPTOR: {"container_id": 1, "cmd": 2, "timeout": 3},
    api_pb2.ExecSyncResponse.DESCRIPTOR: {"stdout": 1, "stderr": 2, "exit_code": 3},
    api_pb2.ExecRequest.DESCRIPTOR: {
        "container_id": 1, "cmd": 2, "tty": 3, "stdin": 4, "stdout": 5, "stderr": 6,
    },
    api_pb2.AttachRequest.DESCRIPTOR: {"container_id": 1, "stdin": 2, "tty": 3, "stdout": 4, "stderr": 5},
    api_pb2.PortForwardRequest.DESCRIPTOR: {"pod_sandbox_id": 1, "port": 2},
    api_pb2.Image.DESCRIPTOR: {
        "id": 1, "repo_tags": 2, "repo_digests": 3, "size": 4, "uid": 5, "username": 6, "spec": 7,
        "pinned": 8,
    },
    api_pb2.StatusResponse.DESCRIPTOR: {"status": 1, "info": 2},
    api_pb2.RuntimeCondition.DESCRIPTOR: {"type": 1, "status": 2, "reason": 3, "message": 4},
    api_pb2.UpdateContainerResourcesRequest.DESCRIPTOR: {"container_id": 1, "linux": 2, "annotations": 4},
    api_pb2.ContainerStats.DESCRIPTOR: {"attributes": 1, "cpu": 2, "memory": 3, "writable_layer": 4},
    api_pb2.MemoryUsage.DESCRIPTOR: {
        "timestamp": 1, "working_set_bytes": 2, "available_bytes": 3, "usage_bytes": 4, "rss_bytes": 5,
        "page_faults": 6, "major_page_faults": 7,
    },
    api_pb2.LinuxPodSandboxStats.DESCRIPTOR: {
        "cpu": 1, "memory": 2, "network": 3, "process": 4, "containers": 5,
    },
    api_pb2.FilesystemUsage.DESCRIPTOR: {"timestamp": 1, "fs_id": 2, "used_bytes": 3, "inodes_used": 4},
    api_pb2.UpdateRuntimeConfigRequest.DESCRIPTOR: {"runtime_config": 1},
    api_pb2.NetworkConfig.DESCRIPTOR: {"pod_cidr": 1},
}  # fmt: skip


@pytest.mark.parametrize("message", list(UPSTREAM_FIELDS), ids=lambda d: d.name)
def test_field_numbers_are_upstreams(message: Descriptor) -> None:
    assert fields(message) == UPSTREAM_FIELDS[message]


def test_enums_are_upstreams() -> None:
    assert [api_pb2.POD, api_pb2.CONTAINER, api_pb2.NODE, api_pb2.TARGET] == [0, 1, 2, 3]
    assert [api_pb2.SANDBOX_READY, api_pb2.SANDBOX_NOTREADY] == [0, 1]
    states = [api_pb2.CONTAINER_CREATED, api_pb2.CONTAINER_RUNNING, api_pb2.CONTAINER_EXITED]
    assert [*states, api_pb2.CONTAINER_UNKNOWN] == [0, 1, 2, 3]
    assert [api_pb2.TCP, api_pb2.UDP, api_pb2.SCTP] == [0, 1, 2]
    assert [api_pb2.PROPAGATION_PRIVATE, api_pb2.PROPAGATION_HOST_TO_CONTAINER] == [0, 1]
    assert api_pb2.PROPAGATION_BIDIRECTIONAL == 2
    profile = api_pb2.SecurityProfile
    assert [profile.RuntimeDefault, profile.Unconfined, profile.Localhost] == [0, 1, 2]


def test_services_have_upstreams_package_and_methods() -> None:
    services = api_pb2.DESCRIPTOR.services_by_name
    assert api_pb2.DESCRIPTOR.package == "runtime.v1"
    assert {m.name for m in services["ImageService"].methods} == {
        "ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo",
    }  # fmt: skip
    runtime = {m.name for m in services["RuntimeService"].methods}
    assert {"Version", "RunPodSandbox", "ExecSync", "UpdateRuntimeConfig", "ListPodSandboxStats"} <= runtime


@pytest.mark.parametrize(
    ("endpoint", "target"),
    [
        ("unix:///run/containerd/containerd.sock", "unix:///run/containerd/containerd.sock"),
        ("/tmp/n/containerd.sock", "unix:///tmp/n/containerd.sock"),
    ],
)
def test_endpoint_forms(endpoint: str, target: str) -> None:
    assert grpc_target(endpoint) == target


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:1234", "containerd.sock", "unix://relative.sock"])
def test_bad_endpoints_are_a_clear_error(endpoint: str) -> None:
    with pytest.raises(ValueError, match="container runtime endpoint"):
        RuntimeClient(endpoint)


class FakeRuntime(api_pb2_grpc.RuntimeServiceServicer):
    """Records what reached it; answers a few rpcs, fails others the way containerd does."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []

    async def Version(self, request: Any, context: Any) -> api_pb2.VersionResponse:
        self.requests.append(("Version", request))
        return api_pb2.VersionResponse(version="0.1.0", runtime_name="fake", runtime_api_version="v1")

    async def RunPodSandbox(self, request: Any, context: Any) -> api_pb2.RunPodSandboxResponse:
        self.requests.append(("RunPodSandbox", request))
        return api_pb2.RunPodSandboxResponse(pod_sandbox_id="sb1")

    async def PodSandboxStatus(self, request: Any, context: Any) -> api_pb2.PodSandboxStatusResponse:
        await context.abort(
            grpc.StatusCode.NOT_FOUND,
            f'an error occurred when try to find sandbox "{request.pod_sandbox_id}":\nnot found',
        )
        raise AssertionError("abort raises")

    async def ExecSync(self, request: Any, context: Any) -> api_pb2.ExecSyncResponse:
        self.requests.append(("ExecSync", (request, context.time_remaining())))
        return api_pb2.ExecSyncResponse(stdout=b"hi\n", exit_code=3)

    async def UpdateRuntimeConfig(self, request: Any, context: Any) -> api_pb2.UpdateRuntimeConfigResponse:
        self.requests.append(("UpdateRuntimeConfig", request))
        return api_pb2.UpdateRuntimeConfigResponse()


class FakeImages(api_pb2_grpc.ImageServiceServicer):
    async def ImageStatus(self, request: Any, context: Any) -> api_pb2.ImageStatusResponse:
        if request.image.image == "busybox":
            return api_pb2.ImageStatusResponse(image=api_pb2.Image(id="sha256:abc", repo_tags=["busybox"]))
        return api_pb2.ImageStatusResponse()  # containerd 1.6: absent means no `image`, not an error


@pytest.fixture
async def fake_server(tmp_path: Path) -> AsyncIterator[tuple[FakeRuntime, str]]:
    runtime = FakeRuntime()
    server = grpc.aio.server()
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(runtime, server)
    api_pb2_grpc.add_ImageServiceServicer_to_server(FakeImages(), server)
    socket = tmp_path / "cri.sock"
    server.add_insecure_port(f"unix://{socket}")
    await server.start()
    try:
        yield runtime, f"unix://{socket}"
    finally:
        await server.stop(None)


async def test_client_calls_reach_the_rpcs(fake_server: tuple[FakeRuntime, str]) -> None:
    runtime, endpoint = fake_server
    async with RuntimeClient(endpoint, timeout=5) as client:
        assert (await client.version()).runtime_name == "fake"
        config = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name="p", uid="u", namespace="n")
        )
        assert await client.run_pod_sandbox(config, runtime_handler="runc") == "sb1"
        result = await client.exec_sync("c1", ["echo", "hi"], timeout=7)
        assert (result.stdout, result.exit_code) == (b"hi\n", 3)
        await client.update_runtime_config("10.244.3.0/24")
        assert await client.image_status("busybox") is not None
        assert await client.image_status("nothere:1") is None
    assert [name for name, _ in runtime.requests] == [
        "Version",
        "RunPodSandbox",
        "ExecSync",
        "UpdateRuntimeConfig",
    ]
    version, run, (exec_request, remaining), update = (payload for _, payload in runtime.requests)
    assert version.version == "v1"
    assert run.config == config and run.runtime_handler == "runc"
    assert list(exec_request.cmd) == ["echo", "hi"] and exec_request.timeout == 7
    assert 5 < remaining < 13, "ExecSync's deadline is the command's timeout on top of the client's"
    assert update.runtime_config.network_config.pod_cidr == "10.244.3.0/24"


async def test_failures_are_one_line_cri_errors(fake_server: tuple[FakeRuntime, str], tmp_path: Path) -> None:
    _, endpoint = fake_server
    async with RuntimeClient(endpoint, timeout=5) as client:
        with pytest.raises(CRIError) as raised:
            await client.pod_sandbox_status("nope")
        assert raised.value.code == grpc.StatusCode.NOT_FOUND and is_not_found(raised.value)
        assert (
            str(raised.value)
            == 'PodSandboxStatus: an error occurred when try to find sandbox "nope": not found'
        )
        with pytest.raises(CRIError) as raised:
            await client.list_images()  # FakeImages does not implement it
        assert raised.value.code == grpc.StatusCode.UNIMPLEMENTED and not is_not_found(raised.value)
    async with RuntimeClient(str(tmp_path / "absent.sock"), timeout=1) as client:
        with pytest.raises(CRIError) as raised:
            await client.version()
        assert raised.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        assert "\n" not in str(raised.value) and str(raised.value).startswith("Version: ")
    assert not is_not_found(ValueError("x"))


def test_client_is_usable_from_separate_event_loops() -> None:
    """The channel is made on first use, so a client built outside a loop works inside one."""
    client = RuntimeClient("/nonexistent/containerd.sock", timeout=0.5)

    async def call() -> str:
        try:
            await client.version()
        except CRIError as err:
            return err.rpc
        finally:
            await client.close()
        return "answered"

    assert asyncio.run(call()) == "Version"

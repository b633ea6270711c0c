"""kubelet.cri.client against a real, private containerd (tests/helpers/containerd_node.py):
version and status, the pod network appearing when the pod CIDR is set through UpdateRuntimeConfig,
a sandbox and container lifecycle with exec, stats and logs, image status, and the errors a kubelet
has to tell apart. Everything the node made is gone afterwards, even when a test fails."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from deploy.images.rootfs import BUSYBOX_IMAGE, PAUSE_IMAGE
from deploy.node import CNI_CONFIG_NAME
from kubelet.cri import labels
from kubelet.cri.api import api_pb2
from kubelet.cri.client import CRIError, RuntimeClient, is_not_found
from tests.helpers.containerd_node import ContainerdNode

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containerd"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("containerd", "ctr", "runc", "gcc", "nsenter")),
        reason="needs containerd, ctr, runc, gcc and nsenter",
    ),
]

POD_CIDR = "10.244.213.0/24"  # distinct from other integration tests' nodes
SNAPSHOTTER = "io.containerd.snapshotter.v1.overlayfs"


@pytest.fixture(scope="module")
def node() -> Iterator[ContainerdNode]:
    """One node for the module, network not ready until a test sets its pod CIDR."""
    root = Path(tempfile.mkdtemp(prefix="kplcri-", dir="/tmp"))
    containerd = ContainerdNode(root, "node-1")
    with containerd:
        yield containerd
    assert containerd.leftovers() == []
    assert not root.exists()


@pytest.fixture
async def client(node: ContainerdNode) -> AsyncIterator[RuntimeClient]:
    async with RuntimeClient(node.endpoint, timeout=30) as cri:
        yield cri


def sandbox_config(node: ContainerdNode, name: str, uid: str) -> api_pb2.PodSandboxConfig:
    log_dir = labels.pod_log_dir(node.pod_logs, "default", name, uid)
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, uid=uid, namespace="default", attempt=0),
        hostname=name,
        log_directory=str(log_dir),
        labels=labels.pod_labels("default", name, uid),
        linux=api_pb2.LinuxPodSandboxConfig(
            cgroup_parent=f"{node.cgroup_root}/pod{uid}",
            security_context=api_pb2.LinuxSandboxSecurityContext(
                namespace_options=api_pb2.NamespaceOption(network=api_pb2.POD, pid=api_pb2.CONTAINER)
            ),
        ),
    )


async def test_version_status_and_images(node: ContainerdNode, client: RuntimeClient) -> None:
    version = await client.version()
    assert (version.runtime_name, version.runtime_api_version) == ("containerd", "v1")
    conditions = {c.type: c.status for c in (await client.status()).status.conditions}
    assert conditions["RuntimeReady"] is True

    tags = {tag for image in await client.list_images() for tag in image.repo_tags}
    assert {PAUSE_IMAGE, BUSYBOX_IMAGE} <= tags
    busybox = await client.image_status("busybox")  # the short name resolves like docker.io/library/...
    assert busybox is not None and BUSYBOX_IMAGE in busybox.repo_tags and busybox.size > 0
    assert await client.image_status("example.invalid/not-here:1") is None
    filesystems = (await client.image_fs_info()).image_filesystems
    # containerd measures usage in the background (once a minute); where it measures is known at once.
    assert [fs.fs_id.mountpoint for fs in filesystems] == [str(node.plan.root / SNAPSHOTTER)]


async def test_errors_are_cri_errors(client: RuntimeClient) -> None:
    with pytest.raises(CRIError) as raised:
        await client.pod_sandbox_status("0123456789abcdef")
    assert is_not_found(raised.value), raised.value
    assert str(raised.value).startswith("PodSandboxStatus: ") and "\n" not in str(raised.value)
    with pytest.raises(CRIError) as raised:
        await client.container_status("no-such-container")
    assert is_not_found(raised.value), raised.value
    # Removing what is not there is fine (CRI's removes are idempotent).
    await client.remove_pod_sandbox("0123456789abcdef")
    await client.remove_container("no-such-container")


async def test_pod_cidr_renders_cni_config_and_pod_lifecycle(
    node: ContainerdNode, client: RuntimeClient
) -> None:
    await node.update_runtime_config(POD_CIDR)
    conflist = json.loads((node.net_d / CNI_CONFIG_NAME).read_text())
    bridge = conflist["plugins"][0]
    assert bridge["bridge"] == node.plan.bridge and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": POD_CIDR}]]
    assert {"dst": "0.0.0.0/0"} not in bridge["ipam"]["routes"]
    conditions = {c.type: c.status for c in (await client.status()).status.conditions}
    assert conditions["NetworkReady"] is True

    config = sandbox_config(node, "web", "uid-1")
    sandbox_id = await client.run_pod_sandbox(config)
    try:
        status = (await client.pod_sandbox_status(sandbox_id, verbose=True)).status
        assert status.state == api_pb2.SANDBOX_READY
        assert ipaddress.ip_address(status.network.ip) in ipaddress.ip_network(POD_CIDR)
        assert status.labels[labels.POD_UID] == "uid-1"
        listed = await client.list_pod_sandbox(
            api_pb2.PodSandboxFilter(label_selector={labels.POD_NAME: "web"})
        )
        assert [s.id for s in listed] == [sandbox_id]

        container = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name="main", attempt=0),
            image=api_pb2.ImageSpec(image=BUSYBOX_IMAGE),
            command=["sh", "-c", "echo started; exec sleep 3600"],
            labels=labels.container_labels("default", "web", "uid-1", "main"),
            annotations={labels.CONTAINER_RESTART_COUNT: "0"},
            log_path=labels.container_log_path("main", 0),
            linux=api_pb2.LinuxContainerConfig(
                resources=api_pb2.LinuxContainerResources(memory_limit_in_bytes=64 * 2**20, cpu_shares=512)
            ),
        )
        container_id = await client.create_container(sandbox_id, container, config)
        await client.start_container(container_id)

        result = await client.exec_sync(container_id, ["cat", "/etc/hostname"], timeout=10)
        assert (result.stdout, result.exit_code) == (b"web\n", 0)
        failed = await client.exec_sync(container_id, ["sh", "-c", "echo oops >&2; exit 3"], timeout=10)
        assert (failed.stderr, failed.exit_code) == (b"oops\n", 3)

        status_response = await client.container_status(container_id)
        container_status = status_response.status
        assert container_status.state == api_pb2.CONTAINER_RUNNING
        assert container_status.resources.linux.memory_limit_in_bytes == 64 * 2**20
        log_path = Path(container_status.log_path)
        assert log_path == labels.pod_log_dir(node.pod_logs, "default", "web", "uid-1") / "main" / "0.log"
        assert log_path.read_text().split(" ", 3)[1:] == ["stdout", "F", "started\n"]  # noqa: ASYNC240

        await client.update_container_resources(
            container_id, api_pb2.LinuxContainerResources(memory_limit_in_bytes=32 * 2**20)
        )
        resources = (await client.container_status(container_id)).status.resources.linux
        assert resources.memory_limit_in_bytes == 32 * 2**20

        stats = await client.container_stats(container_id)
        assert stats.attributes.id == container_id and stats.memory.working_set_bytes.value > 0
        assert container_id in {s.attributes.id for s in await client.list_container_stats()}

        url = await client.exec(api_pb2.ExecRequest(container_id=container_id, cmd=["true"], stdout=True))
        assert url.startswith("http://127.0.0.1:") and "/exec/" in url
        assert "/portforward/" in await client.port_forward(sandbox_id, [8080])

        await client.stop_container(container_id, timeout=1)
        exited = (await client.container_status(container_id)).status
        assert exited.state == api_pb2.CONTAINER_EXITED and exited.exit_code in (137, 143)
        exited_filter = api_pb2.ContainerFilter(
            state=api_pb2.ContainerStateValue(state=api_pb2.CONTAINER_EXITED)
        )
        assert container_id in [c.id for c in await client.list_containers(exited_filter)]
        await client.remove_container(container_id)
        with pytest.raises(CRIError) as raised:
            await client.container_status(container_id)
        assert is_not_found(raised.value)
    finally:
        await client.stop_pod_sandbox(sandbox_id)
        await client.remove_pod_sandbox(sandbox_id)
    with pytest.raises(CRIError) as raised:
        await client.pod_sandbox_status(sandbox_id)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert list((node.plan.ipam_dir / "kplane").glob("10.*")) == [], "the pod's IP was released"

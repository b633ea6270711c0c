"""CRI PullImage through kplane's loopback registry, with nothing imported and no way out.

containerd and the registry run in a fresh network namespace that has only `lo` (and no route
anywhere else), so a pull that tried a real registry could not leave the machine: it would fail with
"network is unreachable". The node's containerd is configured as `kplane up` configures one
(deploy.node) plus the registry hosts tree (deploy.registry_hosts). The test shows that
- `busybox`, `docker.io/library/busybox:latest` and `registry.k8s.io/pause:3.9` pull from our registry;
- an image of a host with no hosts.toml of its own (`kplane.test/...`) comes from our registry too:
  containerd 1.6.20 honours `_default/hosts.toml`;
- an image we do not have (`quay.io/nothing/here:1`, `unlisted.example/x:1`) fails fast with "not
  found" from our registry (its log shows the request, with `ns=` naming the host), and with the
  registry stopped a pull fails with "connection refused" on loopback: no fallback to any upstream.

Needs root, containerd 1.6, unshare and nsenter; the images are built once per machine (cached).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.images.oci import ImageSpec, build_oci_image, directory, regular_file
from deploy.images.rootfs import BUSYBOX_BINARY, machine_architecture
from deploy.node import NodePlan, node_plan
from deploy.node_runtime import (
    ensure_images,
    images_cache_dir,
    node_cgroups,
    node_mounts,
    remove_cgroups,
    shim_pids,
    unmount_all,
    write_node_files,
)
from deploy.registry import build_catalog
from deploy.registry_hosts import write_hosts_dir
from deploy.state import DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, StateDir
from kubelet.cri.client import CRIError, RuntimeClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containerd"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("containerd", "unshare", "nsenter", "ip", "gcc")),
        reason="needs containerd, unshare, nsenter, ip and gcc",
    ),
]

REGISTRY_URL = "http://127.0.0.1:5000"  # the namespace is fresh: the port cannot be taken
HELLO_IMAGE = "kplane.test/tools/hello:1"  # a host with no directory of its own: served via _default


def wait_until(condition: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """End one process we started, by its PID."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def with_registry_config(config: str, certs_dir: Path) -> str:
    """containerd's config with the CRI registry's config_path set to `certs_dir` (whatever it was)."""
    line = re.compile(r'^(\s*)config_path = ".*"$', re.MULTILINE)
    assert len(line.findall(config)) == 1, "one config_path: the CRI registry's"
    return line.sub(lambda match: f"{match[1]}config_path = {json.dumps(str(certs_dir))}", config)


@dataclass
class IsolatedNode:
    """A containerd and the registry in a network namespace of their own that has only `lo`."""

    root: Path
    plan: NodePlan
    images_dir: Path
    holder: subprocess.Popen[bytes] | None = None  # owns the namespace; it goes when this ends
    registry: subprocess.Popen[bytes] | None = None
    containerd: subprocess.Popen[bytes] | None = None

    @property
    def netns(self) -> str:
        assert self.holder is not None
        return f"/proc/{self.holder.pid}/ns/net"

    @property
    def registry_log(self) -> Path:
        return self.root / "registry.log"

    def in_netns(self, *argv: str) -> list[str]:
        # nsenter --net only: `ip netns exec` would remount /sys and hide the cgroups from runc.
        return ["nsenter", f"--net={self.netns}", *argv]

    def netns_links(self) -> list[str]:
        output = subprocess.run(self.in_netns("ip", "-o", "link"), capture_output=True, text=True, check=True)
        return [line.split(":")[1].strip() for line in output.stdout.splitlines()]

    def netns_routes(self) -> list[str]:
        output = subprocess.run(
            self.in_netns("ip", "-o", "route", "show", "table", "all"),
            capture_output=True,
            text=True,
            check=True,
        )
        return [line for line in output.stdout.splitlines() if line.strip()]

    def start(self) -> None:
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"], start_new_session=True)
        wait_until(lambda: Path(self.netns).exists() and os.readlink(self.netns) != os.readlink(
            "/proc/self/ns/net"), "the network namespace")  # fmt: skip
        subprocess.run(self.in_netns("ip", "link", "set", "lo", "up"), check=True)
        self.start_registry()
        write_node_files(self.plan)
        certs_dir = self.plan.dir / "certs.d"
        write_hosts_dir(certs_dir, REGISTRY_URL)
        self.plan.config_file.write_text(with_registry_config(self.plan.config_file.read_text(), certs_dir))
        with self.plan.containerd_log.open("ab") as log:
            self.containerd = subprocess.Popen(
                self.in_netns("containerd", "--config", str(self.plan.config_file)),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_until(self._containerd_answers, "containerd to answer CRI Version")

    def start_registry(self) -> None:
        with self.registry_log.open("ab") as log:
            self.registry = subprocess.Popen(
                self.in_netns(sys.executable, "-m", "deploy.registry", "--listen=127.0.0.1:5000",
                              f"--images-dir={self.images_dir}", "--v=2"),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=Path(__file__).parents[2],
            )  # fmt: skip
        # It binds before it logs this line, so connections wait in the backlog from then on.
        wait_until(lambda: "Serving the image registry" in self.registry_log.read_text(), "the registry")

    def _containerd_answers(self) -> bool:
        assert self.containerd is not None
        if self.containerd.poll() is not None:
            raise RuntimeError(f"containerd exited: {self.plan.containerd_log.read_text()[-2000:]}")
        if not self.plan.socket.is_socket():
            return False
        try:
            asyncio.run(_version(self.plan.endpoint))
        except CRIError:
            return False
        return True

    def requests(self) -> list[str]:
        """`VERB URI ns=HOST status` for each request the registry logged."""
        found = []
        for line in self.registry_log.read_text().splitlines():
            match = re.search(r'"HTTP" verb="(\w+)" URI="([^"]*)" ns="([^"]*)" resp=(\d+)', line)
            if match:
                found.append(f"{match[1]} {match[2]} ns={match[3]} {match[4]}")
        return found

    def close(self) -> None:
        try:
            stop(self.containerd)
            stop(self.registry)
        finally:
            for pid in shim_pids(self.plan):  # none expected: nothing ran
                os.kill(pid, signal.SIGKILL)
            unmount_all(node_mounts(self.plan))
            remove_cgroups(node_cgroups(self.plan))
            stop(self.holder)  # the namespace (only lo) goes with its last process


async def _version(endpoint: str) -> None:
    async with RuntimeClient(endpoint, timeout=2) as client:
        await client.version()


def write_hello_image(path: Path) -> None:
    """A one-file image under a host that has no hosts.toml of its own."""
    spec = ImageSpec(
        name=HELLO_IMAGE,
        architecture=machine_architecture(),
        entries=(directory("bin"), regular_file("bin/busybox", BUSYBOX_BINARY.read_bytes(), 0o755)),
        cmd=("/bin/busybox", "echo", "hello"),
    )
    path.write_bytes(build_oci_image(spec).tarball)


@pytest.fixture
def node() -> Iterator[IsolatedNode]:
    root = Path(tempfile.mkdtemp(prefix="kplreg-", dir="/tmp"))  # short: unix socket paths < 108 bytes
    images_dir = root / "images"
    images_dir.mkdir()
    for tarball in sorted(ensure_images(images_cache_dir()).glob("*.tar")):
        shutil.copy(tarball, images_dir / tarball.name)
    write_hello_image(images_dir / "hello.tar")
    plan = node_plan(
        root, "reg-1", cluster_id=StateDir(root).cluster_id, cluster_pod_cidr=DEFAULT_POD_CIDR,
        service_cidr=DEFAULT_SERVICE_CIDR, own_netns=False,
    )  # fmt: skip
    isolated = IsolatedNode(root, plan, images_dir)
    try:
        isolated.start()
        yield isolated
    finally:
        isolated.close()
        if not node_mounts(plan):  # never delete through a mount that is still there
            shutil.rmtree(root, ignore_errors=True)


def image_ids(images_dir: Path) -> dict[str, tuple[str, str]]:
    """Image name -> (config digest = CRI image id, manifest digest), from what the registry serves."""
    catalog = build_catalog(sorted(images_dir.glob("*.tar")))
    found = {}
    for (host, path), repository in catalog.repositories.items():
        for tag, manifest in repository.tags.items():
            found[f"{host}/{path}:{tag}"] = (
                json.loads(manifest.content)["config"]["digest"],
                manifest.digest,
            )
    return found


async def pull(endpoint: str, image: str) -> str:
    async with RuntimeClient(endpoint, timeout=30) as client:
        return await client.pull_image(image)


async def pull_error(endpoint: str, image: str) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(CRIError) as raised:
        await pull(endpoint, image)
    return str(raised.value), time.monotonic() - started


def test_every_pull_is_served_by_the_loopback_registry_and_nothing_leaves(node: IsolatedNode) -> None:
    assert node.netns_links() == ["lo"], "the namespace has no interface but loopback"
    assert all(" lo " in route or route.endswith(" lo") for route in node.netns_routes()), node.netns_routes()
    ids = image_ids(node.images_dir)
    busybox_id, busybox_manifest = ids["docker.io/library/busybox:latest"]
    pause_id, _ = ids["registry.k8s.io/pause:3.9"]
    hello_config, _ = ids[HELLO_IMAGE]

    async def scenario() -> None:
        async with RuntimeClient(node.plan.endpoint, timeout=30) as client:
            assert await client.list_images() == [], "nothing imported: every image below is pulled"
            assert await client.pull_image("busybox") == busybox_id
            assert await client.pull_image("docker.io/library/busybox:latest") == busybox_id
            assert await client.pull_image("registry.k8s.io/pause:3.9") == pause_id
            assert await client.pull_image(HELLO_IMAGE) == hello_config
            images = {image.id: image for image in await client.list_images()}
            assert set(images) == {busybox_id, pause_id, hello_config}
            assert list(images[busybox_id].repo_tags) == ["docker.io/library/busybox:latest"]
            assert list(images[busybox_id].repo_digests) == [f"docker.io/library/busybox@{busybox_manifest}"]
            assert list(images[pause_id].repo_tags) == ["registry.k8s.io/pause:3.9"]
            assert images[busybox_id].size > 1_000_000, "the layer was fetched and unpacked"
            # imagePullPolicy Always pulls again on every start: it must keep working.
            assert await client.pull_image("busybox") == busybox_id

    asyncio.run(scenario())
    for image, host in (("quay.io/nothing/here:1", "quay.io"), ("unlisted.example/x:1", "unlisted.example")):
        message, seconds = asyncio.run(pull_error(node.plan.endpoint, image))
        assert message.endswith(f'failed to resolve reference "{image}": {image}: not found'), message
        assert seconds < 5, f"{image} failed after {seconds:.1f}s, not fast"
        assert f"HEAD /v2/{image.split('/', 1)[1].split(':')[0]}/manifests/1 ns={host} 404" in node.requests()

    requests = node.requests()
    assert "HEAD /v2/library/busybox/manifests/latest ns=docker.io 200" in requests
    assert "HEAD /v2/pause/manifests/3.9 ns=registry.k8s.io 200" in requests
    assert "HEAD /v2/tools/hello/manifests/1 ns=kplane.test 200" in requests, "_default/hosts.toml honoured"
    assert f"GET /v2/library/busybox/blobs/{busybox_id} ns=docker.io 200" in requests

    # With the registry gone, a pull fails at once on loopback: containerd tries nothing else.
    stop(node.registry)
    message, seconds = asyncio.run(pull_error(node.plan.endpoint, "busybox"))
    assert "dial tcp 127.0.0.1:5000: connect: connection refused" in message, message
    assert seconds < 5
    for message_part in ("network is unreachable", "lookup ", "registry-1.docker.io"):
        assert message_part not in message

    assert node.netns_links() == ["lo"]
    containerd_log = node.plan.containerd_log.read_text()
    assert "failed to decode hosts.toml" not in containerd_log
    assert "network is unreachable" not in containerd_log, "containerd never tried a real registry"


def test_a_hosts_file_without_a_host_table_would_go_upstream(node: IsolatedNode) -> None:
    """Why registry_hosts writes a [host] table: containerd 1.6 rejects a hosts.toml that has only
    `server` and then uses the real registry. Here that attempt dies in the namespace (no route)."""
    broken = node.plan.dir / "certs.d" / "quay.io" / "hosts.toml"
    broken.write_text(f'server = "{REGISTRY_URL}"\ncapabilities = ["pull", "resolve"]\n')
    message, _ = asyncio.run(pull_error(node.plan.endpoint, "quay.io/nothing/here:1"))
    assert 'Head "https://quay.io/v2/nothing/here/manifests/1"' in message, message
    # The namespace stopped it (no route; a loopback resolver refuses); on the host it would have left.
    assert "network is unreachable" in message or "connection refused" in message, message
    assert "failed to decode hosts.toml" in node.plan.containerd_log.read_text()
    assert not any("ns=quay.io" in request for request in node.requests())

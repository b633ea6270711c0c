"""A private containerd laid out like a kplane node, for integration tests (needs root).

    with ContainerdNode(Path(tempfile.mkdtemp(prefix="kpl-", dir="/tmp")), "node-1", "10.244.7.0/24") as node:
        client = RuntimeClient(node.endpoint)
        ...

The node's config comes from deploy.node, the same as `kplane up` writes; its files are under
ROOT/nodes/<name>/ (keep ROOT short: unix socket paths must stay under 108 bytes). The pause and
busybox images are built once per machine (cached under /var/tmp/kplane-images) and imported.
With `pod_cidr`, the node gets it through CRI UpdateRuntimeConfig (containerd renders its CNI
template, as when a kubelet learns its Node's podCIDR) and is network-ready when `start` returns;
without, the network stays not ready until someone calls update_runtime_config. Tests running side
by side must use pod CIDRs that do not overlap.

`close()` removes every sandbox through CRI, stops containerd by PID, then removes what is left of
this node only (shims of this socket, processes and cgroups under the node's cgroup root, mounts
under its directory, its bridge or network namespace); `leftovers()` lists anything still there.
Give pods a cgroup_parent under `node.cgroup_root` so that clean-up finds them even after a crash.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

from deploy.hostnet import read_ip_forward, restore_ip_forward
from deploy.node import NodePlan, containerd_process, node_plan
from deploy.node_runtime import (
    NETNS_DIR,
    blocking,
    clean_up_node,
    ensure_images,
    images_cache_dir,
    import_images,
    is_mount_point,
    node_cgroups,
    node_mounts,
    remove_all_pods,
    set_up_link,
    shim_pids,
    wait_for_socket,
    write_node_files,
)
from deploy.state import DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, StateDir
from kubelet.cri.client import RuntimeClient


class ContainerdNode:
    def __init__(
        self,
        root: Path,
        name: str = "node-1",
        pod_cidr: str | None = None,
        *,
        own_netns: bool = False,
        cluster_pod_cidr: str = DEFAULT_POD_CIDR,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
    ) -> None:
        self.root = root
        self.pod_cidr = pod_cidr
        self.plan: NodePlan = node_plan(
            root,
            name,
            cluster_id=StateDir(root).cluster_id,
            cluster_pod_cidr=cluster_pod_cidr,
            service_cidr=service_cidr,
            own_netns=own_netns,
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._ip_forward = read_ip_forward()
        self._netns_dir_was_mounted = is_mount_point(NETNS_DIR)

    # What tests (and kubelets under test) need.
    name = property(lambda self: self.plan.name)
    endpoint = property(lambda self: self.plan.endpoint)
    socket = property(lambda self: self.plan.socket)
    dir = property(lambda self: self.plan.dir)
    cgroup_root = property(lambda self: self.plan.cgroup_root)
    pod_logs = property(lambda self: self.plan.pod_logs)
    kubelet_dir = property(lambda self: self.plan.kubelet_dir)
    net_d = property(lambda self: self.plan.net_d)

    def start(self) -> ContainerdNode:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        write_node_files(self.plan)
        if self.plan.link is not None:
            set_up_link(self.plan)
        with self.plan.containerd_log.open("ab") as log:
            self.process = subprocess.Popen(
                list(containerd_process(self.plan).argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a test's Ctrl-C reaches pytest, which then closes us in order
            )
        wait_for_socket(self.plan, self.alive, log=self.plan.containerd_log)
        import_images(self.plan, ensure_images(images_cache_dir()))
        if self.pod_cidr is not None:
            blocking(self.update_runtime_config(self.pod_cidr))

    async def update_runtime_config(self, pod_cidr: str) -> None:
        """What the kubelet does once its Node has a podCIDR; returns when the network is ready."""
        async with RuntimeClient(self.endpoint, timeout=10) as client:
            await client.update_runtime_config(pod_cidr)

            async def network_ready() -> bool:
                conditions = (await client.status()).status.conditions
                return any(c.type == "NetworkReady" and c.status for c in conditions)

            for _ in range(200):
                if await network_ready():
                    return
                await asyncio.sleep(0.05)
            raise TimeoutError(f"{self.name}: NetworkReady still false 10s after UpdateRuntimeConfig")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 10) -> str:
        log = self.plan.containerd_log
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def close(self) -> None:
        """Everything this node made goes; safe to call twice and after a failed start."""
        try:
            if self.alive():
                try:
                    blocking(remove_all_pods(self.endpoint, request_timeout=30))
                finally:
                    self._stop_containerd()
        finally:
            clean_up_node(self.plan, unmount_netns_dir=not self._netns_dir_was_mounted)
            restore_ip_forward(self._ip_forward)

    def stop_runtime(self) -> None:
        """containerd goes away (its shims and pods keep running), as when it crashes."""
        self._stop_containerd()

    def start_runtime(self) -> None:
        """containerd comes back on the same state: it finds its pods again."""
        self._start()

    def _stop_containerd(self) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def leftovers(self) -> list[str]:
        """What of this node is still on the host (empty after a clean `close`)."""
        found = [f"shim pid {pid}" for pid in shim_pids(self.plan)]
        found += [f"mount {point}" for point in node_mounts(self.plan)]
        found += [f"cgroup {path}" for path in node_cgroups(self.plan)]
        if self.alive():
            found.append(f"containerd pid {self.process.pid if self.process else '?'}")
        link = self.plan.link
        if link is not None and link.netns_path.exists():
            found.append(f"netns {link.netns}")
        interfaces = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        devices = [self.plan.bridge] + ([link.host_veth] if link else [])
        found += [f"link {d}" for d in devices if f" {d}:" in interfaces or f" {d}@" in interfaces]
        return found

    def remove_files(self) -> None:
        """Delete ROOT, unless something is still mounted below it (never delete through a mount)."""
        if not node_mounts(self.plan):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ContainerdNode:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self.close()
        finally:
            self.remove_files()

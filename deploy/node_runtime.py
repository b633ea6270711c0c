"""The I/O around a node's containerd (deploy.node has the plan): write its files, make its network
namespace, import the local images, and take it all apart again so that the host is left as it was.

Tear-down order matters: pods first through CRI (containerd then unmounts rootfs, releases pod IPs,
removes pod netns and veths and runs CNI DEL, which takes portmap's rules away), then containerd
itself (the caller stops it), then whatever a crash or kill left behind: shims serving this node's
socket, processes in the node's cgroups, mounts under the node's directory, the cgroups, the bridge
and portmap's chains on the host, the namespace and its veth.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import ipaddress
import os
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from componentbase.cli import CommandError
from deploy.hostnet import Command, Runner, run_command
from deploy.images.containerd import import_tarball, list_images
from deploy.images.rootfs import BUSYBOX_BINARY, BUSYBOX_IMAGE, PAUSE_IMAGE, PAUSE_SOURCE, build_local_images
from deploy.node import (
    NodePlan,
    cni_conf_template,
    containerd_config,
    link_setup_commands,
    link_teardown_commands,
    node_link_range,
)
from deploy.registry_hosts import write_hosts_dir
from kubelet.cri.client import CRIError, RuntimeClient

CGROUP_MOUNT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/run/netns")
T = TypeVar("T")
IMAGE_TARBALLS = {PAUSE_IMAGE: "pause.tar", BUSYBOX_IMAGE: "busybox.tar"}


MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL


def write_node_files(plan: NodePlan) -> None:
    ttrpc_socket = f"{plan.socket}.ttrpc"
    if len(ttrpc_socket.encode()) > MAX_SOCKET_PATH:
        raise CommandError(
            f"{ttrpc_socket} is longer than a unix socket path may be ({MAX_SOCKET_PATH} bytes); "
            "use a shorter state directory"
        )
    for directory in plan.directories():
        directory.mkdir(parents=True, exist_ok=True)
    plan.config_file.write_text(containerd_config(plan))
    plan.cni_template.write_text(cni_conf_template(plan))
    write_hosts_dir(plan.certs_dir, plan.registry_url)


# ---- network namespace ----


def is_mount_point(path: Path) -> bool:
    return str(path) in mount_points()


def mount_points() -> list[str]:
    """Mount points of this mount namespace (octal escapes such as \\040 decoded)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        raw = line.split()[4]
        points.append(raw.encode().decode("unicode_escape") if "\\" in raw else raw)
    return points


def check_link_range_free(plan: NodePlan, runner: Runner = run_command) -> None:
    """The node-link /24 must not overlap any address on the host except our own veths'."""
    if plan.link is None:
        return
    ours = f"kplh{plan.cluster_id}"
    cluster_range = node_link_range(plan.cluster_id)
    listing = runner(["ip", "-o", "-4", "addr", "show"]).stdout
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[1].startswith(ours):
            continue
        network = ipaddress.ip_interface(fields[3]).network
        if network.overlaps(cluster_range):
            raise CommandError(
                f"the node-link range {cluster_range} overlaps {fields[3]} on {fields[1]}; "
                "remove that address or use another state directory"
            )


def run_steps(steps: list[tuple[Command, Command | None]], runner: Runner, *, run_if_check: bool) -> int:
    """Run each command unless (run_if_check=False) / only if (True) its check succeeds; count runs."""
    ran = 0
    for command, check in steps:
        if check is not None and (runner(check).returncode == 0) != run_if_check:
            continue
        result = runner(command)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise CommandError(f"`{' '.join(command)}` failed: {detail[-1] if detail else 'no output'}")
        ran += 1
    return ran


def set_up_link(plan: NodePlan, runner: Runner = run_command) -> None:
    check_link_range_free(plan, runner)
    run_steps(link_setup_commands(plan), runner, run_if_check=False)


# ---- images ----


def images_cache_dir() -> Path:
    """Where tests keep the two images between runs: keyed by what they are built from."""
    digest = hashlib.sha256(PAUSE_SOURCE.read_bytes())
    with contextlib.suppress(OSError):
        digest.update(str(BUSYBOX_BINARY.stat().st_mtime_ns).encode())
    return Path("/var/tmp/kplane-images") / digest.hexdigest()[:12]


def ensure_images(images_dir: Path) -> Path:
    """`images_dir`, with pause.tar and busybox.tar built into it once (under a lock, for parallel
    callers)."""
    images_dir.mkdir(parents=True, exist_ok=True)
    tarballs = [images_dir / name for name in IMAGE_TARBALLS.values()]
    with (images_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(path.is_file() for path in tarballs):
            build_local_images(images_dir)
    return images_dir


def import_images(plan: NodePlan, images_dir: Path) -> list[str]:
    """Import the local images the node does not have yet; returns the names imported."""
    present = {image.name for image in list_images(plan.socket)}
    imported = []
    for name, file_name in IMAGE_TARBALLS.items():
        if name not in present:
            imported += import_tarball(plan.socket, images_dir / file_name)
    return imported


# ---- waiting for containerd ----


def wait_for_socket(
    plan: NodePlan, alive: Callable[[], bool], timeout: float = 30.0, log: Path | None = None
) -> None:
    """Until containerd answers CRI Version on its socket; a process that dies first is an error."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise CommandError(f"containerd for {plan.name} exited during start-up; see {log or 'its log'}")
        if plan.socket.is_socket():
            try:
                blocking(_version(plan.endpoint))
                return
            except CRIError:
                pass
        if time.monotonic() > deadline:
            raise CommandError(
                f"containerd for {plan.name} does not answer on {plan.socket} after {timeout}s"
            )
        time.sleep(0.05)


async def _version(endpoint: str) -> None:
    async with RuntimeClient(endpoint, timeout=2) as client:
        await client.version()


def blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion from plain code, even inside a running event loop (a test's):
    in a thread of its own, with a loop of its own."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# ---- tear-down ----


async def remove_all_pods(endpoint: str, request_timeout: float = 60.0) -> int:
    """Stop and remove every pod sandbox (and so every container) through CRI; returns how many."""
    async with RuntimeClient(endpoint, timeout=request_timeout) as client:
        sandboxes = await client.list_pod_sandbox()
        for sandbox in sandboxes:
            with contextlib.suppress(CRIError):  # already gone: someone else removed it meanwhile
                await client.stop_pod_sandbox(sandbox.id)
            with contextlib.suppress(CRIError):
                await client.remove_pod_sandbox(sandbox.id)
        return len(sandboxes)


def _cmdline(pid_dir: Path) -> list[bytes]:
    try:
        return (pid_dir / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def shim_pids(plan: NodePlan) -> list[int]:
    """containerd-shim processes serving this node's containerd: they carry `-address <socket>`."""
    socket = str(plan.socket).encode()
    return sorted(
        int(pid_dir.name)
        for pid_dir in Path("/proc").glob("[0-9]*")
        if socket in (args := _cmdline(pid_dir)) and b"-address" in args
    )


def node_cgroups(plan: NodePlan) -> list[Path]:
    """The node's cgroup root in every hierarchy that has one (each distinct mount once)."""
    found: dict[Path, Path] = {}
    for hierarchy in sorted(CGROUP_MOUNT.glob("*")):
        candidate = hierarchy / plan.cgroup_root.lstrip("/")
        if candidate.is_dir():
            found.setdefault(candidate.resolve(), candidate)
    return list(found.values())


def node_mounts(plan: NodePlan) -> list[str]:
    prefix = f"{plan.dir}/"
    return [point for point in mount_points() if point.startswith(prefix)]


def _wait_gone(pids: list[int], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.02)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _wait_gone(pids)


def remove_cgroups(cgroups: list[Path]) -> None:
    """Kill what is still in them, then rmdir depth-first (cgroupfs removes a directory that holds
    only control files)."""
    for cgroup in cgroups:
        directories = [cgroup, *(path for path in cgroup.rglob("*") if path.is_dir())]
        pids: set[int] = set()
        for directory in directories:
            with contextlib.suppress(OSError):
                pids.update(int(line) for line in (directory / "cgroup.procs").read_text().split())
        _kill(sorted(pids))
        for directory in sorted(directories, key=lambda path: len(path.parts), reverse=True):
            for attempt in range(50):  # a killed task leaves its cgroup a moment after it is reaped
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == 49:
                        raise
                    time.sleep(0.02)


def unmount_all(points: list[str], runner: Runner = run_command) -> None:
    for point in sorted(points, key=len, reverse=True):
        if runner(["umount", point]).returncode != 0:
            runner(["umount", "--lazy", point])


PORTMAP_CHAINS = {
    "CNI-HOSTPORT-DNAT": ("PREROUTING", "OUTPUT"),
    "CNI-HOSTPORT-SETMARK": (),
    "CNI-HOSTPORT-MASQ": ("POSTROUTING",),
}


def portmap_cleanup_commands(nat_rules: str) -> list[Command]:
    """What removes portmap's chains from the host's nat table once no pod uses them: the plugin
    leaves them (and the jumps to them) behind after its last pod. A DNAT chain that still has rules
    belongs to pods of another node or cluster, and then all of them stay."""
    rules = nat_rules.splitlines()
    chains = [name for name in PORTMAP_CHAINS if f"-N {name}" in rules]
    if "CNI-HOSTPORT-DNAT" in chains and any(rule.startswith("-A CNI-HOSTPORT-DNAT ") for rule in rules):
        return []
    iptables = ["iptables", "-w", "-t", "nat"]
    commands: list[Command] = []
    for rule in rules:
        parts = rule.split()
        # Jumps into the chains from elsewhere; rules inside them go with the flush.
        jump = parts[:1] == ["-A"] and parts[-2:-1] == ["-j"] and parts[-1] in chains
        if jump and parts[1] not in PORTMAP_CHAINS:
            commands.append([*iptables, "-D", *parts[1:]])
    for chain in chains:
        commands += [[*iptables, "-F", chain], [*iptables, "-X", chain]]
    return commands


def remove_portmap_chains(runner: Runner = run_command) -> int:
    listing = runner(["iptables", "-w", "-t", "nat", "-S"])
    if listing.returncode != 0:
        return 0
    commands = portmap_cleanup_commands(listing.stdout)
    for command in commands:
        runner(command)
    return len(commands)


def clean_up_node(plan: NodePlan, runner: Runner = run_command, *, unmount_netns_dir: bool = False) -> None:
    """After containerd has stopped: remove everything of this node that is still on the host.
    Safe to repeat. `unmount_netns_dir`: /run/netns was not a mount point before we made namespaces."""
    _kill(shim_pids(plan))
    unmount_all(node_mounts(plan), runner)
    remove_cgroups(node_cgroups(plan))
    if plan.link is None:
        if runner(["ip", "link", "show", plan.bridge]).returncode == 0:
            runner(["ip", "link", "del", plan.bridge])
        remove_portmap_chains(runner)
    run_steps(link_teardown_commands(plan), runner, run_if_check=True)
    if unmount_netns_dir:
        release_netns_dir(runner)


def release_netns_dir(runner: Runner = run_command) -> None:
    """`ip netns add` makes /run/netns a mount point of its own; undo that once it is empty."""
    with contextlib.suppress(OSError):
        if is_mount_point(NETNS_DIR) and not any(NETNS_DIR.iterdir()):
            runner(["umount", str(NETNS_DIR)])

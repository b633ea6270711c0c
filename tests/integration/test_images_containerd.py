"""`kplane images` against a real, private containerd: build, import, list, and run both images with ctr.

Needs root, containerd 1.6, runc and ctr. The containerd gets its own root, state, socket, runc root and
cgroup prefix under a fresh /tmp directory, laid out like a kplane node (STATE/nodes/<node>/containerd.sock),
and everything it leaves (processes, mounts, cgroups) is removed afterwards, even when the test fails.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from componentbase.cli import CommandError, OneLineArgumentParser
from deploy.images import cli
from deploy.images.containerd import list_images
from deploy.images.oci import canonical_json, directory, layer_tar, regular_file, sha256_digest
from deploy.images.rootfs import BUSYBOX_BINARY, BUSYBOX_IMAGE, PAUSE_IMAGE, machine_architecture
from deploy.node import node_plan
from deploy.node_runtime import clean_up_node, node_cgroups, node_mounts, shim_pids, write_node_files
from deploy.state import DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, StateDir

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containerd"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("containerd", "ctr", "runc", "gcc")),
        reason="needs containerd, ctr, runc and gcc",
    ),
]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class PrivateContainerd:
    """One containerd with everything of its own under `state_dir/nodes/n1`, configured as
    `kplane up` configures a node (deploy.node)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.plan = node_plan(
            state_dir, "n1", cluster_id=StateDir(state_dir).cluster_id,
            cluster_pod_cidr=DEFAULT_POD_CIDR, service_cidr=DEFAULT_SERVICE_CIDR,
        )  # fmt: skip
        self.node_dir = self.plan.dir
        self.socket = self.plan.socket
        self.runc_root = self.plan.runc_root
        # cgroups are global: the node's own root keeps ours apart from every other containerd's.
        self.cgroup_prefix = self.plan.cgroup_root.lstrip("/")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        write_node_files(self.plan)
        with open(self.node_dir / "containerd.log", "wb") as log:
            self.process = subprocess.Popen(
                ["containerd", "--config", str(self.plan.config_file)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_until(self._answers, "containerd to serve its socket")
        except TimeoutError as error:
            raise RuntimeError(f"{error}; log: {self.log_tail()}") from None

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"containerd exited with {self.process.returncode}: {self.log_tail()}")
        return self.socket.is_socket() and self.ctr("version", check=False).returncode == 0

    def log_tail(self) -> str:
        log = self.node_dir / "containerd.log"
        return " | ".join(log.read_text(errors="replace").splitlines()[-5:]) if log.exists() else "(no log)"

    def ctr(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        argv = ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def run_args(self, container_id: str, image: str) -> list[str]:
        """`ctr run` with our snapshotter, runc root and cgroup; the container gets an empty network netns."""
        return [
            "run", "--rm", "--snapshotter", "overlayfs", "--runc-root", str(self.runc_root),
            "--cgroup", f"/{self.cgroup_prefix}/{container_id}", image, container_id,
        ]  # fmt: skip

    def task_status(self, container_id: str) -> str | None:
        for line in self.ctr("tasks", "list").stdout.splitlines()[1:]:
            task, _pid, status = line.split()
            if task == container_id:
                return status
        return None

    def mounts(self) -> list[str]:
        """Mount points under our directory (overlay rootfs of tasks, for instance)."""
        return node_mounts(self.plan)

    def cgroups(self) -> list[Path]:
        return node_cgroups(self.plan)

    def shims(self) -> list[int]:
        """Processes that our containerd started and that serve it (shims carry `-address <our socket>`)."""
        return shim_pids(self.plan)

    def stop(self) -> None:
        """Remove containers, stop containerd by PID, then clear shims, mounts and cgroups. Safe to repeat."""
        if self.process is not None and self.process.poll() is None:
            for container_id in self.ctr("containers", "list", "--quiet", check=False).stdout.split():
                self.ctr("tasks", "delete", "--force", container_id, check=False)
                self.ctr("containers", "delete", container_id, check=False)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        clean_up_node(self.plan)  # shims of this socket, mounts under the node, its cgroups


@pytest.fixture
def containerd() -> Iterator[PrivateContainerd]:
    # Short /tmp path: unix socket paths must stay under 108 bytes.
    node = PrivateContainerd(Path(tempfile.mkdtemp(prefix="kplimg-", dir="/tmp")))
    try:
        node.start()
        yield node
    finally:
        try:
            node.stop()
        finally:
            if not node.mounts():  # never delete through a mount that is still there
                shutil.rmtree(node.state_dir, ignore_errors=True)


def run_kplane(*argv: str) -> int:
    """`kplane ARGV` in this process, parsed the way the `kplane` tool's parser hands it to our handlers."""
    parser = OneLineArgumentParser(prog="kplane")
    cli.register(parser.add_subparsers(dest="command", parser_class=OneLineArgumentParser))
    args: argparse.Namespace = parser.parse_args(argv)
    return int(args.func(args))


def test_built_images_import_list_and_run(
    containerd: PrivateContainerd, capsys: pytest.CaptureFixture[str]
) -> None:
    images_dir = containerd.state_dir / "images"
    assert run_kplane("images", "build", "--out", str(images_dir), "--import-to", str(containerd.socket)) == 0
    built_lines = capsys.readouterr().out.splitlines()
    built = {line.split()[0]: line.split()[1] for line in built_lines[:2]}
    assert set(built) == {PAUSE_IMAGE, BUSYBOX_IMAGE}
    assert built_lines[2:] == [
        f"imported {PAUSE_IMAGE} into {containerd.socket}",
        f"imported {BUSYBOX_IMAGE} into {containerd.socket}",
    ]
    listed = {image.name: image.digest for image in list_images(containerd.socket)}
    assert listed == built, "ctr -n k8s.io images ls shows both names with the digests we built"
    raw_listing = containerd.ctr("images", "ls", "--quiet").stdout.split()
    assert PAUSE_IMAGE in raw_listing and BUSYBOX_IMAGE in raw_listing

    # Re-importing a user's tarball with no --import-to finds the node's socket under the state dir.
    state_flag = ("--state-dir", str(containerd.state_dir))
    assert run_kplane("images", "import", str(images_dir / "busybox.tar"), *state_flag) == 0
    assert capsys.readouterr().out.splitlines() == [f"imported {BUSYBOX_IMAGE} into {containerd.socket}"]
    assert {image.name: image.digest for image in list_images(containerd.socket)} == built

    busybox_run = containerd.ctr(
        *containerd.run_args("t1", BUSYBOX_IMAGE), "sh", "-c", "echo hello; ls /bin/wget; ls -d /tmp /proc"
    )
    assert busybox_run.stdout.splitlines() == ["hello", "/bin/wget", "/proc", "/tmp"]

    pause_run = subprocess.Popen(["ctr", "--address", str(containerd.socket), "--namespace", "k8s.io",
                                  *containerd.run_args("p1", PAUSE_IMAGE)])  # fmt: skip
    try:
        wait_until(lambda: containerd.task_status("p1") == "RUNNING", "the pause task to run")
        containerd.ctr("tasks", "kill", "--signal", "SIGTERM", "p1")
        assert pause_run.wait(timeout=10) == 0, "pause exits 0 on SIGTERM"
    finally:
        if pause_run.poll() is None:
            pause_run.kill()
            pause_run.wait()

    assert containerd.ctr("containers", "list", "--quiet").stdout.split() == [], "--rm removed both"
    assert containerd.mounts() == [], "no rootfs mount outlives its task"
    assert all(not (cgroup / leaf).exists() for cgroup in containerd.cgroups() for leaf in ("t1", "p1"))

    containerd.stop()
    assert containerd.shims() == []
    assert containerd.mounts() == []
    assert containerd.cgroups() == []


def write_docker_save_archive(path: Path, repo_tag: str) -> None:
    """What `docker save` writes (manifest.json, the config, one layer.tar), for a one-file busybox image."""
    layer = layer_tar([directory("bin"), regular_file("bin/busybox", BUSYBOX_BINARY.read_bytes(), 0o755)])
    config = canonical_json(
        {
            "architecture": machine_architecture(),
            "os": "linux",
            "config": {"Cmd": ["/bin/busybox", "sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]},
        }
    )
    config_name = sha256_digest(config).split(":")[1] + ".json"
    manifest = canonical_json(
        [{"Config": config_name, "RepoTags": [repo_tag], "Layers": ["layer0/layer.tar"]}]
    )
    with tarfile.open(path, "w") as tar:
        for name, data in [(config_name, config), ("layer0/layer.tar", layer), ("manifest.json", manifest)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_docker_save_tarball_imports_and_runs(
    containerd: PrivateContainerd, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = containerd.state_dir / "saved.tar"
    write_docker_save_archive(archive, "example.test/saved:1")
    assert run_kplane("images", "import", str(archive), "--import-to", str(containerd.socket)) == 0
    assert capsys.readouterr().out.splitlines() == [f"imported example.test/saved:1 into {containerd.socket}"]
    assert "example.test/saved:1" in [image.name for image in list_images(containerd.socket)]
    run = containerd.ctr(*containerd.run_args("s1", "example.test/saved:1"), "/bin/busybox", "echo", "saved")
    assert run.stdout == "saved\n"


def test_import_errors_are_one_line_exit_1(containerd: PrivateContainerd) -> None:
    missing = containerd.state_dir / "missing.tar"
    with pytest.raises(CommandError) as raised:
        run_kplane("images", "import", str(missing), "--import-to", str(containerd.socket))
    assert (raised.value.exit_code, str(raised.value)) == (1, f"image tarball {missing} does not exist")

    images_dir = containerd.state_dir / "images"
    assert run_kplane("images", "build", "--out", str(images_dir)) == 0
    gone = containerd.state_dir / "nodes" / "n2" / "containerd.sock"
    with pytest.raises(CommandError) as raised:
        run_kplane("images", "import", str(images_dir / "pause.tar"), "--import-to", str(gone))
    assert (raised.value.exit_code, str(raised.value)) == (1, f"no containerd socket at {gone}")

    # A containerd killed outright leaves its socket file behind: not a target, and said so.
    assert containerd.process is not None
    containerd.process.kill()
    containerd.process.wait()
    assert containerd.socket.is_socket()
    with pytest.raises(CommandError) as raised:
        run_kplane("images", "import", str(images_dir / "pause.tar"), "--import-to", str(containerd.socket))
    assert str(raised.value) == f"no containerd is listening on {containerd.socket} (a stale socket?)"
    with pytest.raises(CommandError) as raised:
        run_kplane(
            "images", "import", str(images_dir / "pause.tar"), "--state-dir", str(containerd.state_dir)
        )
    assert str(raised.value).startswith(f"no containerd running under {containerd.state_dir}; ")

"""Import image tarballs into a containerd and list what it holds, through `ctr`.

Images go into the `k8s.io` namespace: it is the one the CRI plugin (and so the kubelet) reads.
"""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

CRI_NAMESPACE = "k8s.io"
CTR_TIMEOUT_S = 120


class ContainerdError(Exception):
    """containerd or the tarball is not usable as given; the message is one line naming what to fix."""


@dataclass(frozen=True)
class ContainerdImage:
    name: str
    digest: str


def node_sockets(state_dir: Path) -> list[Path]:
    """The sockets of the containerds running for the nodes under `state_dir` (one containerd per node);
    a socket left behind by a killed containerd is skipped."""
    return sorted(path for path in state_dir.glob("nodes/*/containerd.sock") if _listening(path))


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def check_image_tarball(path: Path) -> None:
    """Reject anything containerd could not import, before talking to it: an OCI image layout has
    `index.json`, a `docker save` archive has `manifest.json`."""
    if not path.is_file():
        raise ContainerdError(f"image tarball {path} does not exist")
    try:
        with tarfile.open(path) as tar:
            names = {name.removeprefix("./") for name in tar.getnames()}
    except tarfile.TarError:
        # tarfile's message lists every compression it tried, over several lines.
        raise ContainerdError(f"{path} is not a tar archive") from None
    except OSError as error:
        raise ContainerdError(f"cannot read {path}: {error.strerror}") from None
    if not names & {"index.json", "manifest.json"}:
        raise ContainerdError(
            f"{path} is not an OCI image layout or docker save tarball (no index.json or manifest.json)"
        )


def _check_socket(path: Path) -> None:
    try:
        is_socket = stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        raise ContainerdError(f"no containerd socket at {path}") from None
    if not is_socket:
        raise ContainerdError(f"{path} is not a unix socket")
    if not _listening(path):
        raise ContainerdError(f"no containerd is listening on {path} (a stale socket?)")


def _ctr(address: Path, *args: str) -> str:
    _check_socket(address)
    ctr = shutil.which("ctr")
    if ctr is None:
        raise ContainerdError("ctr not found; install containerd")
    argv = [ctr, "--address", str(address), "--connect-timeout", "5s", "--namespace", CRI_NAMESPACE, *args]
    command = f"ctr {args[0]} {args[1]} via {address}"
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=CTR_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ContainerdError(f"{command}: no answer in {CTR_TIMEOUT_S}s") from None
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}").splitlines()
        raise ContainerdError(f"{command} failed: {lines[-1].removeprefix('ctr: ')}")
    return result.stdout


def import_tarball(address: Path, tarball: Path) -> list[str]:
    """Import (and unpack, for the default snapshotter) the images in `tarball`; returns their names.

    Only this machine's platform is imported (ctr's default): with `--all-platforms` a multi-arch
    layout that carries blobs for one platform only would fail. Call `check_image_tarball` first for a
    clearer error than ctr's on a file that is not an image.
    """
    output = _ctr(address, "images", "import", str(tarball))
    # ctr prints one "unpacking NAME (sha256:...)...done" line per image.
    return [line.split()[1] for line in output.splitlines() if line.startswith("unpacking ")]


def list_images(address: Path) -> list[ContainerdImage]:
    """Named images in the `k8s.io` namespace (the CRI plugin's `sha256:<config>` id entries left out)."""
    output = _ctr(address, "images", "list")
    images = []
    for line in output.splitlines()[1:]:  # after the REF TYPE DIGEST ... header
        name, _media_type, digest, *_rest = line.split()
        if not name.startswith("sha256:"):
            images.append(ContainerdImage(name, digest))
    return images

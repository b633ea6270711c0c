"""The two images every node needs, built from this machine with no registry.

- `registry.k8s.io/pause:3.9`: the sandbox image, one static binary compiled from `pause.c`.
- `docker.io/library/busybox:latest`: `/bin/busybox` from Debian's busybox-static plus one symlink per
  applet, enough for `sh`, `sleep`, `httpd`, `wget`, `nc` in test pods.
"""

from __future__ import annotations

import os
import platform
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.images.oci import ImageSpec, RootfsEntry, build_oci_image, directory, regular_file, symlink

PAUSE_IMAGE = "registry.k8s.io/pause:3.9"
BUSYBOX_IMAGE = "docker.io/library/busybox:latest"
PAUSE_SOURCE = Path(__file__).with_name("pause.c")
BUSYBOX_BINARY = Path("/bin/busybox")
DEFAULT_PATH_ENV = "PATH=/bin:/usr/bin:/sbin:/usr/sbin"

_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_PT_INTERP = 3

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"


class ImageBuildError(Exception):
    """An image could not be built; the message says what to install or fix. Retrying does not help."""


@dataclass(frozen=True)
class WrittenImage:
    name: str
    manifest_digest: str
    size: int
    path: Path


def machine_architecture(machine: str | None = None) -> str:
    """The OCI architecture of this machine (`amd64`, `arm64`), the one containerd imports by default."""
    machine = machine or platform.machine()
    try:
        return _ARCHITECTURES[machine.lower()]
    except KeyError:
        raise ImageBuildError(f"unsupported machine {machine!r}: only x86_64 and aarch64") from None


def is_static_elf(data: bytes) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP): it needs no shared libraries,
    so it runs in a rootfs that has nothing else."""
    if data[:4] != b"\x7fELF":
        return False
    order = "<" if data[5] == 1 else ">"
    if data[4] == 2:  # ELFCLASS64
        (program_headers_offset,) = struct.unpack_from(order + "Q", data, 0x20)
        entry_size, entry_count = struct.unpack_from(order + "HH", data, 0x36)
    else:
        (program_headers_offset,) = struct.unpack_from(order + "I", data, 0x1C)
        entry_size, entry_count = struct.unpack_from(order + "HH", data, 0x2A)
    segment_types = {
        struct.unpack_from(order + "I", data, program_headers_offset + i * entry_size)[0]
        for i in range(entry_count)
    }
    return _PT_INTERP not in segment_types


def _run_tool(argv: list[str], install_hint: str) -> str:
    if shutil.which(argv[0]) is None:
        raise ImageBuildError(f"{argv[0]} not found; {install_hint}")
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}").splitlines()
        raise ImageBuildError(f"{' '.join(argv)} failed: {detail[0]}")
    return result.stdout


def compile_pause(build_dir: Path, source: Path = PAUSE_SOURCE) -> Path:
    """Compile `pause.c` into `build_dir/pause`, static (the image has no libc), stripped."""
    build_dir.mkdir(parents=True, exist_ok=True)
    output = build_dir / "pause"
    partial = build_dir / "pause.partial"
    hint = "install gcc and libc6-dev"
    _run_tool(["gcc", "-static", "-Os", "-o", str(partial), str(source)], hint)
    _run_tool(["strip", str(partial)], hint)
    partial.replace(output)
    return output


def busybox_applets(busybox: Path = BUSYBOX_BINARY) -> list[str]:
    """Every applet this busybox was built with, so each one gets its link in the image."""
    listing = _run_tool([str(busybox), "--list"], "install busybox-static")
    return sorted({name for name in listing.split() if name != "busybox" and "/" not in name})


def pause_image_spec(pause_binary: bytes, architecture: str) -> ImageSpec:
    return ImageSpec(
        name=PAUSE_IMAGE,
        architecture=architecture,
        entries=(regular_file("pause", pause_binary, 0o755),),
        cmd=("/pause",),
    )


def busybox_image_spec(busybox_binary: bytes, applets: list[str], architecture: str) -> ImageSpec:
    entries: list[RootfsEntry] = [
        *(directory(path) for path in ("bin", "dev", "etc", "home", "proc", "sys", "var")),
        directory("root", 0o700),
        directory("tmp", 0o1777),
        regular_file("bin/busybox", busybox_binary, 0o755),
        *(symlink(f"bin/{applet}", "busybox") for applet in applets),
        regular_file("etc/passwd", PASSWD),
        regular_file("etc/group", GROUP),
    ]
    return ImageSpec(
        name=BUSYBOX_IMAGE,
        architecture=architecture,
        entries=tuple(entries),
        cmd=("sh",),
        env=(DEFAULT_PATH_ENV,),
    )


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (or a concurrent import) never sees a half-written tarball.
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def build_local_images(out_dir: Path, busybox: Path = BUSYBOX_BINARY) -> list[WrittenImage]:
    """Write `pause.tar` and `busybox.tar` (OCI layouts) into `out_dir`; equal inputs give equal digests."""
    architecture = machine_architecture()
    busybox_binary = busybox.read_bytes() if busybox.is_file() else b""
    if not is_static_elf(busybox_binary):
        raise ImageBuildError(f"{busybox} is missing or not statically linked; install busybox-static")
    out_dir.mkdir(parents=True, exist_ok=True)
    pause_binary = compile_pause(out_dir / "build").read_bytes()
    specs = {
        "pause.tar": pause_image_spec(pause_binary, architecture),
        "busybox.tar": busybox_image_spec(busybox_binary, busybox_applets(busybox), architecture),
    }
    written = []
    for file_name, spec in specs.items():
        image, path = build_oci_image(spec), out_dir / file_name
        _write_atomically(path, image.tarball)
        written.append(WrittenImage(image.name, image.manifest_digest, len(image.tarball), path))
    return written

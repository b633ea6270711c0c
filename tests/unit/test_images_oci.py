"""The local images: OCI layout structure and determinism, the busybox rootfs, and pause as a real process."""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from componentbase.cli import CommandError, OneLineArgumentParser
from deploy.images import cli
from deploy.images.containerd import node_sockets
from deploy.images.oci import (
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_INDEX,
    MEDIA_TYPE_LAYER_GZIP,
    MEDIA_TYPE_MANIFEST,
    ImageSpec,
    build_oci_image,
    directory,
    image_tag,
    layer_tar,
    regular_file,
    symlink,
)
from deploy.images.rootfs import (
    BUSYBOX_BINARY,
    BUSYBOX_IMAGE,
    busybox_applets,
    busybox_image_spec,
    compile_pause,
    is_static_elf,
    machine_architecture,
)

SAMPLE = ImageSpec(
    name="example.test/tools/sample:1.2",
    architecture="amd64",
    entries=(
        directory("bin"),
        regular_file("bin/tool", b"#!/bin/sh\necho hi\n", 0o755),
        symlink("bin/alias", "tool"),
        directory("tmp", 0o1777),
    ),
    cmd=("/bin/tool",),
    env=("PATH=/bin",),
)

needs_busybox = pytest.mark.skipif(not BUSYBOX_BINARY.is_file(), reason="busybox-static is not installed")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def read_layout(tarball: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def blob(files: dict[str, bytes], digest: str) -> bytes:
    algorithm, hex_digest = digest.split(":")
    assert algorithm == "sha256"
    data = files[f"blobs/sha256/{hex_digest}"]
    assert hashlib.sha256(data).hexdigest() == hex_digest, "a blob's name must be its digest"
    return data


def check_descriptor(files: dict[str, bytes], descriptor: dict[str, Any], media_type: str) -> bytes:
    assert descriptor["mediaType"] == media_type
    data = blob(files, descriptor["digest"])
    assert descriptor["size"] == len(data)
    return data


def test_layout_chain_from_index_to_layer_is_consistent() -> None:
    image = build_oci_image(SAMPLE)
    files = read_layout(image.tarball)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}

    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2 and index["mediaType"] == MEDIA_TYPE_INDEX
    [entry] = index["manifests"]
    assert entry["annotations"] == {
        "io.containerd.image.name": "example.test/tools/sample:1.2",
        "org.opencontainers.image.ref.name": "1.2",
    }
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    assert entry["digest"] == image.manifest_digest

    manifest = json.loads(check_descriptor(files, entry, MEDIA_TYPE_MANIFEST))
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MEDIA_TYPE_MANIFEST
    config = json.loads(check_descriptor(files, manifest["config"], MEDIA_TYPE_CONFIG))
    assert manifest["config"]["digest"] == image.config_digest
    [layer_descriptor] = manifest["layers"]
    layer_blob = check_descriptor(files, layer_descriptor, MEDIA_TYPE_LAYER_GZIP)
    assert layer_descriptor["digest"] == image.layer_digest

    uncompressed = gzip.decompress(layer_blob)
    assert config["rootfs"] == {
        "type": "layers",
        "diff_ids": ["sha256:" + hashlib.sha256(uncompressed).hexdigest()],
    }
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["config"] == {"Cmd": ["/bin/tool"], "Env": ["PATH=/bin"], "WorkingDir": "/"}
    assert len(files) == 5, "oci-layout, index.json and three blobs"


def test_layer_entries_are_root_owned_sorted_and_timeless() -> None:
    image = build_oci_image(SAMPLE)
    layer = gzip.decompress(blob(read_layout(image.tarball), image.layer_digest))
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["bin", "bin/alias", "bin/tool", "tmp"]
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == 0 for m in members)
    by_name = {m.name: m for m in members}
    assert by_name["bin/alias"].issym() and by_name["bin/alias"].linkname == "tool"
    assert by_name["bin/tool"].mode == 0o755 and by_name["tmp"].mode == 0o1777


def test_gzip_header_carries_no_timestamp() -> None:
    image = build_oci_image(SAMPLE)
    layer_blob = blob(read_layout(image.tarball), image.layer_digest)
    assert layer_blob[4:8] == b"\0\0\0\0"


def test_building_twice_gives_identical_bytes_and_digests() -> None:
    first, second = build_oci_image(SAMPLE), build_oci_image(SAMPLE)
    assert first == second


def test_a_changed_file_changes_every_digest() -> None:
    changed = dataclasses.replace(SAMPLE, entries=(*SAMPLE.entries[:1], regular_file("bin/tool", b"x")))
    first, second = build_oci_image(SAMPLE), build_oci_image(changed)
    assert first.diff_id != second.diff_id and first.manifest_digest != second.manifest_digest


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ((regular_file("bin/tool", b""),), "no parent directory"),
        ((regular_file("bin", b""), regular_file("bin/tool", b"")), "no parent directory"),
        ((directory("bin"), directory("bin")), "duplicate"),
    ],
)
def test_layer_rejects_a_rootfs_that_cannot_unpack(entries: tuple[Any, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        layer_tar(entries)


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("registry.k8s.io/pause:3.9", "3.9"),
        ("docker.io/library/busybox:latest", "latest"),
        ("localhost:5000/app", "latest"),
    ],
)
def test_image_tag(name: str, tag: str) -> None:
    assert image_tag(name) == tag


def test_machine_architecture_uses_oci_names() -> None:
    assert machine_architecture("x86_64") == "amd64"
    assert machine_architecture("aarch64") == "arm64"


@needs_busybox
def test_busybox_rootfs_has_every_applet_linked_and_the_right_modes() -> None:
    applets = busybox_applets()
    assert {"sh", "sleep", "httpd", "wget", "nc", "ls", "cat", "ip"} <= set(applets)
    spec = busybox_image_spec(b"\x7fELF-not-really", applets, "amd64")
    assert spec.name == BUSYBOX_IMAGE
    assert spec.cmd == ("sh",) and spec.env == ("PATH=/bin:/usr/bin:/sbin:/usr/sbin",)
    by_path = {entry.path: entry for entry in spec.entries}
    assert by_path["bin/busybox"].kind == "file" and by_path["bin/busybox"].mode == 0o755
    links = {path for path, entry in by_path.items() if entry.kind == "symlink"}
    assert links == {f"bin/{applet}" for applet in applets}
    assert all(by_path[path].link_target == "busybox" for path in links)
    assert by_path["tmp"].mode == 0o1777
    for empty_dir in ("proc", "sys", "dev"):
        assert by_path[empty_dir].kind == "dir"
    assert b"root:x:0:0:" in by_path["etc/passwd"].content
    assert b"nobody:x:65534:65534:" in by_path["etc/passwd"].content
    assert by_path["etc/group"].content.splitlines() == [b"root:x:0:", b"nobody:x:65534:"]
    build_oci_image(spec)  # every entry has its parent directory


@needs_busybox
def test_debian_busybox_static_is_static() -> None:
    assert is_static_elf(BUSYBOX_BINARY.read_bytes())


def test_a_dynamic_executable_is_not_static() -> None:
    assert not is_static_elf(Path("/bin/ls").read_bytes())
    assert not is_static_elf(b"#!/bin/sh\n")


@pytest.fixture(scope="module")
def pause_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    return compile_pause(tmp_path_factory.mktemp("pause-build"))


def wait_until(condition: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def catches_sigterm(pid: int) -> bool:
    """pause has installed its handlers (so a SIGTERM now tests them, not the default action)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


@needs_gcc
def test_pause_is_a_small_static_binary(pause_binary: Path) -> None:
    data = pause_binary.read_bytes()
    assert is_static_elf(data)
    assert len(data) < 2_000_000
    ldd = subprocess.run(["ldd", str(pause_binary)], capture_output=True, text=True, check=False)
    assert "not a dynamic executable" in ldd.stdout + ldd.stderr


@needs_gcc
@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_pause_exits_zero_on_sigterm_and_sigint(pause_binary: Path, signo: signal.Signals) -> None:
    process = subprocess.Popen([str(pause_binary)])
    try:
        wait_until(lambda: catches_sigterm(process.pid), "pause to install its handlers")
        time.sleep(0.05)
        assert process.poll() is None, "pause must keep running until signalled"
        process.send_signal(signo)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()


@needs_gcc
def test_pause_reaps_children_that_exit(pause_binary: Path) -> None:
    # The shell starts a child and then becomes pause, so that child is pause's own child.
    process = subprocess.Popen(
        ["/bin/sh", "-c", f"sleep 0.3 & echo $!; exec {pause_binary}"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        child = int(process.stdout.readline())
        wait_until(
            lambda: process_state(child) is None, "pause to reap its exited child (not leave a zombie)"
        )
        assert process.poll() is None
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


@needs_gcc
def test_pause_reaps_a_child_that_exited_before_pause_started(pause_binary: Path) -> None:
    process = subprocess.Popen(
        ["/bin/sh", "-c", f"true & echo $!; sleep 0.2; exec {pause_binary}"], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        child = int(process.stdout.readline())
        wait_until(lambda: catches_sigterm(process.pid), "pause to start")
        wait_until(lambda: process_state(child) is None, "pause to reap the zombie it inherited")
    finally:
        process.terminate()
        process.wait(timeout=5)


def parse(*argv: str) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog="kplane")
    cli.register(parser.add_subparsers(dest="command", parser_class=OneLineArgumentParser))
    return parser.parse_args(argv)


def test_state_dir_flag_then_environment_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KPLANE_STATE_DIR", str(tmp_path / "env"))
    assert cli.state_dir(parse("images", "build", "--state-dir", str(tmp_path / "flag"))) == tmp_path / "flag"
    assert cli.state_dir(parse("images", "build")) == tmp_path / "env"
    monkeypatch.delenv("KPLANE_STATE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.state_dir(parse("images", "build")) == tmp_path / ".local/state/kplane"


def test_import_of_a_missing_file_is_one_line_exit_1(tmp_path: Path) -> None:
    args = parse("images", "import", str(tmp_path / "nope.tar"), "--import-to", str(tmp_path / "c.sock"))
    with pytest.raises(CommandError) as raised:
        args.func(args)
    assert raised.value.exit_code == 1
    assert str(raised.value) == f"image tarball {tmp_path / 'nope.tar'} does not exist"


def test_import_of_a_file_that_is_not_an_image_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    plain_tar = tmp_path / "plain.tar"
    with tarfile.open(plain_tar, "w") as tar:
        tar.add(tmp_path / "notes.txt", arcname="notes.txt")
    for path, message in [
        ("notes.txt", "is not a tar archive"),
        ("plain.tar", "no index.json or manifest.json"),
    ]:
        args = parse("images", "import", str(tmp_path / path), "--state-dir", str(tmp_path))
        with pytest.raises(CommandError, match=message) as raised:
            args.func(args)
        assert "\n" not in str(raised.value)


def test_import_without_a_running_containerd_points_at_the_fix(tmp_path: Path) -> None:
    tarball = tmp_path / "sample.tar"
    tarball.write_bytes(build_oci_image(SAMPLE).tarball)
    args = parse("images", "import", str(tarball), "--state-dir", str(tmp_path))
    with pytest.raises(CommandError) as raised:
        args.func(args)
    assert str(raised.value) == (
        f"no containerd running under {tmp_path}; start the cluster or pass --import-to SOCKET"
    )
    args = parse("images", "import", str(tarball), "--import-to", str(tmp_path / "gone.sock"))
    with pytest.raises(CommandError) as raised:
        args.func(args)
    assert str(raised.value) == f"no containerd socket at {tmp_path / 'gone.sock'}"


def test_node_sockets_skips_a_socket_nobody_listens_on(tmp_path: Path) -> None:
    live_dir, stale_dir = tmp_path / "nodes/a", tmp_path / "nodes/b"
    live_dir.mkdir(parents=True)
    stale_dir.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as live, socket.socket(socket.AF_UNIX) as stale:
        live.bind(str(live_dir / "containerd.sock"))
        live.listen()
        stale.bind(str(stale_dir / "containerd.sock"))  # bound, never listening: like a killed daemon's
        assert node_sockets(tmp_path) == [live_dir / "containerd.sock"]


def test_unknown_images_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse("images", "build", "--bogus")
    assert raised.value.code == 2
    assert capsys.readouterr().err.strip().endswith("unknown flag: --bogus")


@needs_busybox
@needs_gcc
def test_build_command_writes_both_tarballs_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("images", "build", "--state-dir", str(tmp_path))
    assert args.func(args) == 0
    first = capsys.readouterr().out.splitlines()
    assert args.func(args) == 0
    assert capsys.readouterr().out.splitlines() == first
    names = [line.split()[0] for line in first]
    assert names == ["registry.k8s.io/pause:3.9", "docker.io/library/busybox:latest"]
    for line in first:
        _name, digest, size, path = line.split()
        assert digest.startswith("sha256:") and int(size) == os.path.getsize(path)
        assert Path(path).parent == tmp_path / "images"

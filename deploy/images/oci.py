"""Build an OCI image-layout tarball from a rootfs description, with no I/O and no registry.

Everything is deterministic (uid/gid 0, mtime 0, sorted entries, gzip with mtime 0, canonical JSON),
so the same rootfs always gives the same layer, config and manifest digests: rebuilding an image
that containerd already holds is a no-op for it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any, Literal

MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

EntryKind = Literal["dir", "file", "symlink"]


@dataclass(frozen=True)
class RootfsEntry:
    """One path in the image's filesystem, relative to `/` (no leading slash)."""

    path: str
    kind: EntryKind
    mode: int
    content: bytes = b""
    link_target: str = ""


def directory(path: str, mode: int = 0o755) -> RootfsEntry:
    return RootfsEntry(path, "dir", mode)


def regular_file(path: str, content: bytes, mode: int = 0o644) -> RootfsEntry:
    return RootfsEntry(path, "file", mode, content=content)


def symlink(path: str, target: str) -> RootfsEntry:
    return RootfsEntry(path, "symlink", 0o777, link_target=target)


@dataclass(frozen=True)
class ImageSpec:
    """What goes into a single-layer image: its full name (`registry/repo:tag`), platform, files, process."""

    name: str
    architecture: str
    entries: tuple[RootfsEntry, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    working_dir: str = "/"
    os: str = "linux"


@dataclass(frozen=True)
class OciImage:
    """A built image: the tarball to import and the digests containerd will report for it."""

    name: str
    tarball: bytes
    manifest_digest: str
    config_digest: str
    layer_digest: str
    diff_id: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def image_tag(name: str) -> str:
    """`registry.k8s.io/pause:3.9` → `3.9`; a name without a tag is `latest`, as for docker and containerd."""
    last_component = name.rsplit("/", 1)[-1]
    return last_component.rsplit(":", 1)[1] if ":" in last_component else "latest"


def layer_tar(entries: tuple[RootfsEntry, ...] | list[RootfsEntry]) -> bytes:
    """The uncompressed layer: every entry owned by root, mtime 0, sorted so parents come first."""
    by_path = {entry.path.strip("/"): entry for entry in entries}
    if len(by_path) != len(entries):
        raise ValueError("rootfs has duplicate paths")
    for path in by_path:
        parent = path.rpartition("/")[0]
        if parent and (parent not in by_path or by_path[parent].kind != "dir"):
            raise ValueError(f"rootfs entry {path!r} has no parent directory {parent!r}")
    return _tar_bytes([(path, by_path[path]) for path in sorted(by_path)])


def _tar_bytes(members: list[tuple[str, RootfsEntry]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, entry in members:
            info = tarfile.TarInfo(path)
            info.mode, info.mtime = entry.mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.link_target
            else:
                info.size = len(entry.content)
            tar.addfile(info, io.BytesIO(entry.content) if entry.kind == "file" else None)
    return buffer.getvalue()


def deterministic_gzip(data: bytes) -> bytes:
    # mtime=0 keeps the timestamp out of the gzip header, so equal input gives equal bytes.
    return gzip.compress(data, compresslevel=9, mtime=0)


def _descriptor(media_type: str, blob: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256_digest(blob), "size": len(blob)}


def build_oci_image(spec: ImageSpec) -> OciImage:
    """The OCI image-layout tarball (`oci-layout`, `index.json`, `blobs/sha256/*`) for `spec`."""
    layer = layer_tar(spec.entries)
    diff_id = sha256_digest(layer)
    layer_blob = deterministic_gzip(layer)
    process: dict[str, Any] = {"Cmd": list(spec.cmd), "WorkingDir": spec.working_dir}
    if spec.env:
        process["Env"] = list(spec.env)
    config_blob = canonical_json(
        {
            "architecture": spec.architecture,
            "os": spec.os,
            "config": process,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    )
    manifest_blob = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": _descriptor(MEDIA_TYPE_CONFIG, config_blob),
            "layers": [_descriptor(MEDIA_TYPE_LAYER_GZIP, layer_blob)],
        }
    )
    index_blob = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [
                {
                    **_descriptor(MEDIA_TYPE_MANIFEST, manifest_blob),
                    "platform": {"architecture": spec.architecture, "os": spec.os},
                    # containerd names the image from the first annotation; other tools read the second.
                    "annotations": {
                        ANNOTATION_CONTAINERD_NAME: spec.name,
                        ANNOTATION_REF_NAME: image_tag(spec.name),
                    },
                }
            ],
        }
    )
    blobs = {sha256_digest(blob).split(":", 1)[1]: blob for blob in (layer_blob, config_blob, manifest_blob)}
    layout = [
        directory("blobs"),
        directory("blobs/sha256"),
        *(regular_file(f"blobs/sha256/{hex_digest}", blob) for hex_digest, blob in blobs.items()),
        regular_file("index.json", index_blob),
        regular_file("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
    ]
    return OciImage(
        name=spec.name,
        tarball=layer_tar(layout),
        manifest_digest=sha256_digest(manifest_blob),
        config_digest=sha256_digest(config_blob),
        layer_digest=sha256_digest(layer_blob),
        diff_id=diff_id,
    )

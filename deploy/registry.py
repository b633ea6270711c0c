"""A read-only OCI registry (Distribution Spec v1.0, pull side) that serves the image-layout tarballs
`kplane images build` writes, so that nodes pull `busybox` and `registry.k8s.io/pause:3.9` with no
internet. Each node's containerd is pointed at it for every registry (deploy/registry_hosts.py).

    python -m deploy.registry --listen=127.0.0.1:5000 --images-dir=STATE/images

Names: an image is served under the host and path of its `io.containerd.image.name` annotation
(`docker.io/library/busybox:latest` is host `docker.io`, repository `library/busybox`, tag `latest`).
containerd, using us as the mirror of `docker.io`, asks for
`/v2/library/busybox/manifests/latest?ns=docker.io`: `ns` picks the host. Without `ns` a repository
path is found if exactly one host has it.

Blobs are read straight out of the tarballs (uncompressed tar: every member is a byte range of the
file). The directory is indexed at start and again whenever its `*.tar` files change, so a registry
started before `kplane images build` serves the images once they are written.

Parts: `parse_reference` (image names), `Catalog` (what the tarballs hold), `handle` (the HTTP API as a
pure function of a request), `RegistryApp` (ASGI, for uvicorn), `main`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import sys
import tarfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qs, quote

import uvicorn

from componentbase.cli import EXIT_USAGE, fail
from componentbase.flags import Flags, FlagSet
from componentbase.klog import add_logging_flags, get_logger, setup_logging_from_flags
from componentbase.run import run

PROG = "kplane-registry"
API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_MEDIA_TYPES = (MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_LIST)
MANIFEST_MEDIA_TYPES = (*INDEX_MEDIA_TYPES, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST)
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the limit the spec asks registries to accept at least
CHUNK_BYTES = 1024 * 1024
REFRESH_INTERVAL_S = 1.0
DOCKER_HUB = "docker.io"

# The spec's grammar (distribution-spec "Pulling manifests" and docker/distribution's reference package).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
HOST_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+(?::[0-9]+)?|\[[0-9A-Fa-f:.]+\](?::[0-9]+)?"
)

log = get_logger(__name__)


# --- image names ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A fully qualified image name: `docker.io` + `library/busybox` + tag `latest`."""

    host: str
    path: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        return (
            f"{self.host}/{self.path}"
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )


def parse_reference(name: str) -> Reference:
    """Normalize an image name as docker and containerd do: `busybox` is `docker.io/library/busybox:latest`;
    the first component is a registry host only if it has a `.` or `:` or is `localhost`."""
    remainder, _, digest = name.partition("@")
    if digest and not DIGEST_RE.fullmatch(digest):
        raise ValueError(f"image name {name!r} has a malformed digest")
    head, slash, tail = remainder.partition("/")
    if slash and ("." in head or ":" in head or head == "localhost"):
        host, path = head, tail
    else:
        host, path = DOCKER_HUB, remainder
    last = path.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not TAG_RE.fullmatch(tag):
            raise ValueError(f"image name {name!r} has a malformed tag")
    if not HOST_RE.fullmatch(host) or not REPOSITORY_RE.fullmatch(path):
        raise ValueError(f"{name!r} is not a valid image name")
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return Reference(host, path, tag or ("" if digest else "latest"), digest)


# --- what the tarballs hold ----------------------------------------------------------------------


class TarballFile:
    """An open tarball; blobs are byte ranges of it. Held open so that a tarball replaced on disk
    (`kplane images build` renames the new one into place) keeps serving its old, consistent bytes
    until the catalog is rebuilt and the last response that uses it is done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def fileno(self) -> int:
        return self._fd

    def read(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    source: TarballFile
    offset: int

    def read(self, start: int = 0, length: int | None = None) -> bytes:
        length = self.size - start if length is None else length
        return self.source.read(self.offset + start, length)


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    content: bytes


@dataclass
class Repository:
    tags: dict[str, Manifest] = field(default_factory=dict)
    manifests: dict[str, Manifest] = field(default_factory=dict)  # by digest
    blobs: dict[str, Blob] = field(default_factory=dict)


@dataclass
class Catalog:
    """Repositories by (host, path), from every tarball that could be read; `problems` says why the
    others (or some of their images) are not served."""

    repositories: dict[tuple[str, str], Repository] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def find(self, path: str, namespace: str | None) -> Repository | None:
        if namespace:
            return self.repositories.get((namespace.lower(), path))
        matches = [repo for (_host, repo_path), repo in self.repositories.items() if repo_path == path]
        return matches[0] if len(matches) == 1 else None


class LayoutError(Exception):
    """A tarball is not a usable OCI image layout; the message names it and says why."""


def sha_digest(algorithm: str, chunks: Iterator[bytes]) -> str:
    hasher = hashlib.new(algorithm)
    for chunk in chunks:
        hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"


def _chunks(blob: Blob) -> Iterator[bytes]:
    for start in range(0, blob.size, CHUNK_BYTES):
        yield blob.read(start, min(CHUNK_BYTES, blob.size - start))


def _blob_digest(member_name: str) -> str | None:
    parts = member_name.removeprefix("./").split("/")
    if len(parts) == 3 and parts[0] == "blobs" and DIGEST_RE.fullmatch(f"{parts[1]}:{parts[2]}"):
        return f"{parts[1]}:{parts[2]}"
    return None


def _members_and_index(source: TarballFile) -> tuple[list[tarfile.TarInfo], bytes | None]:
    # Parse the very file `source` holds open (not the path again, which may be replaced meanwhile).
    with os.fdopen(os.dup(source.fileno()), "rb") as file, tarfile.open(fileobj=file, mode="r:") as tar:
        members = tar.getmembers()
        index_member = next((m for m in members if m.name.removeprefix("./") == "index.json"), None)
        index_file = tar.extractfile(index_member) if index_member is not None else None
        return members, index_file.read() if index_file is not None else None


def read_layout(path: Path) -> tuple[dict[str, Blob], dict[str, Any], list[str]]:
    """The verified blobs of the OCI layout tarball at `path`, its index.json, and the problems found."""
    try:
        source = TarballFile(path)
    except OSError as error:
        raise LayoutError(f"{path}: cannot read: {error.strerror}") from None
    try:
        index, members = _read_index(path, source)
    except LayoutError:
        source.close()  # no blob of it will be served
        raise
    blobs: dict[str, Blob] = {}
    problems = []
    for member in members:
        digest = _blob_digest(member.name)
        if digest is None or not member.isfile():
            continue
        blob = Blob(digest, member.size, source, member.offset_data)
        # Never serve bytes that do not match their name: containerd would reject them anyway,
        # with an error far from the cause.
        if sha_digest(digest.split(":")[0], _chunks(blob)) != digest:
            problems.append(f"{path}: blob {digest} does not match its digest; not served")
            continue
        blobs[digest] = blob
    return blobs, index, problems


def _read_index(path: Path, source: TarballFile) -> tuple[dict[str, Any], list[tarfile.TarInfo]]:
    try:
        members, index_bytes = _members_and_index(source)
    except tarfile.ReadError:
        raise LayoutError(f"{path}: not an uncompressed tar archive") from None
    except OSError as error:
        raise LayoutError(f"{path}: cannot read: {error.strerror}") from None
    if index_bytes is None:
        raise LayoutError(f"{path}: not an OCI image layout (no index.json)")
    try:
        index = json.loads(index_bytes)
    except ValueError:
        raise LayoutError(f"{path}: index.json is not JSON") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise LayoutError(f"{path}: index.json has no manifests list")
    return index, members


def _image_name(descriptor: Mapping[str, Any]) -> str | None:
    annotations = descriptor.get("annotations") or {}
    name = annotations.get(ANNOTATION_CONTAINERD_NAME)
    if name is None and "/" in str(annotations.get(ANNOTATION_REF_NAME, "")):
        name = annotations[ANNOTATION_REF_NAME]  # some tools put the full name here
    return str(name) if name else None


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _load_manifest(blobs: Mapping[str, Blob], descriptor: Mapping[str, Any]) -> Manifest:
    digest, media_type = str(descriptor.get("digest", "")), str(descriptor.get("mediaType", ""))
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise LayoutError(f"{digest} has media type {media_type!r}, not an image manifest or index")
    blob = blobs.get(digest)
    if blob is None:
        raise LayoutError(f"manifest {digest} is not in the tarball")
    if blob.size > MAX_MANIFEST_BYTES:
        raise LayoutError(f"manifest {digest} is larger than {MAX_MANIFEST_BYTES} bytes")
    return Manifest(digest, media_type, blob.read())


def _with_children(blobs: Mapping[str, Blob], root: Manifest) -> dict[str, Manifest]:
    """`root` and every manifest an index under it lists (containerd fetches those by digest)."""
    found = {root.digest: root}
    pending = [root]
    while pending:
        manifest = pending.pop()
        if manifest.media_type not in INDEX_MEDIA_TYPES:
            continue
        children = json.loads(manifest.content).get("manifests", [])
        for child in children if isinstance(children, list) else []:
            # Skipped: children of other media types (attestations) and platforms left out of the
            # tarball (an export of one platform); a client asking for those gets MANIFEST_UNKNOWN.
            if not isinstance(child, dict) or child.get("mediaType") not in MANIFEST_MEDIA_TYPES:
                continue
            if child.get("digest") not in found and child.get("digest") in blobs:
                loaded = _load_manifest(blobs, child)
                found[loaded.digest] = loaded
                pending.append(loaded)
    return found


def _tag_target(blobs: Mapping[str, Blob], descriptors: list[Mapping[str, Any]]) -> dict[str, Manifest]:
    """The manifests one image name is served with: its own, or, for several entries of one name
    (one per platform), an index we write that lists them all, first."""
    if len(descriptors) == 1:
        return _with_children(blobs, _load_manifest(blobs, descriptors[0]))
    listed = [
        {key: d[key] for key in ("mediaType", "digest", "size", "platform") if key in d} for d in descriptors
    ]
    content = _canonical_json({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": listed})
    index = Manifest("sha256:" + hashlib.sha256(content).hexdigest(), MEDIA_TYPE_OCI_INDEX, content)
    manifests = {index.digest: index}
    for descriptor in descriptors:
        manifests.update(_with_children(blobs, _load_manifest(blobs, descriptor)))
    return manifests


def build_catalog(tarballs: Sequence[Path]) -> Catalog:
    """Index `tarballs` in order; a later tarball's tag wins over an earlier one's."""
    catalog = Catalog()
    for path in tarballs:
        try:
            blobs, index, problems = read_layout(path)
        except LayoutError as error:
            catalog.problems.append(str(error))
            continue
        catalog.problems.extend(problems)
        by_name: dict[str, list[Mapping[str, Any]]] = {}
        for descriptor in index["manifests"]:
            name = _image_name(descriptor) if isinstance(descriptor, dict) else None
            if name is not None:
                by_name.setdefault(name, []).append(descriptor)
        if not by_name:
            catalog.problems.append(f"{path}: no image in index.json carries a name annotation")
        for name, descriptors in by_name.items():
            try:
                reference = parse_reference(name)
                if not reference.tag:
                    raise LayoutError(f"image name {name!r} has no tag")
                manifests = _tag_target(blobs, descriptors)
            except (ValueError, LayoutError) as error:  # LayoutError is not a ValueError
                catalog.problems.append(f"{path}: image {name!r}: {error}")
                continue
            repository = catalog.repositories.setdefault((reference.host, reference.path), Repository())
            repository.tags[reference.tag] = next(iter(manifests.values()))
            repository.manifests.update(manifests)
            repository.blobs.update(blobs)
    return catalog


class ImageStore:
    """The catalog of `images_dir`'s `*.tar` files, rebuilt when they change (checked at most every
    `refresh_interval` seconds, by name, inode, size and mtime)."""

    def __init__(
        self,
        images_dir: Path,
        *,
        refresh_interval: float = REFRESH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.images_dir = images_dir
        self.catalog = Catalog()
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._fingerprint: tuple[tuple[str, int, int, int, int], ...] | None = None
        self._checked_at: float | None = None

    def tarballs(self) -> list[Path]:
        try:
            return sorted(path for path in self.images_dir.glob("*.tar") if path.is_file())
        except OSError:
            return []

    def _current_fingerprint(self) -> tuple[tuple[str, int, int, int, int], ...]:
        entries = []
        for path in self.tarballs():
            with contextlib.suppress(OSError):
                info = path.stat()
                entries.append((path.name, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns))
        return tuple(entries)

    def refresh_due(self) -> bool:
        return self._checked_at is None or self._clock() - self._checked_at >= self._refresh_interval

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild the catalog if a check is due and the tarballs changed; True if it did."""
        if not force and not self.refresh_due():
            return False
        self._checked_at = self._clock()
        fingerprint = self._current_fingerprint()
        if not force and fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        self.catalog = build_catalog(self.tarballs())
        if not self.images_dir.is_dir():
            log.warning("The images directory does not exist (yet)", dir=str(self.images_dir))
        for problem in self.catalog.problems:
            log.warning("Image not served", problem=problem)
        images = sorted(
            f"{host}/{path}:{tag}"
            for (host, path), repo in self.catalog.repositories.items()
            for tag in repo.tags
        )
        log.info("Indexed images", dir=str(self.images_dir), images=",".join(images) or "<none>")
        return True


# --- the HTTP API (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    blob: Blob | None = None  # the body is this blob's bytes [blob_start, blob_start + blob_length)
    blob_start: int = 0
    blob_length: int = 0

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


def error_response(status: int, code: str, message: str, detail: Any = None) -> Response:
    """The spec's error body: {"errors": [{"code", "message", "detail"}]}."""
    error: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    body = json.dumps({"errors": [error]}).encode()
    return _json_response(status, body)


def _json_response(status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    headers = (("Content-Type", JSON), ("Content-Length", str(len(body))), API_VERSION_HEADER, *extra)
    return Response(status, headers, body)


_ROUTE = re.compile(r"/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)")
_TAGS_ROUTE = re.compile(r"/v2/(?P<name>.+)/tags/list")


def handle(catalog: Catalog, request: Request) -> Response:
    """Answer one request of the Distribution Spec's pull side from `catalog`."""
    path = request.path
    if path in ("/v2", "/v2/"):
        if request.method not in ("GET", "HEAD"):
            return _unsupported(request)
        return _json_response(200, b"{}")
    if not path.startswith("/v2/"):
        return Response(404, (("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "19")),
                        b"404 page not found\n")  # fmt: skip
    if request.method not in ("GET", "HEAD"):
        return _unsupported(request)
    if route := _TAGS_ROUTE.fullmatch(path):
        return _tags(catalog, request, route["name"])
    route = _ROUTE.fullmatch(path)
    if route is None:
        return error_response(404, "NAME_UNKNOWN", "no such endpoint in this registry", {"path": path})
    name, reference = route["name"], route["reference"]
    if not REPOSITORY_RE.fullmatch(name):
        return error_response(400, "NAME_INVALID", "invalid repository name", {"name": name})
    namespace = request.param("ns")
    repository = catalog.find(name, namespace)
    if repository is None:
        where = f"{namespace}/{name}" if namespace else name
        return error_response(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": where})
    if route["kind"] == "manifests":
        return _manifest(repository, reference)
    return _blob(repository, reference, request.headers.get("range"))


def _unsupported(request: Request) -> Response:
    response = error_response(
        405, "UNSUPPORTED", "this registry is read-only: only pulls", {"method": request.method}
    )
    return Response(response.status, (*response.headers, ("Allow", "GET, HEAD")), response.body)


def _manifest(repository: Repository, reference: str) -> Response:
    if ":" in reference:
        if not DIGEST_RE.fullmatch(reference):
            return error_response(400, "DIGEST_INVALID", "invalid digest", {"digest": reference})
        manifest = repository.manifests.get(reference)
    elif TAG_RE.fullmatch(reference):
        manifest = repository.tags.get(reference)
    else:
        return error_response(400, "MANIFEST_INVALID", "invalid tag", {"tag": reference})
    if manifest is None:
        return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown", {"reference": reference})
    headers = (
        ("Content-Type", manifest.media_type),
        ("Content-Length", str(len(manifest.content))),
        ("Docker-Content-Digest", manifest.digest),
        ("ETag", f'"{manifest.digest}"'),
        API_VERSION_HEADER,
    )
    return Response(200, headers, manifest.content)


def _blob(repository: Repository, digest: str, range_header: str | None) -> Response:
    if not DIGEST_RE.fullmatch(digest):
        return error_response(400, "DIGEST_INVALID", "invalid digest", {"digest": digest})
    blob = repository.blobs.get(digest)
    if blob is None:
        return error_response(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
    common = (
        ("Content-Type", OCTET_STREAM),
        ("Docker-Content-Digest", blob.digest),
        ("ETag", f'"{blob.digest}"'),
        ("Accept-Ranges", "bytes"),
        API_VERSION_HEADER,
    )
    byte_range = parse_range(range_header, blob.size) if range_header else None
    if byte_range == "unsatisfiable":
        headers = (*common, ("Content-Range", f"bytes */{blob.size}"), ("Content-Length", "0"))
        return Response(416, headers)
    if byte_range is None:
        return Response(200, (*common, ("Content-Length", str(blob.size))), blob=blob, blob_length=blob.size)
    start, end = byte_range
    headers = (
        *common,
        ("Content-Range", f"bytes {start}-{end}/{blob.size}"),
        ("Content-Length", str(end - start + 1)),
    )
    return Response(206, headers, blob=blob, blob_start=start, blob_length=end - start + 1)


def parse_range(header: str, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """One `bytes=` range as (first, last) byte, "unsatisfiable", or None to send the whole blob
    (for anything else, several ranges included, which RFC 9110 lets a server ignore)."""
    unit, _, spec = header.partition("=")
    first_text, dash, last_text = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or not dash:
        return None
    if not first_text:  # `bytes=-N`: the last N bytes
        if not last_text.isdigit():
            return None
        suffix = int(last_text)
        return "unsatisfiable" if suffix == 0 or size == 0 else (max(size - suffix, 0), size - 1)
    if not first_text.isdigit() or (last_text and not last_text.isdigit()):
        return None
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size:
        return "unsatisfiable"
    if last < first:
        return None
    return first, min(last, size - 1)


def _tags(catalog: Catalog, request: Request, name: str) -> Response:
    if not REPOSITORY_RE.fullmatch(name):
        return error_response(400, "NAME_INVALID", "invalid repository name", {"name": name})
    repository = catalog.find(name, request.param("ns"))
    if repository is None:
        return error_response(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": name})
    tags = sorted(repository.tags)
    last, limit_text = request.param("last"), request.param("n")
    if last:
        tags = [tag for tag in tags if tag > last]
    link: tuple[tuple[str, str], ...] = ()
    if limit_text is not None:
        if not limit_text.isdigit():
            return error_response(400, "UNSUPPORTED", "n must be a non-negative integer", {"n": limit_text})
        limit = int(limit_text)
        if len(tags) > limit and limit > 0:
            next_query = f"n={limit}&last={quote(tags[limit - 1])}"
            link = (("Link", f'</v2/{name}/tags/list?{next_query}>; rel="next"'),)
        tags = tags[:limit]
    return _json_response(200, json.dumps({"name": name, "tags": tags}).encode(), link)


# --- serving -------------------------------------------------------------------------------------

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class RegistryApp:
    """ASGI application: refresh the catalog if due, answer with `handle`, stream blobs in chunks
    read off the event loop."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self._refreshing = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.store.refresh_due():
            async with self._refreshing:
                await asyncio.to_thread(self.store.refresh)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        request = Request(scope["method"], scope["path"], query, headers)
        response = handle(self.store.catalog, request)
        log.v(2).info(
            "HTTP", verb=request.method, URI=request.path, ns=request.param("ns") or "", resp=response.status
        )
        raw_headers = [
            (key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in response.headers
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        if request.method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
        elif response.blob is None:
            await send({"type": "http.response.body", "body": response.body})
        else:
            await _send_blob(send, response.blob, response.blob_start, response.blob_length)


async def _send_blob(send: Send, blob: Blob, start: int, length: int) -> None:
    end = start + length
    position = start
    while position < end:
        size = min(CHUNK_BYTES, end - position)
        chunk = await asyncio.to_thread(blob.read, position, size)
        if len(chunk) != size:
            raise OSError(f"short read of blob {blob.digest} from {blob.source.path}")
        position += size
        await send({"type": "http.response.body", "body": chunk, "more_body": position < end})
    if length == 0:
        await send({"type": "http.response.body", "body": b""})


def parse_listen_address(text: str) -> tuple[str, int]:
    """`127.0.0.1:5000` or `[::1]:5000` as (host, port)."""
    host, colon, port_text = text.rpartition(":")
    if not colon or not port_text.isdigit() or not 0 < int(port_text) < 65536 or not host:
        raise ValueError(f"listen address {text!r} must be ADDR:PORT, like 127.0.0.1:5000")
    return host.removeprefix("[").removesuffix("]"), int(port_text)


def bind(address: tuple[str, int]) -> socket.socket:
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    listener.listen(128)
    listener.setblocking(False)
    return listener


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: componentbase.run owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(store: ImageStore, listeners: list[socket.socket]) -> None:
    config = uvicorn.Config(
        RegistryApp(store), lifespan="off", log_config=None, access_log=False,
        timeout_keep_alive=30, timeout_graceful_shutdown=5,
    )  # fmt: skip
    for listener in listeners:
        host, port = listener.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        log.info("Serving the image registry", addr=f"http://{shown}:{port}", images=str(store.images_dir))
    await _Server(config).serve(sockets=listeners)


def flag_set() -> FlagSet:
    flags = FlagSet(PROG, description="A read-only OCI registry serving kplane's image tarballs.")
    flags.strings("listen", ["127.0.0.1:5000"], "ADDR:PORT to serve plain HTTP on (repeatable).")
    flags.string("images-dir", "", "Directory of OCI image-layout tarballs (*.tar), e.g. STATE/images.")
    add_logging_flags(flags)
    return flags


def main(argv: Sequence[str] | None = None) -> NoReturn:
    flags: Flags = flag_set().parse_or_exit(sys.argv[1:] if argv is None else argv)
    setup_logging_from_flags(flags)
    if not flags["images-dir"]:
        fail(PROG, "--images-dir is required", EXIT_USAGE)
    try:
        addresses = [parse_listen_address(text) for text in flags["listen"]]
    except ValueError as error:
        fail(PROG, str(error), EXIT_USAGE)
    if not addresses:
        fail(PROG, "--listen needs at least one address", EXIT_USAGE)
    listeners: list[socket.socket] = []
    try:
        for address in addresses:
            listeners.append(bind(address))
    except OSError as error:
        for listener in listeners:
            listener.close()
        fail(PROG, str(error))
    store = ImageStore(Path(flags["images-dir"]))
    store.refresh(force=True)
    run(lambda: serve(store, listeners), prog=PROG)


if __name__ == "__main__":
    main()

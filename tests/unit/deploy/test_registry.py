"""The loopback registry: image names, the catalog of OCI-layout tarballs, the pull API (a pure function
of a request), and the ASGI app in process (no sockets). Tarballs are built here with deploy.images.oci."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import httpx
import pytest

from deploy import registry
from deploy.images.oci import (
    ImageSpec,
    OciImage,
    build_oci_image,
    canonical_json,
    directory,
    layer_tar,
    regular_file,
)
from deploy.registry import (
    Catalog,
    ImageStore,
    Reference,
    RegistryApp,
    Request,
    build_catalog,
    handle,
    parse_listen_address,
    parse_range,
    parse_reference,
)

BUSYBOX = "docker.io/library/busybox:latest"
PAUSE = "registry.k8s.io/pause:3.9"


def image(name: str, content: bytes = b"hello\n", architecture: str = "amd64") -> OciImage:
    spec = ImageSpec(
        name=name,
        architecture=architecture,
        entries=(directory("bin"), regular_file("bin/tool", content, 0o755)),
        cmd=("/bin/tool",),
    )
    return build_oci_image(spec)


def write(path: Path, built: OciImage) -> Path:
    path.write_bytes(built.tarball)
    return path


def manifest_json(built: OciImage) -> dict[str, object]:
    return json.loads(blob_of(built, built.manifest_digest))  # type: ignore[no-any-return]


def blob_of(built: OciImage, digest: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(built.tarball)) as tar:
        member = tar.extractfile(f"blobs/sha256/{digest.split(':')[1]}")
        assert member is not None
        return member.read()


@pytest.fixture
def images(tmp_path: Path) -> dict[str, OciImage]:
    built = {BUSYBOX: image(BUSYBOX, b"busybox"), PAUSE: image(PAUSE, b"pause")}
    write(tmp_path / "busybox.tar", built[BUSYBOX])
    write(tmp_path / "pause.tar", built[PAUSE])
    return built


@pytest.fixture
def catalog(tmp_path: Path, images: dict[str, OciImage]) -> Catalog:
    built = build_catalog(sorted(tmp_path.glob("*.tar")))
    assert built.problems == []
    return built


def get(catalog: Catalog, path: str, method: str = "GET", **query: str) -> registry.Response:
    return handle(catalog, Request(method, path, {key: [value] for key, value in query.items()}))


def errors(response: registry.Response) -> list[dict[str, object]]:
    assert response.header("Content-Type") == "application/json"
    assert response.header("Content-Length") == str(len(response.body))
    return json.loads(response.body)["errors"]  # type: ignore[no-any-return]


# --- names ---


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("busybox", Reference("docker.io", "library/busybox", "latest")),
        ("busybox:1.36", Reference("docker.io", "library/busybox", "1.36")),
        ("docker.io/busybox", Reference("docker.io", "library/busybox", "latest")),
        ("bitnami/redis:7", Reference("docker.io", "bitnami/redis", "7")),
        ("registry.k8s.io/pause:3.9", Reference("registry.k8s.io", "pause", "3.9")),
        ("localhost/a/b", Reference("localhost", "a/b", "latest")),
        ("127.0.0.1:5000/a/b:v1", Reference("127.0.0.1:5000", "a/b", "v1")),
        ("quay.io/x/y@sha256:" + "a" * 64, Reference("quay.io", "x/y", "", "sha256:" + "a" * 64)),
    ],
)
def test_parse_reference_normalizes_like_containerd(name: str, expected: Reference) -> None:
    assert parse_reference(name) == expected


def test_reference_prints_its_full_name() -> None:
    assert str(parse_reference("busybox")) == BUSYBOX


@pytest.mark.parametrize("name", ["Busybox", "busybox:", "a//b", "quay.io/x@sha256:12", "x:bad/tag", ""])
def test_parse_reference_rejects_malformed_names(name: str) -> None:
    with pytest.raises(ValueError):
        parse_reference(name)


# --- the catalog ---


def test_catalog_serves_each_image_under_its_host_and_path(catalog: Catalog) -> None:
    assert set(catalog.repositories) == {("docker.io", "library/busybox"), ("registry.k8s.io", "pause")}
    assert set(catalog.repositories["docker.io", "library/busybox"].tags) == {"latest"}


def test_catalog_finds_a_path_without_ns_only_when_unambiguous(tmp_path: Path) -> None:
    write(tmp_path / "a.tar", image("quay.io/x/tool:1"))
    write(tmp_path / "b.tar", image("ghcr.io/x/tool:1"))
    write(tmp_path / "c.tar", image("ghcr.io/only/here:1"))
    catalog = build_catalog(sorted(tmp_path.glob("*.tar")))
    assert catalog.find("x/tool", "quay.io") is catalog.repositories["quay.io", "x/tool"]
    assert catalog.find("x/tool", None) is None
    assert catalog.find("only/here", None) is catalog.repositories["ghcr.io", "only/here"]
    assert catalog.find("x/tool", "docker.io") is None


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_unusable_tarballs_are_reported_and_skipped(tmp_path: Path, images: dict[str, OciImage]) -> None:
    (tmp_path / "zipped.tar").write_bytes(gzip.compress(images[BUSYBOX].tarball))
    (tmp_path / "saved.tar").write_bytes(tar_of({"manifest.json": b"[]"}))
    (tmp_path / "badindex.tar").write_bytes(tar_of({"index.json": b"{not json"}))
    (tmp_path / "unnamed.tar").write_bytes(tar_of({"index.json": b'{"manifests": []}'}))
    catalog = build_catalog(sorted(tmp_path.glob("*.tar")))
    assert set(catalog.repositories) == {("docker.io", "library/busybox"), ("registry.k8s.io", "pause")}
    assert catalog.problems == [
        f"{tmp_path}/badindex.tar: index.json is not JSON",
        f"{tmp_path}/saved.tar: not an OCI image layout (no index.json)",
        f"{tmp_path}/unnamed.tar: no image in index.json carries a name annotation",
        f"{tmp_path}/zipped.tar: not an uncompressed tar archive",
    ]


def test_a_blob_that_does_not_match_its_digest_is_not_served(tmp_path: Path) -> None:
    built = image(BUSYBOX)
    with tarfile.open(fileobj=io.BytesIO(built.tarball)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    layer_name = f"blobs/sha256/{built.layer_digest.split(':')[1]}"
    files[layer_name] = b"tampered" + files[layer_name][8:]
    (tmp_path / "t.tar").write_bytes(tar_of(files))
    catalog = build_catalog([tmp_path / "t.tar"])
    assert catalog.problems == [
        f"{tmp_path}/t.tar: blob {built.layer_digest} does not match its digest; not served"
    ]
    repository = catalog.repositories["docker.io", "library/busybox"]
    assert built.layer_digest not in repository.blobs and built.config_digest in repository.blobs


def test_an_image_whose_manifest_is_missing_is_reported(tmp_path: Path) -> None:
    built = image(BUSYBOX)
    with tarfile.open(fileobj=io.BytesIO(built.tarball)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    del files[f"blobs/sha256/{built.manifest_digest.split(':')[1]}"]
    (tmp_path / "t.tar").write_bytes(tar_of(files))
    catalog = build_catalog([tmp_path / "t.tar"])
    assert catalog.repositories == {}
    assert catalog.problems == [
        f"{tmp_path}/t.tar: image {BUSYBOX!r}: manifest {built.manifest_digest} is not in the tarball"
    ]


def multi_platform_layout(name: str) -> tuple[bytes, list[OciImage]]:
    """One layout whose index.json lists an amd64 and an arm64 manifest under the same name."""
    per_platform = [image(name, b"amd", "amd64"), image(name, b"arm", "arm64")]
    files: dict[str, bytes] = {}
    descriptors = []
    for built in per_platform:
        with tarfile.open(fileobj=io.BytesIO(built.tarball)) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith("blobs/"):
                    files[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
            descriptors.extend(json.loads(tar.extractfile("index.json").read())["manifests"])  # type: ignore[union-attr]
    files["index.json"] = canonical_json({"schemaVersion": 2, "manifests": descriptors})
    return tar_of(files), per_platform


def test_several_platforms_of_one_name_are_served_as_an_index(tmp_path: Path) -> None:
    tarball, per_platform = multi_platform_layout(BUSYBOX)
    (tmp_path / "multi.tar").write_bytes(tarball)
    catalog = build_catalog([tmp_path / "multi.tar"])
    tagged = get(catalog, "/v2/library/busybox/manifests/latest", ns="docker.io")
    assert tagged.status == 200
    assert tagged.header("Content-Type") == "application/vnd.oci.image.index.v1+json"
    assert tagged.header("Docker-Content-Digest") == "sha256:" + hashlib.sha256(tagged.body).hexdigest()
    listed = json.loads(tagged.body)["manifests"]
    assert [(m["digest"], m["platform"]["architecture"]) for m in listed] == [
        (per_platform[0].manifest_digest, "amd64"),
        (per_platform[1].manifest_digest, "arm64"),
    ]
    for built in per_platform:
        child = get(catalog, f"/v2/library/busybox/manifests/{built.manifest_digest}", ns="docker.io")
        assert (child.status, child.header("Content-Type")) == (
            200,
            "application/vnd.oci.image.manifest.v1+json",
        )


def test_a_named_index_is_served_with_the_children_the_tarball_has(tmp_path: Path) -> None:
    """What `ctr export` and `docker save` (25+) write: the named entry is an index; here it lists
    this platform's manifest (in the tarball), another platform's (left out) and an attestation."""
    built = image(BUSYBOX)
    with tarfile.open(fileobj=io.BytesIO(built.tarball)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
        own = json.loads(files["index.json"])["manifests"][0]
    absent = {**own, "digest": "sha256:" + "1" * 64, "platform": {"architecture": "arm64", "os": "linux"}}
    attestation = {"mediaType": "application/vnd.in-toto+json", "digest": "sha256:" + "2" * 64, "size": 1}
    inner = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": registry.MEDIA_TYPE_OCI_INDEX,
            "manifests": [own, absent, attestation],
        }
    )
    inner_digest = "sha256:" + hashlib.sha256(inner).hexdigest()
    files[f"blobs/sha256/{inner_digest.split(':')[1]}"] = inner
    named = {
        "mediaType": registry.MEDIA_TYPE_OCI_INDEX, "digest": inner_digest, "size": len(inner),
        "annotations": {"io.containerd.image.name": BUSYBOX},
    }  # fmt: skip
    files["index.json"] = canonical_json({"schemaVersion": 2, "manifests": [named]})
    (tmp_path / "exported.tar").write_bytes(tar_of(files))
    catalog = build_catalog([tmp_path / "exported.tar"])
    assert catalog.problems == []
    tagged = get(catalog, "/v2/library/busybox/manifests/latest", ns="docker.io")
    assert (tagged.status, tagged.header("Docker-Content-Digest"), tagged.body) == (200, inner_digest, inner)
    child = get(catalog, f"/v2/library/busybox/manifests/{built.manifest_digest}", ns="docker.io")
    assert child.status == 200
    for missing in (absent["digest"], attestation["digest"]):
        response = get(catalog, f"/v2/library/busybox/manifests/{missing}", ns="docker.io")
        assert errors(response)[0]["code"] == "MANIFEST_UNKNOWN"


def test_a_later_tarball_wins_a_tag_and_both_contents_stay_reachable(tmp_path: Path) -> None:
    old, new = image(BUSYBOX, b"old"), image(BUSYBOX, b"new")
    write(tmp_path / "1-old.tar", old)
    write(tmp_path / "2-new.tar", new)
    catalog = build_catalog(sorted(tmp_path.glob("*.tar")))
    tagged = get(catalog, "/v2/library/busybox/manifests/latest", ns="docker.io")
    assert tagged.header("Docker-Content-Digest") == new.manifest_digest
    old_by_digest = get(catalog, f"/v2/library/busybox/manifests/{old.manifest_digest}", ns="docker.io")
    assert old_by_digest.status == 200


# --- the API ---


def test_base_endpoint_says_registry_2(catalog: Catalog) -> None:
    for path in ("/v2/", "/v2"):
        response = get(catalog, path)
        assert (response.status, response.body) == (200, b"{}")
        assert response.header("Docker-Distribution-API-Version") == "registry/2.0"


def test_manifest_by_tag_as_containerd_asks_for_it(catalog: Catalog, images: dict[str, OciImage]) -> None:
    built = images[BUSYBOX]
    for method in ("HEAD", "GET"):
        response = get(catalog, "/v2/library/busybox/manifests/latest", method, ns="docker.io")
        assert response.status == 200
        assert response.header("Content-Type") == "application/vnd.oci.image.manifest.v1+json"
        assert response.header("Docker-Content-Digest") == built.manifest_digest
        assert response.header("Content-Length") == str(len(response.body))
        assert response.body == blob_of(built, built.manifest_digest)
    pause = get(catalog, "/v2/pause/manifests/3.9", ns="registry.k8s.io")
    assert pause.header("Docker-Content-Digest") == images[PAUSE].manifest_digest


def test_manifest_by_digest(catalog: Catalog, images: dict[str, OciImage]) -> None:
    digest = images[PAUSE].manifest_digest
    response = get(catalog, f"/v2/pause/manifests/{digest}", ns="registry.k8s.io")
    assert (response.status, response.header("Docker-Content-Digest")) == (200, digest)
    assert hashlib.sha256(response.body).hexdigest() == digest.split(":")[1]


def test_blob_headers_and_bytes(catalog: Catalog, images: dict[str, OciImage]) -> None:
    built = images[BUSYBOX]
    for digest in (built.config_digest, built.layer_digest):
        response = get(catalog, f"/v2/library/busybox/blobs/{digest}", "HEAD", ns="docker.io")
        expected = blob_of(built, digest)
        assert response.status == 200
        assert response.header("Content-Length") == str(len(expected))
        assert response.header("Docker-Content-Digest") == digest
        assert response.header("Content-Type") == "application/octet-stream"
        assert response.blob is not None
        assert response.blob.read(response.blob_start, response.blob_length) == expected
    assert manifest_json(built)["config"] == {
        "digest": built.config_digest,
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "size": len(blob_of(built, built.config_digest)),
    }


def test_blob_range(catalog: Catalog, images: dict[str, OciImage]) -> None:
    digest = images[BUSYBOX].layer_digest
    whole = blob_of(images[BUSYBOX], digest)
    path = f"/v2/library/busybox/blobs/{digest}"
    partial = handle(catalog, Request("GET", path, {"ns": ["docker.io"]}, {"range": "bytes=5-9"}))
    assert partial.status == 206
    assert partial.header("Content-Range") == f"bytes 5-9/{len(whole)}"
    assert (
        partial.blob is not None and partial.blob.read(partial.blob_start, partial.blob_length) == whole[5:10]
    )
    beyond = handle(catalog, Request("GET", path, {"ns": ["docker.io"]}, {"range": f"bytes={len(whole)}-"}))
    assert (beyond.status, beyond.header("Content-Range")) == (416, f"bytes */{len(whole)}")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=10-", (10, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=100-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=5-1", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes", None),
    ],
)
def test_parse_range(header: str, expected: object) -> None:
    assert parse_range(header, 100) == expected


def test_not_found_bodies_use_the_spec_codes(catalog: Catalog, images: dict[str, OciImage]) -> None:
    missing_tag = get(catalog, "/v2/library/busybox/manifests/1.0", ns="docker.io")
    assert missing_tag.status == 404
    assert errors(missing_tag) == [
        {"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"reference": "1.0"}}
    ]
    missing_blob = get(catalog, "/v2/library/busybox/blobs/sha256:" + "0" * 64, ns="docker.io")
    assert missing_blob.status == 404
    assert errors(missing_blob)[0]["code"] == "BLOB_UNKNOWN"
    # A blob of another repository is not one of this repository's blobs.
    other = get(catalog, f"/v2/library/busybox/blobs/{images[PAUSE].layer_digest}", ns="docker.io")
    assert errors(other)[0]["code"] == "BLOB_UNKNOWN"
    unknown_repo = get(catalog, "/v2/nothing/here/manifests/1", ns="quay.io")
    assert unknown_repo.status == 404
    assert errors(unknown_repo) == [
        {
            "code": "NAME_UNKNOWN",
            "message": "repository name not known to registry",
            "detail": {"name": "quay.io/nothing/here"},
        }
    ]
    wrong_host = get(catalog, "/v2/library/busybox/manifests/latest", ns="quay.io")
    assert errors(wrong_host)[0]["code"] == "NAME_UNKNOWN"
    head = get(catalog, "/v2/library/busybox/manifests/nope", "HEAD", ns="docker.io")
    assert head.status == 404 and head.header("Content-Length") == str(len(head.body))


def test_malformed_requests_are_400(catalog: Catalog) -> None:
    cases = {
        "/v2/Library/Busybox/manifests/latest": "NAME_INVALID",
        "/v2/library/busybox/manifests/sha256:xyz": "DIGEST_INVALID",
        "/v2/library/busybox/blobs/latest": "DIGEST_INVALID",
        "/v2/library/busybox/manifests/-bad": "MANIFEST_INVALID",
    }
    for path, code in cases.items():
        response = get(catalog, path, ns="docker.io")
        assert (response.status, errors(response)[0]["code"]) == (400, code), path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/library/busybox/blobs/uploads/"),
        ("PUT", "/v2/library/busybox/manifests/latest"),
        ("PATCH", "/v2/library/busybox/blobs/uploads/abc"),
        ("DELETE", "/v2/library/busybox/manifests/latest"),
        ("POST", "/v2/"),
    ],
)
def test_pushes_and_deletes_are_405(catalog: Catalog, method: str, path: str) -> None:
    response = get(catalog, path, method)
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"
    assert errors(response)[0]["code"] == "UNSUPPORTED"


def test_paths_outside_the_api_are_plain_404(catalog: Catalog) -> None:
    response = get(catalog, "/")
    assert (response.status, response.body) == (404, b"404 page not found\n")


def test_tags_list_with_pagination(tmp_path: Path) -> None:
    for tag in ("1.0", "1.1", "2.0"):
        write(tmp_path / f"{tag}.tar", image(f"quay.io/x/tool:{tag}", tag.encode()))
    catalog = build_catalog(sorted(tmp_path.glob("*.tar")))
    everything = get(catalog, "/v2/x/tool/tags/list", ns="quay.io")
    assert json.loads(everything.body) == {"name": "x/tool", "tags": ["1.0", "1.1", "2.0"]}
    assert everything.header("Link") is None
    first = get(catalog, "/v2/x/tool/tags/list", n="2")
    assert json.loads(first.body)["tags"] == ["1.0", "1.1"]
    assert first.header("Link") == '</v2/x/tool/tags/list?n=2&last=1.1>; rel="next"'
    rest = get(catalog, "/v2/x/tool/tags/list", n="2", last="1.1")
    assert (json.loads(rest.body)["tags"], rest.header("Link")) == (["2.0"], None)
    assert get(catalog, "/v2/x/tool/tags/list", n="x").status == 400
    assert errors(get(catalog, "/v2/y/tool/tags/list"))[0]["code"] == "NAME_UNKNOWN"


# --- the store ---


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_store_picks_up_tarballs_written_after_start(tmp_path: Path) -> None:
    clock = FakeClock()
    store = ImageStore(tmp_path, refresh_interval=1.0, clock=clock)
    assert store.refresh() is True and store.catalog.repositories == {}
    write(tmp_path / "busybox.tar", image(BUSYBOX))
    clock.now += 0.5
    assert store.refresh() is False, "not due yet"
    clock.now += 0.5
    assert store.refresh() is True
    assert set(store.catalog.repositories) == {("docker.io", "library/busybox")}
    clock.now += 5
    assert store.refresh() is False, "nothing changed"
    (tmp_path / "ignored.tar.partial").write_bytes(b"half")
    clock.now += 5
    assert store.refresh() is False, "only *.tar files count"
    (tmp_path / "busybox.tar").unlink()
    clock.now += 5
    assert store.refresh() is True and store.catalog.repositories == {}


def test_store_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "absent")
    assert store.refresh(force=True) is True
    assert store.catalog.repositories == {}


def test_replaced_tarball_keeps_serving_old_bytes_until_reindexed(tmp_path: Path) -> None:
    old = image(BUSYBOX, b"old")
    write(tmp_path / "busybox.tar", old)
    catalog = build_catalog([tmp_path / "busybox.tar"])
    replacement = tmp_path / "busybox.tar.partial"
    write(replacement, image(BUSYBOX, b"a different and longer content"))
    replacement.replace(tmp_path / "busybox.tar")
    response = get(catalog, f"/v2/library/busybox/blobs/{old.layer_digest}", ns="docker.io")
    assert response.blob is not None
    assert response.blob.read(0, response.blob_length) == blob_of(old, old.layer_digest)


# --- the ASGI app ---


async def test_app_streams_blobs_and_answers_head_without_body(
    tmp_path: Path, images: dict[str, OciImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "CHUNK_BYTES", 7)  # many chunks, and a short last one
    store = ImageStore(tmp_path)
    transport = httpx.ASGITransport(app=RegistryApp(store))
    built = images[BUSYBOX]
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        base = await client.get("/v2/")
        assert (base.status_code, base.headers["docker-distribution-api-version"]) == (200, "registry/2.0")
        head = await client.head("/v2/library/busybox/manifests/latest", params={"ns": "docker.io"})
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(blob_of(built, built.manifest_digest)))
        assert head.headers["docker-content-digest"] == built.manifest_digest
        layer = await client.get(
            f"/v2/library/busybox/blobs/{built.layer_digest}", params={"ns": "docker.io"}
        )
        assert layer.status_code == 200
        assert "sha256:" + hashlib.sha256(layer.content).hexdigest() == built.layer_digest
        partial = await client.get(
            f"/v2/library/busybox/blobs/{built.layer_digest}", headers={"Range": "bytes=3-20"}
        )
        assert (partial.status_code, partial.content) == (206, blob_of(built, built.layer_digest)[3:21])
        missing = await client.get("/v2/nothing/here/manifests/1", params={"ns": "quay.io"})
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        push = await client.put("/v2/library/busybox/manifests/latest", content=b"{}")
        assert push.status_code == 405


# --- the command line ---


def test_parse_listen_address() -> None:
    assert parse_listen_address("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_listen_address("[::1]:5000") == ("::1", 5000)
    for bad in ("127.0.0.1", ":5000", "127.0.0.1:0", "127.0.0.1:99999", "host:port"):
        with pytest.raises(ValueError, match="must be ADDR:PORT"):
            parse_listen_address(bad)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen=127.0.0.1:5000"], "kplane-registry: error: --images-dir is required"),
        (["--images-dir=/x", "--listen=nowhere"], "kplane-registry: error: listen address 'nowhere' must be"),
        (["--images-dir=/x", "--bogus"], "kplane-registry: error: unknown flag: --bogus"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        registry.main(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(message) and error.count("\n") == 1


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = registry.bind(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            registry.main([f"--images-dir={tmp_path}", f"--listen=127.0.0.1:{port}"])
    finally:
        taken.close()
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        f"kplane-registry: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_layer_tar_helper_is_deterministic() -> None:
    # The tests above rely on equal specs giving equal digests (deploy.images.oci's promise).
    assert layer_tar([directory("a")]) == layer_tar([directory("a")])

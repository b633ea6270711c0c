"""Pod volumes and environments against a real apiserver (kplane-etcd + kplane-apiserver; no containerd):
configMap and secret changes reach the volume files on the next sync, a missing configMap fails the
mount with the kubelet's message, env vars read the same objects, and the kube-api-access projected
volume carries a TokenRequest token bound to the pod (verified with the service-account public key)
that is refreshed at 80 % of its lifetime.

Secret and projected volumes are real tmpfs mounts under the test's tmp directory; the test tears
them down and unmounts whatever is left, even when it fails.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from helpers.control_plane import ControlPlane

from kubeclient.config import load_kubeconfig
from kubeclient.rest import Client
from kubelet.envvars import fetch_env_sources, make_environment
from kubelet.volumes.errors import VolumeError
from kubelet.volumes.manager import CONFIG_MAP, PROJECTED, SECRET, VolumeManager
from kubelet.volumes.mounter import LinuxMounter
from kubelet.volumes.tokens import api_token_source

pytestmark = [pytest.mark.integration]

NS = "volumes"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("cp-volumes"))
    try:
        plane.start()
        plane.kubectl("create", "namespace", NS)
        plane.kubectl("create", "serviceaccount", "builder", "-n", NS)
        yield plane
    finally:
        plane.stop()


@pytest.fixture
async def client(cp: ControlPlane) -> AsyncIterator[Client]:
    async with Client(load_kubeconfig(cp.kubeconfig)) as api:
        yield api


@pytest.fixture
def pods_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "pods"
    mounter = LinuxMounter()  # whatever a failed test left mounted
    for point in mounter.mount_points_under(tmp_path):
        mounter.unmount(point)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def create_pod(client: Client, name: str, volumes: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"containers": [{"name": "app", "image": "busybox:1"}], "volumes": volumes, **spec},
    }
    return await client.create("pods", pod, namespace=NS)


async def test_config_map_and_secret_updates_reach_the_volume(client: Client, pods_dir: Path) -> None:
    await client.create(
        "configmaps",
        {"metadata": {"name": "app-config"}, "data": {"mode": "blue", "level": "1"}},
        namespace=NS,
    )
    await client.create(
        "secrets", {"metadata": {"name": "app-secret"}, "data": {"password": b64("one")}}, namespace=NS
    )
    pod = await create_pod(
        client,
        "web",
        [
            {"name": "cfg", "configMap": {"name": "app-config"}},
            {"name": "sec", "secret": {"secretName": "app-secret", "defaultMode": 0o400}},
        ],
    )
    uid = pod["metadata"]["uid"]
    manager = VolumeManager(pods_dir, client, mounter=LinuxMounter())
    try:
        volumes = await manager.set_up(pod)
        cfg, sec = volumes["cfg"].host_path, volumes["sec"].host_path
        assert cfg == pods_dir / uid / "volumes" / CONFIG_MAP / "cfg"
        assert sec == pods_dir / uid / "volumes" / SECRET / "sec"
        assert (cfg / "mode").read_text() == "blue"
        assert (sec / "password").read_text() == "one"
        assert (sec / "password").stat().st_mode & 0o777 == 0o400
        first = (cfg / "..data").readlink()

        config_map = await client.get("configmaps", "app-config", namespace=NS)
        config_map["data"] = {"mode": "green", "extra": "yes"}
        await client.update("configmaps", config_map, namespace=NS)
        secret = await client.get("secrets", "app-secret", namespace=NS)
        secret["data"] = {"password": b64("two")}
        await client.update("secrets", secret, namespace=NS)

        await manager.set_up(pod)  # the next sync of the pod
        assert (cfg / "..data").readlink() != first
        assert (cfg / "mode").read_text() == "green"
        assert (cfg / "extra").read_text() == "yes"
        assert not (cfg / "level").exists()
        assert (sec / "password").read_text() == "two"

        # The same objects feed environment variables.
        container = {
            "name": "app",
            "envFrom": [{"configMapRef": {"name": "app-config"}, "prefix": "CFG_"}],
            "env": [
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "password"}}}
            ],
        }
        config_maps, secrets = await fetch_env_sources(client, pod, container)
        env = dict(make_environment(pod, container, config_maps=config_maps, secrets=secrets))
        assert env == {"CFG_mode": "green", "CFG_extra": "yes", "PASSWORD": "two"}

        await client.delete("configmaps", "app-config", namespace=NS)
        with pytest.raises(VolumeError) as error:
            await manager.set_up(pod)
        assert error.value.reason == "FailedMount"
        assert error.value.message == (
            'MountVolume.SetUp failed for volume "cfg" : configmap "app-config" not found'
        )
        assert (cfg / "mode").read_text() == "green"  # what was mounted stays until the pod goes
    finally:
        await manager.tear_down(uid)
    assert not (pods_dir / uid).exists()
    assert LinuxMounter().mount_points_under(pods_dir) == []


def jwt_claims(token: str, public_key_pem: bytes) -> dict[str, Any]:
    """The claims of an RS256 JWT, after checking its signature with the service-account key."""
    header, payload, signature = token.split(".")
    key = serialization.load_pem_public_key(public_key_pem)
    assert isinstance(key, rsa.RSAPublicKey)

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    key.verify(decode(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    claims: dict[str, Any] = json.loads(decode(payload))
    return claims


async def test_kube_api_access_volume_gets_a_bound_token_and_refreshes_it(
    cp: ControlPlane, client: Client, pods_dir: Path
) -> None:
    ca = (cp.pki / "ca.crt").read_text()
    await client.create(
        "configmaps", {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": ca}}, namespace=NS
    )
    access = {
        "name": "kube-api-access-x7k2p",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }
    pod = await create_pod(client, "builder-pod", [access], serviceAccountName="builder")
    uid = pod["metadata"]["uid"]
    clock = Clock()
    manager = VolumeManager(
        pods_dir, client, api_token_source(client), "node-1", mounter=LinuxMounter(), now=clock
    )
    try:
        volumes = await manager.set_up(pod)
        path = volumes["kube-api-access-x7k2p"].host_path
        assert path == pods_dir / uid / "volumes" / PROJECTED / "kube-api-access-x7k2p"
        assert path in LinuxMounter().mount_points_under(path)  # a tmpfs: tokens never touch the disk
        assert (path / "ca.crt").read_text() == ca
        assert (path / "namespace").read_text() == NS
        token = (path / "token").read_text()
        claims = jwt_claims(token, (cp.pki / "sa.pub").read_bytes())
        assert claims["sub"] == f"system:serviceaccount:{NS}:builder"
        assert claims["kubernetes.io"]["pod"] == {"name": "builder-pod", "uid": uid}
        assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]  # the apiserver's default
        assert claims["exp"] - claims["iat"] == 3607

        clock.now += timedelta(seconds=2000)
        await manager.set_up(pod)
        assert (path / "token").read_text() == token  # 55 % of its lifetime: kept
        clock.now += timedelta(seconds=1000)
        await manager.set_up(pod)  # 83 %: a new token
        renewed = (path / "token").read_text()
        assert renewed != token
        assert jwt_claims(renewed, (cp.pki / "sa.pub").read_bytes())["kubernetes.io"]["pod"]["uid"] == uid
    finally:
        await manager.tear_down(uid)
    assert LinuxMounter().mount_points_under(pods_dir) == []

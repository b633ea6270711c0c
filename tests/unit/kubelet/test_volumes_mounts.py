"""Container mounts (subPath, subPathExpr, read-only, propagation), /etc/hosts and termination messages."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from kubelet.cri.api import api_pb2
from kubelet.volumes.errors import MountError
from kubelet.volumes.hosts import (
    hosts_file_content,
    pod_hostname_and_domain,
    should_mount_hosts_file,
    write_hosts_file,
)
from kubelet.volumes.manager import CONFIG_MAP, EMPTY_DIR, HOST_PATH, PodVolume
from kubelet.volumes.mounts import container_mounts, prepare_sub_path, safe_make_dir
from kubelet.volumes.termination import read_termination_message, termination_message_mount

POD: dict[str, Any] = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}, "spec": {}}


@pytest.fixture
def volumes(tmp_path: Path) -> dict[str, PodVolume]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    scratch.chmod(0o777)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "..data").mkdir()
    (conf / "..data" / "app.conf").write_text("x")
    (conf / "app.conf").symlink_to("..data/app.conf")
    return {
        "scratch": PodVolume("scratch", EMPTY_DIR, scratch, False, False, True),
        "conf": PodVolume("conf", CONFIG_MAP, conf, True, False, True),
        "host": PodVolume("host", HOST_PATH, Path("/var/log"), False, False, False),
    }


def mounts_of(
    container: dict[str, Any], volumes: dict[str, PodVolume], **kwargs: Any
) -> list[tuple[Any, ...]]:
    return [
        (m.container_path, m.host_path, m.readonly, m.selinux_relabel, m.propagation)
        for m in container_mounts(POD, {"name": "app", **container}, volumes, **kwargs)
    ]


def test_plain_mounts_read_only_and_propagation(volumes: dict[str, PodVolume]) -> None:
    container = {
        "volumeMounts": [
            {"name": "scratch", "mountPath": "/tmp/scratch"},
            {"name": "scratch", "mountPath": "/ro", "readOnly": True},
            {"name": "conf", "mountPath": "/etc/app"},  # configMap volumes are always read-only
            {"name": "host", "mountPath": "/host", "mountPropagation": "HostToContainer"},
            {"name": "host", "mountPath": "/host2", "mountPropagation": "Bidirectional"},
            {"name": "host", "mountPath": "/host3", "mountPropagation": "None"},
        ]
    }
    scratch, conf = str(volumes["scratch"].host_path), str(volumes["conf"].host_path)
    assert mounts_of(container, volumes) == [
        ("/tmp/scratch", scratch, False, True, api_pb2.PROPAGATION_PRIVATE),
        ("/ro", scratch, True, True, api_pb2.PROPAGATION_PRIVATE),
        ("/etc/app", conf, True, True, api_pb2.PROPAGATION_PRIVATE),
        ("/host", "/var/log", False, False, api_pb2.PROPAGATION_HOST_TO_CONTAINER),
        ("/host2", "/var/log", False, False, api_pb2.PROPAGATION_BIDIRECTIONAL),
        ("/host3", "/var/log", False, False, api_pb2.PROPAGATION_PRIVATE),
    ]


def test_unknown_volume_and_bad_propagation(volumes: dict[str, PodVolume]) -> None:
    with pytest.raises(MountError, match=r'^cannot find volume "nope" to mount into container "app"$'):
        mounts_of({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, volumes)
    with pytest.raises(MountError, match=r'^invalid MountPropagation mode: "Sideways"$'):
        mounts_of(
            {"volumeMounts": [{"name": "host", "mountPath": "/x", "mountPropagation": "Sideways"}]}, volumes
        )


def test_a_missing_sub_path_is_made_with_the_volume_mode(volumes: dict[str, PodVolume]) -> None:
    old_umask = os.umask(0o022)
    try:
        [mount] = mounts_of(
            {"volumeMounts": [{"name": "scratch", "mountPath": "/d", "subPath": "a/b"}]}, volumes
        )
    finally:
        os.umask(old_umask)
    made = volumes["scratch"].host_path / "a" / "b"
    assert mount[1] == str(made)
    assert made.is_dir()
    assert made.stat().st_mode & 0o777 == 0o777
    assert (volumes["scratch"].host_path / "a").stat().st_mode & 0o777 == 0o777


def test_an_existing_sub_path_file_resolves_inside_the_volume(volumes: dict[str, PodVolume]) -> None:
    [mount] = mounts_of(
        {"volumeMounts": [{"name": "conf", "mountPath": "/etc/app.conf", "subPath": "app.conf"}]}, volumes
    )
    assert mount[1] == os.path.realpath(volumes["conf"].host_path / "..data" / "app.conf")
    assert mount[2] is True


@pytest.mark.parametrize(
    ("sub_path", "message"),
    [
        ("../etc", "unable to provision SubPath `../etc`: must not contain '..'"),
        ("a/../../etc", "unable to provision SubPath `a/../../etc`: must not contain '..'"),
        ("/etc", "error SubPath `/etc` must not be an absolute path"),
    ],
)
def test_sub_paths_may_not_leave_the_volume(
    volumes: dict[str, PodVolume], sub_path: str, message: str
) -> None:
    with pytest.raises(MountError) as error:
        mounts_of({"volumeMounts": [{"name": "scratch", "mountPath": "/d", "subPath": sub_path}]}, volumes)
    assert str(error.value) == message


def test_a_symlink_out_of_the_volume_is_refused(volumes: dict[str, PodVolume], tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (volumes["scratch"].host_path / "evil").symlink_to(outside)
    (volumes["scratch"].host_path / "evil-abs").symlink_to("/etc")
    for sub_path in ("evil", "evil/new-dir", "evil-abs"):
        with pytest.raises(MountError) as error:
            mounts_of(
                {"volumeMounts": [{"name": "scratch", "mountPath": "/d", "subPath": sub_path}]}, volumes
            )
        assert 'of container "app"' in str(error.value)
    assert list(outside.iterdir()) == []  # nothing made through the link


def test_safe_make_dir_never_creates_through_a_symlink(tmp_path: Path) -> None:
    volume, outside = tmp_path / "vol", tmp_path / "outside"
    volume.mkdir()
    outside.mkdir()
    (volume / "link").symlink_to(outside)
    with pytest.raises(OSError):
        safe_make_dir(volume, "link/x", 0o755)
    assert list(outside.iterdir()) == []
    safe_make_dir(volume, "ok/x", 0o750)
    assert (volume / "ok" / "x").is_dir()


def test_prepare_sub_path_gives_the_real_path(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    (volume / "real").mkdir(parents=True)
    (volume / "alias").symlink_to("real")
    assert prepare_sub_path(volume, "alias", "v", "c") == volume / "real"


def test_sub_path_expr_expands_from_the_environment(volumes: dict[str, PodVolume]) -> None:
    container = {
        "volumeMounts": [{"name": "scratch", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)/logs"}]
    }
    [mount] = mounts_of(container, volumes, env=[("POD_NAME", "web-1")])
    assert mount[1] == str(volumes["scratch"].host_path / "web-1" / "logs")
    with pytest.raises(MountError, match=r"^missing value for POD_NAME, ZONE$"):
        container["volumeMounts"][0]["subPathExpr"] = "$(ZONE)/$(POD_NAME)"
        mounts_of(container, volumes, env={"ZONE": ""})
    container["volumeMounts"][0]["subPathExpr"] = "$(UP)/x"
    with pytest.raises(MountError, match=r"must not contain '..'"):
        mounts_of(container, volumes, env={"UP": ".."})


def test_hosts_file_is_mounted_unless_the_container_mounts_its_own(
    volumes: dict[str, PodVolume], tmp_path: Path
) -> None:
    hosts = tmp_path / "etc-hosts"
    with_hosts = mounts_of(
        {"volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}, volumes, hosts_file=hosts
    )
    assert with_hosts[-1] == ("/etc/hosts", str(hosts), False, True, api_pb2.PROPAGATION_PRIVATE)
    own = {"volumeMounts": [{"name": "conf", "mountPath": "/etc/hosts", "subPath": "app.conf"}]}
    assert [m[0] for m in mounts_of(own, volumes, hosts_file=hosts)] == ["/etc/hosts"]
    assert mounts_of({}, volumes) == []


# ---- /etc/hosts ----


def test_managed_hosts_file() -> None:
    pod = {
        "metadata": {"name": "web-0", "namespace": "shop"},
        "spec": {
            "hostname": "db",
            "subdomain": "backend",
            "hostAliases": [{"ip": "10.1.1.1", "hostnames": ["foo.local", "bar.local"]}],
        },
    }
    assert hosts_file_content(pod, ["10.244.1.5", "fd00::5"], cluster_domain="cluster.local") == (
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        "10.244.1.5\tdb.backend.shop.svc.cluster.local\tdb\n"
        "fd00::5\tdb.backend.shop.svc.cluster.local\tdb\n"
        "\n"
        "# Entries added by HostAliases.\n"
        "10.1.1.1\tfoo.local\tbar.local\n"
    )


def test_hosts_file_of_a_plain_pod_names_its_ip_by_pod_name() -> None:
    content = hosts_file_content(POD, ["10.0.0.9"], cluster_domain="cluster.local")
    assert content.endswith("fe00::2\tip6-allrouters\n10.0.0.9\tweb\n")


def test_host_network_pods_get_the_nodes_hosts_file(tmp_path: Path) -> None:
    node_hosts = tmp_path / "hosts"
    node_hosts.write_text("127.0.0.1 localhost\n192.168.1.2 node-1\n")
    pod = {
        "metadata": {"name": "agent"},
        "spec": {"hostNetwork": True, "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["x"]}]},
    }
    assert should_mount_hosts_file(pod, [])
    assert hosts_file_content(pod, [], cluster_domain="c", node_hosts_file=node_hosts) == (
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.168.1.2 node-1\n"
        "\n# Entries added by HostAliases.\n1.2.3.4\tx\n"
    )


def test_write_hosts_file(tmp_path: Path) -> None:
    path = write_hosts_file(tmp_path / "pod", POD, ["10.0.0.9"])
    assert path == tmp_path / "pod" / "etc-hosts"
    assert path.stat().st_mode & 0o777 == 0o644
    inode = path.stat().st_ino
    write_hosts_file(tmp_path / "pod", POD, ["10.0.0.10"])
    assert path.stat().st_ino == inode  # rewritten in place: mounted copies see it
    assert "10.0.0.10\tweb\n" in path.read_text()


def test_hostnames_are_cut_to_63_characters_and_validated() -> None:
    long = {"metadata": {"name": "a" * 62 + "-b" * 5}, "spec": {}}
    assert pod_hostname_and_domain(long, "cluster.local") == ("a" * 62, "")
    assert not should_mount_hosts_file(POD, [])
    with pytest.raises(MountError, match=r'^pod Hostname "Bad_Name" is not a valid DNS label'):
        pod_hostname_and_domain({"metadata": {"name": "x"}, "spec": {"hostname": "Bad_Name"}}, "c")


# ---- termination messages ----


def test_termination_message_file_is_new_for_every_start(tmp_path: Path) -> None:
    rng = random.Random(7)
    first = termination_message_mount(tmp_path, {"name": "app"}, rng=rng)
    second = termination_message_mount(tmp_path, {"name": "app", "terminationMessagePath": "/msg"}, rng=rng)
    assert first is not None and second is not None
    assert first.container_path == "/dev/termination-log"
    assert second.container_path == "/msg"
    assert first.host_path != second.host_path
    host = Path(first.host_path)
    assert host.parent == tmp_path / "containers" / "app"
    assert len(host.name) == 8 and int(host.name, 16) >= 0
    assert host.stat().st_mode & 0o777 == 0o666 and host.read_bytes() == b""
    assert termination_message_mount(tmp_path, {"name": "app", "terminationMessagePath": ""}) is None


def test_termination_messages_are_read_back_from_the_status_mounts(tmp_path: Path) -> None:
    mount = termination_message_mount(tmp_path, {"name": "app"})
    assert mount is not None
    mounts = [api_pb2.Mount(container_path="/data", host_path="/x"), mount]
    path = "/dev/termination-log"
    assert read_termination_message(mounts, path, False) == ("", False)
    assert read_termination_message(mounts, path, True) == ("", True)  # empty: fall back to the logs
    Path(mount.host_path).write_text("boom")
    assert read_termination_message(mounts, path, True) == ("boom", False)
    Path(mount.host_path).write_bytes(b"x" * 5000 + b"tail")
    message, _ = read_termination_message(mounts, path, False)
    assert len(message) == 4096 and message.endswith("tail")
    os.unlink(mount.host_path)
    assert read_termination_message(mounts, path, True) == ("", True)
    assert read_termination_message([], path, False) == ("", False)

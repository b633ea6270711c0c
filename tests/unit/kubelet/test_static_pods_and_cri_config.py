"""Static pod manifests as upstream's file source reads them, and the CRI configs built from pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelet.cri.api import api_pb2 as cri
from kubelet.cri_config import (
    HostDNS,
    NodeContext,
    container_config,
    dns_config,
    milli_cpu_to_shares,
    sandbox_config,
)
from kubelet.static_pods import ManifestError, mirror_matches, mirror_pod, parse_manifest, read_manifest_dir

ETCD = """\
apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.9-0
    command: [etcd, --advertise-client-urls=https://192.168.1.10:2379]
  volumes:
  - name: etcd-certs
    hostPath:
      path: /etc/kubernetes/pki/etcd
      type: Directory
"""


def test_the_seeds_static_pod_gets_upstreams_identity(tmp_path: Path) -> None:
    (tmp_path / "etcd.yaml").write_text(ETCD)
    (tmp_path / ".hidden.yaml").write_text("not: a pod")
    found, problems = read_manifest_dir(tmp_path, "node-1")
    assert problems == [] and len(found) == 1
    pod = found[0]
    meta = pod["metadata"]
    assert (meta["name"], meta["namespace"]) == ("etcd-node-1", "kube-system")
    assert meta["annotations"]["kubernetes.io/config.source"] == "file"
    assert meta["annotations"]["kubernetes.io/config.hash"] == meta["uid"]
    assert pod["spec"]["nodeName"] == "node-1"
    assert {"operator": "Exists", "effect": "NoExecute"} in pod["spec"]["tolerations"]
    assert pod["spec"]["restartPolicy"] == "Always"  # API defaults applied
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_the_uid_is_stable_for_a_file_and_changes_with_it(tmp_path: Path) -> None:
    first = parse_manifest(ETCD, "node-1", "file", "etcd.yaml")[0]["metadata"]["uid"]
    assert parse_manifest(ETCD, "node-1", "file", "etcd.yaml")[0]["metadata"]["uid"] == first
    assert (
        parse_manifest(ETCD.replace("3.5.9-0", "3.5.10-0"), "node-1", "file", "x")[0]["metadata"]["uid"]
        != first
    )
    assert parse_manifest(ETCD, "node-2", "file", "etcd.yaml")[0]["metadata"]["uid"] != first


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "kind: Service\napiVersion: v1\nmetadata: {name: x}",
            'm.yaml: kind "Service" is not Pod or PodList',
        ),
        ("kind: Pod\napiVersion: v1\nmetadata: {name: x}\nspec: {}", "m.yaml: spec.containers is required"),
        ("kind: Pod\n  bad: [", "m.yaml: invalid YAML"),
    ],
)
def test_a_bad_manifest_is_one_line_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "node-1", "file", "m.yaml")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_mirror_pod_is_owned_by_the_node_and_names_the_hash() -> None:
    static = parse_manifest(ETCD, "node-1", "file", "etcd.yaml")[0]
    mirror = mirror_pod(static, {"metadata": {"name": "node-1", "uid": "n-uid"}})
    assert "uid" not in mirror["metadata"]
    assert mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"] == static["metadata"]["uid"]
    assert mirror["metadata"]["ownerReferences"][0]["uid"] == "n-uid"
    assert mirror_matches(mirror, static)


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec},
    }


NODE = NodeContext(
    pod_logs_dir=Path("/var/log/pods"),
    cluster_dns=("10.96.0.10",),
    cluster_domain="cluster.local",
    host_dns=HostDNS.parse("nameserver 1.1.1.1\nsearch corp.example\noptions edns0\n"),
    memory_capacity=8 * 2**30,
)


def test_cluster_first_dns_searches_the_namespace_then_the_host() -> None:
    config = dns_config(pod(), NODE)
    assert list(config.servers) == ["10.96.0.10"]
    assert list(config.searches) == [
        "shop.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
        "corp.example",
    ]
    assert list(config.options) == ["ndots:5"]


def test_default_dns_and_host_network_use_the_nodes_resolv_conf() -> None:
    for spec in ({"dnsPolicy": "Default"}, {"hostNetwork": True}):
        config = dns_config(pod(**spec), NODE)
        assert list(config.servers) == ["1.1.1.1"] and list(config.options) == ["edns0"]


def test_dns_policy_none_takes_only_the_pods_dns_config() -> None:
    config = dns_config(
        pod(
            dnsPolicy="None",
            dnsConfig={"nameservers": ["9.9.9.9"], "options": [{"name": "ndots", "value": "2"}]},
        ),
        NODE,
    )
    assert list(config.servers) == ["9.9.9.9"] and list(config.options) == ["ndots:2"]


def test_the_sandbox_carries_the_pods_identity_logs_and_cgroup() -> None:
    config = sandbox_config(pod(), 2, NODE, "/kplane/kubepods/besteffort/podu1")
    meta = config.metadata
    assert (meta.name, meta.namespace, meta.uid, meta.attempt) == (
        "web", "shop", "u1", 2,
    )  # fmt: skip
    assert config.log_directory == "/var/log/pods/shop_web_u1"
    assert config.labels["io.kubernetes.pod.uid"] == "u1" and config.labels["app"] == "web"
    assert config.hostname == "web"
    assert config.linux.cgroup_parent == "/kplane/kubepods/besteffort/podu1"
    assert config.linux.security_context.namespace_options.pid == cri.CONTAINER


def test_container_config_resources_command_and_log_path() -> None:
    p = pod()
    container = {
        "name": "app", "image": "busybox", "command": ["sh", "-c"], "args": ["echo $(GREETING) $$(HOME)"],
        "resources": {
            "limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "32Mi"},
        },
        "securityContext": {
            "runAsUser": 1000, "readOnlyRootFilesystem": True, "capabilities": {"add": ["NET_ADMIN"]},
        },
    }  # fmt: skip
    p["spec"]["containers"] = [container]
    config = container_config(p, container, attempt=3, env=[("GREETING", "hi")], mounts=[], node=NODE)
    assert list(config.args) == ["echo hi $(HOME)"]
    assert config.log_path == "app/3.log" and config.metadata.attempt == 3
    assert config.annotations["io.kubernetes.container.restartCount"] == "3"
    resources = config.linux.resources
    assert (resources.cpu_shares, resources.cpu_quota, resources.cpu_period) == (256, 50000, 100000)
    assert resources.memory_limit_in_bytes == 64 * 2**20
    security = config.linux.security_context
    assert security.run_as_user.value == 1000 and security.readonly_rootfs
    assert list(security.capabilities.add_capabilities) == ["CAP_NET_ADMIN"]
    assert "/proc/kcore" in security.masked_paths


def test_a_privileged_container_is_privileged_in_its_sandbox_too_and_unmasked() -> None:
    p = pod()
    p["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    assert sandbox_config(p, 0, NODE, "/x").linux.security_context.privileged
    config = container_config(p, p["spec"]["containers"][0], attempt=0, env=[], mounts=[], node=NODE)
    assert config.linux.security_context.privileged and not config.linux.security_context.masked_paths


def test_shares_and_expansion_edges() -> None:
    assert milli_cpu_to_shares(0) == 2 and milli_cpu_to_shares(1000) == 1024

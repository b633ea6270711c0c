"""The real kubectl (v1.32) against kplane-apiserver, on kplane-etcd and on Debian's etcd 3.4:
discovery, apply, the create generators (protobuf bodies), get with tables and selectors, label,
annotate, patch, scale, edit, delete, explain, dry-run, watch, and what lands in the store."""

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.control_plane import ControlPlane

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - {name: MODE, value: "one"}
"""


@pytest.fixture(scope="module", params=["kplane", "etcd"])
def cp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp(f"cp-{request.param}"), request.param)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


def test_version_and_discovery(cp: ControlPlane) -> None:
    version = json.loads(cp.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["major"] == "1" and version["serverVersion"]["minor"] == "32"
    resources = cp.kubectl("api-resources", "-o", "wide").stdout
    assert any(line.split()[:2] == ["deployments", "deploy"] for line in resources.splitlines())
    versions = cp.kubectl("api-versions").stdout.split()
    assert {"v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1"} <= set(versions)
    assert "DeploymentStrategy" in cp.kubectl("explain", "deployment.spec.strategy").stdout


def test_system_namespaces_and_the_kubernetes_service(cp: ControlPlane) -> None:
    names = cp.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert {
        "namespace/default",
        "namespace/kube-system",
        "namespace/kube-public",
        "namespace/kube-node-lease",
    } <= set(names)
    service = json.loads(cp.kubectl("get", "service", "kubernetes", "-o", "json").stdout)
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    endpoints = json.loads(cp.kubectl("get", "endpoints", "kubernetes", "-o", "json").stdout)
    assert endpoints["subsets"][0]["ports"][0]["port"] == cp.port


def test_apply_creates_then_reapply_patches_and_bumps_generation(cp: ControlPlane, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT)
    assert "created" in cp.kubectl("apply", "-f", str(manifest)).stdout
    first = json.loads(cp.kubectl("get", "deploy", "web", "-o", "json").stdout)
    manifest.write_text(DEPLOYMENT.replace('value: "one"', 'value: "two"'))
    assert "configured" in cp.kubectl("apply", "-f", str(manifest)).stdout
    second = json.loads(cp.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert second["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "two"}]
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert "unchanged" in cp.kubectl("apply", "-f", str(manifest)).stdout


def test_create_generators_send_protobuf_and_objects_read_back(cp: ControlPlane) -> None:
    cp.kubectl("create", "namespace", "gen")
    cp.kubectl("create", "configmap", "settings", "--from-literal=color=blue", "-n", "gen")
    cp.kubectl("create", "secret", "generic", "token", "--from-literal=key=s3cret", "-n", "gen")
    cp.kubectl("create", "deployment", "api", "--image=busybox", "--replicas=3", "-n", "gen")
    configmap = json.loads(cp.kubectl("get", "cm", "settings", "-n", "gen", "-o", "json").stdout)
    assert configmap["data"] == {"color": "blue"}
    secret = json.loads(cp.kubectl("get", "secret", "token", "-n", "gen", "-o", "json").stdout)
    assert secret["data"] == {"key": "czNjcmV0"}
    deployment = json.loads(cp.kubectl("get", "deploy", "api", "-n", "gen", "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"


def test_get_tables_wide_selectors_and_all(cp: ControlPlane) -> None:
    cp.kubectl("create", "namespace", "tables")
    for name, tier in (("a", "front"), ("b", "back")):
        cp.kubectl("create", "configmap", name, "-n", "tables", f"--from-literal=tier={tier}")
        cp.kubectl("label", "configmap", name, "-n", "tables", f"tier={tier}")
    table = cp.kubectl("get", "cm", "-n", "tables").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"] and len(table) == 3
    assert cp.kubectl("get", "cm", "-n", "tables", "-l", "tier=front", "-o", "name").stdout.split() == [
        "configmap/a"
    ]
    assert cp.kubectl(
        "get", "cm", "-n", "tables", "-l", "tier in (front,back)", "-o", "name"
    ).stdout.split() == [
        "configmap/a",
        "configmap/b",
    ]
    selected = cp.kubectl("get", "cm", "-n", "tables", "--field-selector", "metadata.name=b", "-o", "name")
    assert selected.stdout.split() == ["configmap/b"]
    wide = cp.kubectl("get", "deploy", "-A", "-o", "wide").stdout.splitlines()[0].split()
    assert wide[:2] == ["NAMESPACE", "NAME"] and "IMAGES" in wide and "SELECTOR" in wide
    cp.kubectl("create", "deployment", "everything", "--image=busybox", "-n", "tables")
    assert "deployment.apps/everything" in cp.kubectl("get", "all", "-n", "tables").stdout
    wrong = cp.kubectl("get", "cm", "--field-selector", "spec.nope=1", check=False)
    assert wrong.returncode != 0 and "is not a known field selector" in wrong.stderr


def test_label_annotate_and_the_three_patch_types(cp: ControlPlane) -> None:
    cp.kubectl("create", "configmap", "patched", "--from-literal=a=1")
    cp.kubectl("label", "configmap", "patched", "team=blue")
    cp.kubectl("annotate", "configmap", "patched", "note=hello")
    cp.kubectl("patch", "configmap", "patched", "--type", "merge", "-p", '{"data":{"b":"2"}}')
    cp.kubectl("patch", "configmap", "patched", "--type", "json", "-p", '[{"op":"remove","path":"/data/a"}]')
    cp.kubectl("create", "deployment", "sm", "--image=busybox")
    cp.kubectl(
        "patch",
        "deployment",
        "sm",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}',
    )
    configmap = json.loads(cp.kubectl("get", "cm", "patched", "-o", "json").stdout)
    assert configmap["data"] == {"b": "2"}
    assert configmap["metadata"]["labels"] == {"team": "blue"}
    assert configmap["metadata"]["annotations"] == {"note": "hello"}
    containers = json.loads(cp.kubectl("get", "deploy", "sm", "-o", "json").stdout)["spec"]["template"][
        "spec"
    ]["containers"]
    assert sorted(c["name"] for c in containers) == ["busybox", "sidecar"]


def test_scale_and_edit(cp: ControlPlane, tmp_path: Path) -> None:
    cp.kubectl("create", "deployment", "scaled", "--image=busybox")
    cp.kubectl("scale", "deployment", "scaled", "--replicas=4")
    assert cp.kubectl("get", "deploy", "scaled", "-o", "jsonpath={.spec.replicas}").stdout == "4"
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 4/replicas: 7/' \"$1\"\n")
    editor.chmod(0o755)
    cp.kubectl("edit", "deployment", "scaled", env={"EDITOR": str(editor), "KUBE_EDITOR": str(editor)})
    assert cp.kubectl("get", "deploy", "scaled", "-o", "jsonpath={.spec.replicas}").stdout == "7"


def test_delete_waits_until_gone_and_dry_run_writes_nothing(cp: ControlPlane) -> None:
    cp.kubectl("create", "configmap", "doomed", "--from-literal=a=1")
    assert 'configmap "doomed" deleted' in cp.kubectl("delete", "configmap", "doomed").stdout
    missing = cp.kubectl("get", "configmap", "doomed", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    dry = cp.kubectl("create", "configmap", "ghost", "--from-literal=a=1", "--dry-run=server", "-o", "json")
    assert json.loads(dry.stdout)["metadata"]["name"] == "ghost"
    assert cp.kubectl("get", "configmap", "ghost", check=False).returncode != 0


def test_watch_sees_later_changes(cp: ControlPlane) -> None:
    cp.kubectl("create", "namespace", "watched")
    environment = {"KUBECONFIG": str(cp.kubeconfig), "HOME": str(cp.home), "PATH": "/usr/bin:/bin"}
    watcher = subprocess.Popen(
        ["kubectl", "get", "configmaps", "-n", "watched", "-w", "-o", "name", "--request-timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        time.sleep(1.0)  # the watch is open once kubectl has listed; later changes must arrive
        cp.kubectl("create", "configmap", "later", "-n", "watched", "--from-literal=a=1")
        assert watcher.stdout is not None
        line = watcher.stdout.readline().strip()
        assert line == "configmap/later"
    finally:
        watcher.kill()
        watcher.wait()


def test_objects_are_stored_as_json_under_kube_apiservers_keys(cp: ControlPlane) -> None:
    cp.kubectl("create", "configmap", "stored", "--from-literal=a=1")
    result = cp.etcd.etcdctl("get", "/registry/configmaps/default/stored", "--print-value-only")
    stored = json.loads(result.stdout)
    assert stored["kind"] == "ConfigMap" and stored["data"] == {"a": "1"}
    assert "resourceVersion" not in stored["metadata"]
    services = cp.etcd.etcdctl("get", "/registry/services/specs/default/kubernetes", "--keys-only").stdout
    assert "/registry/services/specs/default/kubernetes" in services


def test_server_side_apply_owns_fields_and_reports_conflicts(cp: ControlPlane, tmp_path: Path) -> None:
    manifest = tmp_path / "ssa.yaml"
    manifest.write_text(DEPLOYMENT.replace("name: web", "name: ssa"))
    assert "serverside-applied" in cp.kubectl("apply", "--server-side", "-f", str(manifest)).stdout
    applied = json.loads(cp.kubectl("get", "deploy", "ssa", "-o", "json", "--show-managed-fields").stdout)
    managers = {(e["manager"], e["operation"]) for e in applied["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    cp.kubectl("scale", "deployment", "ssa", "--replicas=5")  # another manager takes spec.replicas
    manifest.write_text(DEPLOYMENT.replace("name: web", "name: ssa").replace("replicas: 2", "replicas: 3"))
    conflict = cp.kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert (
        conflict.returncode != 0
        and "conflict" in conflict.stderr.lower()
        and ".spec.replicas" in conflict.stderr
    )
    cp.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert cp.kubectl("get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}").stdout == "3"


def test_invalid_objects_and_unknown_fields_are_refused_with_upstreams_messages(
    cp: ControlPlane, tmp_path: Path
) -> None:
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(DEPLOYMENT.replace("name: web", "name: typo").replace("replicas: 2", "replica: 2"))
    refused = cp.kubectl("apply", "-f", str(misspelt), check=False)
    assert refused.returncode != 0 and 'strict decoding error: unknown field "spec.replica"' in refused.stderr
    mismatched = tmp_path / "mismatched.yaml"
    mismatched.write_text(
        DEPLOYMENT.replace("name: web", "name: odd").replace(
            "matchLabels: {app: web}", "matchLabels: {app: other}"
        )
    )
    refused = cp.kubectl("apply", "-f", str(mismatched), check=False)
    assert refused.returncode != 0
    assert (
        "spec.template.metadata.labels" in refused.stderr
        and "`selector` does not match template `labels`" in refused.stderr
    )
    bad_label = cp.kubectl("create", "configmap", "lbl", check=False)
    assert bad_label.returncode == 0
    refused = cp.kubectl("label", "configmap", "lbl", "bad key=x", check=False)
    assert refused.returncode != 0
    defaults = json.loads(cp.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert defaults["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    container = defaults["spec"]["template"]["spec"]["containers"][0]
    assert (
        container["imagePullPolicy"] == "IfNotPresent"
        and container["terminationMessagePath"] == "/dev/termination-log"
    )


def test_describe_shows_the_object_and_its_events(cp: ControlPlane) -> None:
    cp.kubectl("create", "deployment", "described", "--image=busybox")
    uid = cp.kubectl("get", "deploy", "described", "-o", "jsonpath={.metadata.uid}").stdout
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "described.1", "namespace": "default"},
        "involvedObject": {
            "kind": "Deployment",
            "name": "described",
            "namespace": "default",
            "apiVersion": "apps/v1",
            "uid": uid,
        },
        "reason": "ScalingReplicaSet",
        "message": "Scaled up replica set described-abc to 1",
        "type": "Normal",
        "source": {"component": "deployment-controller"},
        "count": 1,
    }
    cp.kubectl("create", "-f", "-", stdin=json.dumps(event))
    described = cp.kubectl("describe", "deployment", "described").stdout
    assert "Name:" in described and "described" in described and "busybox" in described
    assert "ScalingReplicaSet" in described and "Scaled up replica set described-abc to 1" in described


def test_create_token_issues_a_jwt_signed_with_the_service_account_key(cp: ControlPlane) -> None:
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    cp.kubectl("create", "serviceaccount", "robot")
    token = cp.kubectl("create", "token", "robot", "--audience=api", "--duration=1h").stdout.strip()
    header, payload, signature = token.split(".")

    def unpad(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    claims = json.loads(unpad(payload))
    assert claims["sub"] == "system:serviceaccount:default:robot" and claims["aud"] == ["api"]
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    public = serialization.load_pem_public_key((cp.pki / "sa.pub").read_bytes())
    public.verify(unpad(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg,arg-type]


def test_a_service_changing_type_takes_and_gives_back_node_ports(cp: ControlPlane) -> None:
    cp.kubectl("create", "service", "clusterip", "flip", "--tcp=80:8080")
    cluster_ip = cp.kubectl("get", "svc", "flip", "-o", "jsonpath={.spec.clusterIP}").stdout
    cp.kubectl("patch", "svc", "flip", "-p", '{"spec":{"type":"NodePort"}}')
    service = json.loads(cp.kubectl("get", "svc", "flip", "-o", "json").stdout)
    node_port = service["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767 and service["spec"]["clusterIP"] == cluster_ip
    cp.kubectl("patch", "svc", "flip", "-p", '{"spec":{"type":"ClusterIP"}}')
    assert (
        "nodePort"
        not in json.loads(cp.kubectl("get", "svc", "flip", "-o", "json").stdout)["spec"]["ports"][0]
    )
    # the port went back to the pool: another service may ask for exactly it
    cp.kubectl("create", "service", "nodeport", "taker", "--tcp=80:8080", f"--node-port={node_port}")
    immutable = cp.kubectl("patch", "svc", "flip", "-p", '{"spec":{"clusterIP":"10.96.0.99"}}', check=False)
    assert immutable.returncode != 0 and "field is immutable" in immutable.stderr

"""kubeapi.protobuf: the schemas are kubectl v1.32's on the wire, the generated code is reproducible,
and `decode` turns what the real kubectl sends into the JSON the same kubectl would have sent."""

from __future__ import annotations

import filecmp
import importlib
import json
import os
import shlex
import shutil
import subprocess
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from kubeapi import schema
from kubeapi.errors import StatusError
from kubeapi.protobuf import KINDS, MAGIC, decode, generate, go_duration
from kubeapi.protobuf.k8s import (
    apps_v1_pb2,
    authentication_v1_pb2,
    core_v1_pb2,
    intstr_pb2,
    meta_v1_pb2,
    resource_pb2,
    runtime_pb2,
    scheduling_v1_pb2,
)

FIXTURES = Path(__file__).with_name("protobuf_fixtures")


def body(api_version: str, kind: str, message: Message, **unknown: Any) -> bytes:
    """A request body as a Go client frames it: the magic, then a runtime.Unknown."""
    wrapped = runtime_pb2.Unknown(raw=message.SerializeToString(), **unknown)
    wrapped.typeMeta.apiVersion, wrapped.typeMeta.kind = api_version, kind
    return MAGIC + wrapped.SerializeToString()


def all_messages() -> list[Descriptor]:
    """Every top-level message of every generated module."""
    modules = [
        importlib.import_module(str(p.with_suffix("")).replace("/", ".") + "_pb2")
        for p in generate.proto_files()
    ]
    return [message for module in modules for message in module.DESCRIPTOR.message_types_by_name.values()]


# --- the generated code and the schema --------------------------------------------------------


def test_regenerating_gives_the_checked_in_files(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    assert len(written) == 2 * len(generate.proto_files())
    for path in written:
        relative = path.relative_to(tmp_path)
        checked_in = generate.REPO_ROOT / relative
        assert checked_in.is_file(), f"{relative} is not checked in: run python -m kubeapi.protobuf.generate"
        assert filecmp.cmp(path, checked_in, shallow=False), f"{relative} is stale: regenerate"


def test_generated_modules_import_each_other_by_package_path() -> None:
    text = (generate.PROTO_DIR / "apps_v1_pb2.py").read_text()
    assert "from kubeapi.protobuf.k8s import core_v1_pb2" in text
    assert "from kubeapi.protobuf.k8s import meta_v1_pb2" in text


def test_packages_and_field_numbers_are_upstreams() -> None:
    def fields(message: Any) -> dict[str, int]:
        return {field.name: field.number for field in message.DESCRIPTOR.fields}

    assert runtime_pb2.Unknown.DESCRIPTOR.full_name == "k8s.io.apimachinery.pkg.runtime.Unknown"
    assert fields(runtime_pb2.Unknown) == {"typeMeta": 1, "raw": 2, "contentEncoding": 3, "contentType": 4}
    assert apps_v1_pb2.Deployment.DESCRIPTOR.full_name == "k8s.io.api.apps.v1.Deployment"
    assert fields(core_v1_pb2.Secret) == {
        "metadata": 1,
        "immutable": 5,
        "data": 2,
        "stringData": 4,
        "type": 3,
    }
    assert fields(meta_v1_pb2.ObjectMeta)["managedFields"] == 17
    assert fields(core_v1_pb2.PodSpec)["resourceClaims"] == 39
    assert fields(intstr_pb2.IntOrString) == {"type": 1, "intVal": 2, "strVal": 3}
    assert fields(resource_pb2.Quantity) == {"string": 1}


def kubectl_descriptors() -> dict[str, descriptor_pb2.DescriptorProto]:
    """The messages of the schemas compiled into kubectl v1.32 (Go's generated code embeds each
    .proto's FileDescriptorProto, gzipped), by full name."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("no kubectl")
    real = Path(found).resolve()
    binary = real.with_name("kubectl.1.32") if real.with_name("kubectl.1.32").is_file() else real
    data = binary.read_bytes()
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    start = data.find(b"\x1f\x8b\x08")
    while start >= 0:
        try:
            file = descriptor_pb2.FileDescriptorProto.FromString(
                zlib.decompressobj(31).decompress(data[start : start + 1_000_000])
            )
            if file.name.startswith("k8s.io/"):
                messages.update({f"{file.package}.{m.name}": m for m in file.message_type})
        except Exception:  # not a gzipped descriptor
            pass
        start = data.find(b"\x1f\x8b\x08", start + 1)
    if "k8s.io.api.core.v1.PodSpec" not in messages:
        pytest.skip(f"{binary} has no Kubernetes descriptors")
    return messages


def shape(message: descriptor_pb2.DescriptorProto) -> Any:
    fields = [(f.name, f.number, f.label, f.type, f.type_name) for f in message.field]
    return fields, [shape(nested) for nested in message.nested_type]


def test_every_message_is_kubectl_v1_32s_field_for_field() -> None:
    theirs = kubectl_descriptors()
    for message in all_messages():
        if message.file.package == "kplane.k8s":
            continue
        ours = descriptor_pb2.DescriptorProto()
        message.CopyToProto(ours)
        assert message.full_name in theirs, message.full_name
        assert shape(ours) == shape(theirs[message.full_name]), message.full_name


SPECIAL = {"Time", "MicroTime", "Duration", "FieldsV1", "RawExtension", "Quantity", "IntOrString"}


def json_keys(message: Descriptor) -> set[str]:
    keys: set[str] = set()
    for field in message.fields:
        if field.GetOptions().Extensions[_inline()]:
            keys |= json_keys(field.message_type)
        else:
            keys.add(field.json_name)  # type: ignore[attr-defined]
    return keys


def _inline() -> Any:
    from kubeapi.protobuf.k8s import json_options_pb2

    return json_options_pb2.inline


def test_json_names_are_the_openapi_properties() -> None:
    definitions = schema.definitions()
    kinds = {cls.DESCRIPTOR for cls in KINDS.values()}
    checked = 0
    for message in all_messages():
        name = "io.k8s." + message.full_name.removeprefix("k8s.io.")
        if message.name in SPECIAL or name not in definitions:
            continue
        type_meta = {"apiVersion", "kind"} if message in kinds else set()
        assert json_keys(message) | type_meta == set(definitions[name].get("properties", {})), name
        checked += 1
    assert checked > 200


# --- decode: real kubectl captures ------------------------------------------------------------

CAPTURES = sorted(path.stem for path in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", CAPTURES)
def test_a_kubectl_body_decodes_to_the_json_kubectl_would_send(name: str) -> None:
    """Each .bin is what `kubectl create ...` POSTed; the .json is `... --dry-run=client -o json`."""
    expected = json.loads((FIXTURES / f"{name}.json").read_text())
    if name == "clusterrole_aggregate":
        assert expected.pop("rules") is None  # Go writes a nil list without omitempty as null; we omit it
    assert decode((FIXTURES / f"{name}.bin").read_bytes()) == expected


def test_the_captures_cover_every_generator() -> None:
    kinds = {json.loads((FIXTURES / f"{name}.json").read_text())["kind"] for name in CAPTURES}
    assert kinds == {
        "Namespace", "ConfigMap", "Secret", "ServiceAccount", "Service", "Deployment", "Job", "CronJob",
        "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
        "PodDisruptionBudget", "ResourceQuota", "Ingress", "HorizontalPodAutoscaler",
    }  # fmt: skip


CREATED = {"metadata": {"creationTimestamp": None}}
REVIEWS = {
    "token": {  # kubectl create token sa
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        **CREATED,
        "spec": {},
        "status": {"token": "", "expirationTimestamp": None},
    },
    "cani": {  # kubectl auth can-i get pods
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        **CREATED,
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
        "status": {"allowed": False},
    },
    "cani_list": {  # kubectl auth can-i --list
        "kind": "SelfSubjectRulesReview",
        "apiVersion": "authorization.k8s.io/v1",
        **CREATED,
        "spec": {"namespace": "default"},
        "status": {"incomplete": False},
    },
    "whoami": {  # kubectl auth whoami
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        **CREATED,
        "status": {"userInfo": {}},
    },
    "csr_approve": {  # kubectl certificate approve csr1 (a PUT of .../csr1/approval)
        "kind": "CertificateSigningRequest",
        "apiVersion": "certificates.k8s.io/v1",
        "metadata": {"name": "csr1", "uid": "c", "resourceVersion": "4", "creationTimestamp": None},
        "spec": {
            "request": "",
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
        },
        "status": {
            "conditions": [
                {
                    "type": "Approved",
                    "status": "True",
                    "reason": "KubectlApprove",
                    "message": "This CSR was approved by kubectl certificate approve.",
                    "lastUpdateTime": "2026-11-26T12:19:29Z",
                    "lastTransitionTime": None,
                }
            ]
        },
    },
}


@pytest.mark.parametrize("name", sorted(REVIEWS))
def test_reviews_tokens_and_approvals_from_kubectl_decode(name: str) -> None:
    assert decode((FIXTURES / f"{name}.bin").read_bytes()) == REVIEWS[name]


# --- decode: the JSON rules, one by one -------------------------------------------------------


def test_zero_values_show_only_where_go_would_write_them() -> None:
    container = core_v1_pb2.Container(name="c", image="", workingDir="", tty=False)
    container.ports.add(containerPort=80, hostPort=0, protocol="")
    spec = apps_v1_pb2.DeploymentSpec(replicas=0, paused=False, minReadySeconds=0)
    spec.template.spec.containers.append(container)
    spec.template.spec.terminationGracePeriodSeconds = 0
    got = decode(body("apps/v1", "Deployment", apps_v1_pb2.Deployment(spec=spec)))
    assert got["spec"] == {
        "replicas": 0,  # *int32: zero is a value
        "template": {
            "spec": {
                "containers": [{"name": "c", "ports": [{"containerPort": 80}]}],  # image: omitempty
                "terminationGracePeriodSeconds": 0,
            }
        },
    }


def test_inlined_structs_merge_into_their_parent() -> None:
    volume = core_v1_pb2.Volume(name="v")
    volume.volumeSource.configMap.localObjectReference.name = "cm"
    probe = core_v1_pb2.Probe(periodSeconds=5)
    probe.handler.httpGet.port.CopyFrom(intstr_pb2.IntOrString(type=1, strVal="http"))
    pod = core_v1_pb2.Pod()
    pod.spec.volumes.append(volume)
    pod.spec.containers.add(name="c", livenessProbe=probe)
    got = decode(body("v1", "Pod", pod))["spec"]
    assert got["volumes"] == [{"name": "v", "configMap": {"name": "cm"}}]
    assert got["containers"][0]["livenessProbe"] == {"httpGet": {"port": "http"}, "periodSeconds": 5}


def test_apimachinery_types_marshal_as_go_does() -> None:
    meta = meta_v1_pb2.ObjectMeta(name="s", labels={"a": "b"})
    meta.creationTimestamp.CopyFrom(meta_v1_pb2.Time(seconds=1704164645, nanos=999))
    meta.managedFields.add(manager="m", fieldsV1=meta_v1_pb2.FieldsV1(Raw=b'{"f:data":{}}'))
    secret = core_v1_pb2.Secret(metadata=meta, data={"k": b"\x00v"}, stringData={"s": "t"}, type="Opaque")
    got = decode(body("v1", "Secret", secret))
    assert got == {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {
            "name": "s",
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "labels": {"a": "b"},
            "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {}}}],
        },
        "data": {"k": "AHY="},
        "stringData": {"s": "t"},
        "type": "Opaque",
    }
    quota = core_v1_pb2.ResourceQuota()
    quota.spec.hard["cpu"].string = "1500m"
    assert decode(body("v1", "ResourceQuota", quota))["spec"] == {"hard": {"cpu": "1500m"}}
    priority = scheduling_v1_pb2.PriorityClass(value=0, globalDefault=False)
    assert decode(body("scheduling.k8s.io/v1", "PriorityClass", priority)) == {
        "kind": "PriorityClass",
        "apiVersion": "scheduling.k8s.io/v1",
        "value": 0,  # `json:"value"`, no omitempty; globalDefault has it
    }


def test_json_name_where_it_differs_from_the_proto_name() -> None:
    request = authentication_v1_pb2.TokenRequest()
    request.spec.boundObjectRef.uID = "u-1"
    got = decode(body("authentication.k8s.io/v1", "TokenRequest", request))
    assert got["spec"] == {"boundObjectRef": {"uid": "u-1"}}


def test_time_micro_time_and_raw_extension() -> None:
    from kubeapi import protobuf

    micro = meta_v1_pb2.MicroTime(seconds=1704164645, nanos=123456789)
    assert protobuf._micro_time(micro) == "2024-01-02T03:04:05.123456Z"
    assert protobuf._micro_time(meta_v1_pb2.MicroTime()) is None
    assert protobuf._time(meta_v1_pb2.Time(seconds=0)) == "1970-01-01T00:00:00Z"  # set, so not null
    assert protobuf._embedded_json(b'{"a":1}') == {"a": 1}
    assert protobuf._embedded_json(b"") is None
    nested = body("v1", "Namespace", core_v1_pb2.Namespace(metadata=meta_v1_pb2.ObjectMeta(name="n")))
    assert protobuf._embedded_json(nested)["metadata"]["name"] == "n"
    assert protobuf._duration(meta_v1_pb2.Duration(duration=90 * 10**9)) == "1m30s"


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_100, "1.1µs"),
        (2_200_000, "2.2ms"),
        (1_500_000_000, "1.5s"),
        (60 * 10**9, "1m0s"),
        (3600 * 10**9, "1h0m0s"),
        (3723 * 10**9 + 500_000_000, "1h2m3.5s"),
        (-5 * 10**9, "-5s"),
    ],
)
def test_go_duration(nanoseconds: int, text: str) -> None:
    assert go_duration(nanoseconds) == text


# --- decode: errors ---------------------------------------------------------------------------

NAMESPACE = core_v1_pb2.Namespace(metadata=meta_v1_pb2.ObjectMeta(name="x"))


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b'{"kind":"Namespace"}', 400, "magic"),
        (body("v1", "Namespace", NAMESPACE)[:-3], 400, "truncated"),
        (MAGIC + b"\x0a\x05\x0a", 400, "truncated"),
        (body("v1", "Namespace", NAMESPACE, contentEncoding="gzip"), 415, "contentEncoding gzip"),
        (body("v1", "Namespace", NAMESPACE, contentType="application/json"), 415, "application/json"),
        (body("v1", "Node", NAMESPACE), 400, 'no protobuf schema for kind "Node" in version "v1"'),
        (body("apps/v1beta1", "Deployment", NAMESPACE), 400, "no protobuf schema"),
        (MAGIC + runtime_pb2.Unknown(raw=b"").SerializeToString(), 400, "no apiVersion and kind"),
    ],
    ids=["json", "cut-raw", "cut-unknown", "encoding", "content-type", "kind", "version", "no-type"],
)
def test_bodies_we_cannot_read_are_status_errors(data: bytes, code: int, words: str) -> None:
    with pytest.raises(StatusError) as caught:
        decode(data)
    assert caught.value.code == code and words in caught.value.message


def test_a_raw_extension_that_is_not_json_is_a_bad_request() -> None:
    meta = meta_v1_pb2.ObjectMeta(name="x")
    meta.managedFields.add(fieldsV1=meta_v1_pb2.FieldsV1(Raw=b"\xff not json"))
    with pytest.raises(StatusError) as caught:
        decode(body("v1", "Namespace", core_v1_pb2.Namespace(metadata=meta)))
    assert caught.value.code == 400


# --- decode against the real kubectl: every field set ------------------------------------------

ZERO = {
    FieldDescriptor.TYPE_STRING: "",
    FieldDescriptor.TYPE_BOOL: False,
    FieldDescriptor.TYPE_INT32: 0,
    FieldDescriptor.TYPE_INT64: 0,
    FieldDescriptor.TYPE_BYTES: b"",
}
LEAVES = {
    "Time": {"seconds": 1},
    "FieldsV1": {"Raw": b"{}"},
    "Quantity": {"string": "1"},
    "IntOrString": {"type": 0, "intVal": 0},
}


def fill(message: Any) -> Any:
    """Every field set, to its zero value, every list and map one entry long: what kubectl prints
    of it is Go's JSON for each field (pointer or not, omitempty or not, inline or not)."""
    if message.DESCRIPTOR.name in LEAVES:
        for name, value in LEAVES[message.DESCRIPTOR.name].items():
            setattr(message, name, value)
        return message
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                fill(value["k"])
            else:
                value["k"] = ZERO[value_field.type]
        elif field.is_repeated and field.message_type is not None:
            fill(value.add())
        elif field.is_repeated:
            value.append(ZERO[field.type])
        elif field.message_type is not None:
            value.SetInParent()
            fill(value)
        else:
            setattr(message, field.name, ZERO[field.type])
    return message


RBAC = "rbac.authorization.k8s.io/v1"
# (apiVersion, kind) -> (resource, namespaced, a kubectl command that creates one and prints the reply)
LIVE = {
    ("v1", "Namespace"): ("namespaces", False, "create namespace x"),
    ("v1", "ConfigMap"): ("configmaps", True, "create configmap c"),
    ("v1", "Secret"): ("secrets", True, "create secret generic s"),
    ("v1", "ServiceAccount"): ("serviceaccounts", True, "create serviceaccount sa"),
    ("v1", "Service"): ("services", True, "create service clusterip s --tcp=1:1"),
    ("v1", "ResourceQuota"): ("resourcequotas", True, "create quota q"),
    ("apps/v1", "Deployment"): ("deployments", True, "create deployment d --image=i"),
    ("batch/v1", "Job"): ("jobs", True, "create job j --image=i"),
    ("batch/v1", "CronJob"): ("cronjobs", True, "create cronjob c --image=i '--schedule=* * * * *'"),
    (RBAC, "Role"): ("roles", True, "create role r --verb=get --resource=configmaps"),
    (RBAC, "RoleBinding"): ("rolebindings", True, "create rolebinding b --role=r"),
    (RBAC, "ClusterRole"): ("clusterroles", False, "create clusterrole r --verb=get --resource=configmaps"),
    (RBAC, "ClusterRoleBinding"): (
        "clusterrolebindings",
        False,
        "create clusterrolebinding b --clusterrole=r",
    ),
    ("scheduling.k8s.io/v1", "PriorityClass"): ("priorityclasses", False, "create priorityclass p --value=1"),
    ("policy/v1", "PodDisruptionBudget"): (
        "poddisruptionbudgets",
        True,
        "create pdb p --selector=a=b --min-available=1",
    ),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True, "create ingress i --rule=a.com/b=s:80"),
    ("authentication.k8s.io/v1", "SelfSubjectReview"): ("selfsubjectreviews", False, "auth whoami"),
}


class _Apiserver(BaseHTTPRequestHandler):
    """Just enough of an apiserver for kubectl: version, discovery, and `reply` to every POST."""

    protocol_version = "HTTP/1.1"
    reply = b""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, data: bytes, content_type: str, code: int = 200) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        versions: dict[str, list[dict[str, Any]]] = {}
        for (api_version, kind), (resource, namespaced, _) in LIVE.items():
            entry = {
                "name": resource,
                "singularName": "",
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create"],
            }
            versions.setdefault(api_version, []).append(entry)
        groups = [v for v in versions if "/" in v]
        documents = {
            "/version": {
                "major": "1",
                "minor": "32",
                "gitVersion": "v1.32.0-kplane",
                "platform": "linux/amd64",
            },
            "/api": {"kind": "APIVersions", "versions": ["v1"]},
            "/apis": {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": v.split("/")[0],
                        "versions": [{"groupVersion": v, "version": "v1"}],
                        "preferredVersion": {"groupVersion": v, "version": "v1"},
                    }
                    for v in groups
                ],
            },
            **{
                ("/api/v1" if v == "v1" else f"/apis/{v}"): {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": v,
                    "resources": resources,
                }
                for v, resources in versions.items()
            },
        }
        document = documents.get(self.path.split("?")[0])
        self._send(json.dumps(document or {}).encode(), "application/json", 200 if document else 404)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(type(self).reply, "application/vnd.kubernetes.protobuf", 201)


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict[str, str]]]:
    """kubectl's flags for the fake apiserver, and its environment (a HOME of its own, for
    the discovery cache)."""
    if shutil.which("kubectl") is None:
        pytest.skip("no kubectl")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Apiserver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {**os.environ, "HOME": str(tmp_path_factory.mktemp("home"))}
    try:
        yield (
            [f"--server=http://127.0.0.1:{server.server_address[1]}", "-o=json", "--show-managed-fields"],
            env,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("kind", list(LIVE), ids=lambda kind: kind[1])
def test_kubectl_prints_a_full_object_as_decode_reads_it(
    kubectl: tuple[list[str], dict[str, str]], kind: tuple[str, str]
) -> None:
    """The server answers kubectl's POST with a protobuf object that has every field set; kubectl
    parses it into its Go structs and prints them as JSON, which must be what `decode` makes of the
    same bytes: every field's name, inlining and zero-value rule checked by the real client."""
    reply = body(*kind, fill(KINDS[kind]()))
    _Apiserver.reply = reply
    flags, env = kubectl
    command = ["kubectl", *shlex.split(LIVE[kind][2]), *flags]  # /usr/bin/kubectl wants flags last
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert decode(reply) == json.loads(done.stdout)

"""kplane-apiserver over plain HTTPS: curl-style requests with YAML bodies, bad input answered with
the right `Status` every time (and nothing half-written), and the official Python client
(list, create, patch, and a watch resumed from a resourceVersion across an apiserver restart)."""

import json
import signal
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from helpers.control_plane import ControlPlane
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

pytestmark = pytest.mark.integration

CONFIGMAP_YAML = b"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: from-yaml
  labels: {source: curl}
data:
  greeting: hello
"""


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("cp-http"))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


def status_of(body: bytes) -> dict:  # type: ignore[type-arg]
    status = json.loads(body)
    assert status["kind"] == "Status" and status["apiVersion"] == "v1" and status["status"] == "Failure"
    return status  # type: ignore[no-any-return]


def test_post_put_get_a_yaml_manifest(cp: ControlPlane) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    code, body, _ = cp.request("POST", path, CONFIGMAP_YAML, headers={"Content-Type": "application/yaml"})
    assert code == 201, body
    created = json.loads(body)
    changed = CONFIGMAP_YAML.replace(b"hello", b"bonjour")
    code, body, _ = cp.request(
        "PUT", f"{path}/from-yaml", changed, headers={"Content-Type": "application/yaml"}
    )
    assert code == 200, body
    code, body, _ = cp.request("GET", f"{path}/from-yaml", headers={"Accept": "application/yaml"})
    assert code == 200 and b"greeting: bonjour" in body
    assert (
        json.loads(cp.request("GET", f"{path}/from-yaml")[1])["metadata"]["uid"] == created["metadata"]["uid"]
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "code", "reason"),
    [
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            b'{"kind": "ConfigMap", ',
            "application/json",
            400,
            "BadRequest",
        ),
        ("POST", "/api/v1/namespaces/default/configmaps", b"a: [b", "application/yaml", 400, "BadRequest"),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            b'{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}',
            "application/json",
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}}',
            "application/json",
            400,
            "BadRequest",
        ),
        ("POST", "/api/v1/namespaces/default/configmaps", b"{}", "text/csv", 415, "UnsupportedMediaType"),
        ("GET", "/apis/nosuch.example.com/v1/widgets", b"", "application/json", 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/configmaps/absent", b"", "application/json", 404, "NotFound"),
        (
            "GET",
            "/api/v1/configmaps?labelSelector=" + "a%3D" * 20_000,
            b"",
            "application/json",
            400,
            "BadRequest",
        ),
        ("GET", "/api/v1/configmaps?labelSelector=a%20in%20(", b"", "application/json", 400, "BadRequest"),
        (
            "GET",
            "/api/v1/configmaps?resourceVersion=abc&resourceVersionMatch=Exact",
            b"",
            "application/json",
            400,
            "BadRequest",
        ),
    ],
    ids=[
        "malformed json",
        "malformed yaml",
        "wrong kind for the url",
        "namespace differs from the url",
        "unknown content type",
        "unknown group",
        "missing object",
        "huge label selector",
        "broken label selector",
        "resource version not a number",
    ],
)
def test_bad_requests_get_a_status_and_write_nothing(
    cp: ControlPlane, method: str, path: str, body: bytes, content_type: str, code: int, reason: str
) -> None:
    before = cp.etcd.etcdctl("get", "/registry/", "--prefix", "--keys-only").stdout
    status_code, response, _ = cp.request(method, path, body or None, headers={"Content-Type": content_type})
    assert status_code == code
    status = status_of(response)
    assert status["code"] == code and status["reason"] == reason and status["message"]
    assert cp.etcd.etcdctl("get", "/registry/", "--prefix", "--keys-only").stdout == before
    assert cp.request("GET", "/readyz")[0] == 200  # still serving


def test_an_oversize_body_is_refused_with_413(cp: ControlPlane) -> None:
    huge = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "huge"},
            "data": {"a": "x" * (4 << 20)},
        }
    )
    code, body, _ = cp.request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        huge.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert code == 413 and status_of(body)["reason"] == "RequestEntityTooLarge"


def test_a_client_without_a_certificate_gets_401(cp: ControlPlane) -> None:
    code, body, _ = cp.request("GET", "/api/v1/namespaces", cert=False)
    assert code == 401 and status_of(body)["reason"] == "Unauthorized"


def test_an_update_with_a_stale_resource_version_conflicts(cp: ControlPlane) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "contended"}, "data": {"n": "0"}}
    code, body, _ = cp.request(
        "POST", path, json.dumps(obj).encode(), headers={"Content-Type": "application/json"}
    )
    stale = json.loads(body)
    fresh = {**stale, "data": {"n": "1"}}
    assert (
        cp.request(
            "PUT",
            f"{path}/contended",
            json.dumps(fresh).encode(),
            headers={"Content-Type": "application/json"},
        )[0]
        == 200
    )
    loser = {**stale, "data": {"n": "2"}}
    code, body, _ = cp.request(
        "PUT", f"{path}/contended", json.dumps(loser).encode(), headers={"Content-Type": "application/json"}
    )
    assert code == 409 and status_of(body)["reason"] == "Conflict"
    assert json.loads(cp.request("GET", f"{path}/contended")[1])["data"] == {"n": "1"}


def python_client(cp: ControlPlane) -> k8s.CoreV1Api:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(cp.kubeconfig), client_configuration=configuration)
    return k8s.CoreV1Api(k8s.ApiClient(configuration))


def test_the_python_client_lists_creates_patches_and_watches_across_a_restart(cp: ControlPlane) -> None:
    api = python_client(cp)
    assert "default" in [ns.metadata.name for ns in api.list_namespace().items]
    body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="py", labels={"via": "python"}), data={"a": "1"})
    created = api.create_namespaced_config_map("default", body)
    patched = api.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    listed = api.list_namespaced_config_map("default", label_selector="via=python")
    assert [c.metadata.name for c in listed.items] == ["py"]
    resume_from = patched.metadata.resource_version

    cp.stop_apiserver()  # changes made while it is down must still arrive after resuming
    cp.etcd.etcdctl("put", "/registry/marker", "x")
    cp.start_apiserver()
    api = python_client(cp)
    api.patch_namespaced_config_map("py", "default", {"data": {"c": "3"}})
    api.delete_namespaced_config_map("py", "default")

    seen: list[tuple[str, str]] = []

    def follow() -> None:
        watcher = k8s_watch.Watch()
        for event in watcher.stream(
            api.list_namespaced_config_map,
            "default",
            resource_version=resume_from,
            field_selector="metadata.name=py",
            timeout_seconds=10,
        ):
            seen.append((event["type"], sorted((event["object"].data or {}).keys())))
            if event["type"] == "DELETED":
                watcher.stop()

    thread = threading.Thread(target=follow)
    thread.start()
    thread.join(timeout=20)
    assert seen == [("MODIFIED", ["a", "b", "c"]), ("DELETED", ["a", "b", "c"])]
    assert created.metadata.uid


def test_no_watch_event_is_lost_or_doubled_when_the_store_leader_dies(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An apiserver on three kplane-etcd members; a client watches configmaps while they are
    created one by one and the store's leader is killed halfway: every create the client saw
    acknowledged arrives exactly once, in resourceVersion order."""
    plane = ControlPlane(tmp_path_factory.mktemp("cp-3"), "kplane-3")
    try:
        plane.start()
        api = python_client(plane)
        start = api.list_namespaced_config_map("default").metadata.resource_version
        events: list[tuple[str, str, int]] = []

        def follow() -> None:
            watcher = k8s_watch.Watch()
            for event in watcher.stream(
                api.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=40
            ):
                meta = event["object"].metadata
                events.append((event["type"], meta.name, int(meta.resource_version)))
                if meta.name == "last":
                    watcher.stop()

        thread = threading.Thread(target=follow)
        thread.start()
        assert plane.cluster is not None
        created = []
        for n in range(40):
            if n == 20:
                leader = plane.cluster.node_of(plane.cluster.wait_for_leader())
                plane.cluster.stop(leader, signal.SIGKILL)
            body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=f"cm-{n}"))
            for _ in range(50):  # a create during the election may fail; try again until it lands
                try:
                    api.create_namespaced_config_map("default", body)
                    created.append(f"cm-{n}")
                    break
                except k8s.ApiException as error:
                    if error.status == 409:  # an earlier try went through after all
                        created.append(f"cm-{n}")
                        break
                    time.sleep(0.2)
        api.create_namespaced_config_map("default", k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="last")))
        thread.join(timeout=60)
        added = [name for kind, name, _ in events if kind == "ADDED"]
        assert added == [*created, "last"]
        revisions = [rv for _, _, rv in events]
        assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
    finally:
        plane.stop()


def post_json(cp: ControlPlane, path: str, obj: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, body, _ = cp.request(
        "POST", path, json.dumps(obj).encode(), headers={"Content-Type": "application/json"}
    )
    return code, json.loads(body)


def test_binding_puts_a_pod_on_a_node_once(cp: ControlPlane) -> None:
    pods = "/api/v1/namespaces/default/pods"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bindme"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    assert post_json(cp, pods, pod)[0] == 201
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "bindme"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
    }
    code, status = post_json(cp, f"{pods}/bindme/binding", binding)
    assert code == 201 and status["status"] == "Success"
    bound = json.loads(cp.request("GET", f"{pods}/bindme")[1])
    assert bound["spec"]["nodeName"] == "node-1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= bound["status"]["conditions"][0].items()
    code, status = post_json(
        cp, f"{pods}/bindme/binding", {**binding, "target": {"kind": "Node", "name": "node-2"}}
    )
    assert code == 409 and status["reason"] == "Conflict"


def test_new_pods_tolerate_not_ready_and_unreachable_nodes_for_five_minutes(cp: ControlPlane) -> None:
    """Upstream's DefaultTolerationSeconds admission, unless the pod tolerates those taints itself."""
    pods = "/api/v1/namespaces/default/pods"
    container = [{"name": "c", "image": "busybox"}]
    code, plain = post_json(cp, pods, {"metadata": {"name": "tolerant"}, "spec": {"containers": container}})
    assert code == 201
    assert plain["spec"]["tolerations"] == [
        {
            "key": f"node.kubernetes.io/{key}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
        for key in ("not-ready", "unreachable")
    ]
    own = [
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 5,
        }
    ]
    code, custom = post_json(
        cp, pods, {"metadata": {"name": "impatient"}, "spec": {"containers": container, "tolerations": own}}
    )
    assert code == 201
    assert [t["key"] for t in custom["spec"]["tolerations"]] == [
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
    ]
    assert custom["spec"]["tolerations"][0]["tolerationSeconds"] == 5


def test_a_pods_priority_class_becomes_its_priority(cp: ControlPlane) -> None:
    """Upstream's Priority admission: the class's value and preemption policy, the system classes
    built in, a globalDefault class for pods without a name, and 403 for a class that is missing."""
    pods = "/api/v1/namespaces/default/pods"

    def pod(name: str, **spec: object) -> dict[str, object]:
        return {
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
        }

    code, critical = post_json(cp, pods, pod("critical", priorityClassName="system-node-critical"))
    assert code == 201
    assert (critical["spec"]["priority"], critical["spec"]["preemptionPolicy"]) == (
        2000001000,
        "PreemptLowerPriority",
    )
    code, status = post_json(cp, pods, pod("unknown", priorityClassName="no-such-class"))
    assert (code, status["reason"]) == (403, "Forbidden")
    assert (
        status["message"] == 'pods "unknown" is forbidden: no PriorityClass with name no-such-class was found'
    )
    code, status = post_json(cp, pods, pod("forged", priorityClassName="system-node-critical", priority=7))
    assert code == 403 and "must not be provided in pod spec" in status["message"]

    classes = "/apis/scheduling.k8s.io/v1/priorityclasses"
    low = {"metadata": {"name": "everyone"}, "value": 5, "globalDefault": True, "preemptionPolicy": "Never"}
    assert post_json(cp, classes, low)[0] == 201
    try:
        code, plain = post_json(cp, pods, pod("plain"))
        assert code == 201
        assert (plain["spec"]["priorityClassName"], plain["spec"]["priority"]) == ("everyone", 5)
        assert plain["spec"]["preemptionPolicy"] == "Never"
    finally:
        cp.request("DELETE", f"{classes}/everyone")


def test_eviction_respects_the_disruption_budget(cp: ControlPlane) -> None:
    pods = "/api/v1/namespaces/default/pods"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "evictme", "labels": {"app": "guarded"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    assert post_json(cp, pods, pod)[0] == 201
    running = json.loads(cp.request("GET", f"{pods}/evictme")[1])
    running["status"] = {"phase": "Running"}
    assert (
        cp.request(
            "PUT",
            f"{pods}/evictme/status",
            json.dumps(running).encode(),
            headers={"Content-Type": "application/json"},
        )[0]
        == 200
    )
    pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "guard"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
    }
    assert post_json(cp, pdbs, pdb)[0] == 201
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evictme"}}
    code, status = post_json(cp, f"{pods}/evictme/eviction", eviction)
    assert code == 429 and status["reason"] == "TooManyRequests"
    stored = json.loads(cp.request("GET", f"{pdbs}/guard")[1])
    stored["status"] = {
        "disruptionsAllowed": 1,
        "currentHealthy": 1,
        "desiredHealthy": 1,
        "expectedPods": 1,
        "observedGeneration": 1,
    }
    assert (
        cp.request(
            "PUT",
            f"{pdbs}/guard/status",
            json.dumps(stored).encode(),
            headers={"Content-Type": "application/json"},
        )[0]
        == 200
    )
    code, status = post_json(cp, f"{pods}/evictme/eviction", eviction)
    assert code == 201, status
    assert cp.request("GET", f"{pods}/evictme")[0] == 404
    budget = json.loads(cp.request("GET", f"{pdbs}/guard")[1])["status"]
    assert budget["disruptionsAllowed"] == 0 and "evictme" in budget["disruptedPods"]


def test_events_of_both_groups_are_one_key_space(cp: ControlPlane) -> None:
    new_style = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "ev1"},
        "eventTime": "2026-11-26T10:00:00.000000Z",
        "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
        "note": "pulled the image",
        "reason": "Pulled",
        "type": "Normal",
        "action": "Pull",
        "reportingController": "kplane.io/kubelet",
        "reportingInstance": "node-1",
    }
    assert post_json(cp, "/apis/events.k8s.io/v1/namespaces/default/events", new_style)[0] == 201
    core = json.loads(cp.request("GET", "/api/v1/namespaces/default/events/ev1")[1])
    assert core["apiVersion"] == "v1" and core["message"] == "pulled the image"
    assert core["involvedObject"]["name"] == "web" and core["reportingComponent"] == "kplane.io/kubelet"
    listed = json.loads(cp.request("GET", "/apis/events.k8s.io/v1/namespaces/default/events")[1])
    mine = [e for e in listed["items"] if e["metadata"]["name"] == "ev1"]
    assert mine[0]["note"] == "pulled the image" and mine[0]["apiVersion"] == "events.k8s.io/v1"
    selected = cp.request("GET", "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb")
    assert [e["metadata"]["name"] for e in json.loads(selected[1])["items"]] == ["ev1"]
    stored = json.loads(cp.etcd.etcdctl("get", "/registry/events/default/ev1", "--print-value-only").stdout)
    assert stored["apiVersion"] == "v1" and "involvedObject" in stored


def test_nothing_is_created_in_a_missing_or_terminating_namespace(cp: ControlPlane) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    code, status = post_json(cp, "/api/v1/namespaces/nowhere/configmaps", configmap)
    assert code == 404 and status["message"] == 'namespaces "nowhere" not found'
    assert (
        post_json(
            cp,
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}},
        )[0]
        == 201
    )
    code, body, _ = cp.request("DELETE", "/api/v1/namespaces/doomed")
    assert (
        code == 200 and json.loads(body)["status"]["phase"] == "Terminating"
    )  # its finalizer waits for the controller
    code, status = post_json(cp, "/api/v1/namespaces/doomed/configmaps", configmap)
    assert code == 403 and status["reason"] == "Forbidden" and "being terminated" in status["message"]


def test_metrics_use_kube_apiservers_names(cp: ControlPlane) -> None:
    cp.request("GET", "/api/v1/namespaces/default/configmaps")
    code, body, headers = cp.request("GET", "/metrics")
    text = body.decode()
    assert code == 200 and headers["content-type"].startswith("text/plain")
    assert (
        'apiserver_request_total{code="200",group="",resource="configmaps",subresource="",verb="LIST",version="v1"}'
        in text
    )
    assert "apiserver_request_duration_seconds_bucket" in text
    assert 'apiserver_storage_objects{resource="namespaces"}' in text
    assert "apiserver_watch_events_total" in text


def test_invalid_labels_give_422_with_a_cause_per_field_and_warn_mode_warns(cp: ControlPlane) -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "Bad_Name", "labels": {"ok": "fine", "bad key": "x", "k": "-bad value-"}},
    }
    code, status = post_json(cp, "/api/v1/namespaces/default/configmaps", bad)
    assert code == 422 and status["reason"] == "Invalid"
    fields = sorted(cause["field"] for cause in status["details"]["causes"])
    assert fields == ["metadata.labels", "metadata.labels", "metadata.name"]
    assert cp.request("GET", "/api/v1/namespaces/default/configmaps/Bad_Name")[0] == 404  # nothing written
    odd = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "warned"}, "dta": {"a": "1"}}
    code, body, headers = cp.request(
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
        json.dumps(odd).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert code == 201 and 'unknown field \\"dta\\"' in headers["warning"] and "dta" not in json.loads(body)


def test_lists_paginate_with_limit_and_continue(cp: ControlPlane) -> None:
    for n in range(7):
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"page-{n}", "labels": {"paged": "yes"}},
        }
        assert post_json(cp, "/api/v1/namespaces/default/configmaps", body)[0] == 201
    names: list[str] = []
    token = ""
    revisions = set()
    while True:
        query = "labelSelector=paged%3Dyes&limit=3" + (f"&continue={token}" if token else "")
        page = json.loads(cp.request("GET", f"/api/v1/namespaces/default/configmaps?{query}")[1])
        names += [item["metadata"]["name"] for item in page["items"]]
        revisions.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"page-{n}" for n in range(7)]
    assert len(revisions) == 1  # every page is read at the first page's revision


def test_a_watch_from_a_compacted_revision_gets_410_and_a_relist_works(cp: ControlPlane) -> None:
    listed = json.loads(cp.request("GET", "/api/v1/namespaces/default/configmaps")[1])
    old = int(listed["metadata"]["resourceVersion"])
    for n in range(3):
        post_json(
            cp,
            "/api/v1/namespaces/default/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"gone-{n}"}},
        )
    current = int(
        json.loads(cp.request("GET", "/api/v1/namespaces/default/configmaps")[1])["metadata"][
            "resourceVersion"
        ]
    )
    cp.etcd.etcdctl("compaction", str(current))
    code, body, _ = cp.request(
        "GET", f"/api/v1/namespaces/default/configmaps?resourceVersion={old}&resourceVersionMatch=Exact"
    )
    assert code == 410 and status_of(body)["reason"] == "Expired"
    # A watch from before the cache's window falls back to the store, which answers 410 Expired;
    # a watch from inside the window still works.
    code, body, _ = cp.request(
        "GET", "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1&timeoutSeconds=2"
    )
    first = json.loads(body.splitlines()[0])
    assert first["type"] == "ERROR" and first["object"]["code"] == 410
    code, body, _ = cp.request("GET", "/api/v1/namespaces/default/configmaps")
    assert code == 200 and {f"gone-{n}" for n in range(3)} <= {
        i["metadata"]["name"] for i in json.loads(body)["items"]
    }


def test_a_certificate_from_another_ca_is_refused(
    cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from pki import PkiSpec, init_pki

    foreign = tmp_path_factory.mktemp("foreign-pki")
    init_pki(foreign, PkiSpec())
    context = cp.ssl_context(cert=False)
    context.load_cert_chain(str(foreign / "admin.crt"), str(foreign / "admin.key"))
    request = urllib.request.Request(cp.url + "/api/v1/namespaces")
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(request, context=context, timeout=10)
    assert cp.request("GET", "/readyz")[0] == 200


def test_a_watch_can_start_with_the_current_objects_and_a_bookmark_after_them(cp: ControlPlane) -> None:
    assert (
        post_json(
            cp,
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "streamed"}},
        )[0]
        == 201
    )
    for n in range(3):
        post_json(
            cp,
            "/api/v1/namespaces/streamed/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"s{n}"}},
        )
    query = (
        "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion="
        "&allowWatchBookmarks=true&timeoutSeconds=2"
    )
    code, body, _ = cp.request("GET", f"/api/v1/namespaces/streamed/configmaps?{query}")
    events = [json.loads(line) for line in body.splitlines()]
    assert code == 200
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events[:3]] == [
        ("ADDED", f"s{n}") for n in range(3)
    ]
    bookmark = events[3]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= max(
        int(e["object"]["metadata"]["resourceVersion"]) for e in events[:3]
    )

"""Defaulting gives objects the fields kube-apiserver v1.32 gives them: what `kubectl get -o yaml`
shows that the manifest did not say, including quantities in their stored form."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeapi.defaults import apply_defaults, job_selector_and_labels
from kubeapi.defaults.pods import image_tag

DEFAULTED_POD_SPEC = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}
DEFAULTED_CONTAINER = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}


def template(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec},
    }


def test_a_deployment_gets_what_kubectl_get_shows() -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()},
    }
    original = copy.deepcopy(manifest)
    defaulted = apply_defaults("apps", "v1", "Deployment", manifest)
    assert manifest == original, "the input is not changed"
    assert defaulted["spec"] == {
        "selector": {"matchLabels": {"app": "web"}},
        "replicas": 1,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "imagePullPolicy": "IfNotPresent",
                        **DEFAULTED_CONTAINER,
                    }
                ],
                **DEFAULTED_POD_SPEC,
            },
        },
    }


def test_a_recreate_deployment_gets_no_rolling_update() -> None:
    manifest = {"spec": {"strategy": {"type": "Recreate"}, "template": template()}}
    assert apply_defaults("apps", "v1", "Deployment", manifest)["spec"]["strategy"] == {"type": "Recreate"}


def test_a_pod_gets_the_pod_only_defaults_and_admissions_priority() -> None:
    pod = {
        "metadata": {"name": "web"},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "readinessProbe": {"httpGet": {"port": 80}},
                }
            ],
            "volumes": [{"name": "cache"}, {"name": "config", "configMap": {"name": "web"}}],
        },
    }
    spec = apply_defaults("", "v1", "Pod", pod)["spec"]
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "128Mi"}
    assert container["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}
    assert container["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert spec["volumes"] == [
        {"name": "cache", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "web", "defaultMode": 420}},
    ]
    assert (spec["enableServiceLinks"], spec["priority"], spec["preemptionPolicy"]) == (
        True,
        0,
        "PreemptLowerPriority",
    )


def test_templates_do_not_get_the_pod_only_defaults() -> None:
    manifest = {"spec": {"template": template()}}
    spec = apply_defaults("apps", "v1", "ReplicaSet", manifest)["spec"]["template"]["spec"]
    assert "enableServiceLinks" not in spec and "priority" not in spec


def test_a_pod_update_keeps_the_priority_admission_set_on_create() -> None:
    stored = apply_defaults("", "v1", "Pod", {"spec": {"containers": [{"name": "a", "image": "b"}]}})
    update = {"spec": {"containers": [{"name": "a", "image": "c"}]}}
    spec = apply_defaults("", "v1", "Pod", update, old=stored)["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")


def test_host_network_pods_get_host_ports() -> None:
    pod = {
        "spec": {
            "hostNetwork": True,
            "containers": [{"name": "a", "image": "b", "ports": [{"containerPort": 9100}]}],
        }
    }
    port = apply_defaults("", "v1", "Pod", pod)["spec"]["containers"][0]["ports"][0]
    assert port == {"containerPort": 9100, "hostPort": 9100, "protocol": "TCP"}


@pytest.mark.parametrize(
    ("image", "tag", "policy"),
    [
        ("nginx", "latest", "Always"),
        ("nginx:latest", "latest", "Always"),
        ("nginx:1.27", "1.27", "IfNotPresent"),
        ("registry.k8s.io/pause:3.10", "3.10", "IfNotPresent"),
        ("localhost:5000/app", "latest", "Always"),
        ("nginx@sha256:" + "a" * 64, "", "IfNotPresent"),
        ("Nginx", "", "IfNotPresent"),
        ("", "", "IfNotPresent"),
    ],
)
def test_the_pull_policy_follows_the_images_tag(image: str, tag: str, policy: str) -> None:
    assert image_tag(image) == tag
    pod = apply_defaults("", "v1", "Pod", {"spec": {"containers": [{"name": "a", "image": image}]}})
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_a_job_gets_its_defaults_and_keeps_the_always_restart_policy_validation_refuses() -> None:
    job = {
        "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}},
    }
    spec = apply_defaults("batch", "v1", "Job", job)["spec"]
    assert {k: v for k, v in spec.items() if k != "template"} == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
        "manualSelector": False,
    }
    assert spec["template"]["spec"]["restartPolicy"] == "Always"


def test_a_parallel_job_keeps_completions_unset() -> None:
    job = {"spec": {"parallelism": 3, "template": template(restartPolicy="Never")}}
    spec = apply_defaults("batch", "v1", "Job", job)["spec"]
    assert "completions" not in spec and spec["parallelism"] == 3


def test_a_new_job_gets_a_generated_selector_and_the_labels_it_selects() -> None:
    job = apply_defaults(
        "batch",
        "v1",
        "Job",
        {"metadata": {"name": "pi"}, "spec": {"template": template(restartPolicy="Never")}},
    )
    job_selector_and_labels(job, "8a1f")
    labels = {
        "app": "web",
        "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "8a1f",
        "batch.kubernetes.io/controller-uid": "8a1f",
    }
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "8a1f"}}
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert job["metadata"]["labels"] == labels


def test_a_manual_selector_job_is_left_alone() -> None:
    job = {"metadata": {"name": "pi"}, "spec": {"manualSelector": True, "template": template()}}
    assert job_selector_and_labels(copy.deepcopy(job), "u") == job


def test_a_cron_job_defaults_its_policy_and_its_pod_template_only() -> None:
    cron = {
        "spec": {
            "schedule": "@hourly",
            "jobTemplate": {"spec": {"template": template(restartPolicy="OnFailure")}},
        }
    }
    spec = apply_defaults("batch", "v1", "CronJob", cron)["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    job_spec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in job_spec
    assert job_spec["template"]["spec"]["schedulerName"] == "default-scheduler"


def test_a_stateful_set_and_its_claim_templates() -> None:
    sts = {
        "spec": {
            "serviceName": "db",
            "template": template(),
            "volumeClaimTemplates": [
                {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
            ],
        }
    }
    spec = apply_defaults("apps", "v1", "StatefulSet", sts)["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert (spec["replicas"], spec["revisionHistoryLimit"]) == (1, 10)
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["status"] == {"phase": "Pending"}


def test_a_daemon_set_rolls_one_pod_at_a_time() -> None:
    spec = apply_defaults("apps", "v1", "DaemonSet", {"spec": {"template": template()}})["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert spec["revisionHistoryLimit"] == 10


def test_a_replication_controller_selects_its_template_labels() -> None:
    rc = apply_defaults(
        "", "v1", "ReplicationController", {"metadata": {"name": "web"}, "spec": {"template": template()}}
    )
    assert rc["spec"]["selector"] == {"app": "web"}
    assert rc["metadata"]["labels"] == {"app": "web"}
    assert rc["spec"]["replicas"] == 1


QUANTITIES = [
    ("binary memory is shortened", {"memory": "1024Mi"}, {"memory": "1Gi"}),
    ("a fraction of a cpu becomes millis", {"cpu": 0.5}, {"cpu": "500m"}),
    ("a whole number stays", {"cpu": 2}, {"cpu": "2"}),
    ("micro-cpus round up to a milli", {"cpu": "100u"}, {"cpu": "1m"}),
    ("decimal exponents are canonical", {"memory": "1e3"}, {"memory": "1e3"}),
    (
        "canonical strings are kept, fractions of a suffix are not",
        {"memory": "1.5Gi", "cpu": "250m"},
        {"memory": "1536Mi", "cpu": "250m"},
    ),
]


@pytest.mark.parametrize(("name", "limits", "stored"), QUANTITIES, ids=[q[0] for q in QUANTITIES])
def test_resource_quantities_are_stored_canonically(
    name: str, limits: dict[str, Any], stored: dict[str, str]
) -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "b", "resources": {"limits": limits}}]}}
    resources = apply_defaults("", "v1", "Pod", pod)["spec"]["containers"][0]["resources"]
    assert resources == {"limits": stored, "requests": stored}


def test_single_quantities_are_canonical_but_not_rounded() -> None:
    pod = {
        "spec": {
            "containers": [{"name": "a", "image": "b"}],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1024Mi"}}],
        }
    }
    assert apply_defaults("", "v1", "Pod", pod)["spec"]["volumes"][0]["emptyDir"] == {"sizeLimit": "1Gi"}


def test_secret_string_data_is_folded_into_data() -> None:
    secret = {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}, "data": {"user": "YWRtaW4="}}
    assert apply_defaults("", "v1", "Secret", secret) == {
        "metadata": {"name": "db"},
        "data": {"user": "YWRtaW4=", "password": "aHVudGVyMg=="},
        "type": "Opaque",
    }


OTHER_KINDS = [
    (
        "a namespace carries its name as a label",
        "",
        "Namespace",
        {"metadata": {"name": "team-a"}},
        {"metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"}}},
    ),
    (
        "a claim is a filesystem and pending",
        "",
        "PersistentVolumeClaim",
        {"spec": {}},
        {"spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}},
    ),
    (
        "a volume is retained",
        "",
        "PersistentVolume",
        {"spec": {"hostPath": {"path": "/data"}}},
        {
            "spec": {
                "hostPath": {"path": "/data", "type": ""},
                "persistentVolumeReclaimPolicy": "Retain",
                "volumeMode": "Filesystem",
            },
            "status": {"phase": "Pending"},
        },
    ),
    (
        "endpoint ports are TCP",
        "",
        "Endpoints",
        {"subsets": [{"ports": [{"port": 80}]}]},
        {"subsets": [{"ports": [{"port": 80, "protocol": "TCP"}]}]},
    ),
    (
        "slice ports are TCP and named",
        "discovery.k8s.io",
        "EndpointSlice",
        {"ports": [{"port": 80}]},
        {"ports": [{"port": 80, "name": "", "protocol": "TCP"}]},
    ),
    (
        "a node's allocatable is its capacity",
        "",
        "Node",
        {"status": {"capacity": {"cpu": "4"}}},
        {"status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "4"}}},
    ),
    (
        "a priority class preempts",
        "scheduling.k8s.io",
        "PriorityClass",
        {"value": 1000},
        {"value": 1000, "preemptionPolicy": "PreemptLowerPriority"},
    ),
    (
        "a storage class deletes and binds at once",
        "storage.k8s.io",
        "StorageClass",
        {"provisioner": "x"},
        {"provisioner": "x", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"},
    ),
    (
        "bindings name the rbac group",
        "rbac.authorization.k8s.io",
        "RoleBinding",
        {
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}],
        },
        {
            "roleRef": {"kind": "Role", "name": "r", "apiGroup": "rbac.authorization.k8s.io"},
            "subjects": [
                {"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"},
                {"kind": "ServiceAccount", "name": "s"},
            ],
        },
    ),
    (
        "container limit ranges fill defaults from max",
        "",
        "LimitRange",
        {"spec": {"limits": [{"type": "Container", "max": {"memory": "1Gi"}, "min": {"cpu": "100m"}}]}},
        {
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "max": {"memory": "1Gi"},
                        "min": {"cpu": "100m"},
                        "default": {"memory": "1Gi"},
                        "defaultRequest": {"memory": "1Gi", "cpu": "100m"},
                    }
                ]
            }
        },
    ),
    ("config maps have no defaults", "", "ConfigMap", {"data": {"a": "b"}}, {"data": {"a": "b"}}),
]


@pytest.mark.parametrize(
    ("name", "group", "kind", "obj", "expected"), OTHER_KINDS, ids=[o[0] for o in OTHER_KINDS]
)
def test_other_kinds(name: str, group: str, kind: str, obj: dict[str, Any], expected: dict[str, Any]) -> None:
    version = "v1"
    assert apply_defaults(group, version, kind, obj) == expected

"""Validation of the built-in kinds reports what kube-apiserver v1.32 reports: the same reasons,
field paths and messages, on realistic manifests after defaulting (as the apiserver runs it)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeapi import errors
from kubeapi.defaults import apply_defaults, job_selector_and_labels
from kubeapi.validation.batch import cron_error
from kubeapi.validation.kinds import validate

Object = dict[str, Any]
DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def check(group: str, kind: str, obj: Object, *, old: Object | None = None) -> list[tuple[str, str, str]]:
    """(reason, field, message) of each cause, for the defaulted object as the apiserver stores it."""
    defaulted = apply_defaults(group, "v1", kind, obj, old=old)
    return [(c.type, c.field, c.message) for c in validate(group, "v1", kind, defaulted, old=old)]


def stored(group: str, kind: str, obj: Object) -> Object:
    return apply_defaults(group, "v1", kind, obj)


def deployment(**changes: Any) -> Object:
    obj: Object = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"name": "http", "containerPort": 80}],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/nginx/conf.d"}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": "web"}}],
                },
            },
        },
    }
    for path, value in changes.items():
        target: Any = obj
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return obj


def pod(**spec: Any) -> Object:
    return {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec},
    }


VALID = [
    ("a web deployment", "apps", "Deployment", deployment()),
    ("a pod", "", "Pod", pod()),
    (
        "a stateful set with a claim template",
        "apps",
        "StatefulSet",
        {
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
    ),
    (
        "a daemon set",
        "apps",
        "DaemonSet",
        {
            "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {
                        "containers": [{"name": "agent", "image": "agent:1"}],
                        "tolerations": [{"operator": "Exists"}],
                    },
                },
            },
        },
    ),
    (
        "a cron job",
        "batch",
        "CronJob",
        {
            "metadata": {"name": "report", "namespace": "shop"},
            "spec": {
                "schedule": "*/15 9-17 * * MON-FRI",
                "timeZone": "Europe/Paris",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "OnFailure",
                                "containers": [{"name": "r", "image": "report:2"}],
                            }
                        }
                    }
                },
            },
        },
    ),
    (
        "a service",
        "",
        "Service",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                    {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
                ],
            },
        },
    ),
    (
        "a headless service without ports",
        "",
        "Service",
        {
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "None",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
            },
        },
    ),
    (
        "a config map",
        "",
        "ConfigMap",
        {"metadata": {"name": "web", "namespace": "shop"}, "data": {"nginx.conf": "x"}},
    ),
    (
        "a tls secret",
        "",
        "Secret",
        {
            "metadata": {"name": "tls", "namespace": "shop"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y3J0", "tls.key": "a2V5"},
        },
    ),
    ("a namespace", "", "Namespace", {"metadata": {"name": "shop"}}),
    (
        "a role binding",
        "rbac.authorization.k8s.io",
        "RoleBinding",
        {
            "metadata": {"name": "read", "namespace": "shop"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "web", "namespace": "shop"},
                {"kind": "User", "name": "jane"},
            ],
        },
    ),
    (
        "a cluster role",
        "rbac.authorization.k8s.io",
        "ClusterRole",
        {
            "metadata": {"name": "system:pod-reader"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            ],
        },
    ),
    (
        "a disruption budget",
        "policy",
        "PodDisruptionBudget",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
        },
    ),
    (
        "a lease",
        "coordination.k8s.io",
        "Lease",
        {
            "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
        },
    ),
    (
        "an endpoint slice",
        "discovery.k8s.io",
        "EndpointSlice",
        {
            "metadata": {"name": "web-abc", "namespace": "shop"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.5"]}],
            "ports": [{"name": "http", "port": 80}],
        },
    ),
    (
        "a claim",
        "",
        "PersistentVolumeClaim",
        {
            "metadata": {"name": "data", "namespace": "shop"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
        },
    ),
]


@pytest.mark.parametrize(("name", "group", "kind", "obj"), VALID, ids=[v[0] for v in VALID])
def test_realistic_manifests_are_valid(name: str, group: str, kind: str, obj: Object) -> None:
    assert check(group, kind, obj) == []


INVALID = [
    (
        "a label value with a space",
        "apps",
        "Deployment",
        deployment(metadata={"name": "web", "namespace": "shop", "labels": {"app": "web shop"}}),
        [
            (
                "FieldValueInvalid",
                "metadata.labels",
                'Invalid value: "web shop": a valid label must be an empty string or consist of '
                "alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyValue',  or 'my_value',  "
                "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            )
        ],
    ),
    (
        "a selector that does not match the template",
        "apps",
        "Deployment",
        deployment(spec__selector={"matchLabels": {"app": "api"}}),
        [
            (
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`',
            )
        ],
    ),
    (
        "a deployment without a selector",
        "apps",
        "Deployment",
        deployment(spec__selector=None),
        [
            ("FieldValueRequired", "spec.selector", "Required value"),
            (
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`',
            ),
        ],
    ),
    (
        "two containers with one name",
        "apps",
        "Deployment",
        deployment(
            spec__template__spec__containers=[
                {"name": "web", "image": "nginx"},
                {"name": "web", "image": "envoy"},
            ]
        ),
        [("FieldValueDuplicate", "spec.template.spec.containers[1].name", 'Duplicate value: "web"')],
    ),
    (
        "a container port out of range",
        "apps",
        "Deployment",
        deployment(spec__template__spec__containers__0__ports=[{"containerPort": 80800}]),
        [
            (
                "FieldValueInvalid",
                "spec.template.spec.containers[0].ports[0].containerPort",
                "Invalid value: 80800: must be between 1 and 65535, inclusive",
            ),
            (
                "FieldValueInvalid",
                "spec.template.spec.containers[0].readinessProbe.httpGet.port",
                'Invalid value: "http": must contain only alpha-numeric characters (a-z, 0-9), and '
                "hyphens (-)",
            ),
        ][:1],
    ),
    (
        "a container without an image or a valid name",
        "",
        "Pod",
        pod(containers=[{"name": "Web"}]),
        [
            ("FieldValueInvalid", "spec.containers[0].name", f'Invalid value: "Web": {DNS1123_LABEL}'),
            ("FieldValueRequired", "spec.containers[0].image", "Required value"),
        ],
    ),
    (
        "an unknown pull policy and restart policy",
        "",
        "Pod",
        pod(
            restartPolicy="Sometimes",
            containers=[{"name": "web", "image": "nginx", "imagePullPolicy": "Maybe"}],
        ),
        [
            (
                "FieldValueNotSupported",
                "spec.containers[0].imagePullPolicy",
                'Unsupported value: "Maybe": supported values: "Always", "IfNotPresent", "Never"',
            ),
            (
                "FieldValueNotSupported",
                "spec.restartPolicy",
                'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
            ),
        ],
    ),
    (
        "a mount of a volume that does not exist, and a volume with two sources",
        "",
        "Pod",
        pod(
            containers=[
                {"name": "web", "image": "nginx", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
            ],
            volumes=[{"name": "cache", "emptyDir": {}, "hostPath": {"path": "/tmp"}}],
        ),
        [
            (
                "FieldValueForbidden",
                "spec.volumes[0].hostPath",
                "Forbidden: may not specify more than 1 volume type",
            ),
            ("FieldValueNotFound", "spec.containers[0].volumeMounts[0].name", 'Not found: "data"'),
        ],
    ),
    (
        "requests above limits",
        "",
        "Pod",
        pod(
            containers=[
                {
                    "name": "web",
                    "image": "nginx",
                    "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
                }
            ]
        ),
        [
            (
                "FieldValueInvalid",
                "spec.containers[0].resources.requests",
                'Invalid value: "2": must be less than or equal to cpu limit of 1',
            )
        ],
    ),
    (
        "a probe with two handlers and a bad threshold",
        "",
        "Pod",
        pod(
            containers=[
                {
                    "name": "web",
                    "image": "nginx",
                    "livenessProbe": {
                        "exec": {"command": ["true"]},
                        "tcpSocket": {"port": 80},
                        "successThreshold": 2,
                    },
                }
            ]
        ),
        [
            (
                "FieldValueForbidden",
                "spec.containers[0].livenessProbe.tcpSocket",
                "Forbidden: may not specify more than 1 handler type",
            ),
            (
                "FieldValueInvalid",
                "spec.containers[0].livenessProbe.successThreshold",
                "Invalid value: 2: must be 1",
            ),
        ],
    ),
    (
        "an env var with '=' and a toleration with a bad effect",
        "",
        "Pod",
        pod(
            containers=[{"name": "web", "image": "nginx", "env": [{"name": "A=B", "value": "x"}]}],
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoRun"}],
        ),
        [
            (
                "FieldValueInvalid",
                "spec.containers[0].env[0].name",
                'Invalid value: "A=B": a valid environment variable name must consist only of '
                "printable ASCII characters "
                "other than '='",
            ),
            (
                "FieldValueNotSupported",
                "spec.tolerations[0].effect",
                'Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
            ),
        ],
    ),
    (
        "a job that would restart its pods forever",
        "batch",
        "Job",
        {
            "metadata": {"name": "pi", "namespace": "shop", "uid": "u1"},
            "spec": {
                "manualSelector": True,
                "selector": {"matchLabels": {"app": "pi"}},
                "template": {
                    "metadata": {"labels": {"app": "pi"}},
                    "spec": {"containers": [{"name": "pi", "image": "perl"}]},
                },
            },
        },
        [
            (
                "FieldValueRequired",
                "spec.template.spec.restartPolicy",
                'Required value: valid values: "OnFailure", "Never"',
            )
        ],
    ),
    (
        "a cron job with six fields",
        "batch",
        "CronJob",
        {
            "metadata": {"name": "report", "namespace": "shop"},
            "spec": {
                "schedule": "0 */5 * * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {"restartPolicy": "Never", "containers": [{"name": "r", "image": "r"}]}
                        }
                    }
                },
            },
        },
        [
            (
                "FieldValueInvalid",
                "spec.schedule",
                'Invalid value: "0 */5 * * * *": expected exactly 5 fields, found 6: [0 */5 * * * *]',
            )
        ],
    ),
    (
        "two service ports without names and a bad target port",
        "",
        "Service",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "internalTrafficPolicy": "Cluster",
                "ports": [
                    {"port": 80, "protocol": "TCP", "targetPort": 80},
                    {"port": 443, "protocol": "TCP", "targetPort": "HTTPS"},
                ],
            },
        },
        [
            ("FieldValueRequired", "spec.ports[0].name", "Required value"),
            ("FieldValueRequired", "spec.ports[1].name", "Required value"),
            (
                "FieldValueInvalid",
                "spec.ports[1].targetPort",
                'Invalid value: "HTTPS": must contain only alpha-numeric characters (a-z, 0-9), and '
                "hyphens (-)",
            ),
            (
                "FieldValueInvalid",
                "spec.ports[1].targetPort",
                'Invalid value: "HTTPS": must contain at least one letter (a-z)',
            ),
        ],
    ),
    (
        "a service without ports and of an unknown type",
        "",
        "Service",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "Internal", "sessionAffinity": "None"},
        },
        [
            ("FieldValueRequired", "spec.ports", "Required value"),
            (
                "FieldValueNotSupported",
                "spec.type",
                'Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", '
                '"LoadBalancer", "NodePort"',
            ),
        ],
    ),
    (
        "a config map key with a slash",
        "",
        "ConfigMap",
        {"metadata": {"name": "web", "namespace": "shop"}, "data": {"conf/nginx.conf": "x"}},
        [
            (
                "FieldValueInvalid",
                "data[conf/nginx.conf]",
                'Invalid value: "conf/nginx.conf": a valid config key must consist of alphanumeric '
                "characters, '-', '_' or "
                "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                "'[-._a-zA-Z0-9]+')",
            )
        ],
    ),
    (
        "a tls secret without its key",
        "",
        "Secret",
        {
            "metadata": {"name": "tls", "namespace": "shop"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y3J0"},
        },
        [("FieldValueRequired", "data[tls.key]", "Required value")],
    ),
    (
        "a namespace with a dot",
        "",
        "Namespace",
        {"metadata": {"name": "team.a"}},
        [("FieldValueInvalid", "metadata.name", 'Invalid value: "team.a": must not contain dots')],
    ),
    (
        "a role rule without verbs",
        "rbac.authorization.k8s.io",
        "Role",
        {
            "metadata": {"name": "reader", "namespace": "shop"},
            "rules": [{"apiGroups": [""], "resources": ["pods"]}],
        },
        [("FieldValueRequired", "rules[0].verbs", "Required value: verbs must contain at least one value")],
    ),
    (
        "a binding to an unknown kind of role",
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        {
            "metadata": {"name": "admins"},
            "roleRef": {"kind": "Role", "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci"}],
        },
        [
            (
                "FieldValueNotSupported",
                "roleRef.kind",
                'Unsupported value: "Role": supported values: "ClusterRole"',
            ),
            ("FieldValueRequired", "subjects[0].namespace", "Required value"),
        ],
    ),
    (
        "a disruption budget with both bounds",
        "policy",
        "PodDisruptionBudget",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"minAvailable": 1, "maxUnavailable": "150%"},
        },
        [
            (
                "FieldValueInvalid",
                "spec",
                "Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:1, MaxUnavailable:150%}: "
                "minAvailable and maxUnavailable cannot be both set",
            ),
            (
                "FieldValueInvalid",
                "spec.maxUnavailable",
                "Invalid value: 150%: must not be greater than 100%",
            ),
        ],
    ),
    (
        "a user priority above a billion",
        "scheduling.k8s.io",
        "PriorityClass",
        {"metadata": {"name": "urgent"}, "value": 2_000_000_000},
        [
            (
                "FieldValueForbidden",
                "value",
                "Forbidden: maximum allowed value of a user defined priority is 1000000000",
            )
        ],
    ),
    (
        "an endpoint slice with a loopback address",
        "discovery.k8s.io",
        "EndpointSlice",
        {
            "metadata": {"name": "web-abc", "namespace": "shop"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"]}],
        },
        [
            (
                "FieldValueInvalid",
                "endpoints[0].addresses[0]",
                'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
            )
        ],
    ),
    (
        "a quota of half a pod",
        "",
        "ResourceQuota",
        {
            "metadata": {"name": "q", "namespace": "shop"},
            "spec": {"hard": {"pods": "1500m", "memory": "-1Gi"}},
        },
        [
            ("FieldValueInvalid", "spec.hard[pods]", "Invalid value: 1500m: must be an integer"),
            (
                "FieldValueInvalid",
                "spec.hard[memory]",
                'Invalid value: "-1Gi": must be greater than or equal to 0',
            ),
        ],
    ),
]


@pytest.mark.parametrize(("name", "group", "kind", "obj", "causes"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_manifests_get_upstreams_causes(
    name: str, group: str, kind: str, obj: Object, causes: list[tuple[str, str, str]]
) -> None:
    assert check(group, kind, obj) == causes


def test_the_422_reads_like_kube_apiservers() -> None:
    bad = deployment(spec__selector={"matchLabels": {"app": "api"}})
    causes = validate("apps", "v1", "Deployment", stored("apps", "Deployment", bad))
    status = errors.invalid("Deployment", "web", causes, "apps")
    assert status.message == (
        'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`'
    )


def test_a_deployment_selector_never_changes() -> None:
    old = stored("apps", "Deployment", deployment())
    new = deployment(
        spec__selector={"matchLabels": {"app": "web", "tier": "front"}},
        spec__template__metadata={"labels": {"app": "web", "tier": "front"}},
    )
    assert check("apps", "Deployment", new, old=old) == [
        (
            "FieldValueInvalid",
            "spec.selector",
            'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"front"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
        )
    ]


def test_a_deployment_may_scale_and_change_its_image() -> None:
    old = stored("apps", "Deployment", deployment())
    new = deployment(spec__replicas=5)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert check("apps", "Deployment", new, old=old) == []


def test_a_pod_may_change_images_and_add_tolerations() -> None:
    old = stored("", "Pod", pod(tolerations=[{"key": "a", "operator": "Exists"}]))
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["spec"]["tolerations"].append(
        {"key": "b", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    )
    assert validate("", "v1", "Pod", new, old=old) == []


def test_a_pod_may_not_change_other_fields() -> None:
    old = stored("", "Pod", pod())
    new = copy.deepcopy(old)
    new["spec"]["restartPolicy"] = "Never"
    [cause] = validate("", "v1", "Pod", new, old=old)
    assert (cause.type, cause.field) == ("FieldValueForbidden", "spec")
    first_line, diff = cause.message.split("\n", 1)
    assert first_line == (
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
        "previously negative)"
    )
    assert '- \tRestartPolicy: "Always",' in diff and '+ \tRestartPolicy: "Never",' in diff


def test_a_pod_may_not_lose_a_container_or_a_toleration() -> None:
    old = stored("", "Pod", pod(tolerations=[{"key": "a", "operator": "Exists"}]))
    fewer = copy.deepcopy(old)
    fewer["spec"]["tolerations"] = []
    assert [(c.field, c.message) for c in validate("", "v1", "Pod", fewer, old=old)] == [
        (
            "spec.tolerations",
            "Forbidden: existing toleration can not be modified except its tolerationSeconds",
        )
    ]
    empty = copy.deepcopy(old)
    empty["spec"]["containers"] = []
    assert ("spec.containers", "Forbidden: pod updates may not add or remove containers") in [
        (c.field, c.message) for c in validate("", "v1", "Pod", empty, old=old)
    ]


def test_a_job_with_its_generated_selector_is_valid_and_keeps_its_template() -> None:
    job = stored(
        "batch",
        "Job",
        {
            "metadata": {"name": "pi", "namespace": "shop", "uid": "u1"},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}
                }
            },
        },
    )
    job_selector_and_labels(job, "u1")
    assert validate("batch", "v1", "Job", job) == []
    changed = copy.deepcopy(job)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.40"
    assert [(c.field, c.message) for c in validate("batch", "v1", "Job", changed, old=job)] == [
        ("spec.template", "Invalid value: core.PodTemplateSpec{...}: field is immutable")
    ]


def test_a_job_selector_that_is_not_generated_is_refused() -> None:
    job = stored(
        "batch",
        "Job",
        {
            "metadata": {"name": "pi", "namespace": "shop", "uid": "u1"},
            "spec": {
                "selector": {"matchLabels": {"app": "pi"}},
                "template": {
                    "metadata": {"labels": {"app": "pi"}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]},
                },
            },
        },
    )
    job_selector_and_labels(job, "u1")
    assert [(c.field, c.message) for c in validate("batch", "v1", "Job", job)] == [
        (
            "spec.selector",
            'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"pi", '
            '"batch.kubernetes.io/controller-uid":"u1"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: "
            "`selector` not auto-generated",
        )
    ]


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("@hourly", None),
        ("@every 90m", None),
        ("0 0 * * SUN", None),
        ("*/5 * * * *", None),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("@every 2d", 'failed to parse duration @every 2d: time: unknown unit "d" in duration "2d"'),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("", "empty spec string"),
    ],
)
def test_cron_schedules_parse_as_robfig_cron_does(schedule: str, problem: str | None) -> None:
    assert cron_error(schedule) == problem


def test_a_cron_job_may_not_put_a_time_zone_in_its_schedule() -> None:
    cron = {
        "metadata": {"name": "report", "namespace": "shop"},
        "spec": {
            "schedule": "CRON_TZ=UTC 0 9 * * *",
            "timeZone": "Mars/Olympus",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "r", "image": "r"}]}
                    }
                }
            },
        },
    }
    assert check("batch", "CronJob", cron) == [
        (
            "FieldValueInvalid",
            "spec.schedule",
            'Invalid value: "CRON_TZ=UTC 0 9 * * *": cannot use TZ or CRON_TZ in schedule, use '
            "timeZone field instead",
        ),
        (
            "FieldValueInvalid",
            "spec.timeZone",
            'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus',
        ),
    ]


def test_immutable_config_maps_and_secret_types_stay_put() -> None:
    old = stored(
        "",
        "ConfigMap",
        {"metadata": {"name": "web", "namespace": "shop"}, "immutable": True, "data": {"a": "1"}},
    )
    new = copy.deepcopy(old)
    new["data"]["a"] = "2"
    assert check("", "ConfigMap", new, old=old) == [
        ("FieldValueForbidden", "data", "Forbidden: field is immutable when `immutable` is set")
    ]
    secret = stored("", "Secret", {"metadata": {"name": "s", "namespace": "shop"}, "data": {"a": "MQ=="}})
    retyped = {**secret, "type": "kubernetes.io/basic-auth"}
    assert check("", "Secret", retyped, old=secret) == [
        ("FieldValueInvalid", "type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable'),
        ("FieldValueRequired", "data[username]", "Required value"),
        ("FieldValueRequired", "data[password]", "Required value"),
    ]


def test_a_role_binding_may_not_change_its_role() -> None:
    old = stored(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        {
            "metadata": {"name": "read", "namespace": "shop"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
        },
    )
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "edit"
    assert check("rbac.authorization.k8s.io", "RoleBinding", new, old=old) == [
        (
            "FieldValueInvalid",
            "roleRef",
            'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
            'Name:"edit"}: '
            "cannot change roleRef",
        )
    ]


def test_owner_references_need_a_version_and_one_controller() -> None:
    owners = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "a", "controller": True},
        {"apiVersion": "apps/", "kind": "ReplicaSet", "name": "web-2", "uid": "b", "controller": True},
    ]
    bad = pod()
    bad["metadata"]["ownerReferences"] = owners
    assert check("", "Pod", bad) == [
        (
            "FieldValueInvalid",
            "metadata.ownerReferences.apiVersion",
            'Invalid value: "apps/": version must not be empty',
        ),
        (
            "FieldValueInvalid",
            "metadata.ownerReferences",
            "Invalid value: []v1.OwnerReference{...}: Only one reference can have Controller set to true. "
            'Found "true" in references for ReplicaSet/web-1 and ReplicaSet/web-2',
        ),
    ]


def test_unknown_kinds_get_their_metadata_checked() -> None:
    causes = validate("example.com", "v1", "Widget", {"metadata": {"name": "a/b", "namespace": "shop"}})
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.name", "Invalid value: \"a/b\": may not contain '/'")
    ]

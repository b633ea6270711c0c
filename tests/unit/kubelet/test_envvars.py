"""Container environments: service links, envFrom, env with $(VAR) expansion and every valueFrom."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from helpers.fake_client import FakeClient

from kubeclient.errors import TransportError
from kubelet.envvars import (
    EnvVarError,
    expand,
    expand_command_and_args,
    fetch_env_sources,
    from_services,
    make_environment,
    mapping_for,
    referenced_sources,
    service_env,
)


def service(name: str, namespace: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": ip, "ports": list(ports)},
    }


KUBERNETES = service("kubernetes", "default", "10.96.0.1", {"name": "https", "port": 443, "protocol": "TCP"})
REDIS = service("redis-primary", "shop", "10.0.0.11", {"port": 6379})
DNS = service(
    "dns", "shop", "fd00::a", {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}
)
HEADLESS = service("headless", "shop", "None", {"port": 80})
OTHER_NS = service("elsewhere", "other", "10.0.0.99", {"port": 80})
SERVICES = [REDIS, KUBERNETES, DNS, HEADLESS, OTHER_NS]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


POD: dict[str, Any] = {
    "metadata": {
        "name": "web-0",
        "namespace": "shop",
        "uid": "u-123",
        "labels": {"app": "web"},
        "annotations": {"team": "a"},
    },
    "spec": {
        "nodeName": "node-1",
        "serviceAccountName": "builder",
        "containers": [
            {"name": "app", "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m"}}}
        ],
    },
}
CONFIG_MAPS = {"cfg": {"data": {"MODE": "prod", "LEVEL": "3", "bad=key": "x"}}}
SECRETS = {"db": {"data": {"PASSWORD": b64("hunter2"), "USER": b64("admin")}}}


def env_of(container: dict[str, Any], pod: dict[str, Any] = POD, **kwargs: Any) -> dict[str, str]:
    options: dict[str, Any] = {
        "pod_ip": "10.244.1.5",
        "pod_ips": ["10.244.1.5", "fd00::5"],
        "host_ip": "192.168.1.2",
        "node_name": "node-1",
        "services": [],
        "config_maps": CONFIG_MAPS,
        "secrets": SECRETS,
        "node_allocatable": {"cpu": "4", "memory": "8Gi"},
    }
    options.update(kwargs)
    app = pod["spec"]["containers"][0]
    return dict(make_environment(pod, {**app, **container}, **options))


def test_docker_link_variables_of_a_service() -> None:
    assert from_services([DNS]) == [
        ("DNS_SERVICE_HOST", "fd00::a"),
        ("DNS_SERVICE_PORT", "53"),
        ("DNS_SERVICE_PORT_DNS", "53"),
        ("DNS_SERVICE_PORT_DNS_TCP", "53"),
        ("DNS_PORT", "udp://[fd00::a]:53"),
        ("DNS_PORT_53_UDP", "udp://[fd00::a]:53"),
        ("DNS_PORT_53_UDP_PROTO", "udp"),
        ("DNS_PORT_53_UDP_PORT", "53"),
        ("DNS_PORT_53_UDP_ADDR", "fd00::a"),
        ("DNS_PORT_53_TCP", "tcp://[fd00::a]:53"),
        ("DNS_PORT_53_TCP_PROTO", "tcp"),
        ("DNS_PORT_53_TCP_PORT", "53"),
        ("DNS_PORT_53_TCP_ADDR", "fd00::a"),
    ]


def test_service_links_cover_the_namespace_and_the_kubernetes_service() -> None:
    env = service_env(SERVICES, "shop", True)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT"] == "tcp://10.96.0.1:443"
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "10.0.0.11"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.0.0.11"
    assert "DNS_SERVICE_HOST" in env
    assert not any(k.startswith(("HEADLESS_", "ELSEWHERE_")) for k in env)


def test_without_service_links_only_the_kubernetes_service_remains() -> None:
    env = service_env(SERVICES, "shop", False)
    assert {k.split("_", 1)[0] for k in env} == {"KUBERNETES"}


def test_a_namespaces_own_kubernetes_service_wins_over_the_default_one() -> None:
    own = service("kubernetes", "shop", "10.0.0.50", {"port": 8080})
    assert service_env([KUBERNETES, own], "shop", True)["KUBERNETES_SERVICE_HOST"] == "10.0.0.50"
    assert service_env([own, KUBERNETES], "shop", True)["KUBERNETES_SERVICE_HOST"] == "10.0.0.50"


def test_enable_service_links_false_in_the_pod() -> None:
    pod = {**POD, "spec": {**POD["spec"], "enableServiceLinks": False}}
    env = env_of({}, pod, services=SERVICES)
    assert "KUBERNETES_SERVICE_HOST" in env and "REDIS_PRIMARY_SERVICE_HOST" not in env


@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        ("plain", {}, "plain"),
        ("$(A)", {"A": "1"}, "1"),
        ("x$(A)y$(B)z", {"A": "1", "B": "2"}, "x1y2z"),
        ("$(MISSING)", {}, "$(MISSING)"),
        ("$$(A)", {"A": "1"}, "$(A)"),
        ("$$$(A)", {"A": "1"}, "$1"),
        ("$(A", {"A": "1"}, "$(A"),
        ("$A", {"A": "1"}, "$A"),
        ("price: 5$", {}, "price: 5$"),
        ("$()", {}, "$()"),
        ("$(A)$(A)", {"A": "é"}, "éé"),
    ],
)
def test_expansion(text: str, context: dict[str, str], expected: str) -> None:
    assert expand(text, mapping_for(context)) == expected


def test_env_values_expand_from_earlier_vars_envfrom_and_services_but_not_later_ones() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "env": [
            {"name": "A", "value": "a"},
            {"name": "B", "value": "$(A)-$(MODE)-$(KUBERNETES_SERVICE_HOST)-$(C)"},
            {"name": "C", "value": "c"},
            {"name": "ESCAPED", "value": "$$(A)"},
        ],
    }
    env = env_of(container, services=[KUBERNETES])
    assert env["B"] == "a-prod-10.96.0.1-$(C)"
    assert env["ESCAPED"] == "$(A)"


def test_order_is_services_then_envfrom_then_env_each_name_once() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}, {"secretRef": {"name": "db"}}],
        "env": [
            {"name": "LATE", "value": "1"},
            {"name": "CFG_MODE", "value": "override"},
            {"name": "KUBERNETES_SERVICE_HOST", "value": "me"},
        ],
    }
    env = make_environment(
        POD, {"name": "app", **container}, services=[KUBERNETES], config_maps=CONFIG_MAPS, secrets=SECRETS
    )
    names = [name for name, _ in env]
    assert len(names) == len(set(names))
    assert names[-3:] == ["LATE", "CFG_MODE", "KUBERNETES_SERVICE_HOST"]
    assert dict(env)["CFG_MODE"] == "override"
    assert dict(env)["KUBERNETES_SERVICE_HOST"] == "me"
    assert names.index("KUBERNETES_SERVICE_PORT") < names.index("CFG_LEVEL") < names.index("PASSWORD")
    assert dict(env)["PASSWORD"] == "hunter2"


def test_env_from_skips_names_that_cannot_be_env_vars_with_an_event() -> None:
    events: list[tuple[str, str]] = []
    env = env_of(
        {"envFrom": [{"configMapRef": {"name": "cfg"}}]}, on_warning=lambda r, m: events.append((r, m))
    )
    assert "bad=key" not in env and env["MODE"] == "prod"
    assert events == [
        (
            "InvalidEnvironmentVariableNames",
            "Keys [bad=key] from the EnvFrom configMap shop/cfg were skipped since they are considered "
            "invalid environment variable names.",
        )
    ]


@pytest.mark.parametrize(
    ("field_path", "value"),
    [
        ("metadata.name", "web-0"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "u-123"),
        ("metadata.labels['app']", "web"),
        ("metadata.annotations['team']", "a"),
        ("metadata.labels", 'app="web"'),
        ("spec.nodeName", "node-1"),
        ("spec.host", "node-1"),
        ("spec.serviceAccountName", "builder"),
        ("status.hostIP", "192.168.1.2"),
        ("status.hostIPs", "192.168.1.2"),
        ("status.podIP", "10.244.1.5"),
        ("status.podIPs", "10.244.1.5,fd00::5"),
    ],
)
def test_field_refs(field_path: str, value: str) -> None:
    env = env_of(
        {"env": [{"name": "V", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": field_path}}}]}
    )
    assert env["V"] == value


@pytest.mark.parametrize(
    ("resource", "divisor", "value"),
    [
        ("limits.memory", "1Mi", "128"),
        ("limits.cpu", None, "4"),  # no limit: the node's allocatable
        ("limits.cpu", "1m", "4000"),
        ("requests.cpu", "1m", "250"),
        ("requests.cpu", None, "1"),  # 0.25 rounded up
        ("requests.memory", None, "0"),
        ("limits.ephemeral-storage", None, "0"),  # not in the node's allocatable here
    ],
)
def test_resource_field_refs(resource: str, divisor: str | None, value: str) -> None:
    ref: dict[str, Any] = {"resource": resource}
    if divisor:
        ref["divisor"] = divisor
    assert env_of({"env": [{"name": "V", "valueFrom": {"resourceFieldRef": ref}}]})["V"] == value


def test_config_map_and_secret_key_refs() -> None:
    env = env_of(
        {
            "env": [
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "PASSWORD"}}},
                {
                    "name": "OPT1",
                    "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "x", "optional": True}},
                },
                {
                    "name": "OPT2",
                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "nope", "optional": True}},
                },
                {"name": "EMPTY"},
            ]
        }
    )
    assert env == {"MODE": "prod", "PW": "hunter2", "EMPTY": ""}


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"envFrom": [{"configMapRef": {"name": "x"}}]}, 'configmap "x" not found'),
        ({"envFrom": [{"secretRef": {"name": "x"}}]}, 'secret "x" not found'),
        (
            {"env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]},
            'configmap "x" not found',
        ),
        (
            {"env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]},
            'secret "x" not found',
        ),
        (
            {"env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]},
            "couldn't find key k in ConfigMap shop/cfg",
        ),
        (
            {"env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k"}}}]},
            "couldn't find key k in Secret shop/db",
        ),
        (
            {"env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "spec.schedulerName"}}}]},
            "unsupported fieldPath: spec.schedulerName",
        ),
        (
            {
                "env": [
                    {
                        "name": "V",
                        "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "containerName": "x"}},
                    }
                ]
            },
            "container x not found",
        ),
    ],
)
def test_missing_sources_raise_upstreams_messages(container: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvVarError) as error:
        env_of(container)
    assert str(error.value) == message


def test_optional_env_from_that_is_missing_is_skipped() -> None:
    assert (
        env_of(
            {
                "envFrom": [
                    {"configMapRef": {"name": "x", "optional": True}},
                    {"secretRef": {"name": "y", "optional": True}},
                ]
            }
        )
        == {}
    )


def test_command_and_args_expand_from_the_environment() -> None:
    container = {"command": ["/bin/$(CMD)"], "args": ["--level=$(LEVEL)", "$(UNKNOWN)", "$$(LEVEL)"]}
    assert expand_command_and_args(container, [("CMD", "app"), ("LEVEL", "3")]) == (
        ["/bin/app"],
        ["--level=3", "$(UNKNOWN)", "$(LEVEL)"],
    )


async def test_fetch_env_sources_reads_what_the_container_names() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "shop"},
        "data": {"A": "1"},
    }
    client = FakeClient([cm])
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "gone"}}],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "A"}}}],
    }
    assert referenced_sources(container) == (["cfg"], ["gone"])
    config_maps, secrets = await fetch_env_sources(client, POD, container)
    assert list(config_maps) == ["cfg"] and secrets == {}
    assert [(a.verb, a.resource, a.name) for a in client.actions] == [
        ("get", "configmaps", "cfg"),
        ("get", "secrets", "gone"),
    ]
    client.fail_next("get", "configmaps", TransportError("connection refused"))
    with pytest.raises(EnvVarError, match=r"^connection refused$"):
        await fetch_env_sources(client, POD, container)

"""The apiserver's kubelet connections: which address and port, which container, the kubelet's
query names, nodes/proxy paths through routing, and errors as upstream words them."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import kubelet_proxy as kp
from apiserver import routing
from kubeapi import errors
from kubeapi.resources import BUILTIN_REGISTRY


def node(addresses: list[tuple[str, str]], port: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"addresses": [{"type": t, "address": a} for t, a in addresses]}
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {"metadata": {"name": "n1"}, "status": status}


def test_address_follows_the_preferred_types_and_port_defaults() -> None:
    n = node([("Hostname", "n1"), ("InternalIP", "10.0.0.5")], 12250)
    assert kp.kubelet_address(n, ["InternalIP", "Hostname"]) == ("10.0.0.5", 12250)
    assert kp.kubelet_address(n, kp.DEFAULT_ADDRESS_TYPES) == ("n1", 12250)
    assert kp.kubelet_address(node([("InternalIP", "10.0.0.5")]), ["InternalIP"]) == ("10.0.0.5", 10250)
    with pytest.raises(errors.StatusError) as none:
        kp.kubelet_address(n, ["ExternalIP"])
    assert none.value.code == 500 and "no preferred addresses found" in none.value.message
    assert kp.host_url("fd00::1", 10250) == "https://[fd00::1]:10250"


def pod(containers: list[str], node_name: str = "n1", **extra: Any) -> dict[str, Any]:
    spec = {"containers": [{"name": c} for c in containers], "nodeName": node_name, **extra}
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": spec, "status": {"phase": "Running"}}


def test_container_choice_and_pod_checks() -> None:
    assert kp.pod_container(pod(["app"]), "") == "app"
    assert kp.pod_container(pod(["app", "side"], initContainers=[{"name": "init"}]), "init") == "init"
    with pytest.raises(errors.StatusError) as ambiguous:
        kp.pod_container(pod(["app", "side"]), "")
    assert (
        ambiguous.value.message == "a container name must be specified for pod web, choose one of: [app side]"
    )
    with pytest.raises(errors.StatusError) as invalid:
        kp.pod_container(pod(["app"]), "nope")
    assert invalid.value.code == 400 and invalid.value.message == "container nope is not valid for pod web"
    with pytest.raises(errors.StatusError) as unscheduled:
        kp.require_node(pod(["app"], node_name=""))
    assert unscheduled.value.message == "pod web does not have a host assigned"
    done = pod(["app"])
    done["status"]["phase"] = "Succeeded"
    with pytest.raises(errors.StatusError) as completed:
        kp.require_running(done, "exec")
    assert "current phase is Succeeded" in completed.value.message


def test_kubelet_queries() -> None:
    kubectl = [("command", "sh"), ("command", "-c"), ("container", "app"), ("stdin", "true"),
               ("stdout", "true"), ("stderr", "false"), ("tty", "true")]  # fmt: skip
    assert kp.exec_query(kubectl, "app", attach=False) == "command=sh&command=-c&input=1&output=1&tty=1"
    assert kp.exec_query(kubectl, "app", attach=True) == "input=1&output=1&tty=1"
    query = {"container": "app", "follow": "true", "tailLines": "5", "pretty": "x"}
    assert kp.log_query(query) == "follow=true&tailLines=5"


def test_nodes_proxy_paths_route_and_split() -> None:
    info = routing.parse("GET", "/api/v1/nodes/n1/proxy/stats/summary", {}, BUILTIN_REGISTRY)
    assert info is not None and (info.name, info.subresource, info.verb) == ("n1", "proxy", "get")
    assert kp._proxy_subpath("/api/v1/nodes/n1/proxy/stats/summary", "n1") == "/stats/summary"
    assert kp._proxy_subpath("/api/v1/nodes/n1/proxy", "n1") == "/"
    with pytest.raises(errors.StatusError):
        routing.parse("GET", "/api/v1/namespaces/ns/pods/web/log/extra", {}, BUILTIN_REGISTRY)


def test_client_config_without_a_ca_does_not_verify() -> None:
    context = kp.KubeletClientConfig().ssl_context()
    assert context.check_hostname is False and context.verify_mode.name == "CERT_NONE"

"""Services and EndpointSlices (as the API serves them) for the rule generators' golden tests."""

from __future__ import annotations

from typing import Any

from kubeproxy.model import Endpoint, NodeConfig, ProxyState, ServicePort, service_ports, slice_endpoints

NODE = NodeConfig(node_name="node1", node_ips=("192.168.0.2",), cluster_cidr="10.0.0.0/8")


def service(name: str, ip: str, ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": "ns1", "name": name},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": ports, **spec},
    }


def endpoint(ip: str, node: str = "node1", **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "nodeName": node, "conditions": {"ready": True, **conditions}}


def slice_(service_name: str, ports: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "namespace": "ns1",
            "name": f"{service_name}-abcde",
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": endpoints,
    }


def state(*pairs: tuple[dict[str, Any], list[dict[str, Any]]]) -> ProxyState:
    result = ProxyState()
    for svc, slices in pairs:
        result.services.update({p.name: p for p in service_ports(svc)})
        result.endpoints.update(slice_endpoints(slices))
    return result


P80 = [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 8080}]
EP80 = [{"name": "p80", "port": 8080, "protocol": "TCP"}]
NODEPORT80 = [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}]


def _scenarios() -> dict[str, ProxyState]:
    return {
        "no_endpoints": state((service("svc1", "172.30.0.41", P80), [])),
        "one_endpoint": state(
            (service("svc1", "172.30.0.41", P80), [slice_("svc1", EP80, [endpoint("10.180.0.1")])])
        ),
        "many_endpoints": state(
            (
                service("svc1", "172.30.0.41", P80),
                [slice_("svc1", EP80, [endpoint(f"10.180.0.{i}", f"node{i}") for i in (3, 1, 2)])],
            )
        ),
        "session_affinity": state(
            (
                service(
                    "svc1",
                    "172.30.0.41",
                    P80,
                    sessionAffinity="ClientIP",
                    sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}},
                ),
                [slice_("svc1", EP80, [endpoint("10.180.0.1"), endpoint("10.180.0.2", "node2")])],
            )
        ),
        "named_ports": state(
            (
                service(
                    "svc1",
                    "172.30.0.41",
                    [
                        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"},
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
                    ],
                ),
                [
                    slice_(
                        "svc1",
                        [
                            {"name": "http", "port": 8080, "protocol": "TCP"},
                            {"name": "dns", "port": 5353, "protocol": "UDP"},
                        ],
                        [endpoint("10.180.0.1"), endpoint("10.180.0.2", "node2")],
                    )
                ],
            )
        ),
        "nodeport": state(
            (
                service("svc1", "172.30.0.41", NODEPORT80, type="NodePort"),
                [slice_("svc1", EP80, [endpoint("10.180.0.1"), endpoint("10.180.0.2", "node2")])],
            )
        ),
        "external_policy_local": state(
            (
                service(
                    "svc1",
                    "172.30.0.41",
                    NODEPORT80,
                    type="LoadBalancer",
                    externalTrafficPolicy="Local",
                    healthCheckNodePort=30000,
                ),
                [slice_("svc1", EP80, [endpoint("10.180.0.1"), endpoint("10.180.0.2", "node2")])],
            ),
            (
                service(
                    "svc2",
                    "172.30.0.42",
                    [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30081}],
                    type="NodePort",
                    externalTrafficPolicy="Local",
                ),
                [slice_("svc2", EP80, [endpoint("10.180.0.3", "node2")])],
            ),
        ),
        "internal_policy_local": state(
            (
                service("svc1", "172.30.0.41", P80, internalTrafficPolicy="Local"),
                [slice_("svc1", EP80, [endpoint("10.180.0.1"), endpoint("10.180.0.2", "node2")])],
            ),
            (
                service("svc2", "172.30.0.42", P80, internalTrafficPolicy="Local"),
                [slice_("svc2", EP80, [endpoint("10.180.0.3", "node2")])],
            ),
        ),
        "terminating_endpoints": state(
            (
                service("svc1", "172.30.0.41", P80),
                [
                    slice_(
                        "svc1",
                        EP80,
                        [
                            endpoint("10.180.0.1", ready=False, serving=True, terminating=True),
                            endpoint("10.180.0.2", "node2", ready=False, serving=False, terminating=True),
                        ],
                    )
                ],
            ),
            (
                service("svc2", "172.30.0.42", P80),
                [
                    slice_(
                        "svc2",
                        EP80,
                        [
                            endpoint("10.180.0.3"),
                            endpoint("10.180.0.4", "node2", ready=False, serving=True, terminating=True),
                        ],
                    )
                ],
            ),
        ),
    }


SCENARIOS = _scenarios()


def big_state(services: int, endpoints: int = 3) -> ProxyState:
    state = ProxyState()
    for i in range(services):
        cluster_ip = f"172.30.{i // 250}.{i % 250 + 1}"
        svc = ServicePort(("bench", f"svc{i}", "http", "TCP"), (cluster_ip,), 80, "TCP")
        state.services[svc.name] = svc
        state.endpoints[svc.name] = [
            Endpoint(f"10.{1 + j}.{i // 250}.{i % 250 + 1}", 8080, True, True, False, f"node{j}")
            for j in range(endpoints)
        ]
    return state

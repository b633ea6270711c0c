"""Parsing Services and EndpointSlices like upstream, categorizing endpoints, and tracking changes."""

from __future__ import annotations

from unit.kubeproxy.scenarios import EP80, P80, endpoint, service, slice_

from kubeproxy.model import (
    ChangeTracker,
    Endpoint,
    ServicePort,
    categorize_endpoints,
    service_ports,
    slice_endpoints,
)


def test_service_ports_are_keyed_by_port_name_and_protocol() -> None:
    svc = service(
        "svc1",
        "172.30.0.41",
        [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}],
        type="NodePort",
        externalTrafficPolicy="Local",
        sessionAffinity="ClientIP",
        externalIPs=["1.2.3.4", "2001:db8::1"],
    )
    http, dns = service_ports(svc)
    assert http.name == ("ns1", "svc1", "http", "TCP")
    assert dns.name == ("ns1", "svc1", "dns", "UDP") and dns.node_port == 30053
    assert http.session_affinity_seconds == 10800  # upstream's default ClientIP timeout
    assert http.external_policy_local and http.external_ips == ("1.2.3.4",)


def test_headless_and_external_name_services_are_not_proxied() -> None:
    assert service_ports(service("h", "None", P80)) == []
    assert service_ports(service("e", "", P80, type="ExternalName", externalName="example.com")) == []


def test_external_policy_local_needs_an_externally_reachable_type() -> None:
    (port,) = service_ports(service("svc1", "172.30.0.41", P80, externalTrafficPolicy="Local"))
    assert not port.external_policy_local


def test_slice_endpoints_match_ports_by_name_and_default_conditions() -> None:
    raw = [
        {"addresses": ["10.0.0.10"], "conditions": {}},
        {"addresses": ["10.0.0.9"], "conditions": {"ready": False, "terminating": True}},
        {"addresses": []},
        {"addresses": ["10.0.0.10"], "conditions": {"ready": False}},  # duplicate: the first one stays
    ]
    eps = slice_endpoints([slice_("svc1", [*EP80, {"name": "other", "port": None}], raw)])
    assert list(eps) == [("ns1", "svc1", "p80", "TCP")]
    # sorted by "ip:port" string, as upstream does; absent conditions: ready, serving true, terminating false
    assert eps[("ns1", "svc1", "p80", "TCP")] == [
        Endpoint("10.0.0.10", 8080, ready=True, serving=True, terminating=False),
        Endpoint("10.0.0.9", 8080, ready=False, serving=True, terminating=True),
    ]


def test_terminating_endpoints_are_used_only_when_none_is_ready() -> None:
    svc = ServicePort(("ns1", "svc1", "p80", "TCP"), ("172.30.0.41",), 80, "TCP")
    ready = Endpoint("10.0.0.1", 80, True, True, False, "node2")
    terminating = Endpoint("10.0.0.2", 80, False, True, True, "node1")
    assert categorize_endpoints([ready, terminating], svc, "node1").cluster == [ready]
    assert categorize_endpoints([terminating], svc, "node1").cluster == [terminating]
    gone = Endpoint("10.0.0.3", 80, False, False, True, "node1")
    assert not categorize_endpoints([gone], svc, "node1").has_any


def test_local_policy_uses_local_endpoints_only() -> None:
    svc = ServicePort(("ns1", "svc1", "p80", "TCP"), ("172.30.0.41",), 80, "TCP", internal_policy_local=True)
    here = Endpoint("10.0.0.1", 80, True, True, False, "node1")
    there = Endpoint("10.0.0.2", 80, True, True, False, "node2")
    sets = categorize_endpoints([here, there], svc, "node1")
    assert sets.local == [here] and sets.reachable == [here] and sets.cluster == []
    assert categorize_endpoints([there], svc, "node1").has_any


def test_change_tracker_reports_changed_service_ports() -> None:
    tracker = ChangeTracker()
    svc = service("svc1", "172.30.0.41", P80)
    es = slice_("svc1", EP80, [endpoint("10.180.0.1")])
    tracker.update_service(None, svc)
    tracker.update_slice(None, es)
    name = ("ns1", "svc1", "p80", "TCP")
    assert tracker.take_changes() == {name}
    assert tracker.take_changes() == set()
    state = tracker.state()
    assert state.services[name].port == 80 and [e.ip for e in state.endpoints[name]] == ["10.180.0.1"]

    tracker.update_slice(es, es)  # no-op update
    assert tracker.take_changes() == set()
    es2 = slice_("svc1", EP80, [endpoint("10.180.0.1"), endpoint("10.180.0.2")])
    tracker.update_slice(es, es2)
    assert tracker.take_changes() == {name}

    tracker.update_slice(es2, None)
    tracker.update_service(svc, None)
    assert tracker.take_changes() == {name}
    assert tracker.state().services == {} and tracker.state().endpoints == {}

"""The proxier's shell on a fake applier and a fake clock: when syncs run (upstream's bounded-frequency
timing), full versus partial syncs, what a failed apply does, health and healthCheckNodePort answers;
and the appliers' commands on a fake runner."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from kubeproxy.apply import (
    ApplyError,
    IptablesApplier,
    NftablesApplier,
    Result,
    cleanup_everything,
    local_ipv4_addresses,
    netns_runner,
    node_port_ips,
    rules_per_table,
)
from kubeproxy.healthcheck import ProxyHealth, ServiceHealthServers, ServiceKey
from kubeproxy.model import NodeConfig, ProxyState, ServicePortName
from kubeproxy.proxier import Proxier, SyncSchedule


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeApplier:
    mode = "iptables"

    def __init__(self) -> None:
        self.applied: list[tuple[str, bool]] = []
        self.fail_next = False
        self.event = asyncio.Event()

    async def wait_for_applies(self, count: int) -> None:
        async with asyncio.timeout(2):
            while len(self.applied) < count:
                self.event.clear()
                await self.event.wait()

    async def current(self) -> str | None:
        return "*nat\n:KUBE-SVC-OLD - [0:0]\nCOMMIT\n"

    async def apply(self, text: str, *, full: bool) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ApplyError("iptables-restore failed (exit 1): line 3 failed")
        self.applied.append((text, full))
        self.event.set()


class Renders:
    def __init__(self) -> None:
        self.calls: list[tuple[ProxyState, NodeConfig, set[ServicePortName] | None, str | None]] = []

    def __call__(
        self, state: ProxyState, node: NodeConfig, changed: set[ServicePortName] | None, existing: str | None
    ) -> str:
        self.calls.append((state, node, changed, existing))
        return f"*nat\n-A KUBE-SERVICES -j X{len(state.services)}\nCOMMIT\n"


class FakeServiceHealth(ServiceHealthServers):
    """Records what the proxier asks for instead of opening ports."""

    def __init__(self, proxy: ProxyHealth) -> None:
        super().__init__("127.0.0.1", proxy)
        self.synced: list[dict[ServiceKey, int]] = []

    async def sync(self, wanted: dict[ServiceKey, int]) -> None:
        self.ports = dict(wanted)
        self.synced.append(dict(wanted))


def service(name: str, ip: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": name, "resourceVersion": "1"},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"name": "http", "port": 80}], **spec},
    }


def endpoint_slice(name: str, service_name: str, *endpoints: tuple[str, str, bool]) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "default",
            "name": name,
            "labels": {"kubernetes.io/service-name": service_name},
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2024-01-01T00:00:00Z"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "nodeName": node, "conditions": {"ready": ready}}
            for ip, node, ready in endpoints
        ],
    }


def make_proxier(
    clock: FakeClock, *, min_sync: float = 1.0, sync: float = 30.0
) -> tuple[Proxier, FakeApplier, Renders, FakeServiceHealth]:
    applier, renders = FakeApplier(), Renders()
    health = ProxyHealth(2 * sync, clock=clock)
    service_health = FakeServiceHealth(health)

    async def node_ips() -> tuple[str, ...]:
        return ("192.0.2.10",)

    proxier = Proxier(
        applier, renders, NodeConfig("node-a", ()), min_sync_period=min_sync, sync_period=sync,
        health=health, node_ips=node_ips, service_health=service_health, clock=clock, wall_clock=clock,
    )  # fmt: skip
    return proxier, applier, renders, service_health


# --- the schedule ---


def test_the_first_sync_runs_at_once_then_only_periodically() -> None:
    schedule = SyncSchedule(min_interval=1.0, max_interval=30.0, now=0.0)
    assert schedule.next_run(0.0) == 0.0
    schedule.ran(0.0)
    assert schedule.next_run(0.5) == 30.0


def test_changes_run_at_once_within_the_burst_then_once_per_min_interval() -> None:
    schedule = SyncSchedule(min_interval=1.0, max_interval=30.0, burst=2, now=0.0)
    schedule.ran(0.0)  # the first sync: one token left
    schedule.request()
    assert schedule.next_run(0.1) == 0.1
    schedule.ran(0.1)  # the burst is spent
    schedule.request()
    assert schedule.next_run(0.2) == pytest.approx(0.1 + 1.0 - 0.1)  # tokens refill at one per second
    schedule.ran(1.0)
    schedule.request()
    assert schedule.next_run(1.0) == pytest.approx(2.0)
    schedule.ran(2.0)
    assert schedule.next_run(2.5) == 32.0  # nothing pending: the periodic sync


def test_zero_min_interval_never_delays_a_change() -> None:
    schedule = SyncSchedule(min_interval=0.0, max_interval=30.0, now=0.0)
    for now in (0.0, 0.001, 0.002, 0.003):
        schedule.request()
        assert schedule.next_run(now) == now
        schedule.ran(now)


def test_retry_after_brings_the_next_sync_forward() -> None:
    schedule = SyncSchedule(min_interval=1.0, max_interval=30.0, now=0.0)
    schedule.ran(0.0)
    schedule.retry_after(0.0, 5.0)
    assert schedule.next_run(1.0) == 5.0
    schedule.ran(5.0)
    assert schedule.next_run(6.0) == 35.0


# --- syncs ---


async def test_the_first_sync_is_full_and_later_ones_rewrite_only_what_changed() -> None:
    clock = FakeClock()
    proxier, applier, renders, _ = make_proxier(clock)
    proxier.on_service(None, service("web", "10.96.0.10"))
    proxier.on_service(None, service("db", "10.96.0.11"))
    assert await proxier.sync()
    state, node, changed, existing = renders.calls[-1]
    assert changed is None and existing == await applier.current()
    assert node.node_ips == ("192.0.2.10",) and node.node_name == "node-a"
    assert len(state.services) == 2

    clock.now += 2
    proxier.on_slice(None, endpoint_slice("web-1", "web", ("10.244.1.5", "node-a", True)))
    assert await proxier.sync()
    _, _, changed, existing = renders.calls[-1]
    assert changed == {("default", "web", "http", "TCP")} and existing == await applier.current()

    clock.now += 30  # syncPeriod since the last full sync: full again
    assert await proxier.sync()
    assert renders.calls[-1][2] is None
    assert [full for _, full in applier.applied] == [True, False, True]


async def test_a_failed_apply_retries_after_sync_period_as_a_full_sync() -> None:
    clock = FakeClock()
    proxier, applier, renders, _ = make_proxier(clock)
    assert await proxier.sync()
    proxier.schedule.ran(clock.now)
    clock.now += 1
    proxier.on_service(None, service("web", "10.96.0.10"))
    applier.fail_next = True
    assert not await proxier.sync()
    assert proxier.need_full_sync
    assert proxier.schedule.next_run(clock.now) <= clock.now  # still pending from the change
    proxier.schedule.ran(clock.now)
    assert proxier.schedule.next_run(clock.now) == clock.now + 30.0
    assert await proxier.sync()
    assert renders.calls[-1][2] is None  # the lost changes come back through a full sync
    assert len(renders.calls[-1][0].services) == 1


async def test_health_turns_503_when_a_change_waits_past_twice_the_sync_period() -> None:
    clock = FakeClock()
    proxier, _, _, _ = make_proxier(clock, sync=30.0)
    assert proxier.health.healthz()[0] == 200  # starting up: healthy
    proxier.on_service(None, service("web", "10.96.0.10"))
    clock.now += 59
    assert proxier.health.healthz()[0] == 200
    clock.now += 2
    status, body = proxier.health.healthz()
    assert status == 503 and body["nodeEligible"] is True
    assert await proxier.sync()
    status, body = proxier.health.healthz()
    assert status == 200 and body["lastUpdated"] == body["currentTime"]
    assert str(body["currentTime"]).endswith("+0000 UTC")


async def test_health_check_node_ports_count_ready_endpoints_on_this_node() -> None:
    clock = FakeClock()
    proxier, _, _, service_health = make_proxier(clock)
    local = service(
        "lb", "10.96.0.20", type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=32000,
    )  # fmt: skip
    local["spec"]["ports"][0]["nodePort"] = 31000
    proxier.on_service(None, local)
    proxier.on_slice(None, endpoint_slice("lb-1", "lb", ("10.244.2.1", "node-b", True)))
    assert await proxier.sync()
    assert service_health.synced[-1] == {("default", "lb"): 32000}
    status, body = service_health.answer(("default", "lb"))
    assert status == 503 and body["localEndpoints"] == 0
    assert body["service"] == {"namespace": "default", "name": "lb"}

    old = endpoint_slice("lb-1", "lb", ("10.244.2.1", "node-b", True))
    new = endpoint_slice(
        "lb-1",
        "lb",
        ("10.244.2.1", "node-b", True),
        ("10.244.1.7", "node-a", True),
        ("10.244.1.8", "node-a", False),
    )
    proxier.on_slice(old, new)
    assert await proxier.sync()
    status, body = service_health.answer(("default", "lb"))
    assert status == 200 and body["localEndpoints"] == 1 and body["serviceProxyHealthy"] is True

    proxier.on_service(local, None)
    assert await proxier.sync()
    assert service_health.synced[-1] == {}


async def test_the_loop_syncs_soon_after_a_change() -> None:
    proxier, applier, _, _ = make_proxier_real_clock()
    task = asyncio.create_task(proxier.run())
    try:
        await applier.wait_for_applies(1)
        proxier.on_service(None, service("web", "10.96.0.10"))
        await applier.wait_for_applies(2)
        assert "X1" in applier.applied[-1][0]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def make_proxier_real_clock() -> tuple[Proxier, FakeApplier, Renders, None]:
    applier, renders = FakeApplier(), Renders()
    proxier = Proxier(
        applier, renders, NodeConfig("node-a", ()), min_sync_period=0.0, sync_period=30.0,
        health=ProxyHealth(60.0),
    )  # fmt: skip
    return proxier, applier, renders, None


# --- appliers ---


class Recorder:
    def __init__(self, answers: dict[str, Result] | None = None) -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.answers = answers or {}

    async def __call__(self, argv: Sequence[str], stdin: str | None = None) -> Result:
        self.calls.append((list(argv), stdin))
        for prefix, answer in self.answers.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return Result(0, "", "")


async def test_iptables_applies_with_restore_noflush_and_reads_the_current_rules() -> None:
    runner = Recorder({"iptables-save": Result(0, "*nat\nCOMMIT\n", "")})
    applier = IptablesApplier(runner)
    await applier.apply("*nat\nCOMMIT\n", full=True)
    assert runner.calls[-1] == (["iptables-restore", "--noflush", "--wait"], "*nat\nCOMMIT\n")
    assert await applier.current() == "*nat\nCOMMIT\n"


async def test_a_failing_command_is_an_apply_error_with_its_stderr() -> None:
    runner = Recorder({"nft": Result(1, "", "Error: syntax error\n")})
    with pytest.raises(ApplyError, match=r"exit 1.*syntax error"):
        await NftablesApplier(runner).apply("bogus", full=True)


async def test_cleanup_removes_both_modes_from_what_is_there() -> None:
    saved = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-ABC - [0:0]\n"
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
        "-A KUBE-SERVICES -d 10.96.0.10/32 -j KUBE-SVC-ABC\nCOMMIT\n"
    )
    runner = Recorder({"iptables-save": Result(0, saved, "")})
    assert await cleanup_everything(runner) == []
    restore = [stdin for argv, stdin in runner.calls if argv[0] == "iptables-restore"]
    assert restore and "-X KUBE-SVC-ABC" in (restore[0] or "")
    assert '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in (
        restore[0] or ""
    )
    nft = [stdin for argv, stdin in runner.calls if argv[0] == "nft"]
    assert nft == ["add table ip kube-proxy\ndelete table ip kube-proxy\n"]


async def test_cleanup_without_a_tool_has_nothing_to_clean_but_reports_real_failures() -> None:
    missing = Recorder(
        {"iptables-save": Result(127, "", "iptables-save: No such file"), "nft": Result(127, "", "")}
    )
    assert await cleanup_everything(missing) == []
    broken = Recorder({"nft": Result(1, "", "Error: Could not process rule: Operation not permitted")})
    errors = await cleanup_everything(broken)
    assert len(errors) == 1 and errors[0].startswith("nftables: ")


async def test_netns_runner_runs_every_command_inside_the_namespace() -> None:
    inner = Recorder()
    await netns_runner("kp-test", inner)(["nft", "-f", "-"], "x")
    assert inner.calls == [(["ip", "netns", "exec", "kp-test", "nft", "-f", "-"], "x")]


async def test_node_addresses_come_from_the_runners_namespace() -> None:
    listing = (
        '[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},'
        '{"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.10","prefixlen":24}]},'
        '{"ifname":"eth1","addr_info":[{"family":"inet","local":"10.1.0.4","prefixlen":16}]}]'
    )
    runner = Recorder({"ip -j -4 addr show": Result(0, listing, "")})
    local = await local_ipv4_addresses(runner)
    assert local == ["127.0.0.1", "192.0.2.10", "10.1.0.4"]
    assert node_port_ips([], local) == ("192.0.2.10", "10.1.0.4")
    assert node_port_ips(["10.0.0.0/8"], local) == ("10.1.0.4",)
    assert node_port_ips(["primary", "localhost"], local, primary="192.0.2.10") == ("127.0.0.1", "192.0.2.10")


def test_rules_are_counted_per_table() -> None:
    text = "*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j REJECT\nCOMMIT\n"
    text += "*nat\n-A A -j B\n-A C -j D\nCOMMIT\n"
    assert rules_per_table(text) == {"filter": 1, "nat": 2}

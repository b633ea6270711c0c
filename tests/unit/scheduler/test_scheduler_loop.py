"""The running scheduler against a fake API client: informers fill the cache and the queue, each
profile places its own pods, preemption deletes victims and nominates, and an unschedulable pod is
told why. Everything real but the HTTP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from helpers.scheduling import make_node, make_pod

from scheduler.config import KubeSchedulerConfiguration
from scheduler.scheduler import Scheduler

Obj = dict[str, Any]

TWO_PROFILES = {
    "profiles": [
        {"schedulerName": "default-scheduler"},
        {
            "schedulerName": "bin-packing-scheduler",
            "pluginConfig": [
                {"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated"}}}
            ],
        },
    ]
}


class FakeClient:
    """Lists what the test put in, watches nothing new, and records every write."""

    def __init__(self, objects: dict[str, list[Obj]]) -> None:
        self.objects = objects
        self.writes: list[tuple[str, str, str, Any]] = []
        self.written = asyncio.Event()

    async def list(self, resource: str, **options: Any) -> Obj:
        return {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                "items": list(self.objects.get(resource, []))}  # fmt: skip

    async def watch(self, resource: str, **options: Any) -> AsyncIterator[Obj]:
        await asyncio.Event().wait()
        yield {}

    async def create(self, resource: str, obj: Obj, *, namespace: str | None = None, name: str | None = None,
                     subresource: str | None = None, **options: Any) -> Obj:  # fmt: skip
        self.written.set()
        self.writes.append(
            ("create", f"{resource}/{subresource or ''}", name or obj["metadata"].get("name", ""), obj)
        )
        return obj

    async def patch(self, resource: str, name: str, patch: Any, *, namespace: str | None = None,
                    subresource: str | None = None, **options: Any) -> Obj:  # fmt: skip
        self.written.set()
        self.writes.append(("patch", f"{resource}/{subresource or ''}", name, patch))
        return {}

    async def delete(self, resource: str, name: str, **options: Any) -> Obj:
        self.written.set()
        self.writes.append(("delete", resource, name, options))
        return {}

    def bindings(self) -> dict[str, str]:
        return {
            name: obj["target"]["name"] for verb, what, name, obj in self.writes if what == "pods/binding"
        }


async def run_until(scheduler: Scheduler, client: FakeClient, done: Callable[[], bool]) -> None:
    task = asyncio.create_task(scheduler.run())
    try:
        async with asyncio.timeout(10):
            while not done():
                client.written.clear()
                await client.written.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def scheduler_for(
    objects: dict[str, list[Obj]], config: dict[str, Any] | None = None
) -> tuple[Scheduler, FakeClient]:
    client = FakeClient(objects)
    parsed = KubeSchedulerConfiguration.model_validate(config or {})
    return Scheduler(client, parsed, rng=random.Random(1)), client  # type: ignore[arg-type]


async def test_each_profile_places_its_own_pods() -> None:
    nodes = [make_node("empty", cpu="4"), make_node("half", cpu="4")]
    # cpu and memory in the same proportion, so balanced allocation scores every node alike
    running = make_pod("running", cpu="2", memory="4Gi", node_name="half")
    spread = make_pod("spread", cpu="1", memory="2Gi")
    packed = make_pod("packed", cpu="1", memory="2Gi", schedulerName="bin-packing-scheduler")
    nobody = make_pod("nobody", cpu="1", schedulerName="no-such-scheduler")
    scheduler, client = scheduler_for(
        {"nodes": nodes, "pods": [running, spread, packed, nobody]}, TWO_PROFILES
    )
    await run_until(scheduler, client, lambda: len(client.bindings()) == 2)
    assert client.bindings() == {"spread": "empty", "packed": "half"}


async def test_preemption_deletes_the_lower_priority_pod_and_nominates_the_node() -> None:
    victim = make_pod("victim", cpu="900m", node_name="small", priority=0)
    preemptor = make_pod("preemptor", cpu="900m", priority=1000)
    scheduler, client = scheduler_for({"nodes": [make_node("small", cpu="1")], "pods": [victim, preemptor]})

    def deletes() -> list[tuple[str, str, str]]:
        return [(verb, what, name) for verb, what, name, _ in client.writes if verb == "delete"]

    def nominated() -> bool:
        return any(
            name == "preemptor" and (patch.get("status") or {}).get("nominatedNodeName") == "small"
            for _, what, name, patch in client.writes
            if what == "pods/status"
        )

    await run_until(scheduler, client, lambda: nominated() and ("delete", "pods", "victim") in deletes())
    disruption = next(
        p for verb, what, name, p in client.writes if what == "pods/status" and name == "victim"
    )
    assert disruption["status"]["conditions"][0]["reason"] == "PreemptionByScheduler"


async def test_an_unschedulable_pod_gets_the_condition_with_the_reason() -> None:
    scheduler, client = scheduler_for(
        {"nodes": [make_node("n", cpu="1")], "pods": [make_pod("huge", cpu="8")]}
    )

    def condition() -> Obj | None:
        for _, what, name, patch in client.writes:
            if what == "pods/status" and name == "huge":
                return patch["status"]["conditions"][0]
        return None

    await run_until(scheduler, client, lambda: condition() is not None)
    found = condition()
    assert found is not None
    assert (found["type"], found["status"], found["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert found["message"].startswith("0/1 nodes are available: 1 Insufficient cpu. preemption: ")
    assert client.bindings() == {}

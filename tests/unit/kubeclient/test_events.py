"""The event recorder's spam filter (client-go's EventSourceObjectSpamFilter): 25 events per
source and object, then one per five minutes."""

from __future__ import annotations

from kubeclient.events import EventRecorder, SpamFilter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_object_gets_25_events_then_one_per_five_minutes() -> None:
    clock = FakeClock()
    spam = SpamFilter(clock)
    key = ("replicaset-controller", "ReplicaSet", "default", "web", "uid-1")
    assert [spam.allow(key) for _ in range(26)] == [True] * 25 + [False]
    clock.now += 299
    assert not spam.allow(key)
    clock.now += 2
    assert spam.allow(key)
    assert not spam.allow(key)


def test_other_objects_and_other_sources_have_their_own_budget() -> None:
    spam = SpamFilter(FakeClock())
    for _ in range(25):
        spam.allow(("a", "Pod", "default", "x", "1"))
    assert spam.allow(("a", "Pod", "default", "y", "2"))
    assert spam.allow(("b", "Pod", "default", "x", "1"))


async def test_the_recorder_queues_only_what_the_filter_allows() -> None:
    recorder = EventRecorder(client=None, component="replicaset-controller", clock=FakeClock())  # type: ignore[arg-type]
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "u"},
    }
    for index in range(100):
        recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: web-{index}")
    assert recorder._pending.qsize() == 25

"""The eviction manager's decisions as plain functions over thresholds, observations and times
(upstream eviction helpers.go): which thresholds are met, since when, which node conditions hold,
and which threshold to act on first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kubelet.eviction.signals import MEMORY_AVAILABLE, SIGNAL_CONDITION, SIGNAL_RESOURCE, Observations
from kubelet.eviction.thresholds import Threshold, quantity_of


def thresholds_met(
    thresholds: Iterable[Threshold], observations: Observations, *, enforce_min_reclaim: bool = False
) -> list[Threshold]:
    """Thresholds whose signal's available amount is below the threshold (plus its minimum reclaim
    when `enforce_min_reclaim`: a met threshold stays met until that much more is free)."""
    met = []
    for threshold in thresholds:
        observed = observations.get(threshold.signal)
        if observed is None:
            continue
        quantity = quantity_of(threshold.value, observed.capacity)
        if enforce_min_reclaim and threshold.min_reclaim is not None:
            quantity = quantity + quantity_of(threshold.min_reclaim, observed.capacity)
        if quantity > observed.available:
            met.append(threshold)
    return met


def merge(*groups: Iterable[Threshold]) -> list[Threshold]:
    merged: list[Threshold] = []
    for group in groups:
        merged.extend(threshold for threshold in group if threshold not in merged)
    return merged


def first_observed(
    thresholds: Iterable[Threshold], previous: Mapping[Threshold, float], now: float
) -> dict[Threshold, float]:
    return {threshold: previous.get(threshold, now) for threshold in thresholds}


def met_grace_period(first_seen: Mapping[Threshold, float], now: float) -> list[Threshold]:
    return [threshold for threshold, since in first_seen.items() if now - since >= threshold.grace_period]


def node_conditions(thresholds: Iterable[Threshold]) -> list[str]:
    conditions: list[str] = []
    for threshold in thresholds:
        condition = SIGNAL_CONDITION.get(threshold.signal)
        if condition is not None and condition not in conditions:
            conditions.append(condition)
    return conditions


def conditions_last_observed(
    conditions: Iterable[str], previous: Mapping[str, float], now: float
) -> dict[str, float]:
    last = dict(previous)
    for condition in conditions:
        last[condition] = now
    return last


def conditions_observed_since(last_observed: Mapping[str, float], period: float, now: float) -> list[str]:
    """Conditions seen within the pressure transition period: they stay true that long after the
    pressure is gone, so a node does not flap in and out of pressure."""
    return [condition for condition, seen in last_observed.items() if now - seen < period]


def updated_since(
    thresholds: Iterable[Threshold], observations: Observations, last: Observations
) -> list[Threshold]:
    """Thresholds whose stats are newer than at the last sync: no second eviction on the same sample."""
    fresh = []
    for threshold in thresholds:
        observed = observations.get(threshold.signal)
        if observed is None:
            continue
        before = last.get(threshold.signal)
        if before is None or observed.time == 0 or observed.time > before.time:
            fresh.append(threshold)
    return fresh


def by_eviction_priority(thresholds: Iterable[Threshold]) -> list[Threshold]:
    """Memory first, thresholds with no resource to reclaim last (upstream byEvictionPriority)."""
    return sorted(
        thresholds,
        key=lambda t: 0 if t.signal == MEMORY_AVAILABLE else 1 if t.signal in SIGNAL_RESOURCE else 2,
    )


def reclaimable(thresholds: Iterable[Threshold]) -> tuple[Threshold, str] | None:
    for threshold in thresholds:
        resource = SIGNAL_RESOURCE.get(threshold.signal)
        if resource is not None:
            return threshold, resource
    return None

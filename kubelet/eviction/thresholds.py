"""Eviction thresholds from the KubeletConfiguration (upstream eviction helpers ParseThresholdConfig).

    parse_thresholds(hard={"memory.available": "100Mi", "nodefs.available": "10%"},
                     soft={"memory.available": "300Mi"}, soft_grace={"memory.available": "1m30s"},
                     minimum_reclaim={"memory.available": "0.5Gi"})

Values are quantities (> 0) or percentages of capacity ("0%" and "100%" mean no threshold, as
upstream). Every soft threshold needs a grace period. A bad value raises EvictionConfigError naming
the field and signal: "evictionSoftGracePeriod: memory.available: invalid duration 'soon'".
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from componentbase.flags import parse_duration
from kubeapi.quantity import Format, Quantity, parse_quantity
from kubelet.eviction.signals import SIGNALS


class EvictionConfigError(ValueError):
    """A bad eviction setting; retrying does not help, the configuration must change."""


@dataclass(frozen=True)
class ThresholdValue:
    quantity: Quantity | None = None
    percentage: float = 0.0  # a fraction of capacity, float32 like upstream

    def __str__(self) -> str:
        if self.quantity is not None:
            return str(self.quantity)
        return f"{self.percentage * 100:g}%"


@dataclass(frozen=True)
class Threshold:
    signal: str
    value: ThresholdValue
    grace_period: float = 0.0  # seconds; 0 for hard thresholds
    min_reclaim: ThresholdValue | None = None

    @property
    def hard(self) -> bool:
        return self.grace_period == 0.0


def _float32(value: float) -> float:
    packed: float = struct.unpack("f", struct.pack("f", value))[0]
    return packed


def quantity_of(value: ThresholdValue, capacity: Quantity) -> Quantity:
    """The amount a threshold value stands for (upstream GetThresholdQuantity)."""
    if value.quantity is not None:
        return value.quantity
    return Quantity.from_int(int(capacity.value() * value.percentage), Format.BINARY_SI)


def _value(field: str, signal: str, raw: str, *, for_reclaim: bool = False) -> ThresholdValue | None:
    text = str(raw).strip()
    if text.endswith("%"):
        if not for_reclaim and text in ("0%", "100%"):
            return None
        try:
            percentage = _float32(float(text[:-1]) / 100)
        except ValueError:
            raise EvictionConfigError(f"{field}: {signal}: invalid percentage {text!r}") from None
        if percentage < 0:
            raise EvictionConfigError(
                f"{field}: {signal}: eviction percentage threshold must be >= 0%: {text}"
            )
        if percentage > 1:
            raise EvictionConfigError(
                f"{field}: {signal}: eviction percentage threshold must be <= 100%: {text}"
            )
        return ThresholdValue(percentage=percentage)
    try:
        quantity = parse_quantity(text)
    except ValueError as error:
        raise EvictionConfigError(f"{field}: {signal}: {error}") from None
    if for_reclaim:
        if quantity.nanos < 0:
            raise EvictionConfigError(
                f"{field}: {signal}: negative eviction minimum reclaim specified: {text}"
            )
    elif quantity.nanos <= 0:
        raise EvictionConfigError(f"{field}: {signal}: eviction threshold must be positive: {quantity}")
    return ThresholdValue(quantity=quantity)


def _check_signal(field: str, signal: str) -> None:
    if signal not in SIGNALS:
        raise EvictionConfigError(f"{field}: unsupported eviction signal {signal}")


def parse_thresholds(
    hard: Mapping[str, str] | None = None,
    soft: Mapping[str, str] | None = None,
    soft_grace: Mapping[str, str] | None = None,
    minimum_reclaim: Mapping[str, str] | None = None,
) -> list[Threshold]:
    graces: dict[str, float] = {}
    for signal, raw in (soft_grace or {}).items():
        _check_signal("evictionSoftGracePeriod", signal)
        try:
            seconds = parse_duration(str(raw))
        except ValueError as error:
            raise EvictionConfigError(f"evictionSoftGracePeriod: {signal}: {error}") from None
        if seconds < 0:
            raise EvictionConfigError(
                f"evictionSoftGracePeriod: {signal}: invalid eviction grace period specified: {raw}, "
                "must be a positive value"
            )
        graces[signal] = seconds
    reclaims: dict[str, ThresholdValue] = {}
    for signal, raw in (minimum_reclaim or {}).items():
        _check_signal("evictionMinimumReclaim", signal)
        value = _value("evictionMinimumReclaim", signal, raw, for_reclaim=True)
        if value is not None:
            reclaims[signal] = value
    thresholds: list[Threshold] = []
    for signal, raw in (hard or {}).items():
        _check_signal("evictionHard", signal)
        value = _value("evictionHard", signal, raw)
        if value is not None:
            thresholds.append(Threshold(signal, value, 0.0, reclaims.get(signal)))
    for signal, raw in (soft or {}).items():
        _check_signal("evictionSoft", signal)
        value = _value("evictionSoft", signal, raw)
        if value is None:
            continue
        if signal not in graces:
            message = f"grace period must be specified for the soft eviction threshold {signal}"
            raise EvictionConfigError(f"evictionSoftGracePeriod: {message}")
        thresholds.append(Threshold(signal, value, graces[signal], reclaims.get(signal)))
    return thresholds

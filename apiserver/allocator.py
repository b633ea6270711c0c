"""Service ClusterIPs and NodePorts, allocated from bitmaps kept in the store as kube-apiserver
keeps them (`/registry/ranges/serviceips` and `/registry/ranges/servicenodeports`, each a
`RangeAllocation` with a `range` and a base64 bitmap in `data`). Every change is a compare-and-swap
on the key's revision, so several apiservers never hand out the same address or port."""

from __future__ import annotations

import base64
import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apiserver import storage
from apiserver.storage import Store

ATTEMPTS = 16


class RangeFull(Exception):
    pass


class AlreadyAllocated(Exception):
    pass


class OutOfRange(Exception):
    pass


@dataclass(frozen=True)
class Range:
    """`size` values; offset i stands for `first + i`."""

    label: str  # the RangeAllocation's `range` field
    first: int
    size: int


def ip_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Range:
    """Every address of the network but the network address itself and, for IPv4, broadcast."""
    size = network.num_addresses - (2 if network.version == 4 else 1)
    return Range(str(network), int(network.network_address) + 1, min(size, 1 << 16))


def port_range(low: int, high: int) -> Range:
    return Range(f"{low}-{high}", low, high - low + 1)


class Allocator:
    def __init__(self, store: Store, key: str, value_range: Range, rng: random.Random | None = None) -> None:
        self.store = store
        self.key = key
        self.range = value_range
        self.rng = rng or random.Random()

    async def _change(self, change: Callable[[bytearray], int]) -> int:
        """Apply `change` to the bitmap and store it; again when another writer got there first."""
        for _ in range(ATTEMPTS):
            try:
                current: dict[str, Any] | None = await self.store.get(self.key)
            except storage.KeyNotFound:
                current = None
            bitmap = bytearray((self.range.size + 7) // 8)
            if current is not None and current.get("range") == self.range.label:
                data = base64.b64decode(current.get("data", ""))
                bitmap[: len(data)] = data[: len(bitmap)]
            result = change(bitmap)
            new = {
                "kind": "RangeAllocation",
                "apiVersion": "v1",
                "metadata": {"name": self.key.rsplit("/", 1)[-1]},
                "range": self.range.label,
                "data": base64.b64encode(bytes(bitmap)).decode(),
            }
            try:
                if current is None:
                    await self.store.create(self.key, new)
                else:
                    await self.store.update(self.key, new, int(current["metadata"]["resourceVersion"]))
                return result
            except (storage.Conflict, storage.KeyExists, storage.KeyNotFound):
                continue
        raise storage.Unavailable(f"could not update {self.key}: too much contention")

    def _offset(self, value: int) -> int:
        offset = value - self.range.first
        if not 0 <= offset < self.range.size:
            raise OutOfRange(value)
        return offset

    async def allocate(self, value: int | None = None) -> int:
        """`value` if it is free (AlreadyAllocated otherwise), or a random free one (RangeFull)."""

        def take(bitmap: bytearray) -> int:
            if value is not None:
                offset = self._offset(value)
                if bitmap[offset // 8] & (1 << offset % 8):
                    raise AlreadyAllocated(value)
            else:
                offset = self._free_offset(bitmap)
            bitmap[offset // 8] |= 1 << offset % 8
            return self.range.first + offset

        return await self._change(take)

    def _free_offset(self, bitmap: bytearray) -> int:
        """A free offset: the first after a random start (upstream picks randomly too, so
        addresses are not handed out in an order someone could rely on)."""
        size = self.range.size
        start = self.rng.randrange(size)
        for step in range(size):
            offset = (start + step) % size
            if not bitmap[offset // 8] & (1 << offset % 8):
                return offset
        raise RangeFull(self.range.label)

    async def release(self, value: int) -> None:
        try:
            offset = self._offset(value)
        except OutOfRange:
            return

        def give_back(bitmap: bytearray) -> int:
            bitmap[offset // 8] &= ~(1 << offset % 8) & 0xFF
            return value

        await self._change(give_back)

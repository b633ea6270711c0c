"""CRC-32C (Castagnoli), the checksum etcd's HashKV uses, in pure Python.

Four bytes per step through two 64 Ki-entry tables (built on first use, ~0.1 s, 512 KiB), about
20-30 MB/s: a HashKV over a few hundred MB takes seconds, which is acceptable for the occasional
corruption check it serves.
"""

from __future__ import annotations

import struct
from array import array

_POLY = 0x82F63B78  # reflected Castagnoli polynomial


def _byte_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_T8 = _byte_table()
_tables: tuple[array[int], array[int]] | None = None


def _word_tables() -> tuple[array[int], array[int]]:
    """LO[i]: the effect of a register holding i (16 bits) after 32 bit-steps; HI[i]: after 16."""
    global _tables
    if _tables is None:
        t8 = _T8
        # sixteen steps of the 16-bit value i: two byte steps
        hi = array("I", bytes(4 * 65536))
        for i in range(65536):
            c = (i >> 8) ^ t8[i & 0xFF]
            hi[i] = (c >> 8) ^ t8[c & 0xFF]
        # thirty-two steps: sixteen more on the result
        lo = array("I", bytes(4 * 65536))
        for i in range(65536):
            c = hi[i]
            lo[i] = (c >> 16) ^ hi[c & 0xFFFF]
        _tables = (lo, hi)
    return _tables


class Crc32c:
    """Incremental CRC-32C: `update` as often as needed, then `value`."""

    __slots__ = ("_crc",)

    def __init__(self, data: bytes = b"") -> None:
        self._crc = 0xFFFFFFFF
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        crc = self._crc
        t8 = _T8
        n4 = len(data) & ~3
        if n4 >= 64:
            lo, hi = _word_tables()
            for (w,) in struct.iter_unpack("<I", memoryview(data)[:n4]):
                crc ^= w
                crc = lo[crc & 0xFFFF] ^ hi[crc >> 16]
        else:
            n4 = 0
        for b in data[n4:]:
            crc = (crc >> 8) ^ t8[(crc ^ b) & 0xFF]
        self._crc = crc

    @property
    def value(self) -> int:
        return self._crc ^ 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    return Crc32c(data).value

"""The in-memory key index (etcd's treeIndex and keyIndex): key -> generations of revisions.

A key's life is a list of generations. A generation starts with the put that creates the key and
ends with the deletion (a tombstone revision, the generation's last); the last generation is empty
while the key is deleted. Revisions are ints `main << 32 | sub` (see `codec`), ascending.

    put(1.0) put(2.0) delete(3.0) put(4.0) put(5.0)
    generations: [{created 1, revs [1.0 2.0 3.0]}, {created 4, revs [4.0 5.0]}]

Keys are kept sorted for range scans in `SortedKeys`, a list of sorted chunks (the idea behind
sortedcontainers.SortedList): inserting a new key costs a bisect and a memmove within one chunk,
not of the whole key set. Keys leave the index only through compaction.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

from etcd_raft.mvcc.codec import SUB_BITS, SUB_MASK


class SortedKeys:
    """A sorted set of byte strings with O(sqrt n)-ish inserts and slice-based range reads."""

    LOAD = 1000

    __slots__ = ("_chunks", "_len", "_maxes")

    def __init__(self, keys: list[bytes] | None = None) -> None:
        """`keys` must already be sorted and distinct."""
        self._chunks: list[list[bytes]] = []
        self._maxes: list[bytes] = []
        self._len = 0
        if keys:
            load = self.LOAD
            self._chunks = [keys[i : i + load] for i in range(0, len(keys), load)]
            self._maxes = [c[-1] for c in self._chunks]
            self._len = len(keys)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield from chunk

    def add(self, key: bytes) -> None:
        """Insert `key`, which must not be present."""
        maxes = self._maxes
        self._len += 1
        if not maxes:
            self._chunks.append([key])
            maxes.append(key)
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            chunk = self._chunks[i]
            chunk.append(key)
            maxes[i] = key
        else:
            chunk = self._chunks[i]
            insort(chunk, key)
        if len(chunk) > 2 * self.LOAD:
            half = len(chunk) // 2
            self._chunks[i : i + 1] = [chunk[:half], chunk[half:]]
            maxes[i : i + 1] = [chunk[half - 1], chunk[-1]]

    def range(self, start: bytes, end: bytes | None) -> list[bytes]:
        """The keys k with start <= k < end (end None: no upper bound), in order."""
        maxes = self._maxes
        chunks = self._chunks
        i = bisect_left(maxes, start)
        if i == len(maxes):
            return []
        chunk = chunks[i]
        j = bisect_left(chunk, start)
        if end is None:
            out = chunk[j:]
            for c in chunks[i + 1 :]:
                out += c
            return out
        if end <= start:
            return []
        if maxes[i] < end:
            out = chunk[j:]
            i += 1
            n = len(chunks)
            while i < n and maxes[i] < end:
                out += chunks[i]
                i += 1
            if i < n:
                c = chunks[i]
                out += c[: bisect_left(c, end)]
            return out
        return chunk[j : bisect_left(chunk, end, j)]


class Generation:
    __slots__ = ("created", "revs", "ver")

    def __init__(self, created: int = 0, ver: int = 0, revs: list[int] | None = None) -> None:
        self.created = created  # main revision of the creating put
        self.ver = ver  # version of the generation's latest put
        self.revs: list[int] = revs if revs is not None else []

    def __repr__(self) -> str:
        revs = " ".join(f"{r >> SUB_BITS}.{r & SUB_MASK}" for r in self.revs)
        return f"Generation(created={self.created}, ver={self.ver}, revs=[{revs}])"


class KeyIndex:
    """Every revision of one key still in the store, grouped into generations."""

    __slots__ = ("generations", "key", "lease")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.generations: list[Generation] = [Generation()]
        self.lease = 0  # the lease of the key's live revision (0 if none or deleted)

    def __repr__(self) -> str:
        return f"KeyIndex({self.key!r}, {self.generations})"

    def is_empty(self) -> bool:
        return len(self.generations) == 1 and not self.generations[0].revs

    def latest(self) -> int:
        """The live revision, or 0 if the key is deleted now."""
        revs = self.generations[-1].revs
        return revs[-1] if revs else 0

    def put(self, rev: int, created: int, ver: int) -> None:
        g = self.generations[-1]
        if not g.revs:
            g.created = created
        g.revs.append(rev)
        g.ver = ver

    def tombstone(self, rev: int) -> None:
        g = self.generations[-1]
        g.revs.append(rev)
        g.ver += 1
        self.generations.append(Generation())

    def get(self, at_main: int) -> tuple[int, Generation] | None:
        """The revision visible at main revision `at_main` and its generation, or None if the key
        did not exist then (etcd's keyIndex.get)."""
        gens = self.generations
        bound = (at_main + 1) << SUB_BITS
        last = len(gens) - 1
        cg = last
        while cg >= 0:
            g = gens[cg]
            revs = g.revs
            if not revs:
                cg -= 1
                continue
            if cg != last and revs[-1] < bound:
                return None  # deleted at or before at_main
            if revs[0] < bound:
                return revs[bisect_left(revs, bound) - 1], g
            cg -= 1
        return None

    def _compact_position(self, at_main: int) -> tuple[int, int]:
        """etcd's doCompact: the generation holding the revision to keep and that revision's index
        (-1: every revision of the generation is newer than `at_main`)."""
        gens = self.generations
        gi = 0
        while gi < len(gens) - 1 and (gens[gi].revs[-1] >> SUB_BITS) < at_main:
            gi += 1
        revs = gens[gi].revs
        return gi, bisect_right(revs, (at_main << SUB_BITS) | SUB_MASK) - 1

    def compact(self, at_main: int, dropped: list[tuple[int, bool]]) -> None:
        """Drop every revision <= at_main but the latest one of the generation still alive at
        at_main (a tombstone at exactly at_main is kept, as etcd keeps it; an older one goes with
        its generation). Appends (revision, is_tombstone) of the dropped ones to `dropped`."""
        gi, ri = self._compact_position(at_main)
        gens = self.generations
        for g in gens[:gi]:
            revs = g.revs
            dropped.extend((r, False) for r in revs[:-1])
            dropped.append((revs[-1], True))
        if ri > 0:
            g = gens[gi]
            dropped.extend((r, False) for r in g.revs[:ri])
            g.revs = g.revs[ri:]
        if gi:
            self.generations = gens[gi:]

    def keep(self, at_main: int, available: set[int]) -> None:
        """Add the revision compaction at `at_main` would keep to `available` (etcd's keyIndex.keep,
        which leaves out a tombstone at exactly at_main so hashes match compacted stores)."""
        gi, ri = self._compact_position(at_main)
        if ri == -1:
            return
        revs = self.generations[gi].revs
        if ri == len(revs) - 1 and gi != len(self.generations) - 1:
            return
        available.add(revs[ri])


class TreeIndex:
    """All keys' indexes: a dict for point lookups and `SortedKeys` for ranges."""

    __slots__ = ("keys", "map")

    def __init__(self) -> None:
        self.map: dict[bytes, KeyIndex] = {}
        self.keys = SortedKeys()

    def __len__(self) -> int:
        return len(self.map)

    def insert(self, key: bytes) -> KeyIndex:
        ki = KeyIndex(key)
        self.map[key] = ki
        self.keys.add(key)
        return ki

    def rebuild_sorted(self) -> None:
        self.keys = SortedKeys(sorted(self.map))

    def key_indexes(self, key: bytes, range_end: bytes) -> list[KeyIndex]:
        """The indexes of the keys etcd's (key, range_end) selects, in key order."""
        if not range_end:
            ki = self.map.get(key)
            return [ki] if ki is not None else []
        m = self.map
        keys = self.keys.range(key, None if range_end == b"\0" else range_end)
        return [m[k] for k in keys]

    def compact(self, at_main: int) -> list[tuple[int, bool]]:
        """Compact every key at `at_main`; returns the dropped (revision, is_tombstone)."""
        dropped: list[tuple[int, bool]] = []
        emptied = []
        for ki in self.map.values():
            gens = ki.generations
            if len(gens) == 1 and len(gens[0].revs) <= 1:
                continue  # a key written once and never deleted: nothing to drop
            ki.compact(at_main, dropped)
            if ki.is_empty():
                emptied.append(ki.key)
        if emptied:
            for k in emptied:
                del self.map[k]
            self.rebuild_sorted()
        return dropped

    def keep(self, at_main: int) -> set[int]:
        available: set[int] = set()
        for ki in self.map.values():
            if not ki.is_empty():
                ki.keep(at_main, available)
        return available

"""Leases and when they expire. Pure: time is passed in. (Which keys a lease holds is the MVCC
store's to know: `KVStore.keys_with_lease`.)

Like etcd's lessor: grants, revokes and key attachments happen when Raft entries are applied, so
every member agrees on them; expiry is the leader's business alone (`expired`), and the leader turns
an expired lease into a LeaseRevoke proposal, so the keys are deleted through Raft. A member that
becomes leader restarts every lease's clock (`promote`), since followers do not track time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_TTL_SECONDS = 1  # etcd raises TTLs below its minimum (about 1.5 x election timeout) to it
MAX_TTL_SECONDS = 9_000_000_000  # etcd's MaxLeaseTTL
FOREVER = math.inf


class LeaseNotFoundError(KeyError):
    """etcdserver: requested lease not found."""


class LeaseExistsError(ValueError):
    """etcdserver: lease already exists."""


@dataclass
class Lease:
    id: int
    ttl: int  # seconds, as granted (after raising to the minimum)
    expiry: float = FOREVER  # monotonic seconds; FOREVER on followers

    def remaining(self, now: float) -> int:
        """Seconds left, rounded up like etcd's TimeToLive; -1 when not tracked (follower)."""
        if self.expiry == FOREVER:
            return -1
        return max(0, math.ceil(self.expiry - now))


class Lessor:
    def __init__(self, min_ttl: int = MIN_TTL_SECONDS) -> None:
        self.min_ttl = min_ttl
        self.leases: dict[int, Lease] = {}
        self.is_primary = False  # only the leader's lessor runs clocks

    # Applied through Raft, on every member.

    def grant(self, lease_id: int, ttl: int, now: float) -> Lease:
        if lease_id in self.leases:
            raise LeaseExistsError(lease_id)
        lease = Lease(lease_id, max(ttl, self.min_ttl))
        if self.is_primary:
            lease.expiry = now + lease.ttl
        self.leases[lease_id] = lease
        return lease

    def revoke(self, lease_id: int) -> None:
        """Forget the lease; the caller deletes its keys in the same apply step."""
        if self.leases.pop(lease_id, None) is None:
            raise LeaseNotFoundError(lease_id)

    def lookup(self, lease_id: int) -> Lease:
        try:
            return self.leases[lease_id]
        except KeyError:
            raise LeaseNotFoundError(lease_id) from None

    # The leader's clock.

    def promote(self, now: float, extend: float) -> None:
        """Become the primary: every lease gets a fresh TTL plus `extend` (etcd adds the election
        timeout, so leases don't expire just because the leader changed)."""
        self.is_primary = True
        for lease in self.leases.values():
            lease.expiry = now + lease.ttl + extend

    def demote(self) -> None:
        self.is_primary = False
        for lease in self.leases.values():
            lease.expiry = FOREVER

    def renew(self, lease_id: int, now: float) -> int:
        """KeepAlive on the leader: restart the lease's clock; returns its TTL."""
        lease = self.lookup(lease_id)
        if self.is_primary:
            lease.expiry = now + lease.ttl
        return lease.ttl

    def expired(self, now: float, limit: int = 1000) -> list[int]:
        """Leases whose time is up, oldest first; the leader proposes their revocation."""
        if not self.is_primary:
            return []
        due = sorted((lease.expiry, lease.id) for lease in self.leases.values() if lease.expiry <= now)
        return [lease_id for _, lease_id in due[:limit]]

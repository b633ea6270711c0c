"""Leader election on a coordination.k8s.io/v1 Lease (client-go's leaderelection with LeaseLock).

    elector = LeaderElector(client, LeaseConfig("kube-system", "kube-scheduler", identity))
    await elector.run(lead)   # returns when `lead()` returns; raises LeadershipLost if the lease is lost

Candidates try every `retry_period` to take the lease; one that holds it renews it every
`retry_period` and gives up leading (the caller's task is cancelled and LeadershipLost raised, so
the process exits and is restarted, as upstream components do) when it could not renew within
`renew_deadline`. A lease counts as expired `lease_duration` after this candidate last saw it
change, measured on its own clock (never comparing clocks of two machines). On a clean shutdown the
leader releases the lease so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from componentbase.flags import FlagSet
from componentbase.klog import get_logger
from kubeclient.errors import KubeClientError, is_not_found
from kubeclient.rest import Client

log = get_logger(__name__)
LEASES = "leases.coordination.k8s.io"


def add_leader_election_flags(flags: FlagSet, resource_name: str) -> None:
    """The --leader-elect* flags of kube-scheduler and kube-controller-manager."""
    flags.bool(
        "leader-elect",
        True,
        "Start a leader election client and gain leadership before executing the main loop.",
    )
    flags.duration(
        "leader-elect-lease-duration",
        15.0,
        "How long non-leaders wait before trying to take an unrenewed lease.",
    )
    flags.duration(
        "leader-elect-renew-deadline", 10.0, "How long the leader tries to renew before it stops leading."
    )
    flags.duration(
        "leader-elect-retry-period", 2.0, "How long clients wait between tries of acquiring or renewing."
    )
    flags.string(
        "leader-elect-resource-lock", "leases", "The type of resource object used for locking (leases)."
    )
    flags.string("leader-elect-resource-name", resource_name, "The name of the lease object.")
    flags.string("leader-elect-resource-namespace", "kube-system", "The namespace of the lease object.")


class LeadershipLost(Exception):
    pass


def default_identity() -> str:
    """hostname_uuid, as kube-scheduler and kube-controller-manager name themselves."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def micro_time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_spec(current: dict[str, Any] | None, config: LeaseConfig, now: datetime) -> dict[str, Any]:
    """The Lease spec this candidate writes to take or renew the lease."""
    current = current or {}
    renewing = current.get("holderIdentity") == config.identity
    spec = {
        "holderIdentity": config.identity,
        "leaseDurationSeconds": int(config.lease_duration),
        "acquireTime": current.get("acquireTime") if renewing else micro_time(now),
        "renewTime": micro_time(now),
        "leaseTransitions": int(current.get("leaseTransitions") or 0)
        + (0 if renewing or not current.get("holderIdentity") else 1),
    }
    return spec


class LeaderElector:
    def __init__(
        self, client: Client, config: LeaseConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        self.is_leader = False

    def may_take(self, spec: dict[str, Any] | None, now: float) -> bool:
        """Whether this candidate may write the lease: it is free, ours, released, or its holder has
        not renewed for `lease_duration` as seen on our clock."""
        if not spec or not spec.get("holderIdentity") or spec.get("holderIdentity") == self.config.identity:
            return True
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        return now >= self._observed_at + duration

    def _observe(self, lease: dict[str, Any] | None) -> None:
        spec = (lease or {}).get("spec") or {}
        if spec != self._observed_spec:
            self._observed_spec, self._observed_at = spec, self.clock()
        self._lease = lease

    async def try_acquire_or_renew(self) -> bool:
        path_args = {"namespace": self.config.namespace}
        try:
            lease = await self.client.get(LEASES, self.config.name, **path_args)
        except KubeClientError as error:
            if not is_not_found(error):
                log.warning("Reading the lease failed", lease=self._key(), error=str(error))
                return False
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": next_spec(None, self.config, datetime.now(UTC)),
            }
            try:
                self._observe(await self.client.create(LEASES, body, **path_args))
                return True
            except KubeClientError as create_error:
                log.info("Creating the lease failed", lease=self._key(), error=str(create_error))
                return False
        self._observe(lease)
        if not self.may_take(lease.get("spec"), self.clock()):
            return False
        updated = {**lease, "spec": next_spec(lease.get("spec"), self.config, datetime.now(UTC))}
        try:
            self._observe(await self.client.update(LEASES, updated, **path_args))  # 409 if someone else wrote
            return True
        except KubeClientError as error:
            log.info("Updating the lease failed", lease=self._key(), error=str(error))
            return False

    async def run(self, lead: Callable[[], Coroutine[Any, Any, object]]) -> None:
        await self._acquire()
        self.is_leader = True
        log.info("Successfully acquired lease", lease=self._key(), identity=self.config.identity)
        leading = asyncio.create_task(lead(), name="leading")
        renewing = asyncio.create_task(self._renew_until_lost(), name="lease-renewal")
        try:
            done, _ = await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
            if renewing in done:
                leading.cancel()
                await asyncio.gather(leading, return_exceptions=True)
                renewing.result()
            else:
                leading.result()
        finally:
            for task in (leading, renewing):
                task.cancel()
            await asyncio.gather(leading, renewing, return_exceptions=True)
            if self.is_leader:
                await self.release()

    async def _acquire(self) -> None:
        while True:
            if await self.try_acquire_or_renew():
                return
            await asyncio.sleep(self.config.retry_period * random.uniform(1.0, 1.2))

    async def _renew_until_lost(self) -> None:
        last_renewed = self.clock()
        while True:
            await asyncio.sleep(self.config.retry_period)
            try:
                renewed = await asyncio.wait_for(self.try_acquire_or_renew(), self.config.renew_deadline)
            except TimeoutError:
                renewed = False
            if renewed:
                last_renewed = self.clock()
            elif self.clock() - last_renewed >= self.config.renew_deadline:
                self.is_leader = False
                log.error("Leader election lost", lease=self._key(), identity=self.config.identity)
                raise LeadershipLost(f"lost the lease {self._key()}")

    async def release(self) -> None:
        """Hand the lease back (holder cleared, duration 1 s) if we still hold it."""
        self.is_leader = False
        lease = self._lease
        if not lease or (lease.get("spec") or {}).get("holderIdentity") != self.config.identity:
            return
        spec = {
            **lease["spec"],
            "holderIdentity": None,
            "leaseDurationSeconds": 1,
            "renewTime": micro_time(datetime.now(UTC)),
        }
        try:
            await asyncio.wait_for(
                self.client.update(LEASES, {**lease, "spec": spec}, namespace=self.config.namespace), 2.0
            )
            log.info("Released the lease", lease=self._key())
        except (KubeClientError, TimeoutError) as error:
            log.warning("Releasing the lease failed", lease=self._key(), error=str(error))

    def _key(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"

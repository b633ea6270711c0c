"""node-ipam-controller with upstream's RangeAllocator (pkg/controller/nodeipam/ipam): with
`--allocate-node-cidrs` and `--cluster-cidr`, each node without `spec.podCIDRs` gets the next free subnet
of the cluster CIDR (`--node-cidr-mask-size`, by default /24 for IPv4 and /64 for IPv6), written as
`spec.podCIDR` and `spec.podCIDRs`; the kubelet and the CNI plugin give pods addresses from it.

`CIDRSet` (upstream cidrset.CidrSet) is the bookkeeping: a bitmap over the cluster CIDR's node-sized
subnets, handing out the next free one round-robin. Subnets overlapping `--service-cluster-ip-range` are
occupied from the start; before the first allocation the subnets of nodes that already have one are
occupied (the caches have synced by then); a deleted node's subnets are released. Upstream releases in
the delete handler; here handlers only enqueue, so the controller remembers which subnets each node holds
(`held`) and reconcile releases them when the node is gone (upstream's TODO). When the range is full the
node gets the Warning event CIDRNotAvailable and the key is retried with back-off.

Without `--allocate-node-cidrs` upstream does not start the controller; here `new` returns an idle
stand-in. There is no dual-stack here: one cluster CIDR, one subnet per node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, IdleController, Obj, QueueController
from kubeclient.errors import ApiError, KubeClientError, is_not_found
from kubeclient.rest import STRATEGIC_MERGE_PATCH

log = get_logger(__name__)

IPNetwork = IPv4Network | IPv6Network

DEFAULT_NODE_MASK_IPV4 = 24
DEFAULT_NODE_MASK_IPV6 = 64
CLUSTER_SUBNET_MAX_DIFF = 16
"""IPv6 node subnets at most 16 bits longer than the cluster's (upstream clusterSubnetMaxDiff)."""
CIDR_UPDATE_RETRIES = 3
"""Patch attempts before giving a reserved subnet back (upstream cidrUpdateRetries)."""


class CIDRRangeFull(Exception):
    """No subnet left; retrying helps only once a node is deleted."""

    def __str__(self) -> str:
        return "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"


# --- pure bookkeeping -------------------------------------------------------------------------------


class CIDRSet:
    """The node-sized subnets of one cluster CIDR, each used or free (a bitmap in an int).

    allocate_next() hands out the first free subnet at or after the one after the last handed out
    (round-robin, so a just-released subnet is not reused at once); occupy(cidr) and release(cidr) mark
    every subnet `cidr` overlaps, whether `cidr` is larger than a subnet (a service range) or smaller."""

    def __init__(self, cluster: IPNetwork, node_mask: int) -> None:
        if not cluster.prefixlen <= node_mask <= cluster.max_prefixlen:
            raise ValueError(
                f"mask size of cluster CIDR {cluster} must be less than or equal to the node CIDR mask "
                f"size {node_mask}, at most {cluster.max_prefixlen}"
            )
        if cluster.version == 6 and node_mask - cluster.prefixlen > CLUSTER_SUBNET_MAX_DIFF:
            raise ValueError("New CIDR set failed; the node CIDR size is too big")
        self.cluster = cluster
        self.node_mask = node_mask
        self.max_cidrs = 1 << (node_mask - cluster.prefixlen)
        self.allocated = 0
        self.next_candidate = 0
        self._used = 0
        self._shift = cluster.max_prefixlen - node_mask

    def _is_used(self, index: int) -> bool:
        return bool(self._used >> index & 1)

    def subnet(self, index: int) -> IPNetwork:
        base = int(self.cluster.network_address) | index << self._shift
        return type(self.cluster)((base, self.node_mask))

    def allocate_next(self) -> IPNetwork:
        if self.allocated == self.max_cidrs:
            raise CIDRRangeFull()
        candidate = self.next_candidate
        while self._is_used(candidate):
            candidate = (candidate + 1) % self.max_cidrs
        self.next_candidate = (candidate + 1) % self.max_cidrs
        self._used |= 1 << candidate
        self.allocated += 1
        return self.subnet(candidate)

    def _index_of(self, address: int) -> int:
        index = (int(self.cluster.network_address) ^ address) >> self._shift
        if index >= self.max_cidrs:
            ip = type(self.cluster.network_address)(address)
            raise ValueError(f"CIDR: {ip}/{self.node_mask} is out of the range of CIDR allocator")
        return index

    def _indices(self, cidr: IPNetwork) -> range:
        if cidr.version != self.cluster.version or not self.cluster.overlaps(cidr):
            raise ValueError(f"cidr {cidr} is out the range of cluster cidr {self.cluster}")
        if cidr.prefixlen <= self.cluster.prefixlen:
            return range(self.max_cidrs)
        begin = self._index_of(int(cidr.network_address))
        end = self._index_of(int(cidr.broadcast_address))
        return range(begin, end + 1)

    def occupy(self, cidr: IPNetwork) -> None:
        """Mark `cidr`'s subnets used; already used ones are fine. ValueError when outside the range."""
        for index in self._indices(cidr):
            if not self._is_used(index):
                self._used |= 1 << index
                self.allocated += 1

    def release(self, cidr: IPNetwork) -> None:
        for index in self._indices(cidr):
            if self._is_used(index):
                self._used &= ~(1 << index)
                self.allocated -= 1


def node_mask_size(cluster: IPNetwork, mask: int = 0, mask_ipv4: int = 0, mask_ipv6: int = 0) -> int:
    """The node subnet's mask size for a single-stack cluster from the three flags (0 = unset), with
    upstream's refusals of contradictory flags (kube-controller-manager setNodeCIDRMaskSizes)."""
    if mask:
        if mask_ipv4 or mask_ipv6:
            raise ValueError(
                "usage of --node-cidr-mask-size-ipv4 and --node-cidr-mask-size-ipv6 is not allowed if "
                "--node-cidr-mask-size is set. For dual-stack clusters please unset it and use IPFamily "
                "specific flags"
            )
        return mask
    if cluster.version == 6:
        if mask_ipv4:
            raise ValueError(
                "usage of --node-cidr-mask-size-ipv4 is not allowed for a single-stack IPv6 cluster"
            )
        return mask_ipv6 or DEFAULT_NODE_MASK_IPV6
    if mask_ipv6:
        raise ValueError("usage of --node-cidr-mask-size-ipv6 is not allowed for a single-stack IPv4 cluster")
    return mask_ipv4 or DEFAULT_NODE_MASK_IPV4


def new_cidr_set(cluster: IPNetwork, node_mask: int, service_range: IPNetwork | None) -> CIDRSet:
    """The set with the subnets overlapping the service range already taken (upstream
    filterOutServiceRange: service ClusterIPs must not be handed to pods)."""
    cidrs = CIDRSet(cluster, node_mask)
    if (
        service_range is not None
        and service_range.version == cluster.version
        and cluster.overlaps(service_range)
    ):
        cidrs.occupy(service_range)
    return cidrs


def pod_cidrs(node: Mapping[str, Any]) -> tuple[str, ...]:
    spec = node.get("spec") or {}
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    return tuple(str(cidr) for cidr in cidrs)


def parse_cidrs(cidrs: Iterable[str]) -> list[IPNetwork]:
    """ValueError for garbage; host bits are dropped, as Go's net.ParseCIDR does."""
    return [ip_network(cidr, strict=False) for cidr in cidrs]


def pod_cidr_patch(cidrs: Sequence[str]) -> Obj:
    """upstream PatchNodeCIDRs: the list, and its first entry in the older single field."""
    return {"spec": {"podCIDR": cidrs[0], "podCIDRs": list(cidrs)}}


# --- the controller ---------------------------------------------------------------------------------


class NodeIpamController(QueueController):
    name = "node-ipam-controller"

    def __init__(self, ctx: ControllerContext, cidrs: CIDRSet) -> None:
        super().__init__(ctx)
        self.cidrs = cidrs
        self.nodes = ctx.informers.informer("nodes")
        self.nodes.add_handler(self.enqueue, self.enqueue_update, self.enqueue)
        self.held: dict[str, tuple[str, ...]] = {}
        """Node name -> the subnets we marked used for it (found on it, or reserved and being patched)."""
        self._primed = False

    def occupy_existing(self) -> None:
        """Once, with synced caches, before any allocation: the subnets nodes already have are taken."""
        if self._primed:
            return
        self._primed = True
        for node in self.nodes.store.objects():
            if pod_cidrs(node):
                self._occupy(node)

    def _occupy(self, node: Obj) -> None:
        name, cidrs = node["metadata"]["name"], pod_cidrs(node)
        try:
            for cidr in parse_cidrs(cidrs):
                self.cidrs.occupy(cidr)
        except ValueError as error:  # garbage or out of range: retrying cannot help
            log.warning(
                "Node has a CIDR the allocator cannot occupy", node=name, cidrs=cidrs, error=str(error)
            )
            return
        stale = set(self.held.get(name, ())) - set(cidrs)
        self._release(name, stale)  # we reserved others for it, someone else set these
        self.held[name] = cidrs

    def _release(self, name: str, cidrs: Iterable[str]) -> None:
        for cidr in cidrs:
            try:
                self.cidrs.release(ip_network(cidr, strict=False))
                log.v(4).info("Released CIDR", node=name, cidr=cidr)
            except ValueError as error:
                log.warning("Error when releasing CIDR", node=name, cidr=cidr, error=str(error))

    async def run(self) -> None:
        self.occupy_existing()
        await super().run()

    async def reconcile(self, key: str) -> None:
        self.occupy_existing()
        node = self.nodes.store.get(key)
        if node is None or node["metadata"].get("deletionTimestamp"):
            self._release(key, set(self.held.pop(key, ())) | set(pod_cidrs(node or {})))
            return
        if pod_cidrs(node):
            self._occupy(node)
            return
        cidrs = self.held.get(key)  # reserved by an earlier run whose patch the cache has not shown yet
        if cidrs is None:
            try:
                cidrs = (str(self.cidrs.allocate_next()),)
            except CIDRRangeFull:
                self.record(
                    node, "Warning", "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable"
                )
                raise
            self.held[key] = cidrs
        await self._patch(node, cidrs)

    async def _patch(self, node: Obj, cidrs: tuple[str, ...]) -> None:
        key = node["metadata"]["name"]
        error: KubeClientError | None = None
        for _ in range(CIDR_UPDATE_RETRIES):
            try:
                await self.client.patch(
                    "nodes", key, pod_cidr_patch(cidrs), content_type=STRATEGIC_MERGE_PATCH
                )
                log.info("Set node PodCIDR", node=key, pod_cidrs=",".join(cidrs))
                return
            except KubeClientError as failed:
                error = failed
                if is_not_found(failed):
                    break
        assert error is not None
        if is_not_found(error):  # deleted meanwhile: its delete event releases the reservation
            return
        log.warning("Failed to update node PodCIDR", node=key, pod_cidrs=",".join(cidrs), error=str(error))
        self.record(
            node, "Warning", "CIDRAssignmentFailed", f"Node {key} status is now: CIDRAssignmentFailed"
        )
        if not (isinstance(error, ApiError) and error.code == 504):
            # the patch surely failed: give the subnet back (after a timeout it may have landed)
            self._release(key, self.held.pop(key, ()))
        raise error


def new(ctx: ControllerContext) -> NodeIpamController | IdleController:
    options = ctx.options
    if not options.allocate_node_cidrs:
        return IdleController(
            NodeIpamController.name, "Not allocating node CIDRs (--allocate-node-cidrs is false)"
        )
    cluster: IPNetwork | None = options.cluster_cidr
    if cluster is None:
        raise ValueError("Controller: Must specify --cluster-cidr if --allocate-node-cidrs is set")
    mask = node_mask_size(
        cluster,
        options.node_cidr_mask_size,
        options.node_cidr_mask_size_ipv4,
        options.node_cidr_mask_size_ipv6,
    )
    return NodeIpamController(ctx, new_cidr_set(cluster, mask, options.service_cluster_ip_range))

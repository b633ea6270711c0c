"""The garbage collector's dependency graph (upstream's GraphBuilder and its uidToNode), and the
pure decision of what to do with one object given what is known of its owners.

Nodes are keyed by uid. Observing an object adds it and links it to its owners; an owner not seen
yet becomes a *virtual* node, which the collector verifies with a live GET (the owner may be
missing from our caches only because its watch lags, or may truly not exist: a dangling
reference). Each change answers the `Work` it makes: uids whose dependents or owners must be
looked at again ("attempt to delete", which only deletes when the owners say so) and owners whose
dependents must be orphaned.

    graph = OwnerGraph()
    work = graph.observe(identity_of(resource, pod), pod, None)
    work.delete   # e.g. the uid of a ReplicaSet not observed yet: verify it exists
    decide({"rs-uid": Verdict.DANGLING}, finalizers=(), has_dependents=False, dependent_deleting=False)
    # -> Decision("delete", policy="Background")
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Obj = dict[str, Any]

FOREGROUND = "foregroundDeletion"
"""metav1.FinalizerDeleteDependents: the owner waits until its blocking dependents are deleted."""
ORPHAN = "orphan"
"""metav1.FinalizerOrphanDependents: the owner's dependents lose their reference to it first."""


@dataclass(frozen=True)
class Identity:
    """Who an object is (upstream's objectReference): coordinates, uid, and namespace ("" for
    cluster-scoped objects)."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def __str__(self) -> str:
        where = f"namespace: {self.namespace}, name: {self.name}, uid: {self.uid}"
        return f"[{self.api_version}/{self.kind}, {where}]"

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


@dataclass(frozen=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @classmethod
    def from_dict(cls, ref: Mapping[str, Any]) -> OwnerRef:
        return cls(
            api_version=str(ref.get("apiVersion", "")),
            kind=str(ref.get("kind", "")),
            name=str(ref.get("name", "")),
            uid=str(ref.get("uid", "")),
            controller=bool(ref.get("controller")),
            block_owner_deletion=bool(ref.get("blockOwnerDeletion")),
        )

    def identity(self, namespace: str) -> Identity:
        """The owner as this reference names it, seen from a dependent in `namespace`."""
        return Identity(self.api_version, self.kind, self.name, self.uid, namespace)

    def matches(self, identity: Identity) -> bool:
        """Upstream's ownerReferenceMatchesCoordinates: same uid, name, kind and apiVersion."""
        return (self.uid, self.name, self.kind, self.api_version) == (
            identity.uid,
            identity.name,
            identity.kind,
            identity.api_version,
        )


# --- reading objects --------------------------------------------------------------------------


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def owner_refs(obj: Mapping[str, Any]) -> tuple[OwnerRef, ...]:
    return tuple(
        OwnerRef.from_dict(ref)
        for ref in meta_of(obj).get("ownerReferences") or ()
        if isinstance(ref, Mapping)
    )


def finalizers(obj: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(f) for f in meta_of(obj).get("finalizers") or ())


def being_deleted(obj: Mapping[str, Any]) -> bool:
    return bool(meta_of(obj).get("deletionTimestamp"))


def waits_for(obj: Mapping[str, Any] | None, finalizer: str) -> bool:
    """Being deleted while `finalizer` holds it: foreground deletion or orphaning in progress."""
    return obj is not None and being_deleted(obj) and finalizer in finalizers(obj)


def starts_waiting_for(old: Mapping[str, Any] | None, new: Mapping[str, Any], finalizer: str) -> bool:
    """Upstream's deletionStartsWithFinalizer: the transition, so the work is queued once."""
    return waits_for(new, finalizer) and not waits_for(old, finalizer)


def references_diff(
    old: Sequence[OwnerRef], new: Sequence[OwnerRef]
) -> tuple[list[OwnerRef], list[OwnerRef], list[tuple[OwnerRef, OwnerRef]]]:
    """(added, removed, changed as (old, new)) between two ownerReferences lists, by uid."""
    before = {ref.uid: ref for ref in old}
    added: list[OwnerRef] = []
    changed: list[tuple[OwnerRef, OwnerRef]] = []
    for ref in new:
        previous = before.pop(ref.uid, None)
        if previous is None:
            added.append(ref)
        elif previous != ref:
            changed.append((previous, ref))
    return added, list(before.values()), changed


# --- the graph --------------------------------------------------------------------------------


@dataclass
class Node:
    identity: Identity
    owners: tuple[OwnerRef, ...] = ()
    dependents: set[str] = field(default_factory=set)
    """uids of the objects that name this one as an owner."""
    observed: bool = False
    """Seen through an informer; False for a virtual node (known only from a reference)."""
    being_deleted: bool = False
    deleting_dependents: bool = False
    """Being deleted with the foregroundDeletion finalizer."""


@dataclass
class Work:
    """What a graph change asks of the collector."""

    delete: list[str] = field(default_factory=list)
    """uids to attempt to delete (verify a virtual node, re-classify a dependent's owners, or check
    whether a foreground owner may go)."""
    orphan: list[str] = field(default_factory=list)
    """uids of owners whose dependents are to be orphaned."""
    absent: list[Identity] = field(default_factory=list)
    """Owners known not to exist any more (for the absent-owner cache)."""
    invalid_namespace: list[tuple[Identity, Identity]] = field(default_factory=list)
    """(dependent, owner as referenced): a namespaced owner observed in another namespace."""

    def add_delete(self, uids: Iterable[str]) -> None:
        for uid in uids:
            if uid not in self.delete:
                self.delete.append(uid)

    def __bool__(self) -> bool:
        return bool(self.delete or self.orphan or self.absent or self.invalid_namespace)


class OwnerGraph:
    """Objects and the ownership edges between them. Not thread-safe; the event loop serialises
    the informer handlers that change it, as upstream's single graphChanges worker does."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def dependents(self, uid: str) -> list[Node]:
        node = self.nodes.get(uid)
        if node is None:
            return []
        return [self.nodes[dep] for dep in sorted(node.dependents) if dep in self.nodes]

    def blocking_dependents(self, uid: str) -> list[Node]:
        """Dependents whose reference to `uid` has blockOwnerDeletion: a foreground owner waits
        for these."""
        return [
            dep
            for dep in self.dependents(uid)
            if any(ref.uid == uid and ref.block_owner_deletion for ref in dep.owners)
        ]

    def owner_verdict(self, ref: OwnerRef, dependent_namespace: str) -> Verdict | None:
        """What the graph alone can say about the owner `ref` names: SOLID or WAITING when it is
        observed with exactly these coordinates (and, if namespaced, in the dependent's
        namespace); None when only the apiserver can tell (virtual, absent or mismatched)."""
        owner = self.nodes.get(ref.uid)
        if owner is None or not owner.observed or not ref.matches(owner.identity):
            return None
        if owner.identity.namespace and owner.identity.namespace != dependent_namespace:
            return None
        return Verdict.WAITING if owner.deleting_dependents else Verdict.SOLID

    # --- changes ----------------------------------------------------------------------------

    def observe(self, identity: Identity, obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> Work:
        """An object added or updated (seen through an informer)."""
        work = Work()
        refs = owner_refs(obj)
        node = self.nodes.get(identity.uid)
        if node is not None and not node.observed:
            if node.identity != identity:
                # Dependents that named the virtual node differently are checked again: their
                # reference may be wrong (another kind, name or namespace with this uid).
                for dep in self.dependents(identity.uid):
                    if not _names_exactly(dep, identity):
                        if identity.namespace and dep.identity.namespace != identity.namespace:
                            work.invalid_namespace.append((dep.identity, _ref_identity(dep, identity)))
                        work.add_delete([dep.identity.uid])
            node.observed = True
        if node is None:
            node = Node(
                identity,
                refs,
                observed=True,
                being_deleted=being_deleted(obj),
                deleting_dependents=waits_for(obj, FOREGROUND),
            )
            self.nodes[identity.uid] = node
            self._add_to_owners(node, refs, work)
        else:
            node.identity = identity
            added, removed, changed = references_diff(node.owners, refs)
            if added or removed or changed:
                self._unblocked_owners(removed, changed, work)
                node.owners = refs
                self._add_to_owners(node, added, work)
                for ref in removed:
                    owner = self.nodes.get(ref.uid)
                    if owner is not None:
                        owner.dependents.discard(identity.uid)
            if being_deleted(obj):
                node.being_deleted = True
        self._transitions(old, obj, node, work)
        return work

    def forget(self, identity: Identity) -> Work:
        """An object deleted (seen through an informer)."""
        node = self.nodes.get(identity.uid)
        if node is None:
            return Work()
        return self._remove(node, identity)

    def forget_virtual(self, identity: Identity) -> Work:
        """The apiserver says a virtual node's object does not exist: drop it (unless it has been
        observed meanwhile, which wins) and have its dependents look at their owners again."""
        node = self.nodes.get(identity.uid)
        if node is None or node.observed:
            return Work()
        return self._remove(node, node.identity)

    # --- internals --------------------------------------------------------------------------

    def _remove(self, node: Node, identity: Identity) -> Work:
        work = Work()
        del self.nodes[node.identity.uid]
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None:
                owner.dependents.discard(node.identity.uid)
        if node.dependents:
            work.absent.append(identity)
        work.add_delete(sorted(node.dependents))
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None and owner.deleting_dependents:
                work.add_delete([ref.uid])  # it may be free to go now
        return work

    def _add_to_owners(self, node: Node, refs: Iterable[OwnerRef], work: Work) -> None:
        """Upstream's addDependentToOwners: link, creating (and queueing for verification)
        virtual owners; a reference that disagrees with an owner already known queues the
        dependent for verification."""
        suspicious = False
        namespace = node.identity.namespace
        for ref in refs:
            owner = self.nodes.get(ref.uid)
            if owner is None:
                owner = Node(ref.identity(namespace))
                self.nodes[ref.uid] = owner
                owner.dependents.add(node.identity.uid)
                work.add_delete([ref.uid])
                continue
            owner.dependents.add(node.identity.uid)
            if suspicious:
                continue
            owner_namespaced = bool(owner.identity.namespace)
            if owner_namespaced and owner.identity.namespace != namespace:
                if owner.observed:
                    work.invalid_namespace.append((node.identity, ref.identity(namespace)))
                suspicious = True
            elif not ref.matches(owner.identity):
                suspicious = True
            elif not owner_namespaced and namespace and not owner.observed:
                suspicious = True  # a virtual cluster-scoped owner named from a namespace
        if suspicious:
            work.add_delete([node.identity.uid])

    def _unblocked_owners(
        self, removed: Iterable[OwnerRef], changed: Iterable[tuple[OwnerRef, OwnerRef]], work: Work
    ) -> None:
        """Owners a dependent stopped blocking (reference removed, or blockOwnerDeletion turned
        off) are looked at again: a foreground owner may be free to go."""
        for ref in removed:
            if ref.block_owner_deletion and ref.uid in self.nodes:
                work.add_delete([ref.uid])
        for before, after in changed:
            if before.block_owner_deletion and not after.block_owner_deletion and after.uid in self.nodes:
                work.add_delete([after.uid])

    def _transitions(
        self, old: Mapping[str, Any] | None, new: Mapping[str, Any], node: Node, work: Work
    ) -> None:
        if starts_waiting_for(old, new, ORPHAN):
            work.orphan.append(node.identity.uid)
            return
        if starts_waiting_for(old, new, FOREGROUND):
            node.deleting_dependents = True
            work.add_delete(sorted(node.dependents))
            work.add_delete([node.identity.uid])


def _names_exactly(dependent: Node, identity: Identity) -> bool:
    """Every reference `dependent` has to identity.uid matches it (namespace included)."""
    if identity.namespace and dependent.identity.namespace != identity.namespace:
        return False
    return all(ref.matches(identity) for ref in dependent.owners if ref.uid == identity.uid)


def _ref_identity(dependent: Node, identity: Identity) -> Identity:
    for ref in dependent.owners:
        if ref.uid == identity.uid:
            return ref.identity(dependent.identity.namespace)
    return identity


# --- deciding ---------------------------------------------------------------------------------


class Verdict(enum.Enum):
    """An owner reference classified (upstream's classifyReferences)."""

    SOLID = "solid"
    """The owner exists and is not waiting for its dependents."""
    DANGLING = "dangling"
    """The owner does not exist (404, or a different uid under that name)."""
    WAITING = "waiting"
    """The owner is being deleted in the foreground (waitingForDependentsDeletion)."""


Propagation = Literal["Background", "Foreground", "Orphan"]


@dataclass(frozen=True)
class Decision:
    action: Literal["none", "remove_refs", "delete"]
    refs: tuple[str, ...] = ()
    """For remove_refs: the owner uids whose references the dependent loses."""
    policy: Propagation | None = None
    """For delete: the propagationPolicy."""
    unblock: bool = False
    """For delete: first turn blockOwnerDeletion off in the item's references (cycle guard)."""


def decide(
    verdicts: Mapping[str, Verdict],
    *,
    finalizers: Sequence[str],
    has_dependents: bool,
    dependent_deleting: bool,
) -> Decision:
    """Upstream's attemptToDeleteItem decision for an object whose owner references are
    classified in `verdicts` (owner uid -> verdict, in reference order):

    - any solid owner: keep the object; drop the references to dangling and waiting owners
      (a waiting owner would otherwise wait forever);
    - a waiting owner and dependents of its own: delete in the foreground (so the owner's wait
      covers the grandchildren); unblock first if a dependent is itself deleting dependents;
    - otherwise (all owners gone or waiting): delete, honouring an orphan or foreground
      finalizer the object already has, else in the background.
    """
    if not verdicts:
        return Decision("none")
    solid = [uid for uid, v in verdicts.items() if v is Verdict.SOLID]
    if solid:
        drop = tuple(uid for uid, v in verdicts.items() if v is not Verdict.SOLID)
        return Decision("remove_refs", refs=drop) if drop else Decision("none")
    waiting = any(v is Verdict.WAITING for v in verdicts.values())
    if waiting and has_dependents:
        return Decision("delete", policy="Foreground", unblock=dependent_deleting)
    if ORPHAN in finalizers:
        return Decision("delete", policy="Orphan")
    if FOREGROUND in finalizers:
        return Decision("delete", policy="Foreground")
    return Decision("delete", policy="Background")

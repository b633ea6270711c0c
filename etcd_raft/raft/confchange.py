"""Single-member configuration changes: their wire format in CONF_CHANGE entries, and applying them.

One member at a time (Raft thesis §4.1): any majority of the old voters overlaps any majority of the
new ones, so no joint consensus is needed. The leader lets one change be pending at a time.
"""

from __future__ import annotations

import struct
from typing import Final

from etcd_raft.raft.tracker import ProgressTracker
from etcd_raft.raft.types import ConfChange, ConfChangeType

CONF_CHANGE_VERSION: Final = 1
_HEADER: Final = struct.Struct(">BBQI")  # version, type, node id, context length; then the context


def encode_conf_change(cc: ConfChange) -> bytes:
    return _HEADER.pack(CONF_CHANGE_VERSION, cc.type, cc.node_id, len(cc.context)) + cc.context


def decode_conf_change(data: bytes) -> ConfChange:
    """Raises ValueError for data that is not an encoded ConfChange of a version we know."""
    if len(data) < _HEADER.size:
        raise ValueError(f"conf change: {len(data)} bytes is shorter than its header")
    version, cc_type, node_id, length = _HEADER.unpack_from(data)
    if version != CONF_CHANGE_VERSION:
        raise ValueError(f"conf change: unknown encoding version {version}")
    if len(data) != _HEADER.size + length:
        raise ValueError(f"conf change: context of {len(data) - _HEADER.size} bytes, header says {length}")
    return ConfChange(ConfChangeType(cc_type), node_id, bytes(data[_HEADER.size :]))


def refusal(tracker: ProgressTracker, cc: ConfChange) -> str | None:
    """Why the leader must not propose `cc` against this configuration, or None if it may."""
    if cc.node_id == 0:
        return "node id 0 is reserved"
    demotes_voter = cc.node_id in tracker.voters and cc.type in (
        ConfChangeType.REMOVE_NODE,
        ConfChangeType.ADD_LEARNER_NODE,
    )
    if demotes_voter and len(tracker.voters) == 1:
        return "it would leave no voters"
    return None


def apply_change(tracker: ProgressTracker, cc: ConfChange, last_index: int) -> None:
    """Apply a committed change. Changes that make no sense (removing an unknown node, removing the
    last voter) are no-ops: every node applies the same entries, so every node ignores them alike."""
    if refusal(tracker, cc) is not None:
        return
    node = cc.node_id
    pr = tracker.progress.get(node)
    if cc.type == ConfChangeType.ADD_NODE:
        if pr is None:
            # Recently active so check-quorum does not count the newcomer against the leader before it
            # had a chance to answer; next = last_index makes the first probe carry one entry.
            tracker.add(node, max(last_index, 1), is_learner=False, recent_active=True)
        elif pr.is_learner:
            pr.is_learner = False
            tracker.learners.discard(node)
            tracker.voters.add(node)
    elif cc.type == ConfChangeType.ADD_LEARNER_NODE:
        if pr is None:
            tracker.add(node, max(last_index, 1), is_learner=True, recent_active=True)
        elif not pr.is_learner:
            pr.is_learner = True
            tracker.voters.discard(node)
            tracker.learners.add(node)
    elif cc.type == ConfChangeType.REMOVE_NODE:
        tracker.progress.pop(node, None)
        tracker.voters.discard(node)
        tracker.learners.discard(node)
    # UPDATE_NODE changes only the member's context (its URLs), which the server keeps.

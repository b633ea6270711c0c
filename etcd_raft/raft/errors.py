"""The errors the Raft core raises, and whether retrying helps.

    RaftError
    ├── CompactedError                 storage: the index was compacted away; retrying will not help,
    │                                  the reader needs a snapshot instead
    ├── UnavailableError               storage: the index is past the end of the log; retry once the
    │                                  entries are appended
    ├── SnapshotTemporarilyUnavailable storage: no snapshot can be produced right now; the leader retries
    │                                  on a later heartbeat
    ├── SnapOutOfDateError             storage: a newer snapshot is already in place; retrying will not help
    ├── ProposalDroppedError           the proposal (or read) was not accepted: no known leader, a
    │                                  leadership transfer is in progress, the uncommitted log is full or
    │                                  a configuration change is pending. Retry later (a leader will be
    │                                  known after at most an election timeout)
    └── ConfigError                    the `Config` is invalid; retrying will not help

Accepted proposals can still be lost without an error (the leader may crash before replicating them),
exactly as in etcd-io/raft: the caller times out and retries.
"""

from __future__ import annotations


class RaftError(Exception):
    """Base class of the Raft core's errors."""


class CompactedError(RaftError):
    """The requested index is older than the first index in storage: it was compacted."""


class UnavailableError(RaftError):
    """The requested index is newer than the last index in storage."""


class SnapshotTemporarilyUnavailable(RaftError):
    """Storage cannot produce a snapshot right now; the leader retries later."""


class SnapOutOfDateError(RaftError):
    """Storage already holds a snapshot at or after the requested index."""


class ProposalDroppedError(RaftError):
    """The proposal was dropped; retry later."""


class ConfigError(RaftError, ValueError):
    """The Raft configuration is invalid."""

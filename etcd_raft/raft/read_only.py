"""Linearizable reads without a log entry (Raft thesis §6.4, "ReadIndex", safe mode).

The leader records its commit index for the request, then confirms it is still the leader with a
heartbeat round carrying the request's context; once a majority answered, every read up to the
confirmed one can be served at its recorded index.
"""

from __future__ import annotations

from etcd_raft.raft.messages import Message


class ReadIndexStatus:
    __slots__ = ("acks", "index", "request")

    def __init__(self, request: Message, index: int) -> None:
        self.request = request
        self.index = index
        self.acks: set[int] = set()


class ReadOnly:
    """Pending read requests, by context, in arrival order (dicts keep insertion order)."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}

    def add_request(self, index: int, request: Message) -> None:
        if request.context not in self.pending:
            self.pending[request.context] = ReadIndexStatus(request, index)

    def recv_ack(self, node_id: int, context: bytes) -> set[int] | None:
        status = self.pending.get(context)
        if status is None:
            return None
        status.acks.add(node_id)
        return status.acks

    def advance(self, context: bytes) -> list[ReadIndexStatus]:
        """Confirm the request with `context` and every one queued before it."""
        if context not in self.pending:
            return []
        done: list[ReadIndexStatus] = []
        for ctx in list(self.pending):
            done.append(self.pending.pop(ctx))
            if ctx == context:
                break
        return done

    def last_pending_context(self) -> bytes:
        return next(reversed(self.pending)) if self.pending else b""

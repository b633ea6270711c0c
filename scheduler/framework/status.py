"""The result of a plugin call as a value (upstream framework.Status): a code, the reasons, and the
plugin that answered. Plugins return Statuses; they raise only for bugs.

    Status.unschedulable("node(s) had untolerated taint {dedicated: web}")
    status.is_rejected()    # Unschedulable or UnschedulableAndUnresolvable
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    """The pod does not fit now, but preemption or a cluster change may make it fit."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    """Preempting pods on this node cannot help (wrong node name, missing label, ...)."""
    WAIT = 4
    """A Permit plugin asks the pod to wait."""
    SKIP = 5
    """PreFilter/PreScore: the plugin has nothing to do for this pod; its Filter/Score is skipped."""
    PENDING = 6
    """PreEnqueue: the pod is not ready to be scheduled yet."""


@dataclass(frozen=True, slots=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = field(default="", compare=False)

    @staticmethod
    def unschedulable(*reasons: str) -> Status:
        return Status(Code.UNSCHEDULABLE, reasons)

    @staticmethod
    def unresolvable(*reasons: str) -> Status:
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)

    @staticmethod
    def error(*reasons: str) -> Status:
        return Status(Code.ERROR, reasons)

    def is_success(self) -> bool:
        return self.code is Code.SUCCESS

    def is_skip(self) -> bool:
        return self.code is Code.SKIP

    def is_rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def with_plugin(self, plugin: str) -> Status:
        return self if self.plugin == plugin else replace(self, plugin=plugin)

    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()
SKIP = Status(Code.SKIP)

"""The scheduling.k8s.io/v1 PriorityClass printer (VALUE, GLOBAL-DEFAULT, AGE; wide
PREEMPTIONPOLICY)."""

from __future__ import annotations

from .cells import AGE, NAME, Column, Printer, age, doc, get, name, number, text

_CLASS = "scheduling.v1.PriorityClass"
PRINTERS = {
    "priorityclasses": Printer(
        (
            NAME,
            Column("Value", "integer", doc(_CLASS, "value")),
            Column("Global-Default", "boolean", doc(_CLASS, "globalDefault")),
            AGE,
            Column("PreemptionPolicy", priority=1, description=doc(_CLASS, "preemptionPolicy")),
        ),
        lambda pc, now: [
            name(pc),
            number(pc, "value"),
            bool(get(pc, "globalDefault")),
            age(pc, now),
            text(pc, "preemptionPolicy", default="PreemptLowerPriority"),  # the API's default
        ],
    )
}

"""The policy/v1 PodDisruptionBudget printer: MIN AVAILABLE, MAX UNAVAILABLE ("N/A" when unset)
and how many disruptions are allowed now."""

from __future__ import annotations

from .cells import AGE, NAME, Column, Obj, Printer, age, get, int_or_string, name, number


def _bound(pdb: Obj, field: str) -> str:
    value = get(pdb, "spec", field)
    return "N/A" if value is None else int_or_string(value)


PRINTERS = {
    "poddisruptionbudgets": Printer(
        (
            NAME,
            Column("Min Available", description="The minimum number of pods that must be available."),
            Column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
            Column(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            AGE,
        ),
        lambda pdb, now: [
            name(pdb),
            _bound(pdb, "minAvailable"),
            _bound(pdb, "maxUnavailable"),
            number(pdb, "status", "disruptionsAllowed"),
            age(pdb, now),
        ],
    )
}

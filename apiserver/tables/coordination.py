"""The coordination.k8s.io/v1 Lease printer: HOLDER shows who leads (kube-scheduler,
kube-controller-manager) or which kubelet heartbeats."""

from __future__ import annotations

from .cells import AGE, NAME, Column, Printer, age, doc, name, text

PRINTERS = {
    "leases": Printer(
        (NAME, Column("Holder", description=doc("coordination.v1.LeaseSpec", "holderIdentity")), AGE),
        lambda lease, now: [name(lease), text(lease, "spec", "holderIdentity"), age(lease, now)],
    )
}

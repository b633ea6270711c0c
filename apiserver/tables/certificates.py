"""The certificates.k8s.io/v1 CertificateSigningRequest printer: AGE comes second, and CONDITION
summarises approval ("Approved,Issued", "Pending", "Denied")."""

from __future__ import annotations

from datetime import datetime

from .cells import AGE, NAME, Cells, Column, Obj, Printer, age, doc, get, human_duration, items, name, text


def csr_condition(csr: Obj) -> str:
    """`extractCSRStatus`: Denied over Approved over Pending, then ",Failed" and ",Issued"."""
    types = {text(c, "type") for c in items(csr, "status", "conditions")}
    status = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        status += ",Failed"
    if text(csr, "status", "certificate"):
        status += ",Issued"
    return status


def _csrs(csr: Obj, now: datetime) -> Cells:
    seconds = get(csr, "spec", "expirationSeconds")
    return [
        name(csr),
        age(csr, now),
        text(csr, "spec", "signerName", default="<none>"),
        text(csr, "spec", "username"),
        "<none>" if seconds is None else human_duration(int(seconds)),
        csr_condition(csr),
    ]


_SPEC = "certificates.v1.CertificateSigningRequestSpec"
PRINTERS = {
    "certificatesigningrequests": Printer(
        (
            NAME,
            AGE,
            Column("SignerName", description=doc(_SPEC, "signerName")),
            Column("Requestor", description=doc(_SPEC, "request")),
            Column("RequestedDuration", description=doc(_SPEC, "expirationSeconds")),
            Column(
                "Condition", description=doc("certificates.v1.CertificateSigningRequestStatus", "conditions")
            ),
        ),
        _csrs,
    )
}

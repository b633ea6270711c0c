"""The discovery.k8s.io/v1 EndpointSlice printer: address type, up to three ports and addresses."""

from __future__ import annotations

from datetime import datetime

from .cells import AGE, NAME, Cells, Column, Obj, Printer, age, doc, get, items, list_with_more, name, text


def slice_ports(endpoint_slice: Obj) -> str:
    """`formatDiscoveryPorts`: each port's number, else its name, else "*"."""
    ports = items(endpoint_slice, "ports")
    rendered = [str(p["port"]) if p.get("port") is not None else text(p, "name", default="*") for p in ports]
    return list_with_more(rendered, len(ports))


def slice_endpoints(endpoint_slice: Obj) -> str:
    """`formatDiscoveryEndpoints`: every endpoint's addresses."""
    addresses = [str(a) for e in items(endpoint_slice, "endpoints") for a in get(e, "addresses") or []]
    return list_with_more(addresses, len(addresses))


def _endpoint_slices(endpoint_slice: Obj, now: datetime) -> Cells:
    return [
        name(endpoint_slice),
        text(endpoint_slice, "addressType"),
        slice_ports(endpoint_slice),
        slice_endpoints(endpoint_slice),
        age(endpoint_slice, now),
    ]


_SLICE = "discovery.v1.EndpointSlice"
PRINTERS = {
    "endpointslices": Printer(
        (
            NAME,
            Column("AddressType", description=doc(_SLICE, "addressType")),
            Column("Ports", description=doc(_SLICE, "ports")),
            Column("Endpoints", description=doc(_SLICE, "endpoints")),
            AGE,
        ),
        _endpoint_slices,
    )
}

"""The controllers, by kube-controller-manager's names (`--controllers`). Each is one module with
a `new(ctx)` factory returning an object with `async run()` (usually a QueueController)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ControllerSpec:
    name: str
    module: str
    aliases: tuple[str, ...] = ()
    enabled_by_default: bool = True

    def factory(self) -> Callable[..., Any]:
        new: Callable[..., Any] = importlib.import_module(f"controller_manager.controllers.{self.module}").new
        return new


CONTROLLERS = (
    ControllerSpec("serviceaccount-controller", "serviceaccount", ("serviceaccount",)),
    ControllerSpec(
        "root-ca-certificate-publisher-controller", "root_ca_publisher", ("root-ca-cert-publisher",)
    ),
    ControllerSpec("namespace-controller", "namespace", ("namespace",)),
    ControllerSpec("garbage-collector-controller", "garbage_collector", ("garbagecollector",)),
    ControllerSpec("replicaset-controller", "replicaset", ("replicaset",)),
    ControllerSpec("deployment-controller", "deployment", ("deployment",)),
    ControllerSpec("endpoints-controller", "endpoints", ("endpoint",)),
    ControllerSpec("endpointslice-controller", "endpointslice", ("endpointslice",)),
    ControllerSpec("node-ipam-controller", "node_ipam", ("nodeipam",)),
    ControllerSpec("node-lifecycle-controller", "node_lifecycle", ("nodelifecycle",)),
    ControllerSpec("pod-garbage-collector-controller", "pod_gc", ("podgc",)),
)


def enabled(requested: Iterable[str]) -> list[ControllerSpec]:
    """Upstream's --controllers: "*" turns on the defaults, "name" one controller, "-name" turns one
    off (names or their old aliases). ValueError names an unknown controller."""
    by_name = {alias: spec for spec in CONTROLLERS for alias in (spec.name, *spec.aliases)}
    chosen: set[str] = set()
    disabled: set[str] = set()
    for item in requested:
        item = item.strip()
        if item == "*":
            chosen.update(spec.name for spec in CONTROLLERS if spec.enabled_by_default)
            continue
        name = item.removeprefix("-")
        if name not in by_name:
            raise ValueError(f'"{name}" is not in the list of known controllers')
        (disabled if item.startswith("-") else chosen).add(by_name[name].name)
    return [spec for spec in CONTROLLERS if spec.name in chosen - disabled]

"""The in-tree plugins, by upstream name. Each is one module with a plugin class and a
`new(args, handle)` factory."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

MODULES = {
    "SchedulingGates": "scheduling_gates",
    "PrioritySort": "priority_sort",
    "NodeUnschedulable": "node_unschedulable",
    "NodeName": "node_name",
    "TaintToleration": "taint_toleration",
    "NodeAffinity": "node_affinity",
    "NodePorts": "node_ports",
    "NodeResourcesFit": "node_resources_fit",
    "NodeResourcesBalancedAllocation": "node_resources_balanced_allocation",
    "VolumeBinding": "volume_binding",
    "PodTopologySpread": "pod_topology_spread",
    "InterPodAffinity": "inter_pod_affinity",
    "ImageLocality": "image_locality",
    "DefaultPreemption": "default_preemption",
    "DefaultBinder": "default_binder",
}


def factory(name: str) -> Callable[..., Any]:
    """The `new` function of the plugin called `name`; KeyError for an unknown name."""
    module = importlib.import_module(f"scheduler.plugins.{MODULES[name]}")
    new: Callable[..., Any] = module.new
    return new


def plugin_class(name: str) -> type:
    module = importlib.import_module(f"scheduler.plugins.{MODULES[name]}")
    return next(
        value
        for value in vars(module).values()
        if isinstance(value, type) and getattr(value, "name", None) == name
    )

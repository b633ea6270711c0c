"""What kube-apiserver makes on start: the system namespaces, and in `default` the `kubernetes`
Service (the first address of the service range) with Endpoints pointing at this apiserver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from apiserver.pod_admission import system_priority_classes
from apiserver.rest import SYSTEM_WRITE, ResourceREST
from apiserver.server import APIServer
from componentbase.klog import get_logger
from kubeapi import errors
from kubeapi.resources import BUILTIN_REGISTRY, Resource

log = get_logger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _resource(group: str, name: str) -> Resource:
    resource = BUILTIN_REGISTRY.get(group, "v1", name)
    assert resource is not None
    return resource


def _rest(api: APIServer, name: str) -> ResourceREST:
    return api.rest_for(_resource("", name))


async def _ensure(create: Awaitable[object]) -> None:
    try:
        await create
    except errors.StatusError as error:
        if error.reason != "AlreadyExists":
            raise


async def bootstrap(api: APIServer) -> None:
    namespaces = _rest(api, "namespaces")
    for name in SYSTEM_NAMESPACES:
        await _ensure(namespaces.create(None, {"metadata": {"name": name}}))
    first_ip = str(api.options.service_cluster_ip_range.network_address + 1)
    service = {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": first_ip,
            "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": api.options.secure_port}
            ],
        },
    }
    try:
        await _rest(api, "services").create("default", service)
    except errors.StatusError as error:
        if error.reason not in ("AlreadyExists", "Invalid"):  # Invalid: the address is already ours
            raise
    endpoints = {
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [
            {
                "addresses": [{"ip": api.options.advertise_address}],
                "ports": [{"name": "https", "port": api.options.secure_port, "protocol": "TCP"}],
            }
        ],
    }
    token = SYSTEM_WRITE.set(True)  # upstream's reconciler writes below validation too
    try:
        await _rest(api, "endpoints").update("default", "kubernetes", endpoints)
    finally:
        SYSTEM_WRITE.reset(token)
    priority_classes = api.rest_for(_resource("scheduling.k8s.io", "priorityclasses"))
    for priority_class in system_priority_classes():
        await _ensure(priority_classes.create(None, priority_class))
    log.info("Bootstrapped the system namespaces, priority classes and the kubernetes service", ip=first_ip)


async def bootstrap_until_done(api: APIServer) -> None:
    """The store may not be ready yet (a starting etcd): retry until it is."""
    while True:
        try:
            await bootstrap(api)
            return
        except errors.StatusError as error:
            if error.code < 500:
                log.error("Bootstrap failed", reason=error.message)
                return
            log.info("Bootstrap waiting for the store", reason=error.message)
            await asyncio.sleep(1)

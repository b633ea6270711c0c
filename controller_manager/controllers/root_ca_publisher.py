"""root-ca-certificate-publisher-controller (upstream pkg/controller/certificates/rootcacertpublisher):
publishes the cluster's root CA as the ConfigMap `kube-root-ca.crt` (key `ca.crt`) in every namespace, so
pods can verify the apiserver (projected service account volumes mount it). Keys are namespace names: a
namespace added or becoming Active, or that ConfigMap changed or deleted, puts its namespace on the queue;
reconcile creates the ConfigMap, or puts back its data and description annotation when they drifted.

The CA is `--root-ca-file`. Upstream falls back to the CA of the controller manager's own kubeconfig when
the flag is empty; here an empty flag gives an idle stand-in that watches nothing (it says so once).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, IdleController, Obj, QueueController
from controller_manager.controllers.serviceaccount import namespace_active, namespace_terminating
from kubeclient.errors import ApiError, is_not_found

log = get_logger(__name__)

CONFIG_MAP_NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. "
    "No other usage is guaranteed across distributions of Kubernetes clusters."
)


def read_root_ca(path: str) -> str:
    """The PEM of `--root-ca-file`, checked to hold certificates (upstream refuses to start otherwise)."""
    with open(path, "rb") as file:
        data = file.read()
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise ValueError(f"error parsing root-ca-file at {path}: {error}") from error
    return data.decode()


def root_ca_config_map(namespace: str, root_ca: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIG_MAP_NAME,
            "namespace": namespace,
            "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
        },
        "data": {"ca.crt": root_ca},
    }


def repaired_config_map(current: Mapping[str, Any], root_ca: str) -> Obj | None:
    """`current` with the CA data and the description annotation put back, or None when both are as they
    should be (upstream: data equal and a non-empty description). Other annotations and labels stay."""
    data = {"ca.crt": root_ca}
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if (current.get("data") or {}) == data and annotations.get(DESCRIPTION_ANNOTATION):
        return None
    repaired = copy.deepcopy(dict(current))
    repaired["data"] = data
    repaired["metadata"]["annotations"] = {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}
    return repaired


class RootCACertPublisher(QueueController):
    name = "root-ca-certificate-publisher-controller"

    def __init__(self, ctx: ControllerContext, root_ca: str) -> None:
        super().__init__(ctx)
        self.root_ca = root_ca
        self.namespaces = ctx.informers.informer("namespaces")
        self.config_maps = ctx.informers.informer("configmaps")
        self.namespaces.add_handler(self.enqueue, self.namespace_updated)
        self.config_maps.add_handler(None, self.config_map_updated, self.config_map_changed)

    def namespace_updated(self, old: Obj, new: Obj) -> None:
        if namespace_active(new):
            self.enqueue(new)

    def config_map_updated(self, old: Obj, new: Obj) -> None:
        self.config_map_changed(new)

    def config_map_changed(self, config_map: Obj) -> None:
        meta = config_map.get("metadata") or {}
        if meta.get("name") == CONFIG_MAP_NAME and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.store.get(key)
        if namespace is not None and not namespace_active(namespace):
            return  # being deleted: the apiserver refuses new content
        current = self.config_maps.store.get(f"{key}/{CONFIG_MAP_NAME}")
        if current is None:
            try:
                await self.client.create("configmaps", root_ca_config_map(key, self.root_ca), namespace=key)
                log.v(2).info("Published root CA", configmap=f"{key}/{CONFIG_MAP_NAME}")
            except ApiError as error:
                # the namespace is gone or going: nothing to retry
                if not (is_not_found(error) or namespace_terminating(error)):
                    raise
            return
        repaired = repaired_config_map(current, self.root_ca)
        if repaired is not None:
            await self.client.update("configmaps", repaired, namespace=key)
            log.v(2).info("Restored root CA", configmap=f"{key}/{CONFIG_MAP_NAME}")


def new(ctx: ControllerContext) -> RootCACertPublisher | IdleController:
    path = ctx.options.root_ca_file
    if not path:
        return IdleController(
            RootCACertPublisher.name, "No --root-ca-file given, not publishing kube-root-ca.crt"
        )
    return RootCACertPublisher(ctx, read_root_ca(path))

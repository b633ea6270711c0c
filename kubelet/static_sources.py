"""Static pods: the file (staticPodPath) and HTTP (staticPodURL) sources, and the mirror pods that show
them in the API (upstream's config/file.go, config/http.go and the mirror client). The manifests'
parsing and defaulting is kubelet.static_pods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from componentbase.klog import get_logger
from kubeclient.errors import ApiError, is_already_exists, is_conflict, is_not_found
from kubeclient.informer import Store
from kubeclient.rest import Client
from kubelet import pods
from kubelet.config import KubeletConfiguration
from kubelet.pods import Pod
from kubelet.static_pods import ManifestError, mirror_matches, mirror_pod, parse_manifest, read_manifest_dir

log = get_logger(__name__)


class StaticPods:
    def __init__(
        self,
        config: KubeletConfiguration,
        node_name: str,
        client: Client,
        api_pods: Store,
        nodes: Store,
        on_change: Callable[[str], None],
    ) -> None:
        self.config = config
        self.node_name = node_name
        self.client = client
        self.api_pods = api_pods  # the pods bound to this node, mirror pods among them
        self.nodes = nodes  # this node's Node object
        self.on_change = on_change  # a static pod's uid appeared, changed or went away
        self.pods: dict[str, Pod] = {}  # uid -> pod

    def mirror_of(self, static: Pod) -> Pod | None:
        for candidate in self.api_pods.objects():
            if (
                pods.is_mirror(candidate)
                and pods.name(candidate) == pods.name(static)
                and pods.namespace(candidate) == pods.namespace(static)
            ):
                return candidate
        return None

    async def delete_orphaned_mirror_pods(self) -> None:
        """A mirror pod whose static pod is gone (its manifest removed or changed) is deleted."""
        hashes = {pod["metadata"]["annotations"]["kubernetes.io/config.hash"] for pod in self.pods.values()}
        for mirror in self.api_pods.objects():
            annotations = mirror["metadata"].get("annotations") or {}
            if not pods.is_mirror(mirror) or annotations.get("kubernetes.io/config.mirror") in hashes:
                continue
            if pods.deletion_requested(mirror):
                continue
            try:
                await self.client.delete(
                    "pods", pods.name(mirror), namespace=pods.namespace(mirror), grace_period_seconds=0,
                    preconditions={"uid": pods.uid(mirror)},
                )  # fmt: skip
            except ApiError as error:
                if not (is_not_found(error) or is_conflict(error)):
                    log.warning(
                        "Failed deleting an orphaned mirror pod", pod=pods.full_name(mirror), err=str(error)
                    )

    async def ensure_mirror(self, static: Pod) -> None:
        mirror = self.mirror_of(static)
        if mirror is not None and mirror_matches(mirror, static) and not pods.deletion_requested(mirror):
            return
        try:
            if mirror is not None:
                await self.client.delete(
                    "pods",
                    pods.name(mirror),
                    namespace=pods.namespace(mirror),
                    grace_period_seconds=0,
                )
            node = self.nodes.objects()
            await self.client.create(
                "pods", mirror_pod(static, node[0] if node else None), namespace=pods.namespace(static)
            )
        except ApiError as error:
            if not (is_already_exists(error) or is_not_found(error)):
                log.warning("Failed creating a mirror pod", pod=pods.full_name(static), err=str(error))

    async def watch_static_pods(self) -> None:
        """Poll staticPodPath every fileCheckFrequency (upstream also uses inotify)."""
        path = Path(self.config.static_pod_path)
        reported: set[str] = set()
        while True:
            found, problems = read_manifest_dir(path, self.node_name)
            for problem in problems:
                if problem not in reported:
                    log.error("Could not process manifest file", err=problem)
            reported = set(problems)
            self.set_static_pods({pods.uid(pod): pod for pod in found}, source="file")
            await asyncio.sleep(self.config.file_check_frequency)

    async def watch_static_pod_url(self) -> None:
        """Poll staticPodURL every httpCheckFrequency (upstream's HTTP pod source: a Pod or PodList in
        YAML or JSON, with staticPodURLHeader sent along). A failed fetch keeps the pods it had."""
        url = self.config.static_pod_url
        headers = [
            (name, value) for name, values in self.config.static_pod_url_header.items() for value in values
        ]
        reported = ""
        async with httpx.AsyncClient(timeout=10.0) as http:
            while True:
                problem = ""
                try:
                    answer = await http.get(url, headers=headers)
                    if answer.status_code != 200:
                        problem = f"{url}: HTTP {answer.status_code}"
                    else:
                        found = (
                            parse_manifest(answer.text, self.node_name, "http", url)
                            if answer.text.strip()
                            else []
                        )
                        self.set_static_pods({pods.uid(pod): pod for pod in found}, source="http")
                except httpx.HTTPError as error:
                    problem = f"{url}: {error!r}"
                except ManifestError as error:
                    problem = str(error)
                if problem and problem != reported:
                    log.error("Unable to read pods from staticPodURL", err=problem)
                reported = problem
                await asyncio.sleep(self.config.http_check_frequency)

    def set_static_pods(self, found: dict[str, Pod], source: str) -> None:
        mine = {
            uid
            for uid, pod in self.pods.items()
            if pod["metadata"]["annotations"].get("kubernetes.io/config.source") == source
        }
        for uid in mine - set(found):
            del self.pods[uid]
            self.on_change(uid)
        for uid, pod in found.items():
            if uid not in self.pods:
                self.pods[uid] = pod
                self.on_change(uid)

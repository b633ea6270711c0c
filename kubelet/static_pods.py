"""Static pods: the kubelet's file and HTTP pod sources (staticPodPath, staticPodURL) and what upstream
does to such a pod before running it (pkg/kubelet/config/common.go applyDefaults):

- its name gets `-<nodeName>` appended, its namespace defaults to "default", spec.nodeName is this node;
- its uid is a hash of the manifest, the source and the node, so an unchanged file keeps its pod
  across kubelet restarts and an edited one replaces it;
- annotations kubernetes.io/config.{source,hash,seen}; a toleration of every NoExecute taint.

The API shows each static pod as a *mirror pod* (kubernetes.io/config.mirror = the hash), which the
kubelet creates and keeps; deleting the mirror pod does not stop the static pod, it comes back.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from componentbase.klog import get_logger
from kubeapi.defaults import apply_defaults
from kubelet.pods import (
    CONFIG_HASH_ANNOTATION,
    CONFIG_MIRROR_ANNOTATION,
    CONFIG_SEEN_ANNOTATION,
    CONFIG_SOURCE_ANNOTATION,
    Pod,
)

log = get_logger(__name__)
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A manifest that cannot be a pod; the message names the file and the problem (one line)."""


def _pods_in(document: Any, origin: str) -> list[Pod]:
    if not isinstance(document, dict):
        raise ManifestError(f"{origin}: not a Pod or PodList")
    kind = document.get("kind")
    if kind == "PodList" or (kind is None and "items" in document):
        return [item for item in document.get("items") or [] if isinstance(item, dict)]
    if kind != "Pod":
        raise ManifestError(f'{origin}: kind "{kind}" is not Pod or PodList')
    return [document]


def static_pod(raw: Pod, node_name: str, source: str, origin: str) -> Pod:
    """Upstream's applyDefaults + the API defaults a pod would get from the apiserver."""
    pod = copy.deepcopy(raw)
    meta = pod.setdefault("metadata", {})
    if not meta.get("name"):
        raise ManifestError(f"{origin}: metadata.name is required")
    if not isinstance(pod.get("spec"), dict) or not pod["spec"].get("containers"):
        raise ManifestError(f"{origin}: spec.containers is required")
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(json.dumps(raw, sort_keys=True).encode())
    digest.update(f"{node_name}/{source}".encode())
    uid = digest.hexdigest()
    meta["name"] = f"{meta['name']}-{node_name}"
    meta["namespace"] = meta.get("namespace") or "default"
    meta["uid"] = uid
    annotations = meta.setdefault("annotations", {})
    annotations[CONFIG_SOURCE_ANNOTATION] = source
    annotations[CONFIG_HASH_ANNOTATION] = uid
    annotations[CONFIG_SEEN_ANNOTATION] = datetime.now(UTC).isoformat()
    pod["apiVersion"], pod["kind"] = "v1", "Pod"
    pod["spec"]["nodeName"] = node_name
    tolerations = pod["spec"].setdefault("tolerations", [])
    tolerations.append({"operator": "Exists", "effect": "NoExecute"})
    try:
        return apply_defaults("", "v1", "Pod", pod)
    except (TypeError, ValueError, KeyError) as error:
        raise ManifestError(f"{origin}: {error}") from None


def parse_manifest(text: str, node_name: str, source: str, origin: str) -> list[Pod]:
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise ManifestError(f"{origin}: invalid YAML: {' '.join(str(error).split())}") from None
    return [static_pod(raw, node_name, source, origin) for doc in documents for raw in _pods_in(doc, origin)]


def read_manifest_dir(directory: Path, node_name: str) -> tuple[list[Pod], list[str]]:
    """Every pod in the directory's manifests (or in the one file, if `directory` is a file), and the
    problems with the files that could not be read; dotfiles are ignored as upstream."""
    if directory.is_file():
        files: Iterable[Path] = [directory]
    elif directory.is_dir():
        files = sorted(
            p
            for p in directory.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix in MANIFEST_SUFFIXES
        )
    else:
        return [], []
    found: list[Pod] = []
    problems: list[str] = []
    for path in files:
        try:
            found += parse_manifest(path.read_text(), node_name, "file", str(path))
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{path}: {error}")
        except ManifestError as error:
            problems.append(str(error))
    return found, problems


def mirror_pod(static: Pod, node: dict[str, Any] | None) -> Pod:
    """The API object that shows a static pod: same spec, the mirror annotation, owned by the Node."""
    mirror = copy.deepcopy(static)
    meta = mirror["metadata"]
    meta.pop("uid", None)
    meta.pop("resourceVersion", None)
    meta["annotations"][CONFIG_MIRROR_ANNOTATION] = meta["annotations"][CONFIG_HASH_ANNOTATION]
    if node is not None and node.get("metadata", {}).get("uid"):
        meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "name": node["metadata"]["name"],
                "uid": node["metadata"]["uid"],
                "controller": True,
            }
        ]
    mirror.pop("status", None)
    return mirror


def mirror_matches(mirror: Pod, static: Pod) -> bool:
    annotations = mirror["metadata"].get("annotations") or {}
    wanted: str = static["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    return bool(annotations.get(CONFIG_MIRROR_ANNOTATION) == wanted)

"""Kubeconfig files: build them like kubeadm (credentials embedded as base64 PEM), write them, and
merge a cluster into someone's ~/.kube/config without disturbing the other clusters in it."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

from pki.errors import KubeconfigError
from pki.files import SECRET_MODE, make_dir, read_if_exists, write_atomic

Kubeconfig = dict[str, Any]

ENTRY_LISTS = ("clusters", "users", "contexts")


def build_kubeconfig(
    *,
    server: str,
    cluster_name: str,
    user_name: str,
    ca_pem: bytes,
    client_cert_pem: bytes,
    client_key_pem: bytes,
) -> Kubeconfig:
    """A kubeconfig with one cluster, one user and the context `<user>@<cluster>` selected."""
    context_name = f"{user_name}@{cluster_name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster_name, "cluster": {"certificate-authority-data": _b64(ca_pem), "server": server}}
        ],
        "users": [
            {
                "name": user_name,
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        ],
        "contexts": [{"name": context_name, "context": {"cluster": cluster_name, "user": user_name}}],
        "current-context": context_name,
        "preferences": {},
    }


def kubeconfig_bytes(config: Kubeconfig) -> bytes:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False).encode()


def write_kubeconfig(path: Path, config: Kubeconfig) -> None:
    """Write atomically with mode 0600: a kubeconfig holds a private key."""
    write_atomic(path, kubeconfig_bytes(config), SECRET_MODE)


def read_kubeconfig(path: Path) -> Kubeconfig | None:
    """The parsed file; None when it does not exist; KubeconfigError when it is not a kubeconfig."""
    data = read_if_exists(path)
    if data is None:
        return None
    try:
        config = yaml.safe_load(data)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise KubeconfigError(f"{path}: not valid YAML{where}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig (top level is a {type(config).__name__})")
    for key in ENTRY_LISTS:
        if not isinstance(config.get(key) or [], list):
            raise KubeconfigError(f"{path}: not a kubeconfig ({key!r} is not a list)")
    return config


def selected_entries(config: Kubeconfig) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """The (cluster, user, context) bodies the current context points at, or None if one is missing."""
    context = _entry(config, "contexts", config.get("current-context"))
    if context is None or not isinstance(context.get("context"), dict):
        return None
    body = context["context"]
    cluster = _entry(config, "clusters", body.get("cluster"))
    user = _entry(config, "users", body.get("user"))
    if cluster is None or user is None:
        return None
    return cluster.get("cluster") or {}, user.get("user") or {}, body


def embedded_pem(body: dict[str, Any], key: str) -> bytes | None:
    """Decode a `*-data` field; None when absent or not base64."""
    value = body.get(key)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def merge_kubeconfig(
    target: Path,
    source: Kubeconfig,
    *,
    context_name: str,
    user_name: str | None = None,
    set_current: bool = True,
) -> None:
    """Add the cluster, user and context that `source` currently selects to `target`, renamed to
    cluster `context_name`, user `user_name` (default `<context_name>-admin`) and context
    `context_name`, so several clusters coexist. Same-named entries are replaced; every other
    entry and key of `target` is kept. `target` and its directory are created when missing."""
    user_name = user_name or f"{context_name}-admin"
    selected = selected_entries(source)
    if selected is None:
        raise KubeconfigError(
            f"cannot merge into {target}: the source kubeconfig has no complete current context"
        )
    cluster, user, context = selected
    target = target.resolve()  # ~/.kube/config is often a symlink; write through it, not over it
    config = read_kubeconfig(target)
    if config is None:
        make_dir(target.parent, mode=0o700)  # like ~/.kube: holds credentials
    config = {"apiVersion": "v1", "kind": "Config", **(config or {})}
    _put_entry(config, "clusters", {"name": context_name, "cluster": copy.deepcopy(cluster)})
    _put_entry(config, "users", {"name": user_name, "user": copy.deepcopy(user)})
    _put_entry(
        config,
        "contexts",
        {
            "name": context_name,
            "context": {**copy.deepcopy(context), "cluster": context_name, "user": user_name},
        },
    )
    if set_current:
        config["current-context"] = context_name
    write_kubeconfig(target, config)


def remove_context(target: Path, context_name: str) -> bool:
    """Remove context `context_name` and the cluster and user it names (unless another context
    still uses them); clear current-context if it pointed there. False when there was nothing to remove."""
    target = target.resolve()
    config = read_kubeconfig(target)
    context = _entry(config or {}, "contexts", context_name)
    if config is None or context is None:
        return False
    body = context.get("context") or {}
    _drop_entry(config, "contexts", context_name)
    still_used = [entry.get("context") or {} for entry in config.get("contexts") or []]
    if body.get("cluster") not in {used.get("cluster") for used in still_used}:
        _drop_entry(config, "clusters", body.get("cluster"))
    if body.get("user") not in {used.get("user") for used in still_used}:
        _drop_entry(config, "users", body.get("user"))
    if config.get("current-context") == context_name:
        config["current-context"] = ""
    write_kubeconfig(target, config)
    return True


def _b64(pem: bytes) -> str:
    return base64.b64encode(pem).decode()


def _entry(config: Kubeconfig, list_key: str, name: object) -> dict[str, Any] | None:
    for entry in config.get(list_key) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def _put_entry(config: Kubeconfig, list_key: str, new_entry: dict[str, Any]) -> None:
    """Replace the same-named entry in place (its position kept), or append."""
    entries = config.get(list_key) or []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("name") == new_entry["name"]:
            entries[index] = new_entry
            break
    else:
        entries.append(new_entry)
    config[list_key] = entries


def _drop_entry(config: Kubeconfig, list_key: str, name: object) -> None:
    entries = config.get(list_key) or []
    config[list_key] = [
        entry for entry in entries if not (isinstance(entry, dict) and entry.get("name") == name)
    ]

"""The containerd registry hosts tree (`config_path`) that sends every image pull of a node to kplane's
registry and to nothing else.

containerd looks up `<config_path>/<registry host>/hosts.toml` for each pull and falls back to
`<config_path>/_default/hosts.toml` for hosts that have no directory (containerd 1.7, and 1.6 since
the backport; verified with Debian 12's 1.6.20, through CRI PullImage and `ctr images pull
--hosts-dir`). Each file names our registry twice, and both matter:
- `server`: without it containerd's last resort is the real upstream (`https://<host>`, and
  `registry-1.docker.io` for docker.io);
- a `[host."<url>"]` table: containerd 1.6 rejects a hosts.toml without one ("failed to decode
  hosts.toml: invalid `host` tree") and then uses the real upstream too.
With both, the only registry containerd may talk to is ours. (A miss costs two requests, one per
entry, both to us.)

Besides `_default`, the usual public registries get their own directory, so that even a containerd
without the `_default` fallback never resolves their names. containerd adds `?ns=<host>` to each
request, which is how our registry tells `docker.io/library/busybox` from `quay.io/library/busybox`.

    write_hosts_dir(node_dir / "certs.d", "http://127.0.0.1:5000")
    # containerd config: [plugins."io.containerd.grpc.v1.cri".registry] config_path = "<node>/certs.d"
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HOST_DIR = "_default"
# Registries that images in the wild name most often; each gets an explicit directory.
WELL_KNOWN_HOSTS = (
    "docker.io",
    "registry-1.docker.io",
    "registry.k8s.io",
    "k8s.gcr.io",
    "gcr.io",
    "quay.io",
    "ghcr.io",
    "mcr.microsoft.com",
    "public.ecr.aws",
)


def check_registry_url(url: str) -> str:
    """`url` without a trailing slash, if it is `http(s)://host:port` with no path, query or user info."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ValueError(f"registry URL {url!r} must look like http://127.0.0.1:5000")
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"registry URL {url!r} must have no path, query or user info")
    return f"{parts.scheme}://{parts.netloc}"


def host_directory(host: str) -> str:
    """The directory containerd looks in for `host` (`registry:5000` is `registry_5000_` on Windows
    only; on Linux containerd accepts both spellings, we write the plain one)."""
    if not host or "/" in host or host in (".", "..") or host.startswith("_"):
        raise ValueError(f"bad registry host {host!r}")
    return host


def hosts_toml(registry_url: str, mirrored_host: str) -> str:
    """The hosts.toml that sends pulls of images named `<mirrored_host>/...` to `registry_url` only."""
    url = check_registry_url(registry_url)
    return (
        f"# Written by kplane: pulls of {mirrored_host} images go to kplane's registry, never upstream.\n"
        f'server = "{url}"\n'
        "\n"
        f'[host."{url}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )


def hosts_tree(registry_url: str, hosts: Iterable[str] = WELL_KNOWN_HOSTS) -> dict[str, str]:
    """Relative path -> content of every file in the tree: `_default/hosts.toml` and one
    `<host>/hosts.toml` per host."""
    tree = {f"{DEFAULT_HOST_DIR}/hosts.toml": hosts_toml(registry_url, "all other registries'")}
    for host in hosts:
        tree[f"{host_directory(host)}/hosts.toml"] = hosts_toml(registry_url, host)
    return tree


def write_hosts_dir(certs_dir: Path, registry_url: str, hosts: Iterable[str] = WELL_KNOWN_HOSTS) -> None:
    """Write the tree under `certs_dir` (created if needed). Each file is replaced atomically: containerd
    reads them on every pull, and must never see a half-written one (it would fall back upstream)."""
    for relative, content in hosts_tree(registry_url, hosts).items():
        path = certs_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(content)
        os.replace(partial, path)

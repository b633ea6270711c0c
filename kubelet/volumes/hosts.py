"""The kubelet-managed /etc/hosts of a pod (upstream's makeHostsMount and GeneratePodHostNameAndDomain).

    hostname, domain = pod_hostname_and_domain(pod, cluster_domain="cluster.local")
    if should_mount_hosts_file(pod, pod_ips):
        hosts = write_hosts_file(pod_dir, pod, pod_ips, cluster_domain="cluster.local")
        ... container_mounts(..., hosts_file=hosts)

<pod_dir>/etc-hosts holds localhost entries, the pod's IPs with its hostname (and FQDN when the pod
has a subdomain), then the pod's hostAliases. A hostNetwork pod gets the node's /etc/hosts with a
header and its hostAliases instead. Rewritten in place (0644) when the content changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubeapi.validation.names import is_dns1123_label
from kubelet.volumes.errors import MountError

Obj = Mapping[str, Any]
MANAGED_HEADER = "# Kubernetes-managed hosts file.\n"
MANAGED_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
HOSTNAME_MAX_LENGTH = 63
NODE_HOSTS_FILE = Path("/etc/hosts")


def should_mount_hosts_file(pod: Obj, pod_ips: Sequence[str]) -> bool:
    """Once the pod has an IP, or always on the host network."""
    return bool(pod_ips) or bool((pod.get("spec") or {}).get("hostNetwork"))


def _truncate(pod_name: str, hostname: str) -> str:
    if len(hostname) <= HOSTNAME_MAX_LENGTH:
        return hostname
    truncated = hostname[:HOSTNAME_MAX_LENGTH].rstrip("-.")
    if not truncated:
        raise MountError(f'hostname for pod "{pod_name}" was invalid: "{hostname}"')
    return truncated


def pod_hostname_and_domain(pod: Obj, cluster_domain: str) -> tuple[str, str]:
    """spec.hostname (else the pod's name, cut to 63 characters) and, with spec.subdomain,
    `<subdomain>.<namespace>.svc.<cluster domain>`."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    name = str(meta.get("name") or "")
    hostname = name
    if spec.get("hostname"):
        errs = is_dns1123_label(str(spec["hostname"]))
        if errs:
            raise MountError(f'pod Hostname "{spec["hostname"]}" is not a valid DNS label: {";".join(errs)}')
        hostname = str(spec["hostname"])
    hostname = _truncate(name, hostname)
    domain = ""
    if spec.get("subdomain"):
        errs = is_dns1123_label(str(spec["subdomain"]))
        if errs:
            subdomain = spec["subdomain"]
            raise MountError(f'pod Subdomain "{subdomain}" is not a valid DNS label: {";".join(errs)}')
        domain = f"{spec['subdomain']}.{meta.get('namespace', '')}.svc.{cluster_domain}"
    return hostname, domain


def _aliases(host_aliases: Sequence[Obj]) -> str:
    if not host_aliases:
        return ""
    lines = ["\n# Entries added by HostAliases.\n"]
    for alias in host_aliases:
        lines.append(f"{alias.get('ip', '')}\t{chr(9).join(alias.get('hostnames') or [])}\n")
    return "".join(lines)


def managed_hosts_content(
    pod_ips: Sequence[str], hostname: str, domain: str, host_aliases: Sequence[Obj]
) -> str:
    lines = [
        MANAGED_HEADER,
        "127.0.0.1\tlocalhost\n",
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
        "fe00::0\tip6-localnet\n",
        "fe00::0\tip6-mcastprefix\n",
        "fe00::1\tip6-allnodes\n",
        "fe00::2\tip6-allrouters\n",
    ]
    for ip in pod_ips:
        lines.append(f"{ip}\t{hostname}.{domain}\t{hostname}\n" if domain else f"{ip}\t{hostname}\n")
    return "".join(lines) + _aliases(host_aliases)


def hosts_file_content(
    pod: Obj, pod_ips: Sequence[str], *, cluster_domain: str, node_hosts_file: Path = NODE_HOSTS_FILE
) -> str:
    spec = pod.get("spec") or {}
    aliases = spec.get("hostAliases") or []
    if spec.get("hostNetwork"):
        node_hosts = node_hosts_file.read_text(errors="replace")
        return MANAGED_HEADER_HOST_NETWORK + node_hosts + _aliases(aliases)
    hostname, domain = pod_hostname_and_domain(pod, cluster_domain)
    return managed_hosts_content(pod_ips, hostname, domain, aliases)


def write_hosts_file(
    pod_dir: Path,
    pod: Obj,
    pod_ips: Sequence[str],
    *,
    cluster_domain: str = "cluster.local",
    node_hosts_file: Path = NODE_HOSTS_FILE,
) -> Path:
    """Writes <pod_dir>/etc-hosts and returns its path (for container_mounts' hosts_file)."""
    content = hosts_file_content(pod, pod_ips, cluster_domain=cluster_domain, node_hosts_file=node_hosts_file)
    pod_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    path = pod_dir / "etc-hosts"
    # Rewritten in place, as upstream does, so running containers (which bind-mount this inode) see
    # changes; skipped when nothing changed so readers are not shown a truncated file for nothing.
    try:
        unchanged = path.read_text() == content
    except (FileNotFoundError, UnicodeDecodeError):
        unchanged = False
    if not unchanged:
        path.write_text(content)
    os.chmod(path, 0o644)
    return path

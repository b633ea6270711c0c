"""Defaults of pod specs wherever they sit (upstream's SetDefaults_PodSpec, _Container, _Probe,
_Volume and friends in pkg/apis/core/v1/defaults.go), and the few that only a Pod gets
(SetDefaults_Pod and the Priority admission plugin): templates in Deployments and Jobs must not
grow fields that would change their hash on upgrade, so upstream keeps those Pod-only.

Functions change the dict they are given; `apply_defaults` hands them a copy.
"""

from __future__ import annotations

import re
from typing import Any

Object = dict[str, Any]

DEFAULT_SCHEDULER = "default-scheduler"
TERMINATION_GRACE_PERIOD = 30
FILE_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes
TOKEN_EXPIRATION = 3600
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# docker/distribution's reference grammar, enough to find a tag the way ParseNormalizedNamed does.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)


def image_tag(image: str) -> str:
    """The tag kubelet would pull: the image's own, "latest" when it has neither tag nor digest,
    "" when it has only a digest or does not parse (upstream's parsers.ParseImageName)."""
    match = _REFERENCE.fullmatch(image)
    if match is None or len(match["name"]) > 255:
        return ""
    if match["tag"]:
        return match["tag"]
    return "" if match["digest"] else "latest"


def default_pod_spec(spec: Object) -> None:
    """SetDefaults_PodSpec and everything nested in a spec; templates and Pods alike."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    spec.setdefault("terminationGracePeriodSeconds", TERMINATION_GRACE_PERIOD)
    spec.setdefault("schedulerName", DEFAULT_SCHEDULER)
    for volume in _dicts(spec.get("volumes")):
        default_volume(volume)
    for key in CONTAINER_LISTS:
        for container in _dicts(spec.get(key)):
            default_container(container)


def default_pod(pod: Object, old: Object | None = None) -> None:
    """What only a Pod gets: requests copied from limits, service links on, host ports from
    container ports on the host network, and the priority the Priority admission plugin sets
    (0 and PreemptLowerPriority without a priorityClassName; on update, the old pod's, since that
    plugin ignores updates to priority)."""
    spec = pod.setdefault("spec", {})
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            resources = container.get("resources")
            limits = resources.get("limits") if isinstance(resources, dict) else None
            if isinstance(limits, dict) and isinstance(resources, dict):
                requests = resources.get("requests")
                if not isinstance(requests, dict):
                    requests = resources["requests"] = {}
                for name, value in limits.items():
                    requests.setdefault(name, value)
    spec.setdefault("enableServiceLinks", True)
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for container in _dicts(spec.get(key)):
                for port in _dicts(container.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort", 0)
    default_pod_spec(spec)
    old_spec = (old or {}).get("spec") or {}
    if old is not None:
        for key in ("priority", "preemptionPolicy"):
            if key in old_spec:
                spec[key] = old_spec[key]
            else:
                spec.pop(key, None)
    elif not spec.get("priorityClassName"):
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def default_template(template: Any) -> None:
    """A PodTemplateSpec inside a controller: only the spec gets defaults."""
    if isinstance(template, dict):
        spec = template.get("spec")
        if not isinstance(spec, dict):
            spec = template["spec"] = {}
        default_pod_spec(spec)


def default_container(container: Object) -> None:
    if not container.get("imagePullPolicy"):
        latest = image_tag(str(container.get("image") or "")) == "latest"
        container["imagePullPolicy"] = "Always" if latest else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    if container.get("resources") is None:
        container["resources"] = {}
    for port in _dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for env in _dicts(container.get("env")):
        source = env.get("valueFrom")
        if isinstance(source, dict) and isinstance(source.get("fieldRef"), dict):
            source["fieldRef"].setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            default_probe(container[probe])
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            handler = lifecycle.get(hook)
            if isinstance(handler, dict) and isinstance(handler.get("httpGet"), dict):
                default_http_get(handler["httpGet"])


def default_probe(probe: Object) -> None:
    """SetDefaults_Probe: zero counts as unset, as for Go's non-pointer int32s."""
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if not probe.get(key):
            probe[key] = value
    if isinstance(probe.get("httpGet"), dict):
        default_http_get(probe["httpGet"])


def default_http_get(action: Object) -> None:
    if not action.get("path"):
        action["path"] = "/"
    if not action.get("scheme"):
        action["scheme"] = "HTTP"


def default_volume(volume: Object) -> None:
    """SetDefaults_Volume and the defaults of each volume source."""
    if not any(key != "name" and value is not None for key, value in volume.items()):
        volume["emptyDir"] = {}
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(volume.get(key), dict):
            volume[key].setdefault("defaultMode", FILE_MODE)
    if isinstance(volume.get("downwardAPI"), dict):
        _default_field_refs(volume["downwardAPI"].get("items"))
    if isinstance(volume.get("projected"), dict):
        for source in _dicts(volume["projected"].get("sources")):
            if isinstance(source.get("downwardAPI"), dict):
                _default_field_refs(source["downwardAPI"].get("items"))
            if isinstance(source.get("serviceAccountToken"), dict):
                source["serviceAccountToken"].setdefault("expirationSeconds", TOKEN_EXPIRATION)
    if isinstance(volume.get("iscsi"), dict):
        volume["iscsi"].setdefault("iscsiInterface", "default")
    if isinstance(volume.get("rbd"), dict):
        for key, value in (("pool", "rbd"), ("user", "admin"), ("keyring", "/etc/ceph/keyring")):
            volume["rbd"].setdefault(key, value)
    if isinstance(volume.get("azureDisk"), dict):
        azure: dict[str, Any] = {
            "cachingMode": "ReadWrite",
            "fsType": "ext4",
            "readOnly": False,
            "kind": "Shared",
        }
        for key, default in azure.items():
            volume["azureDisk"].setdefault(key, default)
    ephemeral = volume.get("ephemeral")
    if isinstance(ephemeral, dict) and isinstance(ephemeral.get("volumeClaimTemplate"), dict):
        claim_spec = ephemeral["volumeClaimTemplate"].get("spec")
        if isinstance(claim_spec, dict):
            claim_spec.setdefault("volumeMode", "Filesystem")


def _default_field_refs(items: Any) -> None:
    for item in _dicts(items):
        if isinstance(item.get("fieldRef"), dict):
            item["fieldRef"].setdefault("apiVersion", "v1")


def _dicts(value: Any) -> list[Object]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

"""Printers for the core group (pods have their own module), with kube-apiserver's columns.
Where a field is absent the printer shows what upstream shows for the defaulted object (a Service
of type ClusterIP, a port over TCP, a Secret of type Opaque, one replica), since kube-apiserver
only ever prints defaulted objects."""

from __future__ import annotations

from datetime import datetime

from . import pods
from .cells import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age,
    deleting,
    doc,
    format_labels,
    get,
    items,
    mapping,
    name,
    number,
    parse_time,
    since,
    template_containers,
    text,
)

BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
NODE_ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
NODE_ROLE_LABEL = "kubernetes.io/role"


def _pod_templates(obj: Obj, now: datetime) -> Cells:
    return [
        name(obj),
        *template_containers(obj, "template"),
        format_labels(mapping(obj, "template", "metadata", "labels")),
    ]


POD_TEMPLATES = Printer(
    (
        NAME,
        Column("Containers", description="Names of each container in the template."),
        Column("Images", description="Images referenced by each container in the template."),
        Column("Pod Labels", description="The labels for the pod template."),
    ),
    _pod_templates,
)


def _replication_controllers(obj: Obj, now: datetime) -> Cells:
    return [
        name(obj),
        number(obj, "spec", "replicas", default=1),
        number(obj, "status", "replicas"),
        number(obj, "status", "readyReplicas"),
        age(obj, now),
        *template_containers(obj, "spec", "template"),
        format_labels(mapping(obj, "spec", "selector")),
    ]


REPLICATION_CONTROLLERS = Printer(
    (
        NAME,
        Column("Desired", "integer", doc("core.v1.ReplicationControllerSpec", "replicas")),
        Column("Current", "integer", doc("core.v1.ReplicationControllerStatus", "replicas")),
        Column("Ready", "integer", doc("core.v1.ReplicationControllerStatus", "readyReplicas")),
        AGE,
        CONTAINERS,
        IMAGES,
        Column("Selector", priority=1, description=doc("core.v1.ReplicationControllerSpec", "selector")),
    ),
    _replication_controllers,
)


def load_balancer_addresses(obj: Obj) -> str:
    """`loadBalancerStatusStringer` (wide, as the server always prints): each ingress's IP, else its
    hostname, de-duplicated and sorted."""
    ingress = items(obj, "status", "loadBalancer", "ingress")
    addresses = {text(i, "ip") or text(i, "hostname") for i in ingress} - {""}
    return ",".join(sorted(addresses))


def _external_ip(service: Obj) -> str:
    """`getServiceExternalIP`."""
    kind = text(service, "spec", "type", default="ClusterIP")
    external = [str(ip) for ip in get(service, "spec", "externalIPs") or []]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        balancer = load_balancer_addresses(service)
        if external:
            return ",".join([balancer, *external] if balancer else external)
        return balancer or "<pending>"
    if kind == "ExternalName":
        return text(service, "spec", "externalName")
    return "<unknown>"


def service_ports(ports: list[Obj]) -> str:
    """`makePortString`: "80/TCP", or "80:30080/TCP" with a node port."""
    rendered = []
    for port in ports:
        protocol = text(port, "protocol", default="TCP")
        node_port = number(port, "nodePort")
        middle = f":{node_port}" if node_port > 0 else ""
        rendered.append(f"{number(port, 'port')}{middle}/{protocol}")
    return ",".join(rendered)


def _services(svc: Obj, now: datetime) -> Cells:
    cluster_ips = get(svc, "spec", "clusterIPs") or []
    cluster_ip = text(svc, "spec", "clusterIP") or (str(cluster_ips[0]) if cluster_ips else "<none>")
    return [
        name(svc),
        text(svc, "spec", "type", default="ClusterIP"),
        cluster_ip,
        _external_ip(svc),
        service_ports(items(svc, "spec", "ports")) or "<none>",
        age(svc, now),
        format_labels(mapping(svc, "spec", "selector")),
    ]


SERVICES = Printer(
    (
        NAME,
        Column("Type", description=doc("core.v1.ServiceSpec", "type")),
        Column("Cluster-IP", description=doc("core.v1.ServiceSpec", "clusterIP")),
        Column("External-IP", description=doc("core.v1.ServiceSpec", "externalIPs")),
        Column("Port(s)", description=doc("core.v1.ServiceSpec", "ports")),
        AGE,
        Column("Selector", priority=1, description=doc("core.v1.ServiceSpec", "selector")),
    ),
    _services,
)


def _host_port(host: str, port: int) -> str:
    """Go's `net.JoinHostPort`: IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoints(endpoints: Obj) -> str:
    """`formatEndpoints`: up to three "ip:port", then " + N more..."."""
    subsets = items(endpoints, "subsets")
    if not subsets:
        return "<none>"
    listed: list[str] = []
    total = 0
    for subset in subsets:
        addresses = [text(a, "ip") for a in items(subset, "addresses")]
        ports = items(subset, "ports")
        if not ports:  # headless services may have no ports
            total += len(addresses)
            listed.extend(addresses)
        for port in ports:
            total += len(addresses)
            listed.extend(_host_port(ip, number(port, "port")) for ip in addresses)
    rendered = ",".join(listed[:3])
    return f"{rendered} + {total - 3} more..." if total > 3 else rendered


ENDPOINTS = Printer(
    (NAME, Column("Endpoints", description=doc("core.v1.Endpoints", "subsets")), AGE),
    lambda obj, now: [name(obj), format_endpoints(obj), age(obj, now)],
)


def node_status(node: Obj) -> str:
    """Ready / NotReady / Unknown from the Ready condition, plus SchedulingDisabled if cordoned."""
    ready = None
    for condition in items(node, "status", "conditions"):
        if condition.get("type") == "Ready":
            ready = condition  # the last one wins, as upstream's map by type
    status = ["Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")]
    if get(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def node_roles(node: Obj) -> str:
    """`findNodeRoles`: node-role.kubernetes.io/<role> keys and kubernetes.io/role values, sorted."""
    roles = set()
    for key, value in mapping(node, "metadata", "labels").items():
        if key.startswith(NODE_ROLE_LABEL_PREFIX) and key != NODE_ROLE_LABEL_PREFIX:
            roles.add(key.removeprefix(NODE_ROLE_LABEL_PREFIX))
        elif key == NODE_ROLE_LABEL and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Obj, kind: str) -> str:
    addresses = items(node, "status", "addresses")
    return next((text(a, "address") for a in addresses if a.get("type") == kind), "<none>")


def _nodes(node: Obj, now: datetime) -> Cells:
    info = mapping(node, "status", "nodeInfo")
    return [
        name(node),
        node_status(node),
        node_roles(node),
        age(node, now),
        text(info, "kubeletVersion"),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        text(info, "osImage", default="<unknown>"),
        text(info, "kernelVersion", default="<unknown>"),
        text(info, "containerRuntimeVersion", default="<unknown>"),
    ]


NODES = Printer(
    (
        NAME,
        Column("Status", description="The status of the node"),
        Column("Roles", description="The roles of the node"),
        AGE,
        Column("Version", description=doc("core.v1.NodeSystemInfo", "kubeletVersion")),
        Column("Internal-IP", priority=1, description=doc("core.v1.NodeStatus", "addresses")),
        Column("External-IP", priority=1, description=doc("core.v1.NodeStatus", "addresses")),
        Column("OS-Image", priority=1, description=doc("core.v1.NodeSystemInfo", "osImage")),
        Column("Kernel-Version", priority=1, description=doc("core.v1.NodeSystemInfo", "kernelVersion")),
        Column(
            "Container-Runtime",
            priority=1,
            description=doc("core.v1.NodeSystemInfo", "containerRuntimeVersion"),
        ),
    ),
    _nodes,
)


def core_event(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event in core/v1's field names (both print through the core printer,
    as kube-apiserver stores and prints both as the internal core Event)."""
    if not str(event.get("apiVersion", "")).startswith("events.k8s.io/"):
        return event
    return {
        "metadata": event.get("metadata"),
        "involvedObject": event.get("regarding"),
        "message": event.get("note"),
        "source": event.get("deprecatedSource"),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"),
        "reportingComponent": event.get("reportingController"),
        **{k: event.get(k) for k in ("type", "reason", "eventTime", "series", "reportingInstance")},
    }


def _events(event: Obj, now: datetime) -> Cells:
    event = core_event(event)
    first = since(now, event.get("firstTimestamp"))
    if parse_time(event.get("firstTimestamp")) is None:
        first = since(now, event.get("eventTime"))
    last = first if parse_time(event.get("lastTimestamp")) is None else since(now, event.get("lastTimestamp"))
    count = number(event, "count")
    if get(event, "series") is not None:
        last = since(now, get(event, "series", "lastObservedTime"))
        count = number(event, "series", "count")
    elif count == 0:
        count = 1  # singleton events have no count in the new API
    kind, involved = text(event, "involvedObject", "kind").lower(), text(event, "involvedObject", "name")
    component = text(event, "source", "component") or text(event, "reportingComponent")
    instance = text(event, "source", "host") or text(event, "reportingInstance")
    return [
        last,
        text(event, "type"),
        text(event, "reason"),
        f"{kind}/{involved}" if involved else kind,
        text(event, "involvedObject", "fieldPath"),
        f"{component}, {instance}" if instance else component,
        text(event, "message").strip(),
        first,
        count,
        name(event),
    ]


EVENTS = Printer(
    (
        Column("Last Seen", description=doc("core.v1.Event", "lastTimestamp")),
        Column("Type", description=doc("core.v1.Event", "type")),
        Column("Reason", description=doc("core.v1.Event", "reason")),
        Column("Object", description=doc("core.v1.Event", "involvedObject")),
        Column("Subobject", priority=1, description=doc("core.v1.ObjectReference", "fieldPath")),
        Column("Source", priority=1, description=doc("core.v1.Event", "source")),
        Column("Message", description=doc("core.v1.Event", "message")),
        Column("First Seen", priority=1, description=doc("core.v1.Event", "firstTimestamp")),
        Column("Count", priority=1, description=doc("core.v1.Event", "count")),
        Column("Name", priority=1, format="name", description=NAME.description),
    ),
    _events,
)

NAMESPACES = Printer(
    (NAME, Column("Status", description="The status of the namespace"), AGE),
    lambda obj, now: [name(obj), text(obj, "status", "phase", default="Active"), age(obj, now)],
)

SECRETS = Printer(
    (
        NAME,
        Column("Type", description=doc("core.v1.Secret", "type")),
        Column("Data", description=doc("core.v1.Secret", "data")),
        AGE,
    ),
    lambda obj, now: [
        name(obj),
        text(obj, "type", default="Opaque"),
        len(mapping(obj, "data")),
        age(obj, now),
    ],
)

SERVICE_ACCOUNTS = Printer(
    (NAME, Column("Secrets", description=doc("core.v1.ServiceAccount", "secrets")), AGE),
    lambda obj, now: [name(obj), len(items(obj, "secrets")), age(obj, now)],
)

CONFIG_MAPS = Printer(
    (NAME, Column("Data", description=doc("core.v1.ConfigMap", "data")), AGE),
    lambda obj, now: [name(obj), len(mapping(obj, "data")) + len(mapping(obj, "binaryData")), age(obj, now)],
)

_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def access_modes(modes: list[str]) -> str:
    """`GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order, each once."""
    return ",".join(short for mode, short in _ACCESS_MODES.items() if mode in modes)


def _storage_class(obj: Obj) -> str:
    """The beta storage-class annotation wins over spec.storageClassName."""
    annotations = mapping(obj, "metadata", "annotations")
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return text(obj, "spec", "storageClassName")


def _phase(obj: Obj) -> str:
    """A volume's or claim's phase (defaulted to Pending), or Terminating while it is deleted."""
    return "Terminating" if deleting(obj) else text(obj, "status", "phase", default="Pending")


def _persistent_volumes(pv: Obj, now: datetime) -> Cells:
    claim = mapping(pv, "spec", "claimRef")
    return [
        name(pv),
        text(pv, "spec", "capacity", "storage", default="0"),
        access_modes(get(pv, "spec", "accessModes") or []),
        text(pv, "spec", "persistentVolumeReclaimPolicy", default="Retain"),
        _phase(pv),
        f"{text(claim, 'namespace')}/{text(claim, 'name')}" if claim else "",
        _storage_class(pv),
        text(pv, "spec", "volumeAttributesClassName", default="<unset>"),
        text(pv, "status", "reason"),
        age(pv, now),
        text(pv, "spec", "volumeMode", default="Filesystem"),
    ]


PERSISTENT_VOLUMES = Printer(
    (
        NAME,
        Column("Capacity", description=doc("core.v1.PersistentVolumeSpec", "capacity")),
        Column("Access Modes", description=doc("core.v1.PersistentVolumeSpec", "accessModes")),
        Column(
            "Reclaim Policy", description=doc("core.v1.PersistentVolumeSpec", "persistentVolumeReclaimPolicy")
        ),
        Column("Status", description=doc("core.v1.PersistentVolumeStatus", "phase")),
        Column("Claim", description=doc("core.v1.PersistentVolumeSpec", "claimRef")),
        Column("StorageClass", description="StorageClass of the pv"),
        Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
        Column("Reason", description=doc("core.v1.PersistentVolumeStatus", "reason")),
        AGE,
        Column("VolumeMode", priority=1, description=doc("core.v1.PersistentVolumeSpec", "volumeMode")),
    ),
    _persistent_volumes,
)


def _persistent_volume_claims(pvc: Obj, now: datetime) -> Cells:
    bound = bool(text(pvc, "spec", "volumeName"))
    return [
        name(pvc),
        _phase(pvc),
        text(pvc, "spec", "volumeName"),
        text(pvc, "status", "capacity", "storage", default="0") if bound else "",
        access_modes(get(pvc, "status", "accessModes") or []) if bound else "",
        _storage_class(pvc),
        text(pvc, "spec", "volumeAttributesClassName", default="<unset>"),
        age(pvc, now),
        text(pvc, "spec", "volumeMode", default="Filesystem"),
    ]


PERSISTENT_VOLUME_CLAIMS = Printer(
    (
        NAME,
        Column("Status", description=doc("core.v1.PersistentVolumeClaimStatus", "phase")),
        Column("Volume", description=doc("core.v1.PersistentVolumeClaimSpec", "volumeName")),
        Column("Capacity", description=doc("core.v1.PersistentVolumeClaimStatus", "capacity")),
        Column("Access Modes", description=doc("core.v1.PersistentVolumeClaimStatus", "accessModes")),
        Column("StorageClass", description="StorageClass of the pvc"),
        Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
        AGE,
        Column("VolumeMode", priority=1, description=doc("core.v1.PersistentVolumeClaimSpec", "volumeMode")),
    ),
    _persistent_volume_claims,
)


def _resource_quotas(quota: Obj, now: datetime) -> Cells:
    """REQUEST and LIMIT list "resource: used/hard" for each hard limit, sorted by name; names
    starting "limits." go to LIMIT."""
    hard, used = mapping(quota, "status", "hard"), mapping(quota, "status", "used")
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        column = limits if resource.split(".")[0] == "limits" and "." in resource else requests
        column.append(f"{resource}: {used.get(resource, '0')}/{hard[resource]}")
    return [name(quota), ", ".join(requests), ", ".join(limits), age(quota, now)]


RESOURCE_QUOTAS = Printer(
    (
        NAME,
        Column(
            "Request",
            description="Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        Column(
            "Limit",
            description="Limits control the maximum amount of cpu/memory that a container may use "
            "independent of contention on the node.",
        ),
        AGE,
    ),
    _resource_quotas,
)

PRINTERS = {
    "pods": pods.PRINTER,
    "podtemplates": POD_TEMPLATES,
    "replicationcontrollers": REPLICATION_CONTROLLERS,
    "services": SERVICES,
    "endpoints": ENDPOINTS,
    "nodes": NODES,
    "events": EVENTS,
    "namespaces": NAMESPACES,
    "secrets": SECRETS,
    "serviceaccounts": SERVICE_ACCOUNTS,
    "configmaps": CONFIG_MAPS,
    "persistentvolumes": PERSISTENT_VOLUMES,
    "persistentvolumeclaims": PERSISTENT_VOLUME_CLAIMS,
    "resourcequotas": RESOURCE_QUOTAS,
}

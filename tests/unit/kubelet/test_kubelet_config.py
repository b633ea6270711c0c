"""KubeletConfiguration: the seed's file loads unchanged, defaults match upstream, bad values name
their field in one line; flags override the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from componentbase.errors import ConfigError
from kubelet.config import load_kubelet_config
from kubelet.node_status import NodeFacts, allocatable, capacity, parse_taints
from kubelet.options import apply_flag_overrides, flag_set

SEED = """\
# /var/lib/kubelet/config.yaml
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
systemReserved:
  cpu: "500m"
  memory: "512Mi"
  ephemeral-storage: "1Gi"
kubeReserved:
  cpu: "500m"
  memory: "1Gi"
  ephemeral-storage: "1Gi"
evictionHard:
  memory.available: "500Mi"
  nodefs.available: "10%"
evictionSoft:
  memory.available: "1Gi"
  nodefs.available: "15%"
evictionSoftGracePeriod:
  memory.available: "1m"
  nodefs.available: "1m"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_the_seeds_config_loads_with_upstream_defaults(tmp_path: Path) -> None:
    config = load_kubelet_config(write(tmp_path, SEED))
    assert config.system_reserved == {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "1Gi"}
    assert config.eviction_hard_or_default == {"memory.available": "500Mi", "nodefs.available": "10%"}
    assert config.eviction_soft_grace_period["memory.available"] == "1m"
    assert (config.port, config.healthz_port, config.max_pods) == (10250, 10248, 110)
    assert config.node_status_update_frequency == 10 and config.sync_frequency == 60
    assert config.pod_logs_dir == "/var/log/pods" and config.cgroup_driver == "cgroupfs"


def test_the_seeds_reservations_come_off_allocatable(tmp_path: Path) -> None:
    config = load_kubelet_config(write(tmp_path, SEED))
    facts = NodeFacts(
        name="n", node_ip="10.0.0.1", cpus=4, memory_bytes=8 * 2**30, ephemeral_storage_bytes=100 * 2**30
    )
    node_capacity = capacity(facts, config)
    result = allocatable(facts, config, node_capacity)
    assert result["cpu"] == "3"
    # 8Gi - 512Mi - 1Gi - 500Mi (hard eviction) = 6156Mi
    assert result["memory"] == f"{(8 * 1024 - 512 - 1024 - 500) * 1024}Ki"
    # 100Gi - 1Gi - 1Gi - 10%
    assert result["ephemeral-storage"] == f"{((100 * 2**30 - 2 * 2**30 - 10 * 2**30) // 1024)}Ki"
    assert result["pods"] == "110"


def test_upstreams_default_eviction_thresholds_apply_only_without_the_field(tmp_path: Path) -> None:
    config = load_kubelet_config(
        write(tmp_path, "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n")
    )
    assert config.eviction_hard_or_default["memory.available"] == "100Mi"
    assert config.eviction_hard_or_default["imagefs.available"] == "15%"


def test_an_upstream_file_with_fields_kplane_ignores_still_loads(tmp_path: Path) -> None:
    text = (
        SEED + "cpuManagerPolicy: static\nfeatureGates:\n  SomeGate: true\nauthorization:\n  mode: Webhook\n"
    )
    config = load_kubelet_config(write(tmp_path, text))
    assert config.cpu_manager_policy == "static" and config.feature_gates == {"SomeGate": True}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "imageGCHighThresholdPercent: 120",
            "imageGCHighThresholdPercent: must be between 0 and 100 (got 120)",
        ),
        ("cgroupDriver: upstart", 'cgroupDriver: must be "cgroupfs" or "systemd" (got "upstart")'),
        ("containerLogMaxFiles: 1", "containerLogMaxFiles: must be at least 2"),
        ("cgroupRoot: kubelet", 'cgroupRoot: must be an absolute path (got "kubelet")'),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_field(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, SEED + line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_kubelet_config(path)
    assert str(caught.value) == f"{path}: invalid configuration: {message}"


def test_an_unknown_field_or_bad_type_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, SEED + "maxPodz: 10\n")
    with pytest.raises(ConfigError, match=r"config.yaml:21: maxPodz: unknown field"):
        load_kubelet_config(path)
    path = write(
        tmp_path, SEED.replace('cpu: "500m"\n  memory: "512Mi"', 'cpu: "lots"\n  memory: "512Mi"', 1)
    )
    with pytest.raises(ConfigError, match=r"systemReserved: .*cpu: quantities must match"):
        load_kubelet_config(path)


def test_deprecated_flags_override_the_file(tmp_path: Path) -> None:
    config = load_kubelet_config(write(tmp_path, SEED))
    flags = flag_set().parse(
        ["--max-pods=7", "--cluster-dns=10.96.0.10", "--container-runtime-endpoint=unix:///x.sock"]
    )
    overridden = apply_flag_overrides(config, flags)
    assert overridden.max_pods == 7 and overridden.cluster_dns == ["10.96.0.10"]
    assert overridden.container_runtime_endpoint == "unix:///x.sock"
    assert overridden.port == config.port


def test_register_with_taints_parses_upstreams_spelling() -> None:
    assert parse_taints(["dedicated=gpu:NoSchedule", "maintenance:NoExecute"]) == [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "maintenance", "effect": "NoExecute"},
    ]
    with pytest.raises(ValueError, match="invalid taint spec"):
        parse_taints(["dedicated=gpu:Sometimes"])

"""Every component's entry point refuses a bad command line or configuration in one line; `kplane up`
knows every component in start order."""

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.components import COMPONENTS


def test_launcher_knows_every_component_in_start_order() -> None:
    assert [c.name for c in COMPONENTS] == [
        "etcd",
        "apiserver",
        "scheduler",
        "controller-manager",
        "kubelet",
        "kube-proxy",
    ]
    assert all(c.built for c in COMPONENTS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "--kubeconfig is required", id="no kubeconfig"),
        pytest.param(
            ["--config=/nonexistent.yaml"], "/nonexistent.yaml: cannot read config file", id="no config"
        ),
        pytest.param(["--register-node=perhaps"], "invalid argument", id="bad flag value"),
        pytest.param(
            ["--kubeconfig=/k", "--register-with-taints=a=b:Often"], "invalid taint spec", id="bad taint"
        ),
    ],
)
def test_the_kubelet_refuses_bad_configuration_in_one_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubelet", f"--root-dir={tmp_path}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("kplane-kubelet: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


SEED_KUBE_PROXY_CONFIG = """
# kube-proxy ConfigMap
apiVersion: kubelet.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: "ipvs"
ipvs:
  scheduler: "rr"  # Round-robin
  minSyncPeriod: 0s
  syncPeriod: 30s
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--proxy-mode=iptables"], "--kubeconfig is required", id="no kubeconfig"),
        pytest.param(
            ["--config=/nonexistent.yaml"], "/nonexistent.yaml: cannot read config file", id="no config"
        ),
        pytest.param(["--masquerade-all=perhaps"], "invalid argument", id="bad flag value"),
        pytest.param(
            ["--proxy-mode=userspace"], "removed from upstream kube-proxy in Kubernetes 1.26", id="userspace"
        ),
        pytest.param(["--config=SEED"], 'proxy mode "ipvs"', id="the seed's ipvs example"),
    ],
)
def test_kube_proxy_refuses_bad_configuration_in_one_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    if args == ["--config=SEED"]:
        config = tmp_path / "kube-proxy.yaml"
        config.write_text(SEED_KUBE_PROXY_CONFIG)
        args = [f"--config={config}"]
    result = subprocess.run(
        [sys.executable, "-m", "kubeproxy", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert result.stderr.startswith("kplane-proxy: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


BAD_PLUGIN_ARGS = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: /dev/null}
profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated, resources: [{name: cpu, weight: 1000}]}}
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            [],
            "no kubeconfig: set clientConnection.kubeconfig in --config or --kubeconfig",
            id="no kubeconfig",
        ),
        pytest.param(
            ["--config=/nonexistent.yaml"], "/nonexistent.yaml: cannot read config file", id="missing config"
        ),
        pytest.param(["--leader-elect=maybe"], "invalid argument", id="bad flag value"),
        pytest.param(
            ["--config=BAD_PLUGIN_ARGS"],
            "resource weight of cpu not in valid range (0, 100]",
            id="bad plugin args",
        ),
    ],
)
def test_the_scheduler_refuses_bad_configuration_in_one_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    if args == ["--config=BAD_PLUGIN_ARGS"]:
        config = tmp_path / "scheduler.yaml"
        config.write_text(BAD_PLUGIN_ARGS)
        args = [f"--config={config}"]
    result = subprocess.run(
        [sys.executable, "-m", "scheduler", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert result.stderr.startswith("kplane-scheduler: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_apiserver_without_its_required_flags_says_which_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "apiserver"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr == "kplane-apiserver: error: --etcd-servers must be specified\n"
    result = subprocess.run(
        [sys.executable, "-m", "apiserver", "--no-such-flag"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no-such-flag" in result.stderr

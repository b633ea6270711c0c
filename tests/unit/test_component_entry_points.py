"""Until its issue lands, a component's entry point says so in one line and fails; `kplane up`
lists it as not built and never starts it."""

import subprocess
import sys

import pytest

from deploy.components import COMPONENTS

NOT_BUILT = {
    "scheduler": "kplane-scheduler",
    "controller_manager": "kplane-controller-manager",
    "kubelet": "kplane-kubelet",
    "kubeproxy": "kplane-proxy",
}


@pytest.mark.parametrize("package", sorted(NOT_BUILT))
def test_unbuilt_component_exits_with_one_line(package: str) -> None:
    result = subprocess.run([sys.executable, "-m", package], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{NOT_BUILT[package]}: not built yet (issue ")
    assert result.stderr.count("\n") == 1


def test_launcher_knows_every_component_in_start_order() -> None:
    assert [c.name for c in COMPONENTS] == [
        "etcd",
        "apiserver",
        "scheduler",
        "controller-manager",
        "kubelet",
        "kube-proxy",
    ]
    assert [c.name for c in COMPONENTS if c.built] == ["etcd", "apiserver"]


def test_the_apiserver_without_its_required_flags_says_which_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "apiserver"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr == "kplane-apiserver: error: --etcd-servers must be specified\n"
    result = subprocess.run(
        [sys.executable, "-m", "apiserver", "--no-such-flag"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no-such-flag" in result.stderr

"""Until its issue lands, a component's entry point says so in one line and fails; `kplane up`
lists it as not built and never starts it."""

import subprocess
import sys

import pytest

from deploy.components import COMPONENTS

NOT_BUILT = {
    "apiserver": "kplane-apiserver",
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
    assert [c.name for c in COMPONENTS if c.built] == ["etcd"]

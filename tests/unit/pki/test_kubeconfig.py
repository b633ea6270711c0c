"""merge_kubeconfig / remove_context against files that kubectl also reads and writes."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pki import KubeconfigError, build_kubeconfig, merge_kubeconfig, remove_context, write_kubeconfig


def kubectl(kubeconfig: Path, *args: str) -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "config", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def load(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


def names(config: dict[str, Any], list_key: str) -> list[str]:
    return [entry["name"] for entry in config[list_key]]


@pytest.fixture
def admin(pki) -> dict[str, Any]:
    return load(pki.kubeconfig_dir / "admin.conf")


@pytest.fixture
def someone_elses_config(tmp_path: Path) -> Path:
    """A ~/.kube/config with another cluster, written by kubectl itself."""
    path = tmp_path / "home/.kube/config"
    path.parent.mkdir(parents=True)
    path.touch(mode=0o600)
    kubectl(path, "set-cluster", "prod", "--server=https://prod.example.com:6443")
    kubectl(path, "set-credentials", "prod-user", "--token=secret")
    kubectl(path, "set-context", "prod", "--cluster=prod", "--user=prod-user", "--namespace=web")
    kubectl(path, "use-context", "prod")
    return path


def test_build_kubeconfig_matches_kubeadm_shape() -> None:
    config = build_kubeconfig(
        server="https://127.0.0.1:6443",
        cluster_name="kubernetes",
        user_name="kubernetes-admin",
        ca_pem=b"ca",
        client_cert_pem=b"cert",
        client_key_pem=b"key",
    )
    assert config == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubernetes",
                "cluster": {"certificate-authority-data": "Y2E=", "server": "https://127.0.0.1:6443"},
            }
        ],
        "users": [
            {
                "name": "kubernetes-admin",
                "user": {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"},
            }
        ],
        "contexts": [
            {
                "name": "kubernetes-admin@kubernetes",
                "context": {"cluster": "kubernetes", "user": "kubernetes-admin"},
            }
        ],
        "current-context": "kubernetes-admin@kubernetes",
        "preferences": {},
    }


def test_write_kubeconfig_is_private(tmp_path: Path, admin: dict[str, Any]) -> None:
    write_kubeconfig(tmp_path / "admin.conf", admin)
    assert stat.S_IMODE((tmp_path / "admin.conf").stat().st_mode) == 0o600
    assert load(tmp_path / "admin.conf") == admin
    assert [p.name for p in tmp_path.iterdir()] == ["admin.conf"]  # no temp file left behind


def test_merge_creates_a_missing_target_and_its_directory(tmp_path: Path, admin: dict[str, Any]) -> None:
    target = tmp_path / "home/.kube/config"
    merge_kubeconfig(target, admin, context_name="kplane")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert kubectl(target, "get-contexts", "-o", "name").split() == ["kplane"]
    assert kubectl(target, "current-context").strip() == "kplane"


def test_merge_keeps_other_contexts_and_kubectl_sees_both(someone_elses_config: Path, admin: dict) -> None:
    before = load(someone_elses_config)
    merge_kubeconfig(someone_elses_config, admin, context_name="kplane")
    view = json.loads(kubectl(someone_elses_config, "view", "--raw", "-o", "json"))
    assert sorted(names(view, "contexts")) == ["kplane", "prod"]
    assert sorted(names(view, "clusters")) == ["kplane", "prod"]
    assert sorted(names(view, "users")) == ["kplane-admin", "prod-user"]
    assert view["current-context"] == "kplane"
    merged = load(someone_elses_config)
    for list_key in ("clusters", "users", "contexts"):
        assert merged[list_key][0] == before[list_key][0]  # the prod entries, untouched
    kplane = next(entry for entry in view["contexts"] if entry["name"] == "kplane")
    assert kplane["context"] == {"cluster": "kplane", "user": "kplane-admin"}
    cluster = next(entry for entry in view["clusters"] if entry["name"] == "kplane")["cluster"]
    assert cluster == admin["clusters"][0]["cluster"]
    user = next(entry for entry in view["users"] if entry["name"] == "kplane-admin")["user"]
    assert user == admin["users"][0]["user"]


def test_merged_credentials_are_what_kubectl_uses_for_the_context(
    someone_elses_config: Path, admin: dict
) -> None:
    merge_kubeconfig(someone_elses_config, admin, context_name="kplane")
    minified = json.loads(kubectl(someone_elses_config, "view", "--raw", "--minify", "-o", "json"))
    assert minified["users"][0]["user"] == admin["users"][0]["user"]
    assert minified["clusters"][0]["cluster"]["server"] == "https://10.0.0.10:6443"


def test_merging_again_replaces_the_same_named_entries(
    someone_elses_config: Path, admin: dict, other_pki
) -> None:
    merge_kubeconfig(someone_elses_config, admin, context_name="kplane")
    other_admin = load(other_pki.kubeconfig_dir / "admin.conf")
    merge_kubeconfig(someone_elses_config, other_admin, context_name="kplane")
    merged = load(someone_elses_config)
    assert names(merged, "contexts") == ["prod", "kplane"]
    assert names(merged, "users") == ["prod-user", "kplane-admin"]
    assert merged["users"][1]["user"] == other_admin["users"][0]["user"]


def test_two_clusters_coexist_under_their_own_names(
    someone_elses_config: Path, admin: dict, other_pki
) -> None:
    merge_kubeconfig(someone_elses_config, admin, context_name="kplane")
    merge_kubeconfig(
        someone_elses_config, load(other_pki.kubeconfig_dir / "admin.conf"), context_name="kplane-2"
    )
    assert kubectl(someone_elses_config, "get-contexts", "-o", "name").split() == [
        "kplane",
        "kplane-2",
        "prod",
    ]


def test_merge_without_set_current_keeps_the_current_context(someone_elses_config: Path, admin: dict) -> None:
    merge_kubeconfig(someone_elses_config, admin, context_name="kplane", set_current=False)
    assert kubectl(someone_elses_config, "current-context").strip() == "prod"


def test_remove_context_undoes_the_merge(someone_elses_config: Path, admin: dict) -> None:
    before = load(someone_elses_config)
    merge_kubeconfig(someone_elses_config, admin, context_name="kplane")
    assert remove_context(someone_elses_config, "kplane") is True
    after = load(someone_elses_config)
    assert {key: after[key] for key in ("clusters", "users", "contexts")} == {
        key: before[key] for key in ("clusters", "users", "contexts")
    }
    assert after["current-context"] == ""
    assert kubectl(someone_elses_config, "get-contexts", "-o", "name").split() == ["prod"]
    assert remove_context(someone_elses_config, "kplane") is False


def test_remove_context_keeps_a_cluster_another_context_uses(someone_elses_config: Path, admin: dict) -> None:
    merge_kubeconfig(someone_elses_config, admin, context_name="kplane", set_current=False)
    kubectl(someone_elses_config, "set-context", "kplane-ops", "--cluster=kplane", "--user=prod-user")
    remove_context(someone_elses_config, "kplane")
    after = load(someone_elses_config)
    assert sorted(names(after, "clusters")) == ["kplane", "prod"]
    assert names(after, "users") == ["prod-user"]
    assert after["current-context"] == "prod"


def test_remove_context_from_a_missing_file_is_a_no_op(tmp_path: Path) -> None:
    assert remove_context(tmp_path / "config", "kplane") is False
    assert not (tmp_path / "config").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("clusters: [unclosed\n", "not valid YAML (line 2)"),
        ("- a\n- b\n", "not a kubeconfig (top level is a list)"),
        ("contexts: {a: 1}\n", "not a kubeconfig ('contexts' is not a list)"),
    ],
)
def test_unparsable_target_is_never_overwritten(
    tmp_path: Path, admin: dict, content: str, problem: str
) -> None:
    target = tmp_path / "config"
    target.write_text(content)
    with pytest.raises(KubeconfigError) as raised:
        merge_kubeconfig(target, admin, context_name="kplane")
    assert str(raised.value) == f"{target}: {problem}"
    with pytest.raises(KubeconfigError, match=str(target)):
        remove_context(target, "kplane")
    assert target.read_text() == content


def test_merge_writes_through_a_symlinked_config(tmp_path: Path, admin: dict) -> None:
    real = tmp_path / "dotfiles/kubeconfig"
    real.parent.mkdir()
    link = tmp_path / "config"
    link.symlink_to(real)
    merge_kubeconfig(link, admin, context_name="kplane")
    assert link.is_symlink()
    assert names(load(real), "contexts") == ["kplane"]


def test_source_without_a_current_context_is_refused(tmp_path: Path, admin: dict) -> None:
    with pytest.raises(KubeconfigError, match="no complete current context"):
        merge_kubeconfig(tmp_path / "config", {**admin, "current-context": "missing"}, context_name="kplane")


def test_merge_into_an_empty_file_makes_a_kubeconfig(tmp_path: Path, admin: dict) -> None:
    target = tmp_path / "config"
    target.touch()
    merge_kubeconfig(target, admin, context_name="kplane")
    assert kubectl(target, "get-contexts", "-o", "name").split() == ["kplane"]
    assert load(target)["kind"] == "Config"

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import Field

from componentbase.config import ConfigModel, Duration, load_config
from componentbase.errors import ConfigError

API_VERSION = "kubelet.config.k8s.io/v1beta1"
KIND = "KubeletConfiguration"


class Authentication(ConfigModel):
    anonymous_enabled: bool = False
    client_ca_file: str = Field("", alias="clientCAFile")  # to_camel would say clientCaFile


class StaticPod(ConfigModel):
    name: str
    image: str = "busybox"


class KubeletConfiguration(ConfigModel):
    address: str = "0.0.0.0"
    port: int = 10250
    sync_frequency: Duration = 60.0
    authentication: Authentication = Authentication()
    eviction_hard: dict[str, str] = {}
    cluster_dns: list[str] = Field([], alias="clusterDNS")
    static_pods: list[StaticPod] = []


class KindWithTypeMeta(ConfigModel):
    api_version: str
    kind: str
    port: int = 0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(path: Path) -> KubeletConfiguration:
    return load_config(path, KubeletConfiguration, api_version=API_VERSION, kind=KIND)


def test_a_valid_file_loads_with_camel_case_fields_and_go_durations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        address: 127.0.0.1
        syncFrequency: 1m30s
        authentication:
          anonymousEnabled: true
          clientCAFile: /var/lib/kubernetes/ca.pem
        evictionHard:
          memory.available: 100Mi
        clusterDNS: [10.32.0.10]
        """,
    )
    config = load(path)
    assert config.address == "127.0.0.1"
    assert config.port == 10250
    assert config.sync_frequency == 90.0
    assert config.authentication.anonymous_enabled is True
    assert config.authentication.client_ca_file == "/var/lib/kubernetes/ca.pem"
    assert config.eviction_hard == {"memory.available": "100Mi"}
    assert config.cluster_dns == ["10.32.0.10"]
    assert config.model_dump(by_alias=True)["syncFrequency"] == "1m30s"


def test_a_model_that_declares_api_version_and_kind_gets_them(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: example.io/v1\nkind: Example\nport: 1\n")
    config = load_config(path, KindWithTypeMeta, api_version="example.io/v1", kind="Example")
    assert (config.api_version, config.kind, config.port) == ("example.io/v1", "Example", 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            port: 10250
            authentication:
              anonymousEnabled: false
            evictionHard:
              memory.available: 100
            """,
            "{path}:7: evictionHard.memory.available: Input should be a valid string",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            authentication:
              anonymousEnabled: false
              webhook: {enabled: true}
            """,
            "{path}:5: authentication.webhook: unknown field",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            sync_frequency: 1m
            """,
            "{path}:3: sync_frequency: unknown field",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            port: ten
            """,
            "{path}:3: port: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            staticPods:
              - name: web
              - image: nginx
            """,
            "{path}:5: staticPods[1].name: Field required",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            syncFrequency: 10x
            """,
            "{path}:3: syncFrequency: Value error, invalid duration '10x'",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            port: x
            address: [1]
            """,
            "{path}:3: port: Input should be a valid integer, unable to parse string as an integer"
            " (and 1 more field with errors)",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            port: 1
            port: 2
            """,
            "{path}:4: port: duplicate field",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            authentication:
              anonymousEnabled: true
             clientCaFile: x
            """,
            "{path}:5: expected <block end>, but found '<block mapping start>'"
            " (while parsing a block mapping)",
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            address: "unterminated
            """,
            "{path}:4: found unexpected end of stream (while scanning a quoted scalar)",
        ),
        (
            """
            apiVersion: v1
            kind: KubeletConfiguration
            """,
            '{path}:1: apiVersion: got "v1", expected "kubelet.config.k8s.io/v1beta1"',
        ),
        (
            """
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeProxyConfiguration
            """,
            '{path}:2: kind: got "KubeProxyConfiguration", expected "KubeletConfiguration"',
        ),
        ("port: 1\n", '{path}: apiVersion: field is missing, expected "kubelet.config.k8s.io/v1beta1"'),
        ("\n", "{path}: config file is empty"),
        (
            "- port: 1\n",
            "{path}:1: expected a mapping with apiVersion kubelet.config.k8s.io/v1beta1"
            " and kind KubeletConfiguration",
        ),
        (
            "---\nport: 1\n---\nport: 2\n",
            "{path}:3: but found another document (expected a single document in the stream)",
        ),
    ],
)
def test_every_error_is_one_line_with_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert str(raised.value) == message.format(path=path)
    assert "\n" not in str(raised.value)


def test_an_unreadable_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as raised:
        load(missing)
    assert str(raised.value) == f"{missing}: cannot read config file: No such file or directory"


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^{tmp_path}: cannot read config file: Is a directory$"):
        load(tmp_path)

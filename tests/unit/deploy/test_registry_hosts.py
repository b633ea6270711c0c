"""The containerd hosts tree that sends every pull to kplane's registry."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deploy.registry_hosts import (
    WELL_KNOWN_HOSTS,
    check_registry_url,
    hosts_toml,
    hosts_tree,
    write_hosts_dir,
)

URL = "http://127.0.0.1:5000"


def test_each_file_names_only_our_registry_as_server_and_host() -> None:
    parsed = tomllib.loads(hosts_toml(URL, "docker.io"))
    # `server` must be ours: without it containerd's last resort is the real registry.
    # The [host] table must be there: containerd 1.6 rejects a file without one and goes upstream.
    assert parsed == {"server": URL, "host": {URL: {"capabilities": ["pull", "resolve"]}}}


def test_tree_has_default_and_the_well_known_hosts() -> None:
    tree = hosts_tree(URL)
    assert set(tree) == {"_default/hosts.toml", *(f"{host}/hosts.toml" for host in WELL_KNOWN_HOSTS)}
    assert {"docker.io", "registry.k8s.io", "quay.io", "ghcr.io", "gcr.io"} <= set(WELL_KNOWN_HOSTS)
    for content in tree.values():
        assert tomllib.loads(content)["server"] == URL


def test_tree_for_chosen_hosts() -> None:
    assert set(hosts_tree(URL, ["example.test:5000"])) == {
        "_default/hosts.toml",
        "example.test:5000/hosts.toml",
    }


@pytest.mark.parametrize("host", ["", "../etc", "a/b", "_default", ".."])
def test_bad_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="bad registry host"):
        hosts_tree(URL, [host])


@pytest.mark.parametrize(
    ("url", "expected"),
    [("http://127.0.0.1:5000/", URL), ("https://[::1]:5443", "https://[::1]:5443"), (URL, URL)],
)
def test_registry_url_is_normalized(url: str, expected: str) -> None:
    assert check_registry_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:5000",
        "ftp://127.0.0.1:5000",
        "http://127.0.0.1",
        "http://127.0.0.1:5000/v2",
        "http://user:pw@127.0.0.1:5000",
        "http://127.0.0.1:5000?x=1",
        "http://127.0.0.1:port",
    ],
)
def test_bad_registry_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="registry URL"):
        check_registry_url(url)


def test_write_hosts_dir_writes_every_file_and_rewrites_in_place(tmp_path: Path) -> None:
    certs = tmp_path / "node" / "certs.d"
    write_hosts_dir(certs, URL)
    written = {str(path.relative_to(certs)): path.read_text() for path in certs.rglob("*") if path.is_file()}
    assert written == hosts_tree(URL)
    write_hosts_dir(certs, "http://127.0.0.1:5001")
    assert tomllib.loads((certs / "_default" / "hosts.toml").read_text())["server"] == "http://127.0.0.1:5001"
    assert list(certs.rglob("*.partial")) == []

"""Peer URLs (etcd's --listen-peer-urls form) and PeerTLS's checks of its files."""

from __future__ import annotations

from pathlib import Path

import pytest

from componentbase.errors import TLSFileError
from etcd_raft.transport import PeerTLS, PeerURL, parse_peer_url, parse_peer_urls


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("https://127.0.0.1:2380", PeerURL("https://127.0.0.1:2380", "127.0.0.1:2380", True)),
        ("http://localhost:2380/", PeerURL("http://localhost:2380/", "localhost:2380", False)),
        ("https://[::1]:2380", PeerURL("https://[::1]:2380", "[::1]:2380", True)),
    ],
)
def test_peer_urls_parse(url: str, parsed: PeerURL) -> None:
    assert parse_peer_url(url) == parsed


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:2380",
        "https://127.0.0.1",
        "unix://etcd.sock",
        "https://u:p@host:1",
        "http://h:1/path",
        "http://h:x",
    ],
)
def test_bad_peer_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="invalid peer URL"):
        parse_peer_url(url)


def test_a_lone_url_is_one_url_and_none_is_an_error() -> None:
    assert len(parse_peer_urls("http://a:1")) == 1
    with pytest.raises(ValueError, match="no peer URLs"):
        parse_peer_urls([])


def test_peer_tls_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TLSFileError, match=r"peer\.crt"):
        PeerTLS(str(tmp_path / "peer.crt"), str(tmp_path / "peer.key"), "").check()
    with pytest.raises(TLSFileError, match="trusted CA"):
        PeerTLS("a", "b", "", client_cert_auth=True).check()

"""kplane-etcd reads etcd's flags and ETCD_* variables and derives etcd's member and cluster IDs."""

import pytest

from componentbase.errors import FlagError
from etcd_raft.server.config import load, member_id

SEED_FLAGS = [
    "--name=m1",
    "--data-dir=/var/lib/etcd",
    "--listen-client-urls=https://127.0.0.1:2379",
    "--advertise-client-urls=https://127.0.0.1:2379",
    "--listen-peer-urls=https://127.0.0.1:2380",
    "--initial-advertise-peer-urls=https://127.0.0.1:2380",
    "--initial-cluster=m1=https://127.0.0.1:2380",
    "--cert-file=/pki/etcd/server.crt",
    "--key-file=/pki/etcd/server.key",
    "--trusted-ca-file=/pki/etcd/ca.crt",
    "--client-cert-auth",
    "--peer-cert-file=/pki/etcd/peer.crt",
    "--peer-key-file=/pki/etcd/peer.key",
    "--peer-trusted-ca-file=/pki/etcd/ca.crt",
    "--peer-client-cert-auth",
]


def test_ids_are_the_ones_real_etcd_derives() -> None:
    # Read off Debian's etcd 3.4 started with these peer URLs and token (`etcdctl member list -w json`).
    config = load(
        [
            "--name=m1",
            "--initial-advertise-peer-urls=http://127.0.0.1:23800",
            "--initial-cluster=m1=http://127.0.0.1:23800",
            "--initial-cluster-token=tok1",
        ],
        env={},
    )
    assert config.member_id == 7101852577860610209
    assert config.cluster_id == 15982699985640266139


def test_seed_style_flags_load() -> None:
    config = load(SEED_FLAGS, env={})
    assert config.client_cert_auth and config.cert_file == "/pki/etcd/server.crt"
    assert config.election_ticks == 10
    assert config.quota_bytes == 2 * 1024**3


def test_environment_variables_work_like_etcd() -> None:
    config = load(
        [],
        env={"ETCD_NAME": "a", "ETCD_INITIAL_CLUSTER": "a=http://localhost:2380", "ETCD_DATA_DIR": "/data"},
    )
    assert config.name == "a" and str(config.data_dir) == "/data"


def test_default_data_dir_is_named_after_the_member() -> None:
    assert str(load([], env={}).data_dir) == "default.etcd"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--name=x"], "no member named 'x'"),
        (["--initial-cluster=default=http://localhost:9999"], "peer URLs"),
        (["--initial-cluster=nonsense"], "not name=peer-url"),
        (["--listen-client-urls=ftp://x"], "not a URL"),
        (["--listen-client-urls=https://127.0.0.1:2379"], "--cert-file"),
        (["--election-timeout=200"], "at least 5 times"),
        (["--listen-peer-urls=https://127.0.0.1:2380"], "--peer-cert-file"),
        (["--auto-compaction-retention=soon"], "--auto-compaction-retention"),
    ],
    ids=[
        "unknown name",
        "url mismatch",
        "malformed cluster",
        "bad scheme",
        "tls without cert",
        "timeouts",
        "peer tls",
        "retention",
    ],
)
def test_bad_configuration_is_one_clear_error(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError, match=message):
        load(argv, env={})


def test_member_id_ignores_url_order() -> None:
    assert member_id(["http://b:2380", "http://a:2380"], "t") == member_id(
        ["http://a:2380", "http://b:2380"], "t"
    )

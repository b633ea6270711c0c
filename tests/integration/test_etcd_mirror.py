"""`etcdctl make-mirror` both ways between kplane-etcd and Debian's real etcd 3.4: the migration path
for a user who outgrows kplane-etcd (or comes from etcd)."""

import base64
import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers.etcd_member import Member

from pki import PkiSpec, init_pki

pytestmark = pytest.mark.integration

REAL_ETCD = ("/usr/bin/etcd",)


def mirror(source: Member, destination: Member, prefix: str) -> subprocess.Popen[str]:
    pki = source.pki
    command = [
        "etcdctl",
        f"--endpoints={source.endpoint}",
        f"--cacert={pki}/etcd/ca.crt",
        f"--cert={pki}/apiserver-etcd-client.crt",
        f"--key={pki}/apiserver-etcd-client.key",
        "make-mirror",
        f"--prefix={prefix}",
        f"--dest-cacert={pki}/etcd/ca.crt",
        f"--dest-cert={pki}/apiserver-etcd-client.crt",
        f"--dest-key={pki}/apiserver-etcd-client.key",
        destination.endpoint,
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "ETCDCTL_API": "3"},
    )


def wait_for_keys(member: Member, prefix: str, expected: dict[str, str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        found = member.json("get", prefix, "--prefix")
        pairs = {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode()
            for kv in found.get("kvs", [])
        }
        if pairs == expected:
            return
        assert time.monotonic() < deadline, f"mirror has {pairs}, expected {expected}"
        time.sleep(0.2)


@pytest.mark.parametrize("direction", ["kplane-to-etcd", "etcd-to-kplane"])
def test_make_mirror_copies_a_prefix_and_follows_new_writes(tmp_path: Path, direction: str) -> None:
    pki = tmp_path / "pki"
    init_pki(pki, PkiSpec())
    kplane = Member(pki, tmp_path / "kplane" / "data", name="kplane")
    real = Member(pki, tmp_path / "etcd" / "data", name="etcd", command=REAL_ETCD)
    for member in (kplane, real):
        member.data_dir.parent.mkdir(parents=True)
    source, destination = (kplane, real) if direction == "kplane-to-etcd" else (real, kplane)
    copier = None
    try:
        kplane.start()
        real.start()
        expected = {f"/registry/pods/p{i}": f"v{i}" for i in range(5)}
        for key, value in expected.items():
            source.etcdctl("put", key, value)
        source.etcdctl("put", "/elsewhere", "not mirrored")
        copier = mirror(source, destination, "/registry/")
        wait_for_keys(destination, "/registry/", expected)
        source.etcdctl("put", "/registry/pods/late", "watched")  # after the copy: through the watch
        wait_for_keys(destination, "/registry/", {**expected, "/registry/pods/late": "watched"})
        assert destination.etcdctl("get", "/elsewhere").stdout == ""
    finally:
        if copier is not None:
            copier.kill()
            copier.wait()
        kplane.stop()
        real.stop()

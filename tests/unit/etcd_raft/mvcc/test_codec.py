"""The on-disk bytes are etcd's: revision keys, mvccpb.KeyValue wire encoding, crc32c."""

from __future__ import annotations

import random

import pytest

from etcd_raft.mvcc import KeyValue, prefix_end
from etcd_raft.mvcc.codec import (
    CorruptValueError,
    bytes_to_rev,
    decode_key,
    decode_kv,
    encode_kv,
    encode_tombstone,
    is_tombstone,
    rev_key,
    rev_to_bytes,
    tombstone_rev_bytes,
)
from etcd_raft.mvcc.hash import Crc32c, crc32c


def test_revision_bytes_are_etcds_layout() -> None:
    assert rev_to_bytes(1, 2) == b"\x00" * 7 + b"\x01_" + b"\x00" * 7 + b"\x02"
    assert tombstone_rev_bytes(1, 2) == rev_to_bytes(1, 2) + b"t"
    assert is_tombstone(tombstone_rev_bytes(5, 0)) and not is_tombstone(rev_to_bytes(5, 0))
    assert bytes_to_rev(tombstone_rev_bytes(7, 3)) == (7, 3)
    assert rev_key((9 << 32) | 4) == rev_to_bytes(9, 4)
    assert rev_key((9 << 32) | 4, tombstone=True) == tombstone_rev_bytes(9, 4)


def test_revision_bytes_sort_like_revisions() -> None:
    rng = random.Random(1)
    revs = [(rng.randrange(1 << 40), rng.randrange(1 << 20)) for _ in range(500)]
    assert sorted(revs) == [bytes_to_rev(b) for b in sorted(rev_to_bytes(m, s) for m, s in revs)]
    # a tombstone sorts between its own revision and the next sub revision
    assert rev_to_bytes(3, 1) < tombstone_rev_bytes(3, 1) < rev_to_bytes(3, 2)


def test_key_value_encoding_matches_gogoproto() -> None:
    # bytes as etcd's kv.Marshal() writes them: fields in order, zero values omitted
    data = encode_kv(b"foo", 2, 3, 1, b"bar", 0)
    assert data == b"\x0a\x03foo\x10\x02\x18\x03\x20\x01\x2a\x03bar"
    assert encode_tombstone(b"foo") == b"\x0a\x03foo"
    assert encode_kv(b"k", 300, 300, 1, b"", 0) == b"\x0a\x01k\x10\xac\x02\x18\xac\x02\x20\x01"


@pytest.mark.parametrize(
    "kv",
    [
        KeyValue(b"k", 1, 1, 1, b"v", 0),
        KeyValue(b"key" * 100, 2**40, 2**41, 77, b"\x00" * 70000, 0x7FFF_FFFF_FFFF_FFFF),
        KeyValue(b"neg-lease", 5, 6, 2, b"v", -5),
        KeyValue(b"empty-value", 129, 16384, 2097152, b"", 1),
    ],
)
def test_key_value_round_trip(kv: KeyValue) -> None:
    data = encode_kv(kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.value, kv.lease)
    assert decode_kv(data) == kv
    assert decode_key(data) == kv.key


def test_tombstone_value_decodes_to_key_only() -> None:
    assert decode_kv(encode_tombstone(b"gone")) == KeyValue(b"gone")


@pytest.mark.parametrize("data", [b"\x0a\x05ab", b"\x0a", b"\x08\x01", b"\x18\x80"])
def test_damaged_values_are_reported(data: bytes) -> None:
    with pytest.raises(CorruptValueError):
        decode_kv(data)


def test_crc32c_known_vectors() -> None:
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"\x00" * 32) == 0x8A9136AA  # RFC 3720 B.4
    assert crc32c(bytes(range(32))) == 0x46DD794E


def test_crc32c_incremental_equals_one_shot() -> None:
    rng = random.Random(2)
    data = rng.randbytes(5000)
    h = Crc32c()
    pos = 0
    while pos < len(data):
        n = rng.randrange(1, 300)
        h.update(data[pos : pos + n])
        pos += n
    assert h.value == crc32c(data)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [(b"/registry/", b"/registry0"), (b"a\xff", b"b"), (b"\xff\xff", b"\0"), (b"", b"\0")],
)
def test_prefix_end(prefix: bytes, end: bytes) -> None:
    assert prefix_end(prefix) == end


def test_stored_values_are_what_protobuf_serializes() -> None:
    """Byte-identical to the generated mvccpb.KeyValue, so a server may copy stored values into
    responses verbatim, and etcd tools read our values."""
    from etcd_raft.api.mvccpb import kv_pb2

    rng = random.Random(3)
    for _ in range(200):
        kv = KeyValue(
            key=rng.randbytes(rng.randrange(1, 40)),
            create_revision=rng.choice([0, 1, 127, 128, rng.randrange(1 << 50)]),
            mod_revision=rng.choice([0, 300, rng.randrange(1 << 63)]),
            version=rng.choice([0, 1, 16384]),
            value=rng.randbytes(rng.choice([0, 1, 200])),
            lease=rng.choice([0, 1, -1, rng.randrange(-(1 << 63), 1 << 63)]),
        )
        pb = kv_pb2.KeyValue(
            key=kv.key,
            create_revision=kv.create_revision,
            mod_revision=kv.mod_revision,
            version=kv.version,
            value=kv.value,
            lease=kv.lease,
        ).SerializeToString()
        assert encode_kv(kv.key, kv.create_revision, kv.mod_revision, kv.version, kv.value, kv.lease) == pb
        assert decode_kv(pb) == kv

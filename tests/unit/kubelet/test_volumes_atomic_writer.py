"""The AtomicWriter: ..data swaps, user-visible symlinks, modes, and no torn reads."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubelet.volumes.atomic_writer import AtomicWriter, FileProjection, PayloadError, validate_path

NOW = datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)


def writer(path: Path) -> AtomicWriter:
    path.mkdir(exist_ok=True)
    return AtomicWriter(path, now=lambda: NOW)


def files(**content: str) -> dict[str, FileProjection]:
    return {key.replace("__", "/"): FileProjection(value.encode(), 0o644) for key, value in content.items()}


def ts_dirs(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name.startswith("..2"))


def test_first_write_makes_the_timestamped_dir_the_data_link_and_user_visible_links(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    assert writer(volume).write(files(a="1", b="2")) is True

    [ts] = ts_dirs(volume)
    assert ts.startswith("..2026_01_02_15_04_05.")
    assert os.readlink(volume / "..data") == ts
    assert os.readlink(volume / "a") == "..data/a"
    assert (volume / "a").read_text() == "1"
    assert (volume / "b").read_text() == "2"
    assert sorted(p.name for p in volume.iterdir()) == sorted(["..data", ts, "a", "b"])


def test_an_unchanged_payload_writes_nothing(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    writer(volume).write(files(a="1"))
    before = ts_dirs(volume)
    assert writer(volume).write(files(a="1")) is False
    assert ts_dirs(volume) == before


def test_a_content_change_swaps_data_and_removes_the_old_dir(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    writer(volume).write(files(a="1"))
    [old] = ts_dirs(volume)
    assert writer(volume).write(files(a="2")) is True
    [new] = ts_dirs(volume)
    assert new != old
    assert os.readlink(volume / "..data") == new
    assert (volume / "a").read_text() == "2"


def test_keys_that_go_away_lose_their_links_and_new_ones_get_links(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    writer(volume).write(files(a="1", b="2", d__e="3"))
    writer(volume).write(files(b="2", c="3"))
    assert not (volume / "a").is_symlink()
    assert not (volume / "d").is_symlink()
    assert (volume / "c").read_text() == "3"
    assert sorted(p.name for p in volume.iterdir() if not p.name.startswith("..")) == ["b", "c"]


def test_nested_paths_are_linked_at_their_top_directory(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    writer(volume).write(files(conf__app__settings="x", conf__other="y"))
    assert os.readlink(volume / "conf") == "..data/conf"
    assert (volume / "conf" / "app" / "settings").read_text() == "x"
    assert (volume / "conf" / "other").read_text() == "y"


def test_modes_are_applied_exactly_and_a_mode_change_rewrites(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    old_umask = os.umask(0o077)
    try:
        writer(volume).write({"secret": FileProjection(b"s", 0o400), "open": FileProjection(b"o", 0o666)})
    finally:
        os.umask(old_umask)
    assert (volume / "secret").stat().st_mode & 0o7777 == 0o400
    assert (volume / "open").stat().st_mode & 0o7777 == 0o666
    assert writer(volume).write({"secret": FileProjection(b"s", 0o440), "open": FileProjection(b"o", 0o666)})
    assert (volume / "secret").stat().st_mode & 0o7777 == 0o440


def test_an_empty_payload_still_makes_data(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    assert writer(volume).write({}) is True
    assert (volume / "..data").is_symlink()
    assert writer(volume).write({}) is False


def test_a_missing_link_is_restored_without_a_rewrite(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    writer(volume).write(files(a="1"))
    (volume / "a").unlink()
    assert writer(volume).write(files(a="1")) is False
    assert (volume / "a").read_text() == "1"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", 'invalid path: must not be empty: ""'),
        ("/etc/passwd", "invalid path: must be relative path: /etc/passwd"),
        ("a/../../b", "invalid path: must not contain '..': a/../../b"),
        ("..data", "invalid path: must not start with '..': ..data"),
        ("..", "invalid path: must not contain '..': .."),
        ("x" * 256, "invalid path: filenames must be less than or equal to 255 characters"),
    ],
)
def test_paths_that_could_escape_or_clash_are_refused(path: str, message: str) -> None:
    with pytest.raises(PayloadError) as error:
        validate_path(path)
    assert str(error.value) == message


def test_a_refused_payload_leaves_the_volume_as_it_was(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    writer(volume).write(files(a="1"))
    before = sorted(p.name for p in volume.iterdir())
    with pytest.raises(PayloadError):
        writer(volume).write({"../escape": FileProjection(b"x", 0o644)})
    assert sorted(p.name for p in volume.iterdir()) == before
    assert not (tmp_path / "escape").exists()


def test_readers_never_see_a_half_written_set_of_files(tmp_path: Path) -> None:
    """Two files always change together; a reader going through ..data sees one generation."""
    volume = tmp_path / "vol"
    payload = lambda n: {  # noqa: E731
        "a": FileProjection(str(n).encode() * 5000, 0o644),
        "b": FileProjection(str(n).encode() * 5000, 0o644),
    }
    writer(volume).write(payload(0))
    stop = threading.Event()
    torn: list[str] = []
    reads = 0

    def read() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                data_dir = volume / os.readlink(volume / "..data")
                a, b = (data_dir / "a").read_bytes(), (data_dir / "b").read_bytes()
            except FileNotFoundError:
                continue  # the generation was removed between readlink and open: read again
            reads += 1
            if a != b or len(set(a)) != 1:
                torn.append(f"{a[:5]!r} vs {b[:5]!r}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(1, 60):
            writer(volume).write(payload(n % 10))
            # Through the user-visible names: each file is always complete.
            content = (volume / "a").read_bytes()
            assert len(content) == 5000 and len(set(content)) == 1
    finally:
        stop.set()
        reader.join()
    assert reads > 0
    assert torn == []


def test_generations_a_crash_left_behind_are_removed_on_the_next_write(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    writer(volume).write(files(a="1"))
    stray = volume / "..2025_12_31_23_59_59.123456"
    stray.mkdir()
    (stray / "a").write_text("half")
    (volume / "..keep-me-not-a-generation").mkdir()
    writer(volume).write(files(a="2"))
    assert not stray.exists()
    assert (volume / "..keep-me-not-a-generation").exists()
    assert len(ts_dirs(volume)) == 1

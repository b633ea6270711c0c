"""Which images the image GC removes, as upstream's realImageGCManager chooses them."""

from __future__ import annotations

from kubelet.image_gc import ImageRecord, bytes_to_free, images_to_remove

MB = 2**20


def test_nothing_is_freed_under_the_high_threshold() -> None:
    assert bytes_to_free(100 * MB, 20 * MB, high_percent=85, low_percent=80) == 0


def test_above_the_high_threshold_usage_goes_down_to_the_low_one() -> None:
    assert bytes_to_free(100 * MB, 10 * MB, high_percent=85, low_percent=80) == 10 * MB


def test_least_recently_used_unused_images_go_first_until_enough_is_freed() -> None:
    images = [
        ImageRecord("old", 5 * MB, first_seen=0, last_used=10),
        ImageRecord("older", 5 * MB, first_seen=0, last_used=5),
        ImageRecord("newest", 5 * MB, first_seen=0, last_used=50),
        ImageRecord("running", 50 * MB, first_seen=0, last_used=0),
    ]
    chosen = images_to_remove(images, {"running"}, now=1000, needed=8 * MB, min_age=120)
    assert [i.id for i in chosen] == ["older", "old"]


def test_pinned_and_young_images_stay() -> None:
    images = [
        ImageRecord("pause", 1 * MB, first_seen=0, last_used=0, pinned=True),
        ImageRecord("fresh", 9 * MB, first_seen=950, last_used=0),
        ImageRecord("stale", 2 * MB, first_seen=0, last_used=0),
    ]
    chosen = images_to_remove(images, set(), now=1000, needed=100 * MB, min_age=120)
    assert [i.id for i in chosen] == ["stale"]


def test_images_unused_past_the_maximum_age_go_even_without_disk_pressure() -> None:
    images = [
        ImageRecord("ancient", MB, first_seen=0, last_used=100),
        ImageRecord("recent", MB, first_seen=0, last_used=900),
    ]
    chosen = images_to_remove(images, set(), now=1000, needed=0, min_age=0, max_age=600)
    assert [i.id for i in chosen] == ["ancient"]

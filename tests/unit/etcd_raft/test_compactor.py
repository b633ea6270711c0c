"""Auto-compaction decisions, with time as an input."""

from etcd_raft.server.compactor import AutoCompactor, retention_seconds


def test_retention_is_hours_or_a_duration() -> None:
    assert retention_seconds("1") == 3600
    assert retention_seconds("30m") == 1800
    assert retention_seconds("0") == 0


def test_periodic_keeps_one_window_of_history() -> None:
    compactor = AutoCompactor("periodic", "100s")
    assert compactor.observe(0.0, 10) is None  # nothing is a window old yet
    assert compactor.observe(50.0, 60) is None
    assert compactor.observe(100.0, 90) == 10  # the revision seen a window ago
    assert compactor.observe(105.0, 95) is None  # looks again only after window / 10
    assert compactor.observe(150.0, 120) == 60


def test_revision_mode_keeps_the_last_n_revisions() -> None:
    compactor = AutoCompactor("revision", "1000")
    assert compactor.observe(0.0, 500) is None
    assert compactor.observe(300.0, 5000) == 4000
    assert compactor.observe(310.0, 9000) is None  # every five minutes
    assert compactor.observe(600.0, 9000) == 8000


def test_zero_retention_disables_it() -> None:
    assert AutoCompactor("periodic", "0").observe(1e9, 100) is None
    assert AutoCompactor("revision", "0").observe(1e9, 100) is None

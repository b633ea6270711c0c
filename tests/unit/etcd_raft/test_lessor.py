"""The lessor is pure: grants and attachments come from applied entries, expiry from the leader's clock."""

import pytest

from etcd_raft.server.lessor import LeaseExistsError, LeaseNotFoundError, Lessor


def test_a_follower_never_expires_leases() -> None:
    lessor = Lessor()
    lessor.grant(1, ttl=5, now=0.0)
    assert lessor.expired(now=1e9) == []
    assert lessor.lookup(1).remaining(now=10.0) == -1


def test_the_leader_expires_leases_after_their_ttl_oldest_first() -> None:
    lessor = Lessor()
    lessor.promote(now=0.0, extend=0.0)
    lessor.grant(7, ttl=10, now=0.0)
    lessor.grant(3, ttl=5, now=0.0)
    assert lessor.expired(now=4.9) == []
    assert lessor.expired(now=10.0) == [3, 7]


def test_keep_alive_restarts_the_clock() -> None:
    lessor = Lessor()
    lessor.promote(now=0.0, extend=0.0)
    lessor.grant(1, ttl=5, now=0.0)
    assert lessor.renew(1, now=4.0) == 5
    assert lessor.expired(now=8.0) == []
    assert lessor.lookup(1).remaining(now=8.0) == 1


def test_a_new_leader_gives_every_lease_a_fresh_ttl_plus_the_election_timeout() -> None:
    lessor = Lessor()
    lessor.grant(1, ttl=5, now=0.0)
    lessor.promote(now=100.0, extend=1.0)
    assert lessor.expired(now=105.5) == []
    assert lessor.expired(now=106.0) == [1]
    lessor.demote()
    assert lessor.expired(now=1e9) == []


def test_ttl_below_the_minimum_is_raised() -> None:
    assert Lessor(min_ttl=2).grant(1, ttl=1, now=0.0).ttl == 2


def test_revoke_forgets_the_lease() -> None:
    lessor = Lessor()
    lessor.grant(1, ttl=5, now=0.0)
    lessor.revoke(1)
    with pytest.raises(LeaseNotFoundError):
        lessor.revoke(1)
    with pytest.raises(LeaseNotFoundError):
        lessor.lookup(1)


def test_granting_an_existing_id_fails() -> None:
    lessor = Lessor()
    lessor.grant(1, ttl=5, now=0.0)
    with pytest.raises(LeaseExistsError):
        lessor.grant(1, ttl=5, now=0.0)

"""Lockout: both back ends lock after max_failures, expire by the clock, and clear on success."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from exchange.config import Sftp
from exchange.errors import ConfigError
from exchange.sftp.lockout import DatabaseLockout, LockoutPolicy, MemoryLockout
from exchange.store.models import Account

POLICY = LockoutPolicy(max_failures=3, lockout_minutes=15)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["memory", "database"])
def lockout_and_clock(request, db):  # type: ignore[no-untyped-def]
    clock = Clock()
    if request.param == "memory":
        return MemoryLockout(POLICY, clock), clock
    return DatabaseLockout(db, POLICY, clock), clock


def wrong(lockout, login: str):  # type: ignore[no-untyped-def]
    """One wrong password: counted when it starts, judged when its check ends."""
    return lockout.begin(login) or lockout.failed(login)


def test_account_locks_after_max_failures_and_unlocks_after_the_period(lockout_and_clock) -> None:  # type: ignore[no-untyped-def]
    lockout, clock = lockout_and_clock
    assert wrong(lockout, "1001") is None and wrong(lockout, "1001") is None
    until = wrong(lockout, "1001")
    assert until == clock.now + timedelta(minutes=15)
    assert lockout.locked_until("1001") == until
    assert lockout.locked_until("1002") is None
    clock.now += timedelta(minutes=14, seconds=59)
    assert lockout.locked_until("1001") == until
    clock.now += timedelta(seconds=1)
    assert lockout.locked_until("1001") is None
    # The count starts again from zero after the lock ran out.
    assert wrong(lockout, "1001") is None


def test_success_clears_the_count(lockout_and_clock) -> None:  # type: ignore[no-untyped-def]
    lockout, _ = lockout_and_clock
    wrong(lockout, "1001")
    wrong(lockout, "1001")
    assert lockout.succeeded("1001") is True
    assert wrong(lockout, "1001") is None and wrong(lockout, "1001") is None


def test_database_lock_is_seen_by_another_node(db) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    node_a, node_b = DatabaseLockout(db, POLICY, clock), DatabaseLockout(db, POLICY, clock)
    wrong(node_a, "1001")
    wrong(node_b, "1001")
    assert wrong(node_a, "1001") is not None
    assert node_b.locked_until("1001") == clock.now + timedelta(minutes=15)
    with db.session() as s:
        account = s.get(Account, "1001")
        assert account.failures == 3 and account.locked_until == clock.now + timedelta(minutes=15)


def test_database_lockout_ignores_unknown_logins(db) -> None:  # type: ignore[no-untyped-def]
    lockout = DatabaseLockout(db, POLICY, Clock())
    for _ in range(5):
        assert wrong(lockout, "nobody") is None
    assert lockout.locked_until("nobody") is None


def test_policy_refuses_inconsistent_values_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"\[sftp\]\.max_failures"):
        LockoutPolicy(0, 15).validate()
    with pytest.raises(ConfigError, match=r"\[sftp\]\.lockout_minutes"):
        LockoutPolicy(3, 0).validate()
    assert LockoutPolicy.from_settings(Sftp(max_failures=4)) == LockoutPolicy(4, 15)


def test_attempts_in_flight_count_so_no_more_than_the_limit_are_checked(lockout_and_clock) -> None:  # type: ignore[no-untyped-def]
    """Ten attempts started before any check ends: three may be checked, seven are refused at
    once and lock the account; a right password among the three cannot clear the count."""
    lockout, clock = lockout_and_clock
    started = [lockout.begin("1001") for _ in range(10)]
    assert started[:3] == [None, None, None]
    assert all(until == clock.now + timedelta(minutes=15) for until in started[3:])
    assert lockout.succeeded("1001") is False          # the right one, checked third
    assert lockout.failed("1001") == clock.now + timedelta(minutes=15)
    assert lockout.locked_until("1001") is not None
    assert lockout.begin("1002") is None                # another login is not concerned

"""Brute-force protection: after `max_failures` wrong passwords an account is locked for a while.

One protocol, two back ends (as SFTPGo's defender): `MemoryLockout` for a single process and
tests, `DatabaseLockout` on accounts.failures / accounts.locked_until so that every node sees the
same lock. Both take a clock so tests plant old timestamps instead of waiting.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Protocol

from sqlalchemy import or_, select, update

from exchange.config import Sftp
from exchange.errors import ConfigError
from exchange.store.db import Database
from exchange.store.models import Account

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lockout_minutes: int = 15

    @classmethod
    def from_settings(cls, sftp: Sftp) -> "LockoutPolicy":
        policy = cls(sftp.max_failures, sftp.lockout_minutes)
        policy.validate()
        return policy

    def validate(self) -> None:
        if self.max_failures < 1:
            raise ConfigError(f"[sftp].max_failures: must be at least 1, got {self.max_failures}")
        if self.lockout_minutes < 1:
            raise ConfigError(f"[sftp].lockout_minutes: must be at least 1, got {self.lockout_minutes}")

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)


class Lockout(Protocol):
    """Every password attempt is counted when it starts (`begin`), not when its check ends, so
    that attempts sent at once cannot all be checked: no more than max_failures per window."""

    def locked_until(self, login: str) -> datetime | None:
        """When the lock on `login` ends, or None when it may try now."""

    def begin(self, login: str) -> datetime | None:
        """Count one attempt before its password is checked. Returns the lock's end when the
        attempt may not be checked (locked, or max_failures attempts already counted)."""

    def failed(self, login: str) -> datetime | None:
        """The attempt's password was wrong; returns the lock's end when this locked it."""

    def succeeded(self, login: str) -> bool:
        """The password was right: clear the count, unless the account is locked meanwhile
        (more attempts than allowed were sent): then False, and the login is refused."""


class MemoryLockout:
    """Per-process counts; enough for one node and for tests."""

    def __init__(self, policy: LockoutPolicy, clock: Clock = _now) -> None:
        self.policy, self.clock = policy, clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def _current_lock(self, login: str) -> datetime | None:
        until = self._until.get(login)
        if until is not None and until <= self.clock():
            # The lock has run out: the account starts again with a clean count.
            del self._until[login]
            self._failures.pop(login, None)
            return None
        return until

    def locked_until(self, login: str) -> datetime | None:
        with self._lock:
            return self._current_lock(login)

    def begin(self, login: str) -> datetime | None:
        with self._lock:
            until = self._current_lock(login)
            if until is not None:
                return until
            count = self._failures.get(login, 0) + 1
            self._failures[login] = count
            if count > self.policy.max_failures:
                until = self._until[login] = self.clock() + self.policy.duration
                return until
            return None

    def failed(self, login: str) -> datetime | None:
        with self._lock:
            if self._failures.get(login, 0) < self.policy.max_failures:
                return None
            until = self._current_lock(login)
            if until is None:
                until = self._until[login] = self.clock() + self.policy.duration
            return until

    def succeeded(self, login: str) -> bool:
        with self._lock:
            if self._current_lock(login) is not None:
                return False
            self._failures.pop(login, None)
            return True


class DatabaseLockout:
    """Counts in the accounts table, so a lock set by one node holds on all of them.

    Each step is one UPDATE with its condition (failures = failures + 1 where not locked), so
    attempts on several nodes at once cannot lose a count nor all pass the limit. Logins
    without an account row are not counted: nothing to lock.
    """

    def __init__(self, db: Database, policy: LockoutPolicy, clock: Clock = _now) -> None:
        self.db, self.policy, self.clock = db, policy, clock

    @staticmethod
    def _unlocked(now: datetime):  # type: ignore[no-untyped-def]
        return or_(Account.locked_until.is_(None), Account.locked_until <= now)

    def _expire(self, s, login: str, now: datetime) -> None:  # type: ignore[no-untyped-def]
        s.execute(update(Account).where(Account.login == login, Account.locked_until <= now)
                  .values(failures=0, locked_until=None))

    def _lock(self, s, login: str, now: datetime) -> datetime | None:  # type: ignore[no-untyped-def]
        s.execute(update(Account).where(Account.login == login, self._unlocked(now))
                  .values(locked_until=now + self.policy.duration))
        return s.scalar(select(Account.locked_until).where(Account.login == login))

    def locked_until(self, login: str) -> datetime | None:
        now = self.clock()
        with self.db.session() as s:
            self._expire(s, login, now)
            return s.scalar(select(Account.locked_until).where(Account.login == login))

    def begin(self, login: str) -> datetime | None:
        now = self.clock()
        with self.db.session() as s:
            self._expire(s, login, now)
            counted = s.execute(update(Account)
                                .where(Account.login == login, Account.locked_until.is_(None))
                                .values(failures=Account.failures + 1))
            if not counted.rowcount:   # type: ignore[attr-defined]
                return s.scalar(select(Account.locked_until).where(Account.login == login))
            count = s.scalar(select(Account.failures).where(Account.login == login)) or 0
            if count > self.policy.max_failures:
                return self._lock(s, login, now)
            return None

    def failed(self, login: str) -> datetime | None:
        now = self.clock()
        with self.db.session() as s:
            count = s.scalar(select(Account.failures).where(Account.login == login))
            if count is None or count < self.policy.max_failures:
                return None
            return self._lock(s, login, now)

    def succeeded(self, login: str) -> bool:
        now = self.clock()
        with self.db.session() as s:
            self._expire(s, login, now)
            cleared = s.execute(update(Account)
                                .where(Account.login == login, Account.locked_until.is_(None))
                                .values(failures=0))
            if cleared.rowcount:   # type: ignore[attr-defined]
                return True
            return s.get(Account, login) is None


__all__ = ["Lockout", "LockoutPolicy", "MemoryLockout", "DatabaseLockout"]

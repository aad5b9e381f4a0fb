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

from sqlalchemy import update

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
    def locked_until(self, login: str) -> datetime | None:
        """When the lock on `login` ends, or None when it may try now."""

    def failed(self, login: str) -> datetime | None:
        """Count one wrong password; returns the lock's end when this failure locked it."""

    def succeeded(self, login: str) -> None:
        """A good login clears the count."""


class MemoryLockout:
    """Per-process counts; enough for one node and for tests."""

    def __init__(self, policy: LockoutPolicy, clock: Clock = _now) -> None:
        self.policy, self.clock = policy, clock
        self._failures: dict[str, int] = {}
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def locked_until(self, login: str) -> datetime | None:
        with self._lock:
            until = self._until.get(login)
            if until is None:
                return None
            if until <= self.clock():
                # The lock has run out: the account starts again with a clean count.
                del self._until[login]
                self._failures.pop(login, None)
                return None
            return until

    def failed(self, login: str) -> datetime | None:
        with self._lock:
            count = self._failures.get(login, 0) + 1
            self._failures[login] = count
            if count >= self.policy.max_failures:
                until = self.clock() + self.policy.duration
                self._until[login] = until
                return until
            return None

    def succeeded(self, login: str) -> None:
        with self._lock:
            self._failures.pop(login, None)
            self._until.pop(login, None)


class DatabaseLockout:
    """Counts in the accounts table, so a lock set by one node holds on all of them.

    The increment is one UPDATE (failures = failures + 1), so two nodes counting at once
    cannot lose a failure. Logins without an account row are not counted: nothing to lock.
    """

    def __init__(self, db: Database, policy: LockoutPolicy, clock: Clock = _now) -> None:
        self.db, self.policy, self.clock = db, policy, clock

    def locked_until(self, login: str) -> datetime | None:
        with self.db.session() as s:
            account = s.get(Account, login)
            if account is None or account.locked_until is None:
                return None
            if account.locked_until <= self.clock():
                account.locked_until = None
                account.failures = 0
                return None
            return account.locked_until

    def failed(self, login: str) -> datetime | None:
        with self.db.session() as s:
            s.execute(update(Account).where(Account.login == login)
                      .values(failures=Account.failures + 1))
            account = s.get(Account, login, populate_existing=True)
            if account is None or (account.failures or 0) < self.policy.max_failures:
                return None
            if account.locked_until is None or account.locked_until <= self.clock():
                account.locked_until = self.clock() + self.policy.duration
            return account.locked_until

    def succeeded(self, login: str) -> None:
        with self.db.session() as s:
            s.execute(update(Account).where(Account.login == login, Account.failures != 0)
                      .values(failures=0, locked_until=None))


__all__ = ["Lockout", "LockoutPolicy", "MemoryLockout", "DatabaseLockout"]

"""Who may log in: accounts table (argon2 password hash, OpenSSH public key lines) plus lockout."""
from __future__ import annotations

import base64
import binascii
import hmac
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import update

from exchange.accounts import (change_own_password, change_reason, hash_password, needs_rehash,
                               password_problem, sign_in_refused, verify_password)
from exchange.config import Accounts
from exchange.metrics import Metrics
from exchange.sftp.lockout import Lockout
from exchange.store.db import Database
from exchange.store.models import Account

log = logging.getLogger("exchange.sftp.auth")


@dataclass(frozen=True)
class Principal:
    """An authenticated login and the unit whose folders it sees."""
    login: str
    unit_code: str
    role: str
    # Set when the password was right but must be changed first ("must_change", "expired"):
    # such a principal gets no session until it has (issue 18.1).
    change: str | None = None


def key_blobs(lines: str | None) -> list[tuple[str, bytes]]:
    """(key type, raw blob) of each OpenSSH public key line; malformed lines are skipped."""
    found = []
    for line in (lines or "").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            found.append((parts[0], base64.b64decode(parts[1], validate=True)))
        except (binascii.Error, ValueError):
            log.warning("unit=- file=-: malformed public key line skipped")
    return found


class Authenticator:
    """Checks a password or a key for a login; wrong passwords count towards the lockout.

    Password checks are argon2 verifications of 19 MiB each: at most `max_checks` run at once on
    this node (the rest wait their turn), so a burst of logins costs CPU time, not memory.
    Unknown and locked logins pay for one verification too (of a decoy hash), so the clock does
    not tell which logins exist or are locked.
    """

    def __init__(self, db: Database, lockout: Lockout, *, max_checks: int = 2,
                 wait_seconds: float = 30.0, accounts: Accounts | None = None,
                 metrics: Metrics | None = None) -> None:
        self.db, self.lockout, self.metrics = db, lockout, metrics
        self.accounts = accounts or Accounts()
        self._checks = threading.BoundedSemaphore(max_checks)
        self.wait_seconds = wait_seconds
        self._decoy = hash_password("decoy-" + base64.b64encode(b"exchange").decode())

    def _account(self, login: str) -> Account | None:
        with self.db.session() as s:
            account = s.get(Account, login)
            if account is not None:
                s.expunge(account)
            return None if sign_in_refused(account) else account

    def _locked(self, login: str) -> bool:
        until = self.lockout.locked_until(login)
        if until is not None:
            log.warning("unit=%s file=-: login %s refused, locked until %s", login, login,
                        until.isoformat(timespec="seconds"))
            return True
        return False

    def verify(self, stored: str | None, password: str) -> bool:
        """One argon2 verification, waiting for a free slot; False when none came in time."""
        if not self._checks.acquire(timeout=self.wait_seconds):
            log.warning("unit=- file=-: password check not started within %.0f s: too many "
                        "logins at once", self.wait_seconds)
            return False
        try:
            return verify_password(stored or self._decoy, password) and stored is not None
        finally:
            self._checks.release()

    def password(self, login: str, password: str) -> Principal | None:
        account = self._account(login)
        if account is None:
            self.verify(None, password)
            log.warning("unit=- file=-: password login for unknown account %r refused", login[:64])
            return None
        until = self.lockout.begin(login)
        if until is not None:
            self.verify(None, password)
            log.warning("unit=%s file=-: login %s refused, locked until %s", account.unit_code,
                        login, until.isoformat(timespec="seconds"))
            return None
        if self.verify(account.password_hash, password):
            if not self.lockout.succeeded(login):
                log.warning("unit=%s file=-: right password for %s refused: the account was "
                            "locked by attempts sent meanwhile", account.unit_code, login)
                return None
            self._rehash(account, password)
            return Principal(account.login, account.unit_code, account.role,
                             change_reason(account, self.accounts))
        until = self.lockout.failed(login)
        if until is not None:
            if self.metrics is not None:
                self.metrics.sftp_locked()
            log.warning("unit=%s file=-: wrong password for %s; account locked until %s",
                        account.unit_code, login, until.isoformat(timespec="seconds"))
        else:
            log.warning("unit=%s file=-: wrong password for %s", account.unit_code, login)
        return None

    def _rehash(self, account: Account, password: str) -> None:
        """A hash made with older argon2 parameters is replaced at its owner's login."""
        if not account.password_hash or not needs_rehash(account.password_hash):
            return
        with self.db.session() as s:
            s.execute(update(Account).where(Account.login == account.login,
                                            Account.password_hash == account.password_hash)
                      .values(password_hash=hash_password(password)))
        log.info("unit=%s file=-: password hash of %s renewed with today's parameters",
                 account.unit_code, account.login)

    def public_key(self, login: str, blob: bytes) -> Principal | None:
        """Whether `blob` is one of the login's keys. A key not on file is not a failure:
        clients offer every key they hold before the right one."""
        account = self._account(login)
        if account is None or self._locked(login):
            return None
        # The blob names its own key type, so comparing blobs compares types too.
        for _type, stored_blob in key_blobs(account.public_keys):
            if hmac.compare_digest(stored_blob, blob):
                return Principal(account.login, account.unit_code, account.role)
        return None

    def change_password(self, principal: Principal, current: str, new: str,
                        again: str) -> str | None:
        """The unit's own new password, after its current one was checked: None when stored,
        else what is wrong with it (a key of messages.PASSWORD_WORDS)."""
        account = self._account(principal.login)
        if account is None:
            return "mismatch"
        problem = password_problem(self.accounts, account, current, new, again)
        if problem is not None:
            log.info("unit=%s file=-: new password for %s refused: %s", account.unit_code,
                     account.login, problem)
            return problem
        with self.db.session() as s:
            change_own_password(s, account.login, new)
        log.info("unit=%s file=-: %s changed its password", account.unit_code, account.login)
        return None

    def accepted(self, login: str) -> None:
        """The session is open: clear the failure count (a key login never checked one)."""
        self.lockout.succeeded(login)


__all__ = ["Authenticator", "Principal", "key_blobs"]

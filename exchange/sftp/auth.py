"""Who may log in: accounts table (argon2 password hash, OpenSSH public key lines) plus lockout."""
from __future__ import annotations

import base64
import binascii
import hmac
import logging
from dataclasses import dataclass

from exchange.accounts import hash_password, sign_in_refused, verify_password
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
    """Checks a password or a key for a login; wrong passwords count towards the lockout."""

    def __init__(self, db: Database, lockout: Lockout, metrics: Metrics | None = None) -> None:
        self.db, self.lockout, self.metrics = db, lockout, metrics
        # Unknown logins still pay for one argon2 verification, so timing does not tell
        # which logins exist.
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

    def password(self, login: str, password: str) -> Principal | None:
        account = self._account(login)
        if account is None:
            verify_password(self._decoy, password)
            log.warning("unit=- file=-: password login for unknown account %r refused", login[:64])
            return None
        if self._locked(login):
            return None
        if verify_password(account.password_hash, password):
            self.lockout.succeeded(login)
            return Principal(account.login, account.unit_code, account.role)
        until = self.lockout.failed(login)
        if until is not None:
            if self.metrics is not None:
                self.metrics.sftp_locked()
            log.warning("unit=%s file=-: wrong password for %s; account locked until %s",
                        account.unit_code, login, until.isoformat(timespec="seconds"))
        else:
            log.warning("unit=%s file=-: wrong password for %s", account.unit_code, login)
        return None

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

    def accepted(self, login: str) -> None:
        """The session is open: clear the failure count (a key login never checked one)."""
        self.lockout.succeeded(login)


__all__ = ["Authenticator", "Principal", "key_blobs"]

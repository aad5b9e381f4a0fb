"""Units and their logins: folders, slow salted password hashes (argon2), public keys."""
from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from exchange.config import CENTRE, Instance
from exchange.errors import ExchangeError
from exchange.store import queries as Q
from exchange.store.models import Account, Unit

OUTBOX_PARTS = ("receipts", "errors", "rosters", "results", "templates", "reports", "notices")
CENTRE_PARTS = ("batches", "reports", "receipts")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def make_folders(instance: Instance, code: str) -> None:
    instance.unit_inbox(code).mkdir(parents=True, exist_ok=True)
    parts = CENTRE_PARTS if code == CENTRE else OUTBOX_PARTS
    for part in parts:
        instance.unit_outbox(code, part).mkdir(parents=True, exist_ok=True)


def read_key(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    if not text.startswith(("ssh-", "ecdsa-")):
        raise ExchangeError(f"{path}: not an OpenSSH public key line")
    return text


def add_unit(instance: Instance, s: Session, code: str, name: str, *, unit_type: str | None = None,
             password: str | None = None, key: str | None = None) -> Unit:
    """Create (or rename) a unit, its folders and its login named after the unit code."""
    if not code or "/" in code or code.startswith((".", "_")) or code != code.strip():
        raise ExchangeError(f"invalid unit code {code!r}")
    unit = s.get(Unit, code)
    if unit is None:
        unit = Unit(code=code, name=name, unit_type=unit_type, arrears=0)
        s.add(unit)
    else:
        unit.name = name
        if unit_type:
            unit.unit_type = unit_type
    set_login(s, code, code, password=password, key=key, role="unit")
    Q.audit(s, "operator", "unit.add", detail=code)
    make_folders(instance, code)
    return unit


def set_login(s: Session, login: str, unit_code: str, *, password: str | None, key: str | None,
              role: str, scope: str | None = None) -> Account:
    account = s.get(Account, login)
    if account is None:
        account = Account(login=login, unit_code=unit_code, role=role, scope=scope, failures=0)
        s.add(account)
    if password:
        account.password_hash = hash_password(password)
        account.failures = 0
        account.locked_until = None
    if key:
        keys = [k for k in (account.public_keys or "").splitlines() if k.strip()]
        if key not in keys:
            keys.append(key)
        account.public_keys = "\n".join(keys)
    return account

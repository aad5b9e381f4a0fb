"""Units and their logins: folders, slow salted password hashes (argon2), public keys."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from exchange.config import CENTRE, Accounts, Instance
from exchange.errors import ExchangeError
from exchange.store import queries as Q
from exchange.store.models import Account, Unit

OUTBOX_PARTS = ("receipts", "errors", "rosters", "results", "templates", "reports", "notices")
SUB_OUTBOX_PARTS = ("receipts", "errors", "templates")    # what a school's sub-account is sent
CENTRE_PARTS = ("batches", "photos", "reports", "receipts")
# OWASP's password-storage advice for argon2id: m=19 MiB, t=2, p=1. argon2-cffi's default
# (64 MiB, p=4) let a burst of logins take gigabytes; hashes made with other parameters are
# rehashed at the owner's next successful login (needs_rehash).
HASH_TIME_COST, HASH_MEMORY_KIB, HASH_PARALLELISM = 2, 19 * 1024, 1
_hasher = PasswordHasher(time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB,
                         parallelism=HASH_PARALLELISM)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def needs_rehash(stored: str) -> bool:
    """Whether a verified hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


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
    if password is None and key is None and s.get(Account, code) is None:
        give_initial_password(s, set_login(s, code, code, password=None, key=None, role="unit"),
                              instance.settings.accounts)
    else:
        set_login(s, code, code, password=password, key=key, role="unit")
    Q.audit(s, "operator", "unit.add", detail=code)
    make_folders(instance, code)
    return unit


def set_login(s: Session, login: str, unit_code: str, *, password: str | None, key: str | None,
              role: str, scope: str | None = None, must_change: bool = False) -> Account:
    account = s.get(Account, login)
    if account is None:
        account = Account(login=login, unit_code=unit_code, role=role, scope=scope, failures=0)
        s.add(account)
    if password:
        account.password_hash = hash_password(password)
        account.failures = 0
        account.locked_until = None
        account.password_set_at = datetime.now().replace(microsecond=0)
        account.must_change = must_change
    if key:
        keys = [k for k in (account.public_keys or "").splitlines() if k.strip()]
        if key not in keys:
            keys.append(key)
        account.public_keys = "\n".join(keys)
    return account


# ---- Sub-accounts of a school (issue 4) ---------------------------------------------------------
# Changchun: school admin > department (系) > class (班级). The school's own login (role "unit")
# declares for every class; a department account for the classes it groups; a class account for
# its class. A sub-account's files go to inbox/<school>/@<login>/ (exchange.intake.subaccounts).
SUB_ROLES = ("department", "class")
# The initial password the Changchun system gives new accounts and restores on 密码还原; the
# clerk is told to change it at first use. Stored, like any password, as an argon2 hash.
DEFAULT_PASSWORD = "123456"
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,63}$")
_CLASS = re.compile(r"^[^,\s/\\]{1,32}$")


def parse_classes(text: str | Iterable[str]) -> list[str]:
    """Class codes from "2024-01,2024-02" (or a list), in order, without repeats."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if not _CLASS.match(part):
            raise ExchangeError(f"invalid class code {part!r} (no commas, spaces or slashes)")
        if part not in out:
            out.append(part)
    return out


def scope_of(account: Account) -> frozenset[str] | None:
    """The classes an account may declare for; None: the whole unit."""
    if account.role not in SUB_ROLES:
        return None
    return frozenset(c for c in (account.scope or "").split(",") if c)


def scope_of_login(s: Session, unit: str, login: str, *, strict: bool = False) -> frozenset[str] | None:
    """The classes `login` may declare for in `unit`.

    None (the whole unit) for the unit's own login and for names that are no account (an
    operator); with `strict` (the login came from an inbox folder name) an unknown login, or one
    of another unit, may declare for nothing.
    """
    account = s.get(Account, login)
    if account is None or account.unit_code != unit:
        return frozenset() if strict or account is not None else None
    return scope_of(account)


def add_sub_account(instance: Instance, s: Session, unit_code: str, login: str, *, role: str,
                    classes: Iterable[str], password: str | None = None, key: str | None = None
                    ) -> tuple[Account, bool]:
    """Create or update a department or class login of a school, and its inbox folder.

    Returns the account and whether it was given the default password (no password nor key).
    """
    if role not in SUB_ROLES:
        raise ExchangeError(f"role must be one of {', '.join(SUB_ROLES)}, not {role!r}")
    if not _LOGIN.match(login):
        raise ExchangeError(f"invalid login {login!r}: letters, digits, '.', '-'; up to 64")
    if s.get(Unit, unit_code) is None:
        raise ExchangeError(f"no unit {unit_code!r} (exchange units add first)")
    codes = parse_classes(classes)
    if not codes:
        raise ExchangeError("a sub-account needs at least one class (--classes)")
    if role == "class" and len(codes) > 1:
        raise ExchangeError("a class account holds one class; use --role department for several")
    if s.get(Unit, login) is not None:
        raise ExchangeError(f"login {login!r} is a unit code")
    existing = s.get(Account, login)
    if existing is not None and (existing.unit_code != unit_code or existing.role not in SUB_ROLES):
        raise ExchangeError(f"login {login!r} belongs to {existing.unit_code} ({existing.role})")
    defaulted = existing is None and not password and not key
    account = set_login(s, login, unit_code, password=password or (DEFAULT_PASSWORD if defaulted else None),
                        key=key, role=role, scope=",".join(codes), must_change=defaulted)
    account.role, account.scope = role, ",".join(codes)
    Q.audit(s, "operator", "login.sub_account", detail=f"{unit_code}/{login} {role} {account.scope}")
    make_sub_account_folders(instance, unit_code, login)
    return account, defaulted


def make_sub_account_folders(instance: Instance, unit_code: str, login: str) -> None:
    from exchange.intake.subaccounts import sub_account_inbox, sub_account_outbox

    sub_account_inbox(instance, unit_code, login).mkdir(parents=True, exist_ok=True)
    for part in SUB_OUTBOX_PARTS:
        sub_account_outbox(instance, unit_code, login, part).mkdir(parents=True, exist_ok=True)


def reset_password(s: Session, login: str, password: str | None = None,
                   settings: Accounts | None = None) -> bool:
    """Set a login's password (密码还原: to the initial password of [accounts] when none is
    given) and unlock it; either must be changed at the next login. Returns whether the
    initial password was used.
    """
    account = s.get(Account, login)
    if account is None:
        raise ExchangeError(f"no login {login!r}")
    if password:
        set_login(s, login, account.unit_code, password=password, key=None, role=account.role,
                  scope=account.scope, must_change=True)
    else:
        give_initial_password(s, account, settings or Accounts())
    Q.audit(s, "operator", "login.reset_password", detail=login)
    return not password


# ---- Passwords a unit sets itself (issue 18.1) ---------------------------------------------------
# The initial (or reset) password must be changed at the next login, over SSH keyboard-interactive
# (exchange.sftp.server); [accounts] decides the initial password, the expiry and the rules.
def initial_password(settings: Accounts, login: str) -> str:
    """The initial password of `login`: [accounts].default_password, or with "last6" the
    login's last six characters (a unit's login is its code: Nanping's rule)."""
    if settings.default_password == "last6":
        return login[-6:]
    return settings.default_password


def give_initial_password(s: Session, account: Account, settings: Accounts) -> str:
    """Set the initial password, to be changed at the next login; lifts a lockout."""
    password = initial_password(settings, account.login)
    set_login(s, account.login, account.unit_code, password=password, key=None, role=account.role,
              scope=account.scope, must_change=True)
    return password


def change_reason(account: Account, settings: Accounts, now: datetime | None = None) -> str | None:
    """Why the password must be changed before any file is touched: "must_change" (initial
    or reset), "expired" ([accounts].password_expiry_days), or None."""
    if account.must_change:
        return "must_change"
    days = settings.password_expiry_days
    if days and account.password_set_at is not None:
        if account.password_set_at + timedelta(days=days) <= (now or datetime.now()):
            return "expired"
    return None


def password_problem(settings: Accounts, account: Account, current: str, new: str,
                     again: str) -> str | None:
    """What is wrong with a unit's own new password (a key of messages.PASSWORD_WORDS)."""
    if new != again:
        return "mismatch"
    if new == current:
        return "same"
    if new in (initial_password(settings, account.login), DEFAULT_PASSWORD):
        return "is_default"
    if len(new) < settings.min_password_length:
        return "too_short"
    if new.casefold() in (account.login.casefold(), account.unit_code.casefold()):
        return "is_login"
    return None


def change_own_password(s: Session, login: str, new: str) -> None:
    """The unit chose its password: stored, no longer to be changed, counted from now."""
    account = s.get(Account, login)
    if account is None:
        raise ExchangeError(f"no login {login!r}")
    set_login(s, login, account.unit_code, password=new, key=None, role=account.role,
              scope=account.scope, must_change=False)
    Q.audit(s, login, "login.password_changed", detail=login)

"""Units and their logins: folders, slow salted password hashes (argon2), public keys."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.config import CENTRE, Accounts, Instance
from exchange.errors import ExchangeError
from exchange.store import queries as Q
from exchange.store.models import Account, Unit

OUTBOX_PARTS = ("receipts", "errors", "rosters", "results", "templates", "reports", "notices",
                "status")
SUB_OUTBOX_PARTS = ("receipts", "errors", "templates", "results", "status")  # what a school's sub-account is sent
CENTRE_PARTS = ("batches", "photos", "reports", "receipts")
# OWASP's password-storage advice for argon2id: m=19 MiB, t=2, p=1. argon2-cffi's default
# (64 MiB, p=4) let a burst of logins take gigabytes; hashes made with other parameters are
# rehashed at the owner's next successful login (needs_rehash).
HASH_TIME_COST, HASH_MEMORY_KIB, HASH_PARALLELISM = 2, 19 * 1024, 1
_hasher = PasswordHasher(time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB,
                         parallelism=HASH_PARALLELISM)
log = logging.getLogger("exchange.accounts")


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


# A unit code names the unit's folders (inbox/<code>/, outbox/<code>/) and its login: ASCII
# letters and digits, "-" and "_" inside, nothing a path or a shell could read otherwise.
UNIT_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,31}")
RESERVED_CODES = frozenset({CENTRE.casefold()})


def unit_code_problem(code: str | None) -> str | None:
    """Why `code` cannot be a unit code (a key of messages.PHRASES), or None when it can."""
    if code and code.casefold() in RESERVED_CODES:
        return "unit_code_reserved"
    return None if code and UNIT_CODE.fullmatch(code) else "unit_code_form"


def case_twin(s: Session, code: str) -> str | None:
    """A registered unit code that differs from `code` only by case (d1001 beside D1001)."""
    folded = code.casefold()
    for known in s.scalars(select(Unit.code).where(func.lower(Unit.code) == folded)):
        if known != code:
            return known
    return None


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
    if unit_code_problem(code):
        raise ExchangeError(f"invalid unit code {code!r}: letters, digits, '-' and '_' "
                            "(not first), at most 32")
    twin = case_twin(s, code)
    if twin is not None:
        raise ExchangeError(f"invalid unit code {code!r}: unit {twin} exists (codes differing "
                            "only by case would be two folders for one unit)")
    if not name.strip():
        raise ExchangeError(f"unit {code}: the name must not be empty")
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
    instance.changed((code,))                 # its status workbooks from the start (issue 16)
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


# What separates the classes of a list as clerks type it: commas (full-width too), 、, semicolons,
# spaces and line breaks (Alt+Enter in a cell).
CLASS_SEPARATORS = r"[,，、;；\s]+"


def parse_classes(text: str | Iterable[str]) -> list[str]:
    """Class codes from "2024-01,2024-02" (or 2024-01、2024-02, or a list), in order, without
    repeats."""
    parts = re.split(CLASS_SEPARATORS, text) if isinstance(text, str) else list(text)
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
    """The classes an account may declare for; None: the whole unit. A deleted (注销) account
    may declare for nothing."""
    if account.role not in SUB_ROLES:
        return None
    if is_deleted(account):
        return frozenset()
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
                    classes: Iterable[str], password: str | None = None, key: str | None = None,
                    actor: str = "operator") -> tuple[Account, bool]:
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
    if existing is not None and is_deleted(existing):
        raise ExchangeError(f"login {login!r} was deleted; a deleted login name is never given again")
    defaulted = existing is None and not password and not key
    account = set_login(s, login, unit_code, password=password or (DEFAULT_PASSWORD if defaulted else None),
                        key=key, role=role, scope=",".join(codes), must_change=defaulted)
    account.role, account.scope = role, ",".join(codes)
    Q.audit(s, actor, "login.sub_account", detail=f"{unit_code}/{login} {role} {account.scope}")
    make_sub_account_folders(instance, unit_code, login)
    instance.changed((unit_code,))            # its own status workbooks (issue 16)
    return account, defaulted


def make_sub_account_folders(instance: Instance, unit_code: str, login: str) -> None:
    from exchange.work import sub_account_inbox, sub_account_outbox

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
    if is_deleted(account):
        raise ExchangeError(f"login {login!r} was deleted")
    if password:
        set_login(s, login, account.unit_code, password=password, key=None, role=account.role,
                  scope=account.scope, must_change=True)
    else:
        give_initial_password(s, account, settings or Accounts())
    Q.audit(s, "operator", "login.reset_password", detail=login)
    return not password


def senders(s: Session, unit_code: str, serials: list[int]) -> dict[int, str]:
    """serial -> the sub-account login that declared it, for those of `serials` a department or
    class login of the unit imported (the audit's import row names who declared)."""
    from sqlalchemy import select

    from exchange.store.models import AuditEntry

    if not serials:
        return {}
    subs = set(s.scalars(select(Account.login).where(Account.unit_code == unit_code,
                                                     Account.role.in_(SUB_ROLES))))
    if not subs:
        return {}
    out: dict[int, str] = {}
    for i in range(0, len(serials), 900):
        for serial, actor in s.execute(select(AuditEntry.serial, AuditEntry.actor).where(
                AuditEntry.action == "import", AuditEntry.serial.in_(serials[i:i + 900]))):
            if actor in subs and serial is not None:
                out[serial] = actor
    return out


# ---- Sub-accounts a school runs itself (issue 18) ------------------------------------------------
# Changchun 用户管理: a school's admin (its own login) creates department and class users, edits
# them, restores their password and 注销 them; a department or class login does the same at its
# level or below, within its classes. A deleted login stays as a tombstone: its name is never
# given again, and it can no longer sign in ("本系已被删除" for a department).
ROLE_RANK = {"unit": 0, "department": 1, "class": 2}
LOGIN_PATTERN = _LOGIN
DELETED = "deleted"


def is_deleted(account: Account) -> bool:
    return account.status == DELETED


def login_refusal(account: Account) -> str | None:
    """Why `account` may not sign in (a key of exchange.messages.LOGIN_REFUSALS), or None."""
    if is_deleted(account):
        return "department_deleted" if account.role == "department" else "account_deleted"
    return None


def sign_in_refused(account: Account | None) -> bool:
    """For the SFTP authentication: whether `account` is refused before any credential is
    checked (a deleted sub-account), logged with the reason a clerk is told."""
    from exchange.messages import LOGIN_REFUSALS

    reason = login_refusal(account) if account is not None else None
    if reason is None or account is None:
        return False
    log.warning("unit=%s file=-: login %s refused: %s (%s)", account.unit_code, account.login,
                reason, LOGIN_REFUSALS[reason])
    return True


def manages(actor: Any, role: str, classes: Iterable[str]) -> bool:
    """Whether `actor` (None or the school's own login: the school admin) may keep an account of
    `role` over `classes`: at its own level or below, and within its classes."""
    if actor is None or actor.role not in SUB_ROLES:
        return True
    if ROLE_RANK.get(role, 0) < ROLE_RANK[actor.role]:
        return False
    scope = scope_of(actor) or frozenset()
    return set(classes) <= scope


def remove_sub_account(s: Session, login: str, *, actor: str = "operator") -> Account:
    """注销 a department or class login: it can no longer sign in, and its name is never given
    again (the row stays). Its files already sent and their outputs stay."""
    account = s.get(Account, login)
    if account is None or account.role not in SUB_ROLES:
        raise ExchangeError(f"no sub-account {login!r}")
    if is_deleted(account):
        raise ExchangeError(f"login {login!r} was deleted already")
    account.status = DELETED
    account.deleted_at = datetime.now().replace(microsecond=0)
    account.password_hash = None
    account.public_keys = None
    Q.audit(s, actor, "login.delete", detail=f"{account.unit_code}/{login} {account.role}")
    return account


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

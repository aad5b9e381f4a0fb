"""What the 用户维护表's rule (account_rules in exchange.checks.columnar_rows: a school's
department and class users, kept by the school's admin, or by a department or class login at its
level or below) knows: the accounts named in the chunk, the school's classes and the sender's own
account, loaded once per chunk into `AccountFacts` by exchange.account_book; and each row's
target (`target_of`), which the hook records and notes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange.checks.context import CheckContext


@dataclass(frozen=True)
class AccountView:
    """What the rules know of a login (duck-typed like store.models.Account for accounts.py)."""
    login: str
    unit_code: str
    role: str
    scope: str | None
    status: str

    @property
    def classes(self) -> list[str]:
        return [c for c in (self.scope or "").split(",") if c]


@dataclass
class AccountFacts:
    accounts: dict[str, AccountView] = field(default_factory=dict)   # logins named in the chunk
    unit_codes: frozenset[str] = frozenset()                         # of those, unit codes
    classes: frozenset[str] = frozenset()                            # the school's classes
    departments: dict[str, list[str]] = field(default_factory=dict)  # 院系 -> its listed classes
    actor: AccountView | None = None                                 # the sender, if a sub-account
    repeats: dict[int, int] = field(default_factory=dict)            # row -> earlier row naming the login


@dataclass
class AccountContext(CheckContext):
    facts: AccountFacts = field(default_factory=AccountFacts)


@dataclass(frozen=True)
class Target:
    """The account a row asks for: operation, role and classes once blanks are filled in."""
    operation: str
    login: str
    role: str | None
    classes: tuple[str, ...]
    label: str | None
    existing: AccountView | None


def facts_of(ctx: CheckContext) -> AccountFacts:
    return ctx.facts if isinstance(ctx, AccountContext) else AccountFacts()


def target_of(values: dict[str, Any], ctx: CheckContext) -> Target | None:
    """The row's target, or None when its classes cannot be read (a finding says why)."""
    from exchange.accounts import parse_classes
    from exchange.errors import ExchangeError

    facts = facts_of(ctx)
    login = values.get("login") or ""
    existing = facts.accounts.get(login)
    label = values.get("label")
    try:
        classes = tuple(parse_classes(values.get("classes") or ""))
    except ExchangeError:
        return None
    role = values.get("role") or (existing.role if existing else None)
    if not classes and existing is not None:
        classes = tuple(existing.classes)
    if not classes and role == "department" and label:
        # Changchun 系维护: a department holds the classes listed under it (院系).
        classes = tuple(facts.departments.get(label, ()))
    return Target(values.get("operation") or "add", login, role, classes, label, existing)


__all__ = ["AccountContext", "AccountFacts", "AccountView", "Target", "target_of", "facts_of"]

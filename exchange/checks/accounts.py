"""Row rules of the 用户维护表 (user_maintenance): a school's department and class users, kept by
the school's admin, or by a department or class login at its level or below.

Pure like every check: the accounts named in the chunk, the school's classes and the sender's
own account are loaded once per chunk into `AccountFacts` by exchange.account_book.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange import codes as C
from exchange.checks.context import CheckContext
from exchange.checks.finding import Finding
from exchange.checks.rows import row_check


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


def _cell(row: int, ctx: CheckContext, field_name: str, code: str, **params: Any) -> Finding:
    col = ctx.kind.column(field_name) if ctx.kind.has(field_name) else None
    return Finding(row, code, col.header if col else None, field_name, params)


@row_check
def account_rules(row: int, values: dict[str, Any], ctx: CheckContext) -> list[Finding]:
    """新增 a login never used; 修改/密码还原/注销 an active sub-account of this school; a class
    user holds one known class; the sender keeps only users at its level or below."""
    from exchange.accounts import LOGIN_PATTERN, manages

    login = values.get("login")
    if not login:
        return []
    facts = facts_of(ctx)
    first = facts.repeats.get(row)
    if first:
        return [Finding(row, C.DUPLICATE_IN_FILE, params={"first_row": first})]
    if not LOGIN_PATTERN.match(login):
        return [_cell(row, ctx, "login", C.FORMAT_INVALID, value=login, expected="login")]
    target = target_of(values, ctx)
    if target is None:
        return [_cell(row, ctx, "classes", C.FORMAT_INVALID, value=values.get("classes"),
                      expected="class_code")]
    existing = target.existing
    operation_label = ctx.rules.tables["account_op"].label(target.operation)
    if target.operation == "add":
        if existing is not None or login in facts.unit_codes:
            why = ("login_is_unit" if existing is None else
                   "login_deleted" if existing.status == "deleted" else "login_in_use")
            return [_cell(row, ctx, "login", C.ACCOUNT_TAKEN, value=login, why=why)]
        out = []
        if not target.role:
            out.append(_cell(row, ctx, "role", C.REQUIRED))
        if not target.classes:
            out.append(_cell(row, ctx, "classes", C.REQUIRED))
        if out:
            return out
    elif existing is None or existing.unit_code != ctx.unit.code or existing.role not in ("department", "class"):
        return [_cell(row, ctx, "login", C.ACCOUNT_UNKNOWN, value=login, why="active",
                      operation=operation_label)]
    elif existing.status == "deleted":
        return [_cell(row, ctx, "login", C.ACCOUNT_UNKNOWN, value=login, why="deleted_before",
                      operation=operation_label)]
    out = []
    if target.role == "class" and len(target.classes) > 1:
        out.append(_cell(row, ctx, "classes", C.ACCOUNT_ONE_CLASS, count=len(target.classes),
                         value=",".join(target.classes)))
    unknown = [c for c in target.classes if c not in facts.classes]
    if unknown and target.operation in ("add", "edit"):
        out.append(_cell(row, ctx, "classes", C.CLASS_UNKNOWN, value="、".join(unknown)))
    actor = facts.actor
    allowed = "、".join(actor.classes if actor else ()) or "none"

    def beyond(role: str, classes: tuple[str, ...] | list[str]) -> str | None:
        if manages(actor, role, classes):
            return None
        return "beyond_role" if not manages(actor, role, ()) else "beyond_classes"

    if actor is not None and target.operation == "delete" and login == actor.login:
        out.append(_cell(row, ctx, "login", C.ACCOUNT_BEYOND, allowed=allowed, what="beyond_self"))
        return out
    refusal = beyond(existing.role, existing.classes) if existing is not None else None
    refusal = refusal or beyond(target.role or "class", target.classes)
    if refusal:
        out.append(_cell(row, ctx, "classes" if refusal == "beyond_classes" else "role",
                         C.ACCOUNT_BEYOND, allowed=allowed, what=refusal))
    return out


__all__ = ["AccountContext", "AccountFacts", "AccountView", "Target", "target_of", "facts_of"]

"""The 用户维护表's steps around the pipeline's own (kind user_maintenance, effect "accounts"):
facts loaded per chunk, and the accounts changed on import.

A school's admin (its own login) or a department or class login drops the workbook into its
inbox; each accepted row is recorded as a declaration already approved (业务流水号, audit: who
and when), never batched for review, and changes the accounts table in the same transaction by
the same functions the operator's CLI uses (exchange.accounts): 新增 add_sub_account (the
initial password), 修改 add_sub_account again (role, classes, name), 密码还原 reset_password,
注销 remove_sub_account. No password travels in the workbook, the declaration or the receipt.
"""
from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange import codes as C
from exchange.checks.accounts import AccountContext, AccountFacts, AccountView, target_of
from exchange.checks.context import CheckContext
from exchange.checks.finding import Finding
from exchange.config import Instance
from exchange.kinds.spec import KindSpec
from exchange.store.models import Account, Unit

ACCOUNTS = "accounts"
Rows = list[tuple[int, dict[str, Any]]]


def _view(a: Account) -> AccountView:
    return AccountView(a.login, a.unit_code, a.role, a.scope, a.status)


class AccountHooks:
    """One per file run: the sender, and the logins seen (a login once per file)."""

    def __init__(self, kind: KindSpec, instance: Instance | None, actor: str | None) -> None:
        self.kind, self.instance, self.actor = kind, instance, actor
        self.seen: dict[str, int] = {}

    def enrich(self, s: Session, ctx: CheckContext, rows: Rows) -> AccountContext:
        from exchange.classes import listed_classes
        from exchange.residents import unit_classes

        base = {f.name: getattr(ctx, f.name) for f in fields(CheckContext)}
        actx = AccountContext(**base, facts=AccountFacts())
        facts, unit = actx.facts, ctx.unit.code
        logins = sorted({v["login"] for _, v in rows if v.get("login")})
        if logins:
            facts.accounts = {a.login: _view(a) for a in s.scalars(
                select(Account).where(Account.login.in_(logins)))}
            facts.unit_codes = frozenset(s.scalars(select(Unit.code).where(Unit.code.in_(logins))))
        listed = listed_classes(s, unit)
        facts.classes = unit_classes(s, unit, listed)
        for record in listed.values():
            if record.department:
                facts.departments.setdefault(record.department, []).append(record.code)
        sender = s.get(Account, self.actor) if self.actor else None
        if sender is not None and sender.unit_code == unit and sender.role != "unit":
            facts.actor = _view(sender)
        for number, values in rows:
            login = values.get("login")
            if login:
                first = self.seen.setdefault(login, number)
                if first != number:
                    facts.repeats[number] = first
        # Editing and restoring a password again is new work, not a repeat of the last time.
        from exchange.store.imports import fingerprint

        for _, values in rows:
            if (values.get("operation") or "add") in ("edit", "reset"):
                actx.imported.pop(fingerprint(self.kind.kind, unit, values), None)
        return actx

    def complete(self, row: dict[str, Any], values: dict[str, Any], ctx: CheckContext) -> None:
        """Recorded approved at once, with the role and classes the row comes to."""
        target = target_of(values, ctx)
        row["status"] = "approved"
        row["decided_at"] = datetime.now().replace(microsecond=0)
        payload = row["payload"]
        payload["effective_on_import"] = True
        payload["operation"] = values.get("operation") or "add"
        if target is not None:
            payload["role"] = target.role
            payload["classes"] = list(target.classes)

    def notes(self, row: int, values: dict[str, Any], ctx: CheckContext) -> tuple[Finding, ...]:
        target = target_of(values, ctx)
        if target is None:
            return ()
        col = self.kind.column("login")
        tables = ctx.rules.tables
        return (Finding(row, C.NOTE_ACCOUNT_DONE, col.header, col.field, {
            "login": target.login, "operation": tables["account_op"].label(target.operation),
            "role": tables["account_role"].label(target.role or ""),
            "classes": "、".join(target.classes) or "none",
            "password": "password_initial" if target.operation in ("add", "reset") else ""}),)

    def imported(self, s: Session, rows: list[dict[str, Any]], serials: list[int]) -> None:
        """Change the accounts, as the operator's commands do, in the import's transaction."""
        from exchange.accounts import (add_sub_account, remove_sub_account, reset_password)
        from exchange.outputs.templates import write_sub_account_templates

        actor = self.actor or (rows[0]["unit_code"] if rows else "")
        for row in rows:
            p, unit = row["payload"], row["unit_code"]
            operation, login = p["operation"], p["login"]
            if operation == "reset":
                reset_password(s, login, settings=self.instance.settings.accounts if self.instance else None)
            elif operation == "delete":
                remove_sub_account(s, login, actor=actor)
            elif self.instance is not None:
                account, _ = add_sub_account(self.instance, s, unit, login, role=p["role"],
                                             classes=p["classes"], actor=actor)
                if p.get("label"):
                    account.label = p["label"]
                s.flush()
                school = s.get(Unit, unit)
                if school is not None:
                    write_sub_account_templates(self.instance, s, school, account)


__all__ = ["AccountHooks", "ACCOUNTS"]

"""A claimed file as the stages below intake receive it: which file (`Claim`) and who sent it
(`Sender`), decided once when intake claims it and passed down as data; and where a school's
sub-accounts send from and get their answers: inbox/<school>/@<login>/ and
outbox/<school>/@<login>/ (see exchange.intake.subaccounts for the convention).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from exchange.config import Instance

SUB_PREFIX = "@"        # inbox/<school>/@<login>/: a sub-account's folder


@dataclass(frozen=True)
class Sender:
    """Who sent a file, what it may declare for, and where its answers go."""
    unit: str                              # the unit's code
    outbox: Path                           # its receipts/ and errors/ (a sub-account's own)
    login: str | None = None               # a school's sub-account; None: the unit itself
    scope: frozenset[str] | None = None    # the classes it may declare for; None: every one

    @property
    def actor(self) -> str:
        """Who declares, in the audit: the login, else the unit."""
        return self.login or self.unit


@dataclass(frozen=True)
class Claim:
    file_id: int
    unit: str
    name: str
    work_path: Path
    received_at: datetime
    sender: Sender


def sender_of(instance: Instance, s: Session, unit: str, login: str | None) -> Sender:
    """Who sent a file claimed from inbox/<unit>/ (`login` None) or from a sub-account's folder
    inbox/<unit>/@<login>/: that login, held to its classes, answered in its own outbox.

    A login from a folder that is no sub-account of the unit gets an empty scope: every row
    fails with class.out_of_scope rather than being judged with the school's full rights.
    """
    if login is None:
        return Sender(unit, instance.unit_outbox(unit))
    from exchange.accounts import scope_of_login     # accounts makes these folders (a cycle)

    return Sender(unit, sub_account_outbox(instance, unit, login), login,
                  scope_of_login(s, unit, login, strict=True))


def acting_as(s: Session, sender: Sender, actor: str | None,
              scope: frozenset[str] | None) -> Sender:
    """`sender` as a caller that knows the login some other way names it: `actor` (held to its
    own classes unless `scope` is given) or `scope` alone. The answers still go to the outbox
    of the folder the file came from."""
    if scope is None and actor is not None:
        from exchange.accounts import scope_of_login

        scope = scope_of_login(s, sender.unit, actor, strict=False)
    elif scope is None:
        scope = sender.scope
    return replace(sender, login=actor or sender.login, scope=scope)


def sub_account_inbox(instance: Instance, unit: str, login: str) -> Path:
    return instance.unit_inbox(unit) / f"{SUB_PREFIX}{login}"


def sub_account_outbox(instance: Instance, unit: str, login: str, part: str = "") -> Path:
    folder = instance.unit_outbox(unit) / f"{SUB_PREFIX}{login}"
    return folder / part if part else folder

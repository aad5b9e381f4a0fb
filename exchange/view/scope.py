"""Who looks: a unit, or one of a school's department or class logins (its own outbox,
outbox/<school>/@<login>/, its classes only)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.config import Instance
from exchange.store.models import Account, Person, Unit

if TYPE_CHECKING:
    from exchange.view.refresh import ViewState

VIEW_PART = "status"          # outbox/<unit>/status/ (and outbox/<school>/@<login>/status/)


@dataclass(frozen=True)
class Viewer:
    unit: str
    unit_name: str
    unit_type: str | None
    login: str | None = None                 # a sub-account; None: the unit itself
    scope: frozenset[str] | None = None      # its classes; None: the whole unit
    next_step: str = ""                      # how its pending declarations are submitted

    @property
    def name(self) -> str:
        """Who it is, for a token or a log line: the unit, or unit@login."""
        return self.unit if self.login is None else f"{self.unit}@{self.login}"

    def outbox(self, instance: Instance) -> Path:
        from exchange.work import sub_account_outbox

        if self.login is None:
            return instance.unit_outbox(self.unit)
        return sub_account_outbox(instance, self.unit, self.login)

    def folder(self, instance: Instance) -> Path:
        return self.outbox(instance) / VIEW_PART

    def senders(self, s: Session, serials: list[int]) -> dict[int, str]:
        """serial -> the sub-account login that sent it (only looked up for a school)."""
        from exchange.accounts import senders

        return senders(s, self.unit, serials)

    def person_classes(self, s: Session) -> dict[str, str]:
        """ID -> class of the unit's persons that have one."""
        return {n: c or "" for n, c in s.execute(select(Person.id_number, Person.class_code).where(
            Person.unit_code == self.unit, Person.class_code.is_not(None)))}

    def sees(self, class_code: str | None, sender: str | None) -> bool:
        """Whether a declaration of `class_code`, sent by `sender`, is in this viewer's scope:
        a sub-account sees its classes' declarations and those it sent."""
        return self.scope is None or class_code in self.scope or (
            sender is not None and sender == self.login)


def class_of(payload: Mapping[str, Any], id_number: str | None, classes: Mapping[str, str]
             ) -> str | None:
    """The class a declaration concerns: the one it names (班级编号, a transfer's target), else
    the person's class on file."""
    return payload.get("class_code") or payload.get("target_class") or classes.get(id_number or "")


def viewer_of(instance: Instance, s: Session, unit: str, login: str | None = None
              ) -> Viewer | None:
    """The unit (or its live sub-account `login`) as a viewer; None when there is none."""
    from exchange.accounts import SUB_ROLES, is_deleted, scope_of

    u = s.get(Unit, unit)
    if u is None:
        return None
    scope = None
    if login is not None:
        account = s.get(Account, login)
        if account is None or account.unit_code != unit or account.role not in SUB_ROLES \
                or is_deleted(account):
            return None
        scope = scope_of(account)
    from exchange.view.confirm import submission_way

    state: ViewState = instance.view
    return Viewer(unit, u.name, u.unit_type, login, scope,
                  submission_way(instance, unit, times=state.submission_times(instance)))


def sub_accounts(s: Session, unit: str) -> list[str]:
    """The live department and class logins of a unit: each gets its own view."""
    from exchange.accounts import SUB_ROLES, DELETED

    return sorted(s.scalars(select(Account.login).where(
        Account.unit_code == unit, Account.role.in_(SUB_ROLES), Account.status != DELETED)))


__all__ = ["Viewer", "viewer_of", "sub_accounts", "class_of", "VIEW_PART"]

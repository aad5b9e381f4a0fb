"""What an approved declaration does to the records, by the kind's `effect` (rules/kinds/*.toml).

An effect runs inside the transaction that records the approval, so a decision and its effect
are committed together or not at all. It returns the values it replaced, which are kept in
Declaration.old_values beside the new ones in the payload.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from exchange.amounts.dues import add_months
from exchange.checks import ids
from exchange.kinds.spec import KindSpec
from exchange.store.models import ClosedPeriod, Declaration, Person, Unit

log = logging.getLogger("exchange.review")

INSURED, SUSPENDED, STOPPED = "1", "2", "3"     # rules/codes.toml [person_status]

# (session, declaration, kind, decided_at) -> replaced values (or None)
Effect = Callable[[Session, Declaration, KindSpec, datetime], "dict[str, Any] | None"]
EFFECTS: dict[str, Effect] = {}

# Person attributes a declaration may set directly; other fields go into Person.extra.
PERSON_COLUMNS = ("name", "sex", "birth_date", "staff_no", "household_head", "class_code",
                  "person_no")
EXTRA_FIELDS = ("ethnicity", "education", "post", "hukou", "phone", "address", "work_date")


def effect(name: str) -> Callable[[Effect], Effect]:
    """Register the function behind `effect = "<name>"` of a kind."""
    def register(fn: Effect) -> Effect:
        EFFECTS[name] = fn
        return fn
    return register


def apply_effect(s: Session, decl: Declaration, kind: KindSpec | None, decided_at: datetime) -> None:
    """Change the records as the approved declaration says; keep what was replaced."""
    if kind is None or not kind.effect:
        return
    fn = EFFECTS.get(kind.effect)
    if fn is None:
        log.warning("serial=%s kind=%s: no effect %r registered; approval recorded only",
                    decl.serial, decl.kind, kind.effect)
        return
    replaced = fn(s, decl, kind, decided_at)
    if replaced:
        # What the change replaced at approval time, which may differ from what import saw.
        decl.old_values = {**(decl.old_values or {}), **replaced}


def not_insured_here(s: Session, decl: Declaration, kind: KindSpec | None) -> dict[str, Any] | None:
    """Why the approval of `decl` may no longer change its person, or None when it may. A kind
    judged on the person being insured in the unit (its checks name `insured_here`: stops,
    wages, changes, suspensions, class transfers) is judged so again at decision time: master
    data loaded after the import may have moved the person to another unit, and approving a
    stale stop stopped him there. A row without an ID (a class stop) has no person to check."""
    if kind is None or "insured_here" not in kind.checks or not decl.id_number:
        return None
    person = _person(s, decl)
    if person is not None and person.unit_code == decl.unit_code and person.status == INSURED:
        return None
    moved = person is not None and person.unit_code != decl.unit_code
    return {"kind_label": kind.label, "unit": decl.unit_code, "name": decl.name or "",
            "id": decl.id_number, "missing": person is None,
            "other_unit": person.unit_code if moved and person is not None else "",
            "status": person.status if person is not None else ""}


def _person(s: Session, decl: Declaration) -> Person | None:
    return s.get(Person, decl.id_number) if decl.id_number else None


def _set_extra(person: Person, values: dict[str, Any]) -> dict[str, Any]:
    extra = dict(person.extra or {})
    old = {k: extra.get(k) for k in values}
    extra.update({k: v for k, v in values.items() if v not in (None, "")})
    person.extra = extra             # a new dict, so the JSON column is seen as changed
    return old


def _fill_identity(person: Person, decl: Declaration, p: dict[str, Any]) -> None:
    """Name, sex and birth date from the declaration, else the record, else the ID itself."""
    person.name = p.get("name") or person.name
    person.sex = p.get("sex") or person.sex or ids.from_id("sex", decl.id_number)
    person.birth_date = p.get("birth_date") or person.birth_date or ids.from_id("birth_date", decl.id_number)


def _insurances(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or None
    return str(value) if value else None


def _close_period(s: Session, person: Person, decl: Declaration, start: str) -> None:
    """Keep the period the record holds before a new one replaces it (参保历史), so that the unit
    it was at still owes its unpaid months: to its stop month, or (still insured there) to the
    month before the new start, never into the new period. A record insured nowhere (on file
    only, or its months unknown) has no period to keep."""
    if not person.unit_code:
        return
    end = person.stopped_after or (add_months(start, -1) if person.status == INSURED else None)
    if end is None:
        return
    end = min(end, add_months(start, -1))
    if person.insured_from and person.insured_from > end:
        return
    s.add(ClosedPeriod(id_number=person.id_number, unit_code=person.unit_code,
                       insured_from=person.insured_from, stopped_after=end, wage_base=person.wage_base,
                       insurances=person.insurances, last_paid_month=person.last_paid_month,
                       paid_months=dict(person.paid_months) if person.paid_months else None,
                       serial=decl.serial))


@effect("insure")
def insure(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime) -> dict[str, Any]:
    """职工增加: the person is insured in the unit from the change month at the declared wage."""
    p = dict(decl.payload or {})
    person = _person(s, decl)
    if person is None:
        person = Person(id_number=decl.id_number, name=p.get("name") or decl.name or "", arrears=0)
        s.add(person)
        old: dict[str, Any] = {}
    else:
        old = {"status": person.status, "unit_code": person.unit_code, "insurances": person.insurances,
               "insured_from": person.insured_from, "stopped_after": person.stopped_after,
               "wage_base": person.wage_base}
    start = p.get("change_month") or f"{decided_at:%Y%m}"
    _close_period(s, person, decl, start)
    _fill_identity(person, decl, p)
    person.unit_code = decl.unit_code
    person.status = INSURED
    person.insurances = _insurances(p.get("insurances")) or person.insurances
    person.insured_from = start
    person.stopped_after = None
    if p.get("wage") is not None:
        person.wage_base = int(p["wage"])
    _set_extra(person, {k: p.get(k) for k in EXTRA_FIELDS if p.get(k) not in (None, "")})
    return old


@effect("stop")
def stop(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime) -> dict[str, Any] | None:
    """职工减少: insured to the end of the declared month, stopped (终止) from the next."""
    person = _person(s, decl)
    if person is None:
        return None
    p = decl.payload or {}
    old = {"status": person.status, "stopped_after": person.stopped_after}
    person.status = STOPPED
    person.stopped_after = p.get("stop_after") or f"{decided_at:%Y%m}"
    _set_extra(person, {"stop_reason": p.get("reason")})
    return old


@effect("wage")
def wage(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime) -> dict[str, Any] | None:
    """缴费基数: the new wage base, from the declared start month."""
    person = _person(s, decl)
    p = decl.payload or {}
    if person is None or p.get("wage") is None:
        return None
    old = {"wage_base": person.wage_base, "wage_from": (person.extra or {}).get("wage_from")}
    person.wage_base = int(p["wage"])
    _set_extra(person, {"wage_from": p.get("start_month")})
    return old


@effect("person_change")
def person_change(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime
                  ) -> dict[str, Any] | None:
    """人员信息变更: the new values replace the old; the old ones are kept."""
    person = _person(s, decl)
    if person is None:
        return None
    p = decl.payload or {}
    old: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name in kind.change_fields:
        new = p.get(name)
        if new in (None, ""):
            continue
        if name in PERSON_COLUMNS:
            old[name] = getattr(person, name)
            setattr(person, name, new)
        else:
            extra[name] = new
    old.update(_set_extra(person, extra))
    return old


@effect("unit_change")
def unit_change(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime
                ) -> dict[str, Any] | None:
    """单位信息变更: the unit's address and contacts."""
    unit = s.get(Unit, decl.unit_code)
    if unit is None:
        return None
    p = decl.payload or {}
    old: dict[str, Any] = {}
    for name in kind.change_fields:
        new = p.get(name)
        if new in (None, "") or not hasattr(unit, name):
            continue
        old[name] = getattr(unit, name)
        setattr(unit, name, new)
    return old


@effect("resident_insure")
def resident_insure(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime
                    ) -> dict[str, Any]:
    """城乡居民参保: insured in the community or school from the month of approval."""
    p = dict(decl.payload or {})
    person = _person(s, decl)
    old: dict[str, Any] = {}
    if person is None:
        person = Person(id_number=decl.id_number, name=p.get("name") or decl.name or "", arrears=0)
        s.add(person)
    else:
        old = {"status": person.status, "unit_code": person.unit_code, "class_code": person.class_code,
               "insured_from": person.insured_from}
        _close_period(s, person, decl, f"{decided_at:%Y%m}")
    _fill_identity(person, decl, p)
    person.unit_code = decl.unit_code
    person.status = INSURED
    person.insurances = _insurances(p.get("insurances")) or person.insurances or "390"
    person.insured_from = f"{decided_at:%Y%m}"
    person.stopped_after = None
    person.household_head = p.get("household_head") or person.household_head
    person.class_code = p.get("class_code") or person.class_code
    _set_extra(person, {k: p.get(k) for k in ("ethnicity", "phone", "relation", "category",
                                               "family_planning", "enrolment") if p.get(k)})
    return old


@effect("suspend")
def suspend(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime
            ) -> dict[str, Any] | None:
    """城乡居民暂停参保: the person (or every student a class row lists) is suspended."""
    p = decl.payload or {}
    numbers = [decl.id_number] if decl.id_number else list(p.get("members") or [])
    old: dict[str, Any] = {}
    for number in numbers:
        person = s.get(Person, number)
        if person is None or person.unit_code != decl.unit_code:
            continue                # a pupil master data has since moved to another unit
        old[number] = person.status
        person.status = SUSPENDED
        person.stopped_after = p.get("stop_after") or f"{decided_at:%Y%m}"
    return {"status": old} if old else None


@effect("class_transfer")
def class_transfer(s: Session, decl: Declaration, kind: KindSpec, decided_at: datetime
                   ) -> dict[str, Any] | None:
    """学生转班: the student's class becomes the target class."""
    person = _person(s, decl)
    target = (decl.payload or {}).get("target_class")
    if person is None or not target:
        return None
    old = {"class_code": person.class_code}
    person.class_code = target
    return old


__all__ = ["EFFECTS", "apply_effect", "effect", "not_insured_here"]

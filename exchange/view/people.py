"""参保人员.xlsx: a unit's people on file, as 人员列表 / 单位参保人员查询 / 学校学生查询 exported them.

One row per person of the unit: status, insurances, wage base (employers), insured-from and
stopped months, last paid month, the arrears the centre loaded and those computed from the
rates (exchange.amounts). Schools add 班级编号 (a department or class login sees its classes
only); units that keep household registers add 户主 and a 户主列表 sheet with each head's 参保人数.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from exchange.config import Instance
from exchange.messages import VIEW_HEADERS as H, VIEW_NAMES, VIEW_SHEETS as S, VIEW_WORDS as W
from exchange.store.models import Household, Person
from exchange.view.scope import Viewer, viewer_of
from exchange.view.sheets import Column, book

INSURED = "1"
PERSON = (Column("person_no", 14, text=True), Column("id_number", 21, text=True),
          Column("name", 10), Column("sex", 6), Column("birth_date", 12, text=True),
          Column("status", 9), Column("insurances", 22))
EMPLOYER = (Column("wage_base", 10), Column("next_base", 18))
MONTHS = (Column("insured_from", 12, text=True), Column("stopped_after", 10, text=True),
          Column("last_paid_month", 12, text=True), Column("arrears_loaded", 14, money=True),
          Column("arrears_computed", 12, money=True))
SCHOOL = (Column("class_code", 12, text=True),)
HOUSEHOLD = (Column("head_id", 21, text=True), Column("head_name", 10))
HEADS = (Column("head_id", 21, text=True), Column("head_name", 10), Column("phone", 14, text=True),
         Column("members", 10))


def book_path(instance: Instance, viewer: Viewer) -> Path:
    return viewer.folder(instance) / VIEW_NAMES["people_book"]


def write(instance: Instance, s: Session, unit: str, login: str | None = None,
          today: date | None = None) -> Path | None:
    """Write the unit's (or its sub-account `login`'s) 参保人员.xlsx; None for no such unit."""
    viewer = viewer_of(instance, s, unit, login)
    if viewer is None:
        return None
    rules, tables = instance.rules, instance.rules.tables
    P = cast(Table, Person.__table__).c       # Core columns: rows without the ORM's loading
    q = select(P.person_no, P.id_number, P.name, P.sex, P.birth_date, P.status, P.insurances,
               P.wage_base, P.insured_from, P.stopped_after, P.last_paid_month, P.arrears,
               P.class_code, P.household_head).where(P.unit_code == unit)
    if viewer.scope is not None:
        q = q.where(P.class_code.in_(sorted(viewer.scope)))
    persons = s.execute(q.order_by(P.class_code, P.person_no, P.id_number)).all()
    computed = arrears_computed(instance, s, unit, today)
    month = f"{today or date.today():%Y%m}"
    from exchange.amounts.register import bases_in_force, shown_base

    bases = {} if rules.serves_residents(viewer.unit_type) else bases_in_force(rules, s, unit, month)
    keeps_households = rules.unit_type(viewer.unit_type) in rules.region.households
    heads = {h.head_id: h for h in s.scalars(select(Household).where(
        Household.unit_code == unit, Household.status == "active"))} if keeps_households else {}
    school = viewer.scope is not None or any(p.class_code for p in persons)
    columns = (*PERSON, *(() if rules.serves_residents(viewer.unit_type) else EMPLOYER), *MONTHS,
               *(SCHOOL if school else ()), *(HOUSEHOLD if keeps_households else ()))
    sex, status, insurance = tables["sex"], tables["person_status"], tables["insurance"]
    labels: dict[str | None, str] = {}

    def insurances(codes: str | None) -> str:
        text = labels.get(codes)
        if text is None:
            text = labels[codes] = "、".join(insurance.label(c) or c for c in (codes or "").split(",") if c)
        return text

    keys = [c.key for c in columns]
    zero = Decimal(0)

    def row(p: Any) -> list[Any]:
        head = heads.get(p.household_head) if heads and p.household_head else None
        base, later = shown_base(bases, p.id_number, p.wage_base)
        values = {"person_no": p.person_no, "id_number": p.id_number, "name": p.name,
                  "sex": sex.label(p.sex) if p.sex else None,
                  "birth_date": p.birth_date, "status": status.label(p.status) if p.status else None,
                  "insurances": insurances(p.insurances), "wage_base": base, "next_base": later,
                  "insured_from": p.insured_from, "stopped_after": p.stopped_after,
                  "last_paid_month": p.last_paid_month,
                  "arrears_loaded": p.arrears if p.arrears is not None else zero,
                  "arrears_computed": computed.get(p.id_number, zero),
                  "class_code": p.class_code, "head_id": p.household_head,
                  "head_name": head.name if head else None}
        return [values[k] for k in keys]

    now = datetime.now()
    target = book_path(instance, viewer)
    with book(target) as b:
        sh = b.sheet(S["people"])
        sh.line(W["people_title"].format(code=unit, name=viewer.unit_name,
                                         time=f"{now:%Y-%m-%d %H:%M}", count=len(persons)),
                look="title")
        if viewer.scope is not None:
            sh.line(W["scope"].format(login=viewer.login, classes="、".join(sorted(viewer.scope))))
        sh.table(columns, H, map(row, persons))
        if keeps_households:
            members = Counter(p.household_head for p in persons if p.status == INSURED)
            b.sheet(S["heads"]).table(HEADS, H, ([h.head_id, h.name, h.phone, members[h.head_id]]
                                                 for _, h in sorted(heads.items())))
    return target


def arrears_computed(instance: Instance, s: Session, unit: str, today: date | None = None
                     ) -> dict[str, Decimal]:
    """ID -> the arrears computed from the rates in force (exchange.amounts), for those who
    owe something; {} where the instance has no rates."""
    if instance.rules.rates is None:
        return {}
    from exchange.amounts.register import unit_dues

    return unit_dues(instance.rules, s, unit, today or date.today()).arrears_computed()


__all__ = ["write", "book_path", "arrears_computed"]

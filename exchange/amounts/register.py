"""Amounts due read from the database: a unit's dues (应缴信息) with paid-to months and arrears,
a declaration's amount (for rosters and the unit's 待提交清单), 登记情况 and 缴费统计 figures.

Arrears (how the loaded and the computed figures coexist): master data's 欠费金额 is the
centre's own figure and stays what the arrears rules (`arrears_block`) read. 计算欠费 is
computed here: the amounts due for the months after the person's 最大缴费月份 (paid-to month),
up to the report's month and at most `arrears_months` back (rates.toml), less the payments the
centre loaded for those months. Both are shown side by side; neither overwrites the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from exchange.amounts.dues import (CENT, INSURED, add_months, employee_dues, employee_dues_frame, fen,
                                   is_yes, months_between, resident_due, resident_dues_frame, yuan)
from exchange.amounts.master import rates_in_force
from exchange.amounts.rates import ZERO, Rates
from exchange.kinds.spec import RuleSet
from exchange.store.models import Declaration, Payment, Person

PERSON_COLUMNS = ("id_number", "person_no", "name", "unit_code", "status", "insurances",
                  "wage_base", "insured_from", "stopped_after", "last_paid_month", "class_code")


def rates_of(rules: RuleSet, s: Session) -> Rates:
    """The rates in force: rules/rates.toml with what the centre loaded."""
    assert rules.rates is not None
    return rates_in_force(rules.rates, s)


# The columns the amounts need (a register's totals): no names, numbers or order.
AMOUNT_COLUMNS = ("unit_code", "status", "insurances", "wage_base", "insured_from", "stopped_after")


def person_frame(s: Session, *, unit: str | None = None, where: Any = None,
                 columns: Sequence[str] = PERSON_COLUMNS, ordered: bool = True,
                 resident_insurance: str = "390") -> pd.DataFrame:
    """Persons as columns (no ORM objects): `columns`, and the resident category and 计生补助
    flag out of `extra` (read only for persons holding the resident insurance). Bases are whole
    yuan (nullable integers)."""
    from sqlalchemy import case

    resident = Person.insurances.like(f"%{resident_insurance}%")
    q = select(*(getattr(Person, c) for c in columns),
               case((resident, Person.extra["category"].as_string()), else_=None),
               case((resident, Person.extra["family_planning"].as_string()), else_=None))
    if unit is not None:
        q = q.where(Person.unit_code == unit)
    if where is not None:
        q = q.where(where)
    if ordered:
        q = q.order_by(Person.id_number)
    names = [*columns, "category", "family_planning"]
    if s.get_bind().dialect.name == "postgresql":
        frame = _copied(s, q, names)
    else:
        frame = pd.DataFrame.from_records(s.execute(q).all(), columns=names)
    frame["wage_base"] = frame["wage_base"].astype("Int64")
    return frame


def _copied(s: Session, q: Any, names: list[str]) -> pd.DataFrame:
    """A query's rows through COPY … TO STDOUT (CSV) on PostgreSQL: a register in a second or
    two, where fetching a million rows one by one takes many."""
    import io

    from exchange.store.bulk import _driver_cursor

    sql = str(q.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    buf = io.BytesIO()
    with _driver_cursor(s) as cur:
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for chunk in copy:
                buf.write(chunk)
    buf.seek(0)
    ints = {"wage_base"} & set(names)
    frame = pd.read_csv(buf, names=names, header=None, keep_default_na=False, na_values={
        n: [""] for n in names}, dtype={n: ("Int64" if n in ints else object) for n in names})
    return frame.astype({n: object for n in names if n not in ints}).where(frame.notna(), None)


def paid_by_person(s: Session, *, unit: str | None = None, ids: Sequence[str] | None = None
                   ) -> dict[str, list[tuple[str, Decimal]]]:
    """Payments loaded, per person: (month, amount) summed over insurances in Decimal (SQLite
    would sum its NUMERIC columns as floating point)."""
    q = select(Payment.id_number, Payment.month, Payment.amount).order_by(
        Payment.id_number, Payment.month)
    if unit is not None:
        q = q.where(Payment.id_number.in_(select(Person.id_number).where(Person.unit_code == unit)))
    sums: dict[tuple[str, str], Decimal] = {}
    for number, month, amount in s.execute(q):
        sums[(number, month)] = sums.get((number, month), ZERO) + Decimal(amount).quantize(CENT)
    out: dict[str, list[tuple[str, Decimal]]] = {}
    for (number, month), amount in sums.items():
        out.setdefault(number, []).append((month, amount))
    return out


# A unit's dues ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonDue:
    id_number: str
    person_no: str | None
    name: str
    scheme: str                        # employee | resident
    insurances: str
    base: int | None
    category: str | None
    person: Decimal                    # the month's (employee) or the year's (resident) due
    unit: Decimal
    paid_to: str | None                # 最大缴费月份
    arrears_loaded: Decimal            # 欠费金额 of master data
    due_unpaid: Decimal                # due for the months after paid_to (window)
    paid_unpaid: Decimal               # payments loaded for those months
    class_code: str | None = None
    paid_now: Decimal = ZERO           # paid for the month (year) shown: all of it when the
                                       # paid-to month covers it, else the payments loaded

    @property
    def total(self) -> Decimal:
        return self.person + self.unit

    @property
    def arrears_computed(self) -> Decimal:
        return self.due_unpaid - self.paid_unpaid


@dataclass(frozen=True)
class PeriodLine:
    """One row of 单位应缴信息: a month (or year) and insurance (or 人员类别)."""
    period: str
    insurance: str
    count: int
    person: Decimal
    unit: Decimal

    @property
    def total(self) -> Decimal:
        return self.person + self.unit


@dataclass
class UnitDues:
    unit: str
    month: str                         # the report's month (YYYYMM)
    year: int                          # the residents' year shown
    persons: list[PersonDue] = field(default_factory=list)
    lines: list[PeriodLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def money(d: Decimal) -> str:
            return f"{d:.2f}"
        return {"unit": self.unit, "month": self.month, "year": self.year,
                "lines": [{"period": x.period, "insurance": x.insurance, "count": x.count,
                           "person": money(x.person), "unit": money(x.unit), "total": money(x.total)}
                          for x in self.lines],
                "persons": [{"id_number": p.id_number, "name": p.name, "scheme": p.scheme,
                             "base": p.base, "category": p.category, "person": money(p.person),
                             "unit": money(p.unit), "total": money(p.total), "paid_to": p.paid_to,
                             "paid": money(p.paid_now),
                             "arrears_loaded": money(p.arrears_loaded),
                             "arrears_computed": money(p.arrears_computed)} for p in self.persons],
                "totals": {"persons": len(self.persons),
                           "due": money(sum((p.total for p in self.persons), ZERO)),
                           "arrears_loaded": money(sum((p.arrears_loaded for p in self.persons), ZERO)),
                           "arrears_computed": money(sum((p.arrears_computed for p in self.persons), ZERO))}}


def _window_start(rates: Rates, month: str, paid_to: str | None, insured_from: str | None) -> str:
    earliest = add_months(month, 1 - rates.arrears_months)
    start = add_months(paid_to, 1) if paid_to else (insured_from or month)
    return max(start, earliest, insured_from or "000000")


DUES_COLUMNS = ("id_number", "person_no", "name", "status", "insurances", "wage_base", "extra",
                "insured_from", "stopped_after", "last_paid_month", "arrears", "class_code")


def unit_dues(rules: RuleSet, s: Session, unit: str, as_of: date) -> UnitDues:
    """应缴信息 of a unit: per person the month's due (employees) or the year's (residents),
    paid-to month, loaded and computed arrears; per month and insurance the unit's sums over the
    months still unpaid. Residents one by one in Decimal; employees column-wise in whole fen
    (a unit of many thousands), Decimal at the edge."""
    rates = rates_of(rules, s)
    month = f"{as_of:%Y%m}"
    year = as_of.year
    result = UnitDues(unit, month, year)
    # The columns used, not Person objects: a unit of 50,000 loads in a third of the time.
    persons = s.execute(select(*(getattr(Person, c) for c in DUES_COLUMNS)).where(
        Person.unit_code == unit).order_by(Person.person_no, Person.id_number)).all()
    paid = paid_by_person(s, unit=unit)
    lines: dict[tuple[str, str], list[Any]] = {}
    employees: list[tuple[Any, str, Decimal]] = []         # with the window's start, paid in it
    starts: dict[tuple[str | None, str | None], str] = {}
    year_dues: dict[tuple[Any, bool, int], Any] = {}

    def resident(category: Any, family_planning: bool, y: int) -> Any:
        """resident_due, once per category, 计生 flag and year (a community's residents share them)."""
        key = (category, family_planning, y)
        if key not in year_dues:
            year_dues[key] = resident_due(rates, category, family_planning, y)
        return year_dues[key]

    for p in persons:
        extra = p.extra or {}
        owned = [x for x in (p.insurances or "").split(",") if x]
        last = p.stopped_after or ("999912" if p.status == INSURED else "000000")
        first = p.insured_from or "000000"
        payments = paid.get(p.id_number, [])
        if rates.resident_insurance in owned:
            if not (first[:4] <= str(year) <= last[:4]) and p.arrears == 0 and not payments:
                continue
            fp, cat = is_yes(extra.get("family_planning")), extra.get("category")
            this = resident(cat, fp, year) if first[:4] <= str(year) <= last[:4] else None
            since = _window_start(rates, f"{year}12", p.last_paid_month, p.insured_from)
            years = range(int(since[:4]), year + 1)
            unpaid = ZERO
            for y in years:
                if first[:4] <= str(y) <= last[:4]:
                    d = resident(cat, fp, y)
                    if d is not None:
                        unpaid += d.due
                        acc = lines.setdefault((str(y), d.category), [0, ZERO, ZERO])
                        acc[0] += 1
                        acc[1] += d.due
            got = sum((a for m, a in payments if str(years.start) <= m[:4] <= str(year)), ZERO)
            due_now = this.due if this else ZERO
            now_paid = due_now if (p.last_paid_month or "") >= f"{year}12" else \
                sum((a for m, a in payments if m[:4] == str(year)), ZERO)
            result.persons.append(PersonDue(
                p.id_number, p.person_no, p.name, "resident", p.insurances or "", None,
                this.category if this else (cat or rates.default_category),
                due_now, ZERO, p.last_paid_month, Decimal(p.arrears or 0),
                unpaid, got, p.class_code, now_paid))
            continue
        active = first <= month <= last
        if not active and p.arrears == 0 and not payments:
            continue
        since = starts.get((p.last_paid_month, p.insured_from))
        if since is None:        # most of a unit's staff share a paid-to and a start month
            since = starts[(p.last_paid_month, p.insured_from)] = _window_start(
                rates, month, p.last_paid_month, p.insured_from)
        window = since <= month and since <= last
        got = sum((a for m, a in payments if window and since <= m <= month), ZERO) if payments \
            else ZERO
        employees.append((p, since, got))
    _employee_dues(rates, result, employees, paid, lines)
    result.lines = [PeriodLine(period, ins, acc[0], acc[1], acc[2])
                    for (period, ins), acc in sorted(lines.items())]
    return result


def _employee_dues(rates: Rates, result: UnitDues, employees: list[tuple[Any, str, Decimal]],
                   paid: dict[str, list[tuple[str, Decimal]]], lines: dict[tuple[str, str], list[Any]]
                   ) -> None:
    """The employees' part of unit_dues: the month's due, and the dues of the months from each
    person's window start (after the paid-to month) to the report's month."""
    month = result.month
    frame = pd.DataFrame({
        "unit_code": result.unit, "status": [p.status for p, _, _ in employees],
        "insurances": [p.insurances for p, _, _ in employees],
        "wage_base": pd.array([p.wage_base for p, _, _ in employees], dtype="Int64"),
        "insured_from": [p.insured_from for p, _, _ in employees],
        "stopped_after": [p.stopped_after for p, _, _ in employees]})
    now = employee_dues_frame(rates, frame, [month]).persons
    owed = employee_dues_frame(rates, frame.assign(insured_from=[since for _, since, _ in employees]),
                               months_between(add_months(month, 1 - rates.arrears_months), month))
    for x in owed.units.itertuples():
        acc = lines.setdefault((x.month, x.insurance), [0, ZERO, ZERO])
        acc[0] += int(x.count)
        acc[1] += yuan(x.person_fen)
        acc[2] += yuan(x.unit_fen)
    # Columns as numpy arrays: a pandas lookup per person and column cost seconds a large unit.
    now_person, now_unit = now["person_fen"].to_numpy(), now["unit_fen"].to_numpy()
    owed_fen = owed.persons["person_fen"].to_numpy() + owed.persons["unit_fen"].to_numpy()
    for i, (p, _, got) in enumerate(employees):
        person, unit = yuan(now_person[i]), yuan(now_unit[i])
        due_now = person + unit
        now_paid = due_now if (p.last_paid_month or "") >= month else \
            sum((a for m, a in paid.get(p.id_number, []) if m == month), ZERO)
        result.persons.append(PersonDue(
            p.id_number, p.person_no, p.name, "employee", p.insurances or "", p.wage_base, None,
            person, unit, p.last_paid_month, Decimal(p.arrears or 0), yuan(owed_fen[i]), got,
            p.class_code, now_paid))


# One declaration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeclarationDue:
    """What a declaration will cost once approved: per month (employees) or per year
    (residents), the person's and the unit's part."""
    per: str                  # month | year
    period: str               # YYYYMM or YYYY
    person: Decimal
    unit: Decimal

    @property
    def total(self) -> Decimal:
        return self.person + self.unit


def declaration_due(rules: RuleSet, rates: Rates, decl: Declaration,
                    person: Person | None = None) -> DeclarationDue | None:
    """The amount a declaration brings: employee_add and wage at the declared base from the
    declared month; resident_add for the year it pays (rates.toml's collection period decides).
    None for kinds that carry no amount. Issue 16's 待提交清单 calls this."""
    p = decl.payload or {}
    if decl.kind in ("employee_add", "wage"):
        wage = p.get("wage")
        month = p.get("change_month") or p.get("start_month")
        if wage in (None, "") or not month:
            return None
        if decl.kind == "employee_add":
            ins = p.get("insurances") or rules.region.default_insurances
            ins = ins.split(",") if isinstance(ins, str) else list(ins)
        else:
            ins = [x for x in ((person.insurances if person else "") or "").split(",") if x] \
                or list(rules.region.default_insurances)
        dues = employee_dues(rates, Decimal(str(wage)), ins, [str(month)])
        return DeclarationDue("month", str(month), sum((d.person for d in dues), ZERO),
                              sum((d.unit for d in dues), ZERO))
    if decl.kind == "resident_add":
        year = rates.contribution_year(decl.created_at or date.today())
        due = resident_due(rates, p.get("category"), is_yes(p.get("family_planning")), year)
        return DeclarationDue("year", str(year), due.due if due else ZERO, ZERO)
    return None


__all__ = ["unit_dues", "UnitDues", "PersonDue", "PeriodLine", "declaration_due", "DeclarationDue",
           "person_frame", "paid_by_person", "rates_of", "employee_dues_frame",
           "resident_dues_frame", "fen", "yuan"]


# 登记情况 and 缴费统计 -------------------------------------------------------------------------------
LIVE = ("pending", "submitted", "approved")      # declarations that count (not rejected/withdrawn)
RESIDENT_UNIT_TYPES = ("30", "40")               # 社区, 学校: their 登记情况 lists residents


@dataclass(frozen=True)
class RegistrationLine:
    item: str                 # new | renewal | transfer_in | suspended | employee_add | employee_stop
    count: int
    due: Decimal | None       # None: the item carries no amount


@dataclass
class Registration:
    """登记情况 of a unit over a period: declarations by what they are, and what they bring."""
    unit: str
    period: str
    insured: int
    lines: list[RegistrationLine]

    @property
    def due(self) -> Decimal:
        return sum((x.due for x in self.lines if x.due is not None), ZERO)

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "period": self.period, "insured": self.insured,
                "lines": [{"item": x.item, "count": x.count,
                           "due": None if x.due is None else f"{x.due:.2f}"} for x in self.lines],
                "due": f"{self.due:.2f}"}


def registration_item(d: Declaration) -> tuple[str, int]:
    """What a declaration counts as in 登记情况 and how many persons: new | renewal |
    transfer_in (the system's judgement), suspended (a 班级停保 counts its students), or its kind."""
    p = d.payload or {}
    if d.kind == "resident_add":
        return (str(p["enrolment"]) if p.get("enrolment") in ENROLMENT_ITEMS else "new"), 1
    if d.kind == "resident_suspend":
        return "suspended", int(p.get("count") or 0) if p.get("class_stop") else 1
    return d.kind, 1


ENROLMENT_ITEMS = ("new", "renewal", "transfer_in")
MONTH_ITEMS = (*ENROLMENT_ITEMS, "suspended")


def registration_months(s: Session, unit: str, since: datetime, until: datetime
                        ) -> list[tuple[str, dict[str, int]]]:
    """Changchun's 新参保查询/续保查询 and Putian's 登记情况 month by month: per month (YYYYMM)
    of [since, until), the residents declared 新参保, 续保, 调入 and 暂停 (live declarations:
    not rejected nor withdrawn), every month listed, one query."""
    months: dict[str, dict[str, int]] = {}
    day = since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while day < until:
        months[f"{day:%Y%m}"] = dict.fromkeys(MONTH_ITEMS, 0)
        day = (day + timedelta(days=32)).replace(day=1)
    q = select(Declaration).where(Declaration.unit_code == unit, Declaration.status.in_(LIVE),
                                  Declaration.kind.in_(("resident_add", "resident_suspend")),
                                  Declaration.created_at >= since, Declaration.created_at < until)
    for d in s.scalars(q):
        item, persons = registration_item(d)
        months[f"{d.created_at:%Y%m}"][item] += persons
    return list(months.items())


def registration(rules: RuleSet, s: Session, unit: str, since: Any, until: Any, label: str
                 ) -> Registration:
    """Putian's 登记情况查询 (新登记多少人、已保多少人、应缴总额多少) for every unit type: the
    period's resident enrolments by 新参保/续保/调入 with the year's amount due, suspensions
    (a 班级停保 counts its students), and for employers 职工增加 (a month's due) and 职工减少."""
    rates = rates_of(rules, s)
    q = (select(Declaration).where(Declaration.unit_code == unit, Declaration.status.in_(LIVE),
                                   Declaration.kind.in_(("resident_add", "resident_suspend",
                                                         "employee_add", "employee_stop")))
         .order_by(Declaration.serial))
    if since is not None:
        q = q.where(Declaration.created_at >= since)
    if until is not None:
        q = q.where(Declaration.created_at < until)
    counts: dict[str, list[Any]] = {k: [0, ZERO] for k in ("new", "renewal", "transfer_in",
                                                          "suspended", "employee_add", "employee_stop")}
    for d in s.scalars(q):
        item, persons = registration_item(d)
        counts[item][0] += persons
        if item == "suspended":
            continue
        due = declaration_due(rules, rates, d)
        if due is not None:
            counts[item][1] += due.total
    insured = s.scalar(select(func.count()).select_from(Person).where(
        Person.unit_code == unit, Person.status == INSURED)) or 0
    lines = [RegistrationLine(k, v[0], None if k in ("suspended", "employee_stop") else v[1])
             for k, v in counts.items()]
    from exchange.store.models import Unit

    unit_type = s.scalar(select(Unit.unit_type).where(Unit.code == unit))
    employer = counts["employee_add"][0] or counts["employee_stop"][0] or \
        unit_type not in RESIDENT_UNIT_TYPES
    resident = any(counts[k][0] for k in ("new", "renewal", "transfer_in", "suspended")) or \
        unit_type in RESIDENT_UNIT_TYPES
    if not employer:
        lines = [x for x in lines if not x.item.startswith("employee_")]
    if employer and not resident:
        lines = [x for x in lines if x.item.startswith("employee_")]
    return Registration(unit, label, int(insured), lines)


@dataclass(frozen=True)
class ClassLine:
    """缴费统计 of one class (a school's) or of the unit (class_code None)."""
    class_code: str | None
    insured: int
    due: Decimal
    paid: Decimal
    arrears_loaded: Decimal

    @property
    def unpaid(self) -> Decimal:
        return self.due - self.paid


def class_payments(dues: UnitDues) -> list[ClassLine]:
    """Changchun's 缴费统计 per class, from a unit's dues: the year's due of the students, what
    is paid of it (all, when the paid-to month reaches December) and what is not."""
    by: dict[str | None, list[Any]] = {}
    for p in dues.persons:
        if p.scheme != "resident":
            continue
        acc = by.setdefault(p.class_code, [0, ZERO, ZERO, ZERO])
        acc[0] += 1
        acc[1] += p.total
        acc[2] += p.paid_now
        acc[3] += p.arrears_loaded
    return [ClassLine(code, *acc) for code, acc in sorted(by.items(), key=lambda kv: kv[0] or "")]


# The centre's figures per unit type ------------------------------------------------------------
@dataclass(frozen=True)
class TypeTotals:
    unit_type: str | None
    units: int
    insured: int
    month_due: Decimal        # employees, the month (person + unit)
    year_due: Decimal         # residents, the year
    arrears_loaded: Decimal


def totals_by_unit_type(rules: RuleSet, s: Session, month: str) -> list[TypeTotals]:
    """For the digest: per unit type, the month's employee dues and the year's resident dues of
    every insured person, computed column-wise (no loop per person)."""
    from exchange.config import CENTRE
    from exchange.store.models import Unit

    rates = rates_of(rules, s)
    frame = person_frame(s, where=Person.status == INSURED,
                         columns=("id_number", *AMOUNT_COLUMNS), ordered=False,
                         resident_insurance=rates.resident_insurance)
    types = {code: t or "" for code, t in s.execute(
        select(Unit.code, Unit.unit_type).where(Unit.code != CENTRE))}
    unit_count: dict[str, int] = {}
    for t in types.values():
        unit_count[t] = unit_count.get(t, 0) + 1
    arrears: dict[str, Decimal] = {}
    for kind, a in s.execute(
            # whole fen summed as integers: exact on SQLite too, whose NUMERIC is floating point
            select(Unit.unit_type, func.sum(cast(func.round(Person.arrears * 100), BigInteger)))
            .join(Unit, Unit.code == Person.unit_code).group_by(Unit.unit_type)):
        arrears[kind or ""] = arrears.get(kind or "", ZERO) + yuan(a or 0)
    if frame.empty:
        return [TypeTotals(t or None, n, 0, ZERO, ZERO, arrears.get(t, ZERO))
                for t, n in sorted(unit_count.items())]
    emp = employee_dues_frame(rates, frame, [month]).persons
    res = resident_dues_frame(rates, frame, int(month[:4]))
    frame = frame.assign(unit_type=frame["unit_code"].map(types).fillna(""),
                         month_fen=(emp["unit_fen"] + emp["person_fen"]).reindex(frame.index),
                         year_fen=res)
    grouped = frame.groupby("unit_type").agg(insured=("id_number", "size"),
                                             month_fen=("month_fen", "sum"), year_fen=("year_fen", "sum"))
    out = []
    for t in sorted(set(unit_count) | set(grouped.index)):
        row = grouped.loc[t] if t in grouped.index else None
        out.append(TypeTotals(t or None, unit_count.get(t, 0), int(row["insured"]) if row is not None else 0,
                              yuan(row["month_fen"]) if row is not None else ZERO,
                              yuan(row["year_fen"]) if row is not None else ZERO,
                              arrears.get(t, ZERO)))
    return out


__all__ += ["registration", "registration_item", "registration_months", "MONTH_ITEMS", "Registration", "RegistrationLine", "class_payments", "ClassLine",
            "totals_by_unit_type", "TypeTotals"]

"""Amounts due read from the database: a unit's dues (应缴信息) with paid-to months and arrears,
a declaration's amount (for rosters and the unit's 待提交清单), 登记情况 and 缴费统计 figures.

Arrears (how the loaded and the computed figures coexist): master data's 欠费金额 is the
centre's own figure and stays what the arrears rules (`arrears_block`) read. 计算欠费 is
computed here: the amounts due for the months after the person's 最大缴费月份 (paid-to month),
up to the report's month and at most `arrears_months` back (rates.toml), less the payments the
centre loaded for those months. Both are shown side by side; neither overwrites the other.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Sequence

import polars as pl
from sqlalchemy import BigInteger, Text, case, cast, func, select
from sqlalchemy.orm import Session

from exchange.amounts.dues import (INSURED, Dues, add_months, base_segments, employee_dues,
                                   employee_dues_frame, fen, has_insurance, is_yes, month_int,
                                   month_ints, months_between, next_months, pair_codes, pick,
                                   resident_due, resident_dues_frame, split_at_changes, yuan)
from exchange.amounts.master import rates_in_force
from exchange.amounts.rates import ZERO, Rates
from exchange.errors import contained
from exchange.kinds.spec import RuleSet
from exchange.messages import next_base
from exchange.store import queries as Q
from exchange.store.models import ClosedPeriod, Declaration, Payment, Person

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
                 resident_insurance: str = "390", order: Sequence[Any] = (),
                 more: dict[str, Any] | None = None) -> pl.DataFrame:
    """Persons as columns (no ORM objects): `columns`, the resident category and 计生补助 flag
    out of `extra` (read only for persons holding the resident insurance), and `more` (name ->
    SQL expression; a name ending in _fen is a whole number). Bases are whole yuan (nullable
    integers), everything else text. Ordered by ID, or by `order`."""
    resident = Person.insurances.like(f"%{resident_insurance}%")
    more = more or {}
    q = select(*(getattr(Person, c) for c in columns),
               case((resident, Person.extra["category"].as_string()), else_=None),
               case((resident, Person.extra["family_planning"].as_string()), else_=None),
               *(expr.label(name) for name, expr in more.items()))
    if unit is not None:
        q = q.where(Person.unit_code == unit)
    if where is not None:
        q = q.where(where)
    if order:
        q = q.order_by(*order)
    elif ordered:
        q = q.order_by(Person.id_number)
    return _read(s, q, [*columns, "category", "family_planning", *more])


def _read(s: Session, q: Any, names: list[str]) -> pl.DataFrame:
    """A query's rows as columns named `names`: COPY on PostgreSQL, the cursor on SQLite."""
    if s.get_bind().dialect.name == "postgresql":
        return _copied(s, q, names)
    return _fetched(s, q, names)


def _whole(name: str) -> bool:
    """Whether a column read is a whole number (the base, amounts in fen); the rest is text."""
    return name == "wage_base" or name.endswith("_fen")


def _fetched(s: Session, q: Any, names: list[str]) -> pl.DataFrame:
    """A query's rows as columns through the driver's cursor (SQLite): Core execution and the
    driver's tuples, not ORM rows. Text columns hold text: a value SQLite's JSON functions
    give as a number or a date as its str()."""
    result = s.connection().execute(q)
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    columns = list(zip(*rows)) if rows else [()] * len(names)
    return pl.DataFrame([pl.Series(n, c, dtype=pl.Int64) if _whole(n) else _texts(n, c)
                         for n, c in zip(names, columns)])


def _texts(name: str, values: Sequence[Any]) -> pl.Series:
    try:
        return pl.Series(name, values, dtype=pl.Utf8)
    except TypeError:                                    # numbers or datetimes among them
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.Utf8)


def _copied(s: Session, q: Any, names: list[str]) -> pl.DataFrame:
    """A query's rows through COPY … TO STDOUT (CSV) on PostgreSQL: a register in a second or
    two, where fetching a million rows one by one takes many. An empty text is read as NULL
    (as the CSV writes NULL)."""
    import io

    from exchange.store.bulk import _driver_cursor

    sql = str(q.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    buf = io.BytesIO()
    with _driver_cursor(s) as cur:
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for chunk in copy:
                buf.write(chunk)
    return pl.read_csv(buf.getvalue(), has_header=False, empty_string_is_null=True,
                       schema={n: pl.Int64 if _whole(n) else pl.Utf8 for n in names})


PAYMENT_COLUMNS = {"id_number": pl.Utf8, "month": pl.Utf8, "insurance": pl.Utf8, "fen": pl.Int64}


def _persons_of(unit: str, closed: bool) -> Any:
    """The IDs of the unit's persons: those now in it, or (closed) those who left it (its
    closed periods)."""
    if closed:
        return select(ClosedPeriod.id_number).where(ClosedPeriod.unit_code == unit)
    return select(Person.id_number).where(Person.unit_code == unit)


def payments_frame(s: Session, *, unit: str | None = None, closed: bool = False) -> pl.DataFrame:
    """Payments loaded (of the unit's persons, or of those who left it): id_number, month,
    insurance ("" when the row named none) and fen, the amount in whole fen summed by the
    database as integers (SQLite's NUMERIC is floating point)."""
    q = select(Payment.id_number, Payment.month, Payment.insurance,
               cast(func.round(Payment.amount * 100), BigInteger))
    if unit is not None:
        q = q.where(Payment.id_number.in_(_persons_of(unit, closed)))
    frame = pl.DataFrame(s.execute(q).all(), schema=PAYMENT_COLUMNS, orient="row")
    return frame.with_columns(pl.col("insurance").fill_null(""))


BASE_EFFECTS = ("wage", "insure")      # review/effects.py: the effects that set a person's base
CHANGE_COLUMNS = {"id_number": pl.Utf8, "start": pl.Utf8, "wage": pl.Int64, "old": pl.Int64,
                  "order": pl.Int64}


def base_changes(rules: RuleSet, s: Session, *, unit: str | None = None, closed: bool = False
                 ) -> pl.DataFrame:
    """The approved declarations that set a base (kinds with `wage_month` and a base-setting
    effect: 缴费基数申报, 职工增加) of the unit's persons (or of those who left it: `closed`),
    for amounts split at their months: id_number, start (the
    declared month, else the month of approval), wage, old (the base it replaced, kept in
    Declaration.old_values; whole yuan, the decimals cut off) and order (of approval)."""
    D = Declaration
    months = {name: k.wage_month for name, k in rules.kinds.items()
              if k.wage_month and k.effect in BASE_EFFECTS}
    names = ["id_number", "start", "wage", "old", "decided_at"]
    if not months:
        return pl.DataFrame(schema=CHANGE_COLUMNS)
    q = (select(D.id_number, case(*((D.kind == k, D.payload[f].as_string()) for k, f in months.items())),
                D.payload["wage"].as_string(), D.old_values["wage_base"].as_string(), D.decided_at)
         .where(D.status == "approved", D.kind.in_(list(months)), D.id_number.is_not(None))
         .order_by(D.decided_at, D.serial))
    if unit is not None:
        q = q.where(D.id_number.in_(_persons_of(unit, closed)))
    month = r"^\d{6}$"
    approved = pl.col("decided_at").str.slice(0, 4) + pl.col("decided_at").str.slice(5, 2)  # ISO
    return _fetched(s, q, names).with_columns(
        wage=_number(pl.col("wage")), old=_number(pl.col("old")),
    ).filter(pl.col("wage").is_not_null()).with_columns(
        start=pl.when(pl.col("start").str.contains(month)).then("start").otherwise(approved),
    ).filter(pl.col("start").str.contains(month)).select(   # no month at all: left out
        "id_number", "start", pl.col("wage").cast(pl.Int64), pl.col("old").cast(pl.Int64),
        order=pl.int_range(pl.len(), dtype=pl.Int64))


@dataclass(frozen=True)
class BaseInForce:
    """A person's base in a month (the record's may be one declared for a later month) and the
    next one declared: its month and base, or None."""
    base: int | None
    next_month: str | None = None
    next_base: int | None = None


def bases_in_force(rules: RuleSet, s: Session, unit: str, month: str) -> dict[str, BaseInForce]:
    """ID -> the base in force in `month` of the unit's persons, and the next declared one: a
    缴费基数申报 approved for 2027年1月 sets the record's base at once, and a 当前缴费基数 shown
    from the record in December was the next year's (`base_segments`' rule, as the dues use)."""
    persons = person_frame(s, unit=unit, columns=("id_number", "wage_base"), ordered=False)
    segs = base_segments(persons, base_changes(rules, s, unit=unit))
    now = segs.filter((pl.col("seg_from") <= month) & (pl.col("seg_to") >= month))
    later = segs.filter(pl.col("seg_from") > month).sort("seg_from").unique(
        "id_number", keep="first", maintain_order=True)
    ahead = {i: (m, b) for i, m, b in later.select("id_number", "seg_from", "base").iter_rows()}
    return {i: BaseInForce(b, *ahead.get(i, (None, None)))
            for i, b in now.select("id_number", "base").iter_rows()}


def shown_base(bases: dict[str, BaseInForce], id_number: str, record: int | None
               ) -> tuple[int | None, str | None]:
    """The base a unit's lists show for a person (`bases_in_force`'s, else the record's) and a
    later one declared, as 8800（2027年1月起）."""
    now = bases.get(id_number)
    if now is None:
        return record, None
    return now.base, next_base(now.next_base, now.next_month) if now.next_month else None


def _number(text: pl.Expr) -> pl.Expr:
    """A JSON value read as text as a number; NULL when it is none (or not finite)."""
    number = text.cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number)


# A unit's dues ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InsuranceDue:
    """One person's figures for one insurance: the month's (year's) due, the insurance's own
    paid-to month, the dues of the months after it and the payments matched to them."""
    insurance: str
    due: Decimal
    paid_to: str | None
    due_unpaid: Decimal
    paid_unpaid: Decimal

    @property
    def arrears_computed(self) -> Decimal:
        return self.due_unpaid - self.paid_unpaid


@dataclass(frozen=True)
class PersonDue:
    id_number: str
    person_no: str | None
    name: str
    scheme: str                        # employee | resident
    insurances: str
    base: int | None                   # the base in force in the report's month
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
    by_insurance: tuple[InsuranceDue, ...] = ()

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


PERSON_FIGURES = {"id_number": pl.Utf8, "person_no": pl.Utf8, "name": pl.Utf8, "scheme": pl.Utf8,
                  "insurances": pl.Utf8, "base": pl.Int64, "category": pl.Utf8, "person_fen": pl.Int64,
                  "unit_fen": pl.Int64, "paid_to": pl.Utf8, "arrears_fen": pl.Int64,
                  "due_unpaid": pl.Int64, "paid_unpaid": pl.Int64, "class_code": pl.Utf8,
                  "paid_now": pl.Int64}
INSURANCE_FIGURES = {"id_number": pl.Utf8, "insurance": pl.Utf8, "due": pl.Int64, "paid_to": pl.Utf8,
                     "due_unpaid": pl.Int64, "paid_unpaid": pl.Int64}


@dataclass
class UnitDues:
    """A unit's dues as columns: `table` one row per person (PERSON_FIGURES, money in whole
    fen), `insurances` one row per person and insurance (INSURANCE_FIGURES); `persons` the same
    as PersonDue objects in Decimal, made when asked for."""
    unit: str
    month: str                         # the report's month (YYYYMM)
    year: int                          # the residents' year shown
    table: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PERSON_FIGURES))
    insurances: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=INSURANCE_FIGURES))
    lines: list[PeriodLine] = field(default_factory=list)

    @cached_property
    def persons(self) -> list[PersonDue]:
        detail: dict[str, list[InsuranceDue]] = {}
        for x in self.insurances.iter_rows(named=True):
            detail.setdefault(x["id_number"], []).append(InsuranceDue(
                x["insurance"], yuan(x["due"]), x["paid_to"], yuan(x["due_unpaid"]), yuan(x["paid_unpaid"])))
        return [PersonDue(p["id_number"], p["person_no"], p["name"], p["scheme"], p["insurances"] or "",
                          p["base"], p["category"], yuan(p["person_fen"]), yuan(p["unit_fen"]),
                          p["paid_to"], yuan(p["arrears_fen"]), yuan(p["due_unpaid"]), yuan(p["paid_unpaid"]),
                          p["class_code"], yuan(p["paid_now"]), tuple(detail.get(p["id_number"], ())))
                for p in self.table.iter_rows(named=True)]

    def arrears_computed(self) -> dict[str, Decimal]:
        """ID -> computed arrears, for the persons who owe (or are owed) something (a person
        back in a unit he left once has a row for each period there: summed)."""
        owing = self.table.group_by("id_number", maintain_order=True).agg(
            owed=(pl.col("due_unpaid") - pl.col("paid_unpaid")).sum()).filter(pl.col("owed") != 0)
        return dict(zip(owing["id_number"], map(yuan, owing["owed"])))

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
                             "arrears_computed": money(p.arrears_computed),
                             "by_insurance": [{"insurance": x.insurance, "due": money(x.due),
                                               "paid_to": x.paid_to, "due_unpaid": money(x.due_unpaid),
                                               "paid": money(x.paid_unpaid),
                                               "arrears_computed": money(x.arrears_computed)}
                                              for x in p.by_insurance]} for p in self.persons],
                "totals": {"persons": len(self.persons),
                           "due": money(sum((p.total for p in self.persons), ZERO)),
                           "arrears_loaded": money(sum((p.arrears_loaded for p in self.persons), ZERO)),
                           "arrears_computed": money(sum((p.arrears_computed for p in self.persons), ZERO))}}


def _window_starts(rates: Rates, month: str, paid_to: pl.Expr, insured_from: pl.Expr) -> pl.Expr:
    """Where computed arrears start (YYYYMM integers): the month after the paid-to month, else
    the insured-from month, else the report's month; at most `arrears_months` back, never
    before the insured-from month. -1 marks a missing month."""
    earliest = int(add_months(month, 1 - rates.arrears_months))
    start = pl.when(paid_to >= 0).then(next_months(paid_to)) \
        .otherwise(pl.when(insured_from >= 0).then(insured_from).otherwise(int(month)))
    return pl.max_horizontal(start, earliest, insured_from)


PERSON_QUERY = ("id_number", "person_no", "name", "status", "insurances", "wage_base",
                "insured_from", "stopped_after", "last_paid_month", "class_code")


@contained
def unit_dues(rules: RuleSet, s: Session, unit: str, as_of: date) -> UnitDues:
    """应缴信息 of a unit: per person the month's due (employees) or the year's (residents),
    paid-to month, loaded and computed arrears, also per insurance; per month and insurance the
    unit's sums over the months still unpaid. Whole columns in integer fen (a query per table,
    no loop per person); Decimal when the PersonDue objects are asked for."""
    rates = rates_of(rules, s)
    month, year = f"{as_of:%Y%m}", as_of.year
    frame = person_frame(s, unit=unit, columns=PERSON_QUERY, order=(Person.person_no, Person.id_number),
                         more={"arrears_fen": cast(func.round(Person.arrears * 100), BigInteger),
                               "paid_months": cast(Person.paid_months, Text)},
                         resident_insurance=rates.resident_insurance)
    pay = payments_frame(s, unit=unit)
    frame = _spanned(frame, pay)
    resident = has_insurance(frame["insurances"], rates.resident_insurance)
    lines: dict[tuple[str, str], list[Any]] = {}
    changes = base_changes(rules, s, unit=unit)
    parts = [_resident_dues(rates, frame.filter(resident), pay, year, lines),
             _employee_dues(rates, _listed(rates, frame.filter(~resident), pay, month, changes, unit),
                            pay, month, lines, changes, unit)]
    closed = closed_periods(s, unit, rates.resident_insurance)
    if closed.height:
        parts += _closed_dues(rates, closed, payments_frame(s, unit=unit, closed=True), month, lines,
                              base_changes(rules, s, unit=unit, closed=True), unit)
    tables, insurances = zip(*parts)
    return UnitDues(unit, month, year, pl.concat(tables), pl.concat(insurances),
                    [PeriodLine(period, ins, acc[0], yuan(acc[1]), yuan(acc[2]))
                     for (period, ins), acc in sorted(lines.items())])


def _spanned(frame: pl.DataFrame, pay: pl.DataFrame) -> pl.DataFrame:
    """`frame` with each row's first and last month owed (YYYYMM integers; -1: since ever),
    paid-to month (-1: none) and whether `pay` holds payments of the person."""
    stopped = month_ints(frame["stopped_after"], -1)
    return frame.with_columns(
        first=month_ints(frame["insured_from"], -1),
        last=pl.when(stopped >= 0).then(stopped)
        .otherwise(pl.when(pl.col("status") == INSURED).then(999912).otherwise(0)),
        paid_to=month_ints(frame["last_paid_month"], -1),
        paying=pl.col("id_number").is_in(pay["id_number"].implode()))


STOPPED = "3"                  # rules/codes.toml [person_status] 终止
CLOSED_QUERY = ("id_number", "person_no", "name", "insurances", "wage_base", "insured_from",
                "stopped_after", "last_paid_month", "class_code", "paid_months")


def closed_periods(s: Session, unit: str, resident_insurance: str = "390") -> pl.DataFrame:
    """The unit's closed periods of employees (persons who left it, exchange.store.models
    .ClosedPeriod) as unit_dues reads its persons: the period's months, base, insurances and
    paid-to months, the person's number, name and class; stopped, and no 欠费金额 of their own
    (the centre's figure is the person's, shown at his unit now). In the order they closed."""
    C = ClosedPeriod
    q = (select(C.id_number, Person.person_no, Person.name, C.insurances, C.wage_base, C.insured_from,
                C.stopped_after, C.last_paid_month, Person.class_code, cast(C.paid_months, Text))
         .join(Person, Person.id_number == C.id_number, isouter=True)
         .where(C.unit_code == unit, ~func.coalesce(C.insurances, "").like(f"%{resident_insurance}%"))
         .order_by(C.id))
    return _read(s, q, list(CLOSED_QUERY)).with_columns(
        name=pl.col("name").fill_null(""), status=pl.lit(STOPPED), arrears_fen=pl.lit(0, pl.Int64))


def _person_table(chosen: pl.DataFrame, scheme: str, **figures: Any) -> pl.DataFrame:
    """The PERSON_FIGURES of `chosen` persons: their own columns, with `figures` (columns or
    one value for all)."""
    return chosen.select(
        "id_number", "person_no", "name", "arrears_fen", "class_code", scheme=pl.lit(scheme),
        insurances=pl.col("insurances").fill_null(""), paid_to=pl.col("last_paid_month"),
        **{k: v if isinstance(v, pl.Series) else pl.lit(v) for k, v in figures.items()},
    ).select(pl.col(name).cast(dtype) for name, dtype in PERSON_FIGURES.items())


def _insurance_table(**figures: Any) -> pl.DataFrame:
    """The INSURANCE_FIGURES: columns, or one value for all."""
    return pl.select(**{k: v if isinstance(v, pl.Series) else pl.lit(v) for k, v in figures.items()}
                     ).select(pl.col(name).cast(dtype) for name, dtype in INSURANCE_FIGURES.items())


def _summed(keys: pl.Series, values: pl.Series, n: int) -> pl.Series:
    """values summed per key 0..n-1 (whole fen)."""
    sums = pl.DataFrame({"key": keys.cast(pl.Int64), "value": values.cast(pl.Int64)}).group_by("key").sum()
    return pl.zeros(n, pl.Int64, eager=True).scatter(sums["key"], sums["value"])


def _resident_dues(rates: Rates, res: pl.DataFrame, pay: pl.DataFrame, year: int,
                   lines: dict[tuple[str, str], list[Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The residents' part of unit_dues: the year's due, and the dues of the years from each
    person's window start to this year less the payments of those years (payments naming no
    insurance or the residents' one)."""
    first_year = pl.when(pl.col("first") < 0).then(0).otherwise(pl.col("first") // 100)
    last_year = pl.col("last") // 100
    res = res.filter(((first_year <= year) & (last_year >= year)) | (pl.col("arrears_fen") != 0)
                     | pl.col("paying"))
    n = res.height
    category = res.select(pl.when(pl.col("category").is_null() | (pl.col("category") == ""))
                          .then(pl.lit(rates.default_category)).otherwise("category")).to_series()
    span = res.select(first_year=first_year, last_year=last_year, category=category,
                   since=_window_starts(rates, f"{year}12", pl.col("paid_to"), pl.col("first")) // 100)
    codes, uniques = pair_codes(category, res["family_planning"].fill_null(""))
    unpaid = pl.zeros(n, pl.Int64, eager=True)
    now = pl.zeros(n, pl.Int64, eager=True)
    for y in range(span["since"].min() if n else year, year + 1):   # a year at a time (two or three)
        table = [resident_due(rates, cat, is_yes(flag), y) for cat, flag in uniques]
        known = pl.Series([d is not None for d in table], dtype=pl.Boolean).gather(codes)
        due = pl.Series([fen(d.due) if d else 0 for d in table], dtype=pl.Int64).gather(codes)
        owes = span.select((pl.col("first_year") <= y) & (y <= pl.col("last_year")) & known).to_series()
        if y == year:
            now = pick(owes, due, 0)
        counted = owes & (span["since"] <= y)
        unpaid += pick(counted, due, 0)
        per = pl.DataFrame({"category": category, "due": due}).filter(counted).group_by("category").agg(
            count=pl.len(), due=pl.col("due").sum())
        for cat, count, total in per.iter_rows():                   # a few categories
            acc = lines.setdefault((str(y), str(cat)), [0, 0, 0])
            acc[0] += count
            acc[1] += total
    mine = pay.filter(pl.col("insurance").is_in(("", rates.resident_insurance))).join(
        res.select("id_number", at=pl.int_range(pl.len()), since=span["since"]), on="id_number")
    paid_year = mine["month"].str.slice(0, 4).cast(pl.Int64)
    window = (paid_year >= mine["since"]) & (paid_year <= year)
    got = _summed(mine["at"].filter(window), mine["fen"].filter(window), n)
    this_year = _summed(mine["at"].filter(paid_year == year), mine["fen"].filter(paid_year == year), n)
    covered = res["paid_to"] >= year * 100 + 12
    table = _person_table(res, "resident", base=None, category=category, person_fen=now, unit_fen=0,
                          due_unpaid=unpaid, paid_unpaid=got, paid_now=pick(covered, now, this_year))
    insurances = _insurance_table(id_number=table["id_number"], insurance=rates.resident_insurance,
                                  due=now, paid_to=table["paid_to"], due_unpaid=unpaid, paid_unpaid=got)
    return table, insurances


def _closed_dues(rates: Rates, closed: pl.DataFrame, pay: pl.DataFrame, month: str,
                 lines: dict[tuple[str, str], list[Any]], changes: pl.DataFrame, unit: str
                 ) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """The unit's closed periods (`closed`, of persons who left it) as employees of the unit
    stopped at the period's end, at its base and paid-to months, with the payments for its own
    months (`pay`: the persons' payments; those of other months are another period's). A
    period is listed while its computed arrears are not zero, or in its own months. A
    person's periods here are taken a k-th period of each at a time (a few passes), so that
    each pass holds an ID once."""
    closed = _spanned(closed, pay)
    nth = closed.select(pl.int_range(pl.len()).over("id_number")).to_series()
    m = int(month)
    out = []
    for k in range(int(nth.max() or 0) + 1):
        part = closed.filter(nth == k)
        own = pay.join(part.select("id_number", "first", "last"), on="id_number")
        paid_month = month_ints(own["month"], 0)
        own = own.filter((paid_month >= own["first"]) & (paid_month <= own["last"])).select(pay.columns)
        listed = _owing(rates, part, own, month, changes, unit) | ((part["first"] <= m) & (m <= part["last"]))
        if listed.any():
            out.append(_employee_dues(rates, part.filter(listed), own, month, lines, changes, unit))
    return out


def _listed(rates: Rates, emp: pl.DataFrame, pay: pl.DataFrame, month: str, changes: pl.DataFrame,
            unit: str) -> pl.DataFrame:
    """The employees 应缴信息 lists: those insured in the report's month, owing a 欠费金额 or
    with payments loaded, and those stopped within the arrears window who still owe for its
    months (a stop ends the insurance, not what the unit owes for the months before it)."""
    m = int(month)
    listed = emp.select(((pl.col("first") <= m) & (m <= pl.col("last"))) | (pl.col("arrears_fen") != 0)
                        | pl.col("paying")).to_series()
    gone = emp.filter(~listed & (pl.col("first") <= m)
                      & (pl.col("last") >= int(add_months(month, 1 - rates.arrears_months))))
    if not gone.height:
        return emp.filter(listed)
    owing = gone.filter(_owing(rates, gone, pay, month, changes, unit))["id_number"]
    return emp.filter(listed | pl.col("id_number").is_in(owing.implode()))


def _owing(rates: Rates, emp: pl.DataFrame, pay: pl.DataFrame, month: str, changes: pl.DataFrame,
           unit: str) -> pl.Series:
    """Which of `emp` owe (or are owed) something for the months of the arrears window."""
    table, _ = _employee_dues(rates, emp, pay, month, {}, changes, unit)
    return table["due_unpaid"] != table["paid_unpaid"]


def _employee_dues(rates: Rates, emp: pl.DataFrame, pay: pl.DataFrame, month: str,
                   lines: dict[tuple[str, str], list[Any]], changes: pl.DataFrame, unit: str
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The employees' part of unit_dues, per person, insurance and stretch of base (a base
    change splits the months, `changes`): the month's due; the dues of the months from the
    insurance's window start (after its paid-to month) to the report's month; the payments
    for those months: those naming the insurance, and those naming none matched to the
    month's dues in rates.toml's order of insurances (what is left over goes to the first).
    Every person of `emp` is listed (the caller chose them: `_listed`)."""
    m = int(month)
    emp = emp.with_columns(at=pl.int_range(pl.len()))
    n = emp.height
    rank = {ins: i for i, ins in enumerate(rates.insurances)}
    long = emp.select("at", "id_number", "paid_months", "paid_to", "first", "last",
                      insurance=pl.col("insurances").fill_null("").str.split(",")).explode("insurance")
    long = long.filter(pl.col("insurance").is_in(list(rank)))
    # Each insurance's own paid-to month (paid_months, decoded once per distinct map), else the
    # person's 最大缴费月份.
    maps = pl.DataFrame([(text, ins, month_int(paid, -1))
                         for text in long["paid_months"].drop_nulls().unique()
                         for ins, paid in (json.loads(text) or {}).items()],
                        schema={"paid_months": pl.Utf8, "insurance": pl.Utf8, "own": pl.Int64},
                        orient="row")
    long = long.join(maps, on=["paid_months", "insurance"], how="left", maintain_order="left").with_columns(
        rank=pl.col("insurance").replace_strict(rank, return_dtype=pl.Int64),
        paid_to=pl.when(pl.col("own").fill_null(-1) >= 0).then("own").otherwise("paid_to"))
    long = long.with_columns(since=_window_starts(rates, month, pl.col("paid_to"), pl.col("first"))) \
        .sort(["at", "rank"], maintain_order=True) \
        .with_columns(key=pl.int_range(pl.len()))           # a person and insurance
    segs = base_segments(emp.select("id_number", "wage_base"), changes)
    rows = long.join(segs.with_columns(seg_from=month_ints(segs["seg_from"], 0),
                                       seg_to=month_ints(segs["seg_to"], 0)),
                     on="id_number", maintain_order="left_right")
    lo = pl.max_horizontal("first", "seg_from")
    hi = pl.max_horizontal(pl.min_horizontal("last", "seg_to"), 1)

    def dues(chosen: pl.DataFrame, first: Any, last: Any, months: list[str]) -> Dues:
        """The dues of `chosen`'s rows (an insurance and stretch of base each) from `first` to `last`."""
        return employee_dues_frame(rates, chosen.select(
            unit_code=pl.lit(unit), status=pl.lit(INSURED), insurances="insurance", wage_base="base",
            insured_from=first, stopped_after=last), months)

    k = long.height
    now = dues(rows, lo, hi, [month]).persons
    window = months_between(add_months(month, 1 - rates.arrears_months), month)
    owed = dues(rows, pl.max_horizontal(lo, "since"), hi, window)
    for x in owed.units.iter_rows(named=True):
        acc = lines.setdefault((x["month"], x["insurance"]), [0, 0, 0])
        acc[0] += x["count"]
        acc[1] += x["person_fen"]
        acc[2] += x["unit_fen"]
    now_unit, now_person = (_summed(rows["key"], now[c], k) for c in ("unit_fen", "person_fen"))
    due_unpaid = _summed(rows["key"], owed.persons["unit_fen"] + owed.persons["person_fen"], k)
    base_now = rows.filter((pl.col("seg_from") <= m) & (pl.col("seg_to") >= m)).unique(
        "at", keep="first", maintain_order=True).select("at", base_now="base")
    # Payments inside an insurance's window: since <= month paid <= the report's month, and the
    # window not after the person stopped.
    open_ = long.filter(pl.col("since") <= pl.min_horizontal("last", m)).select(
        "key", "id_number", "insurance", "since")
    named = pay.filter(pl.col("insurance") != "").join(open_, on=["id_number", "insurance"])
    named = named.filter((month_ints(named["month"], 0) >= named["since"]) & (named["month"] <= month))
    paid = _summed(named["key"], named["fen"], k)
    blank = pay.filter(pl.col("insurance") == "").drop("insurance").with_columns(
        payment=pl.int_range(pl.len()))
    blank = blank.with_columns(paid_month=month_ints(blank["month"], 0))
    pm = pl.col("paid_month")
    cand = rows.select("key", "id_number", "insurance", "rank", "since", "seg_from", "seg_to", "base",
                       "last").join(blank, on="id_number", maintain_order="left_right").filter(
        (pl.col("since") <= pm) & (pm <= m) & (pl.col("since") <= pl.min_horizontal("last", m))
        & (pl.col("seg_from") <= pm) & (pm <= pl.col("seg_to")))
    if cand.height:
        cand = cand.sort(["payment", "rank"], maintain_order=True)
        month_due = dues(cand, pm, pl.max_horizontal(pl.min_horizontal(pm, "last"), 1),
                         sorted(set(cand["month"]))).persons
        due = pl.col("due")
        before = (due.cum_sum() - due).over("payment")       # the month's earlier insurances
        rest = pl.col("fen") - due.sum().over("payment")      # left over once all are paid
        take = cand.with_columns(due=month_due["unit_fen"] + month_due["person_fen"]).select(
            "key", take=(pl.col("fen") - before).clip(0, due)
            + pl.when(pl.col("payment").is_first_distinct()).then(pl.max_horizontal(rest, 0)).otherwise(0))
        paid += _summed(take["key"], take["take"], k)
    this_month = pay.filter(pl.col("month") == month).join(emp.select("id_number", "at"), on="id_number")
    now_total = _summed(long["at"], now_unit + now_person, n)
    covered = emp["paid_to"] >= m
    table = _person_table(
        emp, "employee",
        base=emp.join(base_now, on="at", how="left", maintain_order="left").select(
            pl.coalesce("base_now", pl.col("wage_base").cast(pl.Int64))).to_series(),
        category=None, person_fen=_summed(long["at"], now_person, n),
        unit_fen=_summed(long["at"], now_unit, n), due_unpaid=_summed(long["at"], due_unpaid, n),
        paid_unpaid=_summed(long["at"], paid, n),
        paid_now=pick(covered, now_total, _summed(this_month["at"], this_month["fen"], n)))
    insurances = _insurance_table(
        id_number=long["id_number"], insurance=long["insurance"], due=now_unit + now_person,
        paid_to=pick(long["paid_to"] >= 0, long["paid_to"].cast(pl.Utf8), None),
        due_unpaid=due_unpaid, paid_unpaid=paid)
    return table, insurances


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


@contained
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


__all__ = ["unit_dues", "UnitDues", "PersonDue", "InsuranceDue", "PeriodLine", "declaration_due",
           "DeclarationDue", "person_frame", "payments_frame", "base_changes", "rates_of", "employee_dues_frame",
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


@contained
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
    insured = Q.insured_count(s, unit)
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


@contained
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
    if frame.is_empty():
        return [TypeTotals(t or None, n, 0, ZERO, ZERO, arrears.get(t, ZERO))
                for t, n in sorted(unit_count.items())]
    emp = employee_dues_frame(rates, split_at_changes(frame, base_changes(rules, s)), [month]).persons
    res = resident_dues_frame(rates, frame, int(month[:4]))
    grouped = {row[0]: row[1:] for row in frame.select(
        unit_type=pl.col("unit_code").replace_strict(types, default="", return_dtype=pl.Utf8),
        month_fen=emp["unit_fen"] + emp["person_fen"], year_fen=res,
    ).group_by("unit_type").agg(pl.len(), pl.col("month_fen").sum(), pl.col("year_fen").sum()).iter_rows()}
    out = []
    for t in sorted(set(unit_count) | set(grouped)):
        insured, month_fen, year_fen = grouped.get(t, (0, None, None))
        out.append(TypeTotals(t or None, unit_count.get(t, 0), insured,
                              ZERO if month_fen is None else yuan(month_fen),
                              ZERO if year_fen is None else yuan(year_fen), arrears.get(t, ZERO)))
    return out


__all__ += ["registration", "registration_item", "registration_months", "MONTH_ITEMS", "Registration", "RegistrationLine", "class_payments", "ClassLine",
            "totals_by_unit_type", "TypeTotals"]

"""Amounts due, computed from the records and the rates, never typed: per person, month and
insurance for employees (base × rate, the unit's part and the person's part), per person and
year for residents (the yearly contribution less subsidies).

One rule, two doors. `employee_month` / `resident_due` compute one person's amount in Decimal;
documents that print persons one by one use them. `employee_dues_frame` / `resident_dues_frame`
compute whole registers column by column in exact integer fen (polars Int64: a base in fen times
a rate scaled by 10**6 stays below 2**63 for any base under ten billion yuan), rounding the same
way, so a million persons over twelve months take seconds; they convert to Decimal at the edge.
A property test holds the two doors to the same figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

import polars as pl

from exchange.amounts.rates import ZERO, EmployeeRate, Rates

SCALE = 10 ** 6              # rates carry at most 6 decimals (checked on load)
CENT = Decimal("0.01")
INSURED = "1"


def fen(amount: Decimal) -> int:
    """An amount of money (at most two decimals) as whole fen."""
    return int((amount * 100).to_integral_value())


def yuan(fen_amount: Any) -> Decimal:
    """Whole fen (an int) as a Decimal amount with two places."""
    return Decimal(int(fen_amount)).scaleb(-2).quantize(CENT)


def months_between(first: str, last: str) -> list[str]:
    """YYYYMM months from `first` to `last`, both included."""
    out = []
    y, m = int(first[:4]), int(first[4:])
    while f"{y:04d}{m:02d}" <= last:
        out.append(f"{y:04d}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def add_months(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[4:]) - 1 + n
    return f"{index // 12:04d}{index % 12 + 1:02d}"


# One person, in Decimal -------------------------------------------------------------------------
@dataclass(frozen=True)
class MonthDue:
    """What one person owes for one month and one insurance."""
    insurance: str
    month: str
    base: Decimal
    unit: Decimal
    person: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit + self.person


def employee_month(rates: Rates, insurance: str, base: Decimal | int, month: str) -> MonthDue | None:
    """base × rate + fixed sum, the unit's and the person's part each rounded as rates.toml says;
    None when the insurance has no rate in force that month."""
    r = rates.employee_rate(insurance, month)
    if r is None:
        return None
    b = Decimal(base)
    return MonthDue(insurance, month, b, rates.round(b * r.unit_rate + r.unit_amount),
                    rates.round(b * r.person_rate + r.person_amount))


def employee_dues(rates: Rates, base: Decimal | int | None, insurances: Iterable[str],
                  months: Iterable[str]) -> list[MonthDue]:
    """Per month and insurance (in rates order), for a person with this base."""
    if base is None:
        return []
    mine = set(insurances)
    out = []
    for month in months:
        for ins in rates.insurances:
            if ins in mine:
                due = employee_month(rates, ins, base, month)
                if due is not None:
                    out.append(due)
    return out


@dataclass(frozen=True)
class YearDue:
    """What one resident owes for a year: the contribution less the subsidies (not below 0)."""
    year: int
    category: str
    contribution: Decimal
    subsidies: tuple[tuple[str, Decimal], ...]
    due: Decimal

    @property
    def subsidy(self) -> Decimal:
        return self.contribution - self.due


def resident_due(rates: Rates, category: str | None, family_planning: bool, year: int
                 ) -> YearDue | None:
    """None when no contribution is set for the category and year."""
    cat = category or rates.default_category
    contribution = rates.contribution(cat, year)
    if contribution is None:
        return None
    subs = tuple((s.name, s.amount) for s in rates.subsidies_for(cat, family_planning, year))
    due = rates.round(max(ZERO, contribution - sum((a for _, a in subs), ZERO)))
    return YearDue(year, cat, rates.round(contribution), subs, due)


def is_yes(value: Any) -> bool:
    return str(value or "").strip() in ("1", "是", "true", "True")  # input grammar


# Whole registers, in integer fen ---------------------------------------------------------------
def _rounded(base_fen: pl.Series, rate: Decimal, amount: Decimal, rates: Rates) -> pl.Series:
    """round(base × rate + amount) in fen, half up, for every base at once (exact integers)."""
    quantum = int(rates.quantum * 100) * SCALE          # fen: 10**6, yuan: 10**8
    value = base_fen * int(rate * SCALE) + fen(amount) * SCALE
    return (value + quantum // 2) // quantum * (quantum // SCALE)


def pick(condition: pl.Series, then: pl.Series | int | None, otherwise: pl.Series | int | None
         ) -> pl.Series:
    """`then` where `condition` holds, else `otherwise` (columns of one length, or single values)."""
    return pl.select(pl.when(condition).then(then).otherwise(otherwise)).to_series()


def _by_value(values: pl.Series, convert: Any, dtype: pl.DataType) -> pl.Series:
    """convert() of each distinct value, spread back over the column (a register holds a few
    dozen distinct months or insurance lists among a million rows); missing: convert(None)."""
    uniques = values.drop_nulls().unique()
    return values.replace_strict(uniques, [convert(u) for u in uniques.to_list()],
                                 default=convert(None), return_dtype=dtype)


def month_int(value: Any, missing: int) -> int:
    """A YYYYMM text (or integer) as an integer, `missing` where blank (or not digits)."""
    text = str(value or "")
    return int(text) if text.isdigit() else missing


def month_ints(values: pl.Series, missing: int) -> pl.Series:
    """YYYYMM texts (or integers) as integers, `missing` where blank; once per distinct value."""
    return _by_value(values, lambda v: month_int(v, missing), pl.Int64)


def next_months(months: pl.Expr) -> pl.Expr:
    """The month after each YYYYMM integer."""
    return months + pl.when(months % 100 == 12).then(89).otherwise(1)


def _previous(months: pl.Expr) -> pl.Expr:
    """The month before each YYYYMM integer."""
    return months - pl.when(months % 100 == 1).then(89).otherwise(1)


def has_insurance(insurances: pl.Series, code: str) -> pl.Series:
    return _by_value(insurances, lambda v: code in str(v or "").split(","), pl.Boolean)


def _span(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """The first and last month (YYYYMM ints) each person owes for: from insured_from (or ever)
    to stopped_after; a person neither insured nor stopped at a known month owes nothing."""
    first = month_ints(frame["insured_from"], 0)
    stopped = month_ints(frame["stopped_after"], -1)
    insured = _by_value(frame["status"], lambda v: str(v) == INSURED, pl.Boolean)
    return first, pick(stopped >= 0, stopped, pick(insured, 999912, 0))


def pair_codes(first: pl.Series, second: pl.Series) -> tuple[pl.Series, list[tuple[Any, Any]]]:
    """Each row's index among the distinct (first, second) pairs (no nulls: fill them first),
    and those pairs (a register holds a few categories and flags): compute once per pair, then
    `table.gather(codes)`."""
    keys = pl.DataFrame({"first": first, "second": second})
    uniques = keys.unique(maintain_order=True)
    codes = keys.join(uniques.with_row_index("code"), on=["first", "second"], how="left",
                      maintain_order="left")["code"]
    return codes, list(uniques.iter_rows())


# Bases in force: a base change splits a person's months ----------------------------------------
OPEN = "999912"
BEFORE = "000000"
ROW = "person_row"       # split_at_changes: the row of the person in the frame it split


def base_segments(persons: pl.DataFrame, changes: pl.DataFrame) -> pl.DataFrame:
    """The base in force over each person's months: one row per person and stretch of months,
    columns id_number, seg_from, seg_to (YYYYMM, both included) and base (whole yuan, nullable).

    `persons`: id_number and wage_base (the record). `changes`: the approved declarations that
    set a base (id_number, start = the month it applies from, old = the base it replaced as kept
    in Declaration.old_values, order = the order of approval). The rule: in a month, the base of
    the last approved change applying from that month or earlier; the last approved change of
    all stands for the record's base (a later master-data load keeps its word); before every
    change, the base the first approved change replaced. Whole columns, no loop per person.
    """
    plain = persons.select("id_number", seg_from=pl.lit(BEFORE), seg_to=pl.lit(OPEN),
                           base=pl.col("wage_base").cast(pl.Int64))
    changes = changes.filter(pl.col("id_number").is_in(persons["id_number"].cast(pl.Utf8).implode()))
    if changes.is_empty():
        return plain
    record = persons.unique("id_number", keep="first", maintain_order=True).select(
        "id_number", record=pl.col("wage_base").cast(pl.Int64))
    c = changes.sort(["id_number", "order"], maintain_order=True).select(
        "id_number", pl.col("start").cast(pl.Int64), pl.col("wage").cast(pl.Int64),
        first_old=pl.col("old").cast(pl.Int64).first().over("id_number"),
        # A change survives unless a later approved one of the person applies from its month
        # or earlier: the minimum start of the later ones, per person.
        later=pl.col("start").cast(pl.Int64).cum_min(reverse=True).shift(-1).over("id_number"),
        last=pl.col("id_number").is_last_distinct(),
    ).join(record, on="id_number", how="left", maintain_order="left")
    kept = c.filter(pl.col("later").is_null() | (pl.col("start") < pl.col("later"))).with_columns(
        wage=pl.when(pl.col("last")).then(pl.col("record")).otherwise(pl.col("wage"))
    ).sort(["id_number", "start"], maintain_order=True)
    ends = pl.col("start").shift(-1).over("id_number")
    after = kept.select("id_number", seg_from=_text(pl.col("start")),
                        seg_to=_text(_previous(ends.fill_null(int(OPEN) + 1))), base="wage")
    heads = kept.unique("id_number", keep="first", maintain_order=True).filter(
        pl.col("start") > int(BEFORE) + 1)
    before = heads.select("id_number", seg_from=pl.lit(BEFORE), seg_to=_text(_previous(pl.col("start"))),
                          base="first_old")
    changed = pl.col("id_number").is_in(kept["id_number"].implode())
    return pl.concat([plain.filter(~changed), before, after])


def _text(months: pl.Expr) -> pl.Expr:
    return months.cast(pl.Utf8).str.zfill(6)


def split_at_changes(frame: pl.DataFrame, changes: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s persons (columns as employee_dues_frame takes them, with id_number), one row per
    base in force: the row's wage_base that base, its insured_from / stopped_after narrowed to
    the stretch. Only the persons with changes are split; rows keep the frame's order, each
    with ROW, its person's row in `frame`, so that employee_dues_frame adds the stretches up."""
    changed = frame["id_number"].is_in(changes["id_number"].cast(pl.Utf8).implode())
    if not changed.any():
        return frame
    whole = frame.with_row_index(ROW)
    split = whole.filter(changed)
    segs = base_segments(split.select("id_number", "wage_base"), changes)
    first = pl.col("insured_from").cast(pl.Utf8).fill_null(BEFORE)
    last = pl.when(pl.col("stopped_after").is_not_null()).then(pl.col("stopped_after").cast(pl.Utf8)) \
        .otherwise(pl.when(pl.col("status") == INSURED).then(pl.lit(OPEN)).otherwise(pl.lit(BEFORE)))
    rows = split.join(segs, on="id_number", maintain_order="left_right").with_columns(
        wage_base=pl.col("base").cast(whole.schema["wage_base"]),
        insured_from=pl.when(pl.col("seg_from") > first).then("seg_from").otherwise(first),
        stopped_after=pl.when(pl.col("seg_to") < last).then("seg_to").otherwise(last),
        status=pl.lit(INSURED)).select(whole.columns)
    return pl.concat([whole.filter(~changed), rows], how="vertical_relaxed").sort(ROW, maintain_order=True)


@dataclass
class Dues:
    """Columnar amounts: `persons` one row per person of the frame, in its order, with unit_fen /
    person_fen totals over the period (and `months`, the number of months owed); `units` one
    row per unit, month and insurance: count, person_fen, unit_fen (months with no one owing
    left out)."""
    persons: pl.DataFrame
    units: pl.DataFrame


UNIT_COLUMNS = {"unit_code": pl.Utf8, "month": pl.Utf8, "insurance": pl.Utf8, "count": pl.Int64,
                "person_fen": pl.Int64, "unit_fen": pl.Int64}


def employee_dues_frame(rates: Rates, frame: pl.DataFrame, months: Sequence[str]) -> Dues:
    """Every person of `frame` (columns unit_code, status, insurances, wage_base, insured_from,
    stopped_after; ROW when split_at_changes split it) over `months`. Integer fen throughout;
    no loop per person: a month and insurance at a time, summed per person as it goes and per
    unit (a few columns alive at once, whatever the number of months)."""
    unit_code = frame["unit_code"].cast(pl.Utf8).fill_null("")
    code = unit_code.rank("dense").cast(pl.UInt32)            # grouping on integers is cheaper
    base = frame["wage_base"].cast(pl.Int64).fill_null(0)     # whole yuan
    first, last = _span(frame)
    has_base = base > 0
    zero = pl.zeros(frame.height, pl.Int64, eager=True)
    unit_total, person_total, owed_months = zero, zero, zero
    pieces: list[pl.DataFrame] = []
    cache: dict[int, tuple[pl.Series, pl.Series]] = {}
    for ins in rates.insurances:
        has = has_insurance(frame["insurances"], ins) & has_base
        if not has.any():
            continue
        for month in months:
            r: EmployeeRate | None = rates.employee_rate(ins, month)
            if r is None:
                continue
            if id(r) not in cache:
                cache[id(r)] = (_rounded(base * 100, r.unit_rate, r.unit_amount, rates),
                                _rounded(base * 100, r.person_rate, r.person_amount, rates))
            m = int(month)
            active = has & (first <= m) & (last >= m)
            u, p = (pick(active, x, 0) for x in cache[id(r)])
            unit_total += u
            person_total += p
            pieces.append(pl.DataFrame({"code": code, "count": active, "person_fen": p, "unit_fen": u})
                          .group_by("code").sum().filter(pl.col("count") > 0)
                          .with_columns(month=pl.lit(month), insurance=pl.lit(ins)))
    for month in months:
        owed_months += (has_base & (first <= int(month)) & (last >= int(month))).cast(pl.Int64)
    persons = pl.DataFrame({"unit_fen": unit_total, "person_fen": person_total, "months": owed_months})
    if ROW in frame.columns:              # a person's stretches of bases (split_at_changes)
        persons = persons.with_columns(frame[ROW]).group_by(ROW).sum().sort(ROW).drop(ROW)
    names = pl.DataFrame({"code": code, "unit_code": unit_code}).unique("code")
    units = pl.concat(pieces).join(names, on="code") if pieces else pl.DataFrame(schema=UNIT_COLUMNS)
    return Dues(persons, units.select(pl.col(c).cast(t) for c, t in UNIT_COLUMNS.items())
                .sort(["unit_code", "month", "insurance"]))


def resident_dues_frame(rates: Rates, frame: pl.DataFrame, year: int) -> pl.Series:
    """The year's due (fen) of every resident of `frame` (columns status, insurances,
    insured_from, stopped_after, category, family_planning): persons without the resident
    insurance, or not insured that year, owe 0. One reference computation per category."""
    first, last = _span(frame)
    active = has_insurance(frame["insurances"], rates.resident_insurance) & (first <= year * 100 + 12) & \
        (last >= year * 100 + 1)
    codes, uniques = pair_codes(frame["category"].cast(pl.Utf8).fill_null(""),
                                frame["family_planning"].cast(pl.Utf8).fill_null(""))
    table = []
    for cat, flag in uniques:
        due = resident_due(rates, cat or None, is_yes(flag), year)
        table.append(fen(due.due) if due else 0)
    dues = pl.Series(table, dtype=pl.Int64).gather(codes)
    return pick(active, dues, 0).alias("due")


__all__ = ["MonthDue", "YearDue", "Dues", "base_segments", "split_at_changes", "employee_month",
           "employee_dues", "resident_due", "employee_dues_frame", "resident_dues_frame", "fen", "yuan",
           "months_between", "add_months", "is_yes", "month_int", "month_ints", "next_months",
           "has_insurance", "pair_codes", "pick", "ROW"]

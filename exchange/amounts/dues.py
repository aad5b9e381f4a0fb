"""Amounts due, computed from the records and the rates, never typed: per person, month and
insurance for employees (base × rate, the unit's part and the person's part), per person and
year for residents (the yearly contribution less subsidies).

One rule, two doors. `employee_month` / `resident_due` compute one person's amount in Decimal;
documents that print persons one by one use them. `employee_dues_frame` / `resident_dues_frame`
compute whole registers column by column in exact integer fen (numpy int64: a base in fen times
a rate scaled by 10**6 stays below 2**63 for any base under ten billion yuan), rounding the same
way, so a million persons over twelve months take seconds; they convert to Decimal at the edge.
A property test holds the two doors to the same figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from exchange.amounts.rates import ZERO, EmployeeRate, Rates

SCALE = 10 ** 6              # rates carry at most 6 decimals (checked on load)
CENT = Decimal("0.01")
INSURED = "1"


def fen(amount: Decimal) -> int:
    """An amount of money (at most two decimals) as whole fen."""
    return int((amount * 100).to_integral_value())


def yuan(fen_amount: Any) -> Decimal:
    """Whole fen (int, numpy integer) as a Decimal amount with two places."""
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
def _rounded(base_fen: np.ndarray, rate: Decimal, amount: Decimal, rates: Rates) -> np.ndarray:
    """round(base × rate + amount) in fen, half up, for every base at once (exact integers)."""
    quantum = int(rates.quantum * 100) * SCALE          # fen: 10**6, yuan: 10**8
    value = base_fen * int(rate * SCALE) + fen(amount) * SCALE
    return (value + quantum // 2) // quantum * (quantum // SCALE)


def _by_value(values: pd.Series, convert: Any) -> np.ndarray:
    """convert() of each distinct value, spread back over the column (a register holds a few
    dozen distinct months or insurance lists among a million rows)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([convert(u) for u in uniques] + [convert(None)])
    return table[codes]                      # code -1 (missing) takes the last entry


def month_ints(values: pd.Series, missing: int) -> np.ndarray:
    """YYYYMM texts (or integers) as integers, `missing` where blank; once per distinct value."""
    return _by_value(values, _month_int(missing)).astype(np.int64)


def next_months(months: np.ndarray) -> np.ndarray:
    """The month after each YYYYMM integer."""
    return months + np.where(months % 100 == 12, 89, 1)


def _month_int(missing: int) -> Any:
    def convert(value: Any) -> int:
        text = str(value or "")
        return int(text) if text.isdigit() else missing
    return convert


def has_insurance(insurances: pd.Series, code: str) -> np.ndarray:
    return _by_value(insurances, lambda v: code in str(v or "").split(",")).astype(bool)


def _span(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The first and last month (YYYYMM ints) each person owes for: from insured_from (or ever)
    to stopped_after; a person neither insured nor stopped at a known month owes nothing."""
    first = month_ints(frame["insured_from"], 0)
    stopped = month_ints(frame["stopped_after"], -1)
    insured = _by_value(frame["status"], lambda v: str(v) == INSURED).astype(bool)
    last = np.where(stopped >= 0, stopped, np.where(insured, 999912, 0))
    return first, last


# Bases in force: a base change splits a person's months ----------------------------------------
OPEN = "999912"
BEFORE = "000000"


def base_segments(persons: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """The base in force over each person's months: one row per person and stretch of months,
    columns id_number, seg_from, seg_to (YYYYMM, both included) and base (whole yuan, nullable).

    `persons`: id_number and wage_base (the record). `changes`: the approved declarations that
    set a base (id_number, start = the month it applies from, old = the base it replaced as kept
    in Declaration.old_values, order = the order of approval). The rule: in a month, the base of
    the last approved change applying from that month or earlier; the last approved change of
    all stands for the record's base (a later master-data load keeps its word); before every
    change, the base the first approved change replaced. Whole columns, no loop per person.
    """
    plain = pd.DataFrame({"id_number": persons["id_number"], "seg_from": BEFORE, "seg_to": OPEN,
                          "base": pd.array(persons["wage_base"], dtype="Int64")})
    changes = changes[changes["id_number"].isin(persons["id_number"])]
    if changes.empty:
        return plain
    c = changes.sort_values(["id_number", "order"], kind="stable", ignore_index=True)
    c = c.assign(start=c["start"].astype(np.int64), wage=pd.array(c["wage"], dtype="Int64"),
                 old=pd.array(c["old"], dtype="Int64"))
    # A change survives unless a later approved one of the person applies from its month or
    # earlier: the minimum start of the later ones, per person.
    who = c["id_number"]
    later = c["start"][::-1].groupby(who[::-1], sort=False).cummin()[::-1].groupby(who).shift(-1)
    first_old = c.drop_duplicates("id_number").set_index("id_number")["old"]   # NA included
    record = persons.drop_duplicates("id_number").set_index("id_number")["wage_base"]
    last = ~who.duplicated(keep="last")
    c = c.assign(wage=c["wage"].where(~last, pd.array(who.map(record), dtype="Int64")))
    kept = c[later.isna() | (c["start"] < later)].sort_values(
        ["id_number", "start"], kind="stable", ignore_index=True)
    ends = kept.groupby("id_number", sort=False)["start"].shift(-1)
    after = pd.DataFrame({"id_number": kept["id_number"], "seg_from": _text(kept["start"]),
                          "seg_to": _text(_previous(ends.fillna(int(OPEN) + 1).astype(np.int64))),
                          "base": kept["wage"]})
    heads = kept.drop_duplicates("id_number")
    heads = heads[heads["start"] > int(BEFORE) + 1]
    before = pd.DataFrame({"id_number": heads["id_number"], "seg_from": BEFORE,
                           "seg_to": _text(_previous(heads["start"])),
                           "base": pd.array(heads["id_number"].map(first_old), dtype="Int64")})
    changed = plain["id_number"].isin(kept["id_number"])
    return pd.concat([plain[~changed], before, after], ignore_index=True)


def _previous(months: pd.Series) -> pd.Series:
    """The month before each YYYYMM (as integers)."""
    return months - np.where(months % 100 == 1, 89, 1)


def _text(months: pd.Series) -> pd.Series:
    return months.astype(np.int64).astype(str).str.zfill(6)


def split_at_changes(frame: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """`frame`'s persons (columns as employee_dues_frame takes them, with id_number), one row per
    base in force: the row's wage_base that base, its insured_from / stopped_after narrowed to
    the stretch. Only the persons with changes are split; rows keep the frame's order and index
    labels (repeated), so the per-person sums of employee_dues_frame add the stretches up."""
    changed = frame["id_number"].isin(changes["id_number"]).to_numpy() if len(changes) else \
        np.zeros(len(frame), bool)
    if not changed.any():
        return frame
    split = frame[changed]
    segs = base_segments(split[["id_number", "wage_base"]], changes)
    rows = split.assign(_at=np.flatnonzero(changed)).merge(segs, on="id_number", sort=False)
    first = rows["insured_from"].fillna(BEFORE)
    last = rows["stopped_after"].where(rows["stopped_after"].notna(),
                                       np.where(rows["status"] == INSURED, OPEN, BEFORE))
    rows = rows.assign(wage_base=rows["base"],
                       insured_from=np.where(rows["seg_from"] > first, rows["seg_from"], first),
                       stopped_after=np.where(rows["seg_to"] < last, rows["seg_to"], last),
                       status=INSURED).drop(columns=["seg_from", "seg_to", "base"])
    rows.index = frame.index[rows["_at"].to_numpy()]
    whole = pd.concat([frame.assign(_at=np.arange(len(frame)))[~changed], rows])
    return whole.iloc[np.argsort(whole["_at"].to_numpy(), kind="stable")].drop(columns="_at")


@dataclass
class Dues:
    """Columnar amounts: `persons` has the frame's index with unit_fen / person_fen totals over
    the period (and `months`, the number of months owed); `units` one row per unit, month and
    insurance: count, person_fen, unit_fen (months with no one owing left out)."""
    persons: pd.DataFrame
    units: pd.DataFrame


def _by_unit(codes: np.ndarray, starts: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts) if len(values) else values


def employee_dues_frame(rates: Rates, frame: pd.DataFrame, months: Sequence[str]) -> Dues:
    """Every person of `frame` (columns unit_code, status, insurances, wage_base, insured_from,
    stopped_after) over `months`. Integer fen throughout; no loop per person."""
    n = len(frame)
    unit_codes, unit_names = pd.factorize(frame["unit_code"].fillna(""))
    order = np.argsort(unit_codes, kind="stable")          # a unit's persons side by side
    sorted_codes = unit_codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if n else \
        np.zeros(0, np.int64)
    codes = np.asarray(unit_names, dtype=object)[sorted_codes] if n else np.zeros(0, object)
    base = frame["wage_base"].astype("Int64").fillna(0).to_numpy(np.int64)[order]   # whole yuan
    has_base = base > 0
    base_fen = base * 100
    first, last = (x[order] for x in _span(frame))
    unit_total = np.zeros(n, np.int64)
    person_total = np.zeros(n, np.int64)
    owed_months = np.zeros(n, np.int64)
    rows: list[pd.DataFrame] = []
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for ins in rates.insurances:
        has = has_insurance(frame["insurances"], ins)[order] & has_base
        if not has.any():
            continue
        for month in months:
            r: EmployeeRate | None = rates.employee_rate(ins, month)
            if r is None:
                continue
            if id(r) not in cache:
                cache[id(r)] = (_rounded(base_fen, r.unit_rate, r.unit_amount, rates),
                                _rounded(base_fen, r.person_rate, r.person_amount, rates))
            u, p = cache[id(r)]
            m = int(month)
            active = has & (first <= m) & (last >= m)
            u_m = np.where(active, u, 0)
            p_m = np.where(active, p, 0)
            unit_total += u_m
            person_total += p_m
            count = _by_unit(codes, starts, active.astype(np.int64))
            keep = count > 0
            if keep.any():
                rows.append(pd.DataFrame({
                    "unit_code": codes[starts][keep], "month": month, "insurance": ins,
                    "count": count[keep], "person_fen": _by_unit(codes, starts, p_m)[keep],
                    "unit_fen": _by_unit(codes, starts, u_m)[keep]}))
    for month in months:
        m = int(month)
        owed_months += (first <= m) & (last >= m) & has_base
    back = np.empty_like(order)
    back[order] = np.arange(n)                              # the frame's own order again
    persons = pd.DataFrame({"unit_fen": unit_total[back], "person_fen": person_total[back],
                            "months": owed_months[back]}, index=frame.index)
    if not frame.index.is_unique:         # a person's stretches of bases (split_at_changes)
        persons = persons.groupby(level=0, sort=False).sum()
    units = (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["unit_code", "month", "insurance", "count", "person_fen", "unit_fen"]))
    return Dues(persons, units.sort_values(["unit_code", "month", "insurance"], kind="stable",
                                           ignore_index=True))


def resident_dues_frame(rates: Rates, frame: pd.DataFrame, year: int) -> pd.Series:
    """The year's due (fen) of every resident of `frame` (columns status, insurances,
    insured_from, stopped_after, category, family_planning): persons without the resident
    insurance, or not insured that year, owe 0. One reference computation per category."""
    first, last = _span(frame)
    active = has_insurance(frame["insurances"], rates.resident_insurance) & (first <= year * 100 + 12) & \
        (last >= year * 100 + 1)
    pairs = pd.MultiIndex.from_arrays([frame["category"].fillna(""), frame["family_planning"].fillna("")])
    codes, uniques = pd.factorize(pairs)
    table = []
    for cat, flag in uniques:
        due = resident_due(rates, cat or None, is_yes(flag), year)
        table.append(fen(due.due) if due else 0)
    dues = np.array(table, dtype=np.int64)[codes] if len(codes) else np.zeros(0, np.int64)
    return pd.Series(np.where(active, dues, 0), index=frame.index, dtype=np.int64)


__all__ = ["MonthDue", "YearDue", "Dues", "base_segments", "split_at_changes", "employee_month", "employee_dues", "resident_due",
           "employee_dues_frame", "resident_dues_frame", "fen", "yuan", "months_between",
           "add_months", "is_yes", "month_ints", "next_months", "has_insurance"]

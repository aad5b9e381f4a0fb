"""Rates (rules/rates.toml) and amounts due: validation, rounding, rate changes, and the
columnar computation held to the Decimal reference over random bases, months and rate tables."""
from __future__ import annotations

import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.amounts.dues import (employee_dues, employee_dues_frame, employee_month, split_at_changes,
                                   months_between, resident_due, resident_dues_frame, yuan)
from exchange.amounts.rates import EmployeeRate, Rates, load_rates
from exchange.config import DEFAULTS
from exchange.errors import ConfigError
from exchange.kinds.load import load_rules, load_tables

TABLES = load_tables(DEFAULTS / "rules" / "codes.toml")
SHIPPED = (DEFAULTS / "rules" / "rates.toml").read_text(encoding="utf-8")


def _rates(tmp_path: Path, text: str) -> Rates:
    path = tmp_path / "rates.toml"
    path.write_text(text, encoding="utf-8")
    return load_rates(path, TABLES)


def test_shipped_rates_load_with_the_rules() -> None:
    rates = load_rules(DEFAULTS / "rules").rates
    assert rates is not None and rates.rounding == "fen"
    assert rates.employee_rate("310", "202611") == EmployeeRate(
        "310", "190001", Decimal("0.08"), Decimal("0.02"))


@pytest.mark.parametrize("change, key", [
    (('rounding = "fen"', 'rounding = "jiao"'), "rounding"),
    (('insurance = "310"          #', 'insurance = "999" #'), "employee[0].insurance"),
    (('unit_rate = 0.08', 'unit_rate = 8'), "employee[0].unit_rate"),
    (('person_rate = 0.02\n\n', 'person_rate = 0.0212345\n'), "employee[0].person_rate"),
    (('from = "190001"', 'from = "1900-01"'), "employee[0].from"),
    (('person_amount = 10', 'person_amount = -10'), "employee[2].person_amount"),
    (('from = 2024', 'from = "2024"'), "[resident].contribution[0].from"),
    (('amount = 380', 'amount = 380.555'), "[resident].contribution[0].amount"),
    (('categories = ["32", "35"]', 'categories = ["32", "77"]'), "[resident].subsidy[0].categories"),
    (('year = "next" }', 'year = "later" }'), "[resident].collection.year"),
    (('start = "09-01"', 'start = "13-01"'), "[resident].collection.start"),
    (('default_category = "21"', 'default_category = "学生"'), "[resident].default_category"),
    (('arrears_months = 24', 'arrears_months = 0'), "arrears_months"),
    (('unit_rate = 0.08', 'unit_rat = 0.08'), "employee[0]: unknown key(s) unit_rat"),
])
def test_a_bad_rates_file_names_the_file_and_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    old, new = change
    assert old in SHIPPED
    with pytest.raises(ConfigError) as err:
        _rates(tmp_path, SHIPPED.replace(old, new, 1))
    assert "rates.toml" in str(err.value) and key in str(err.value)


def test_a_category_given_twice_for_one_year_is_refused(tmp_path: Path) -> None:
    text = SHIPPED + '\n[[resident.contribution]]\nfrom = 2025\ncategories = ["12"]\namount = 1\n'
    with pytest.raises(ConfigError, match=r"contribution\[2\].categories: '12' already"):
        _rates(tmp_path, text)


def test_an_instance_without_rates_reads_the_shipped_ones(tmp_path: Path) -> None:
    shutil.copytree(DEFAULTS / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "rates.toml").unlink()
    assert load_rules(tmp_path / "rules").rates.contribution("21", 2026) == Decimal("400")


def test_a_mid_year_rate_change_splits_the_months(tmp_path: Path) -> None:
    rates = _rates(tmp_path, SHIPPED + '\n[[employee]]\ninsurance = "310"\nfrom = "202607"\n'
                                       'unit_rate = 0.075\nperson_rate = 0.025\n')
    dues = employee_dues(rates, 4000, ["310"], months_between("202601", "202612"))
    assert [(d.month, d.unit, d.person) for d in dues] == (
        [(f"2026{m:02d}", Decimal("320.00"), Decimal("80.00")) for m in range(1, 7)]
        + [(f"2026{m:02d}", Decimal("300.00"), Decimal("100.00")) for m in range(7, 13)])
    frame = pl.DataFrame({"unit_code": ["U"], "status": ["1"], "insurances": ["310"],
                          "wage_base": [4000], "insured_from": ["202001"], "stopped_after": [None]})
    result = employee_dues_frame(rates, frame, months_between("202601", "202612"))
    assert yuan(result.persons["unit_fen"][0]) == Decimal("3720.00")
    assert result.units.filter(pl.col("month") == "202606")["unit_fen"].item() == 32000
    assert result.units.filter(pl.col("month") == "202607")["unit_fen"].item() == 30000


def test_rounding_half_up_to_fen_or_yuan(tmp_path: Path) -> None:
    # 3333 × 0.08 = 266.64; 3331 × 0.0015 = 4.9965 -> 5.00 (fen) ; 3300 × 0.0015 = 4.95 -> 5 (yuan)
    text = SHIPPED + '\n[[employee]]\ninsurance = "320"\nfrom = "202601"\nunit_rate = 0.0015\n'
    fen_rates = _rates(tmp_path, text)
    assert employee_month(fen_rates, "320", 3331, "202601").unit == Decimal("5.00")
    assert employee_month(fen_rates, "320", 3330, "202601").unit == Decimal("5.00")   # 4.995
    assert employee_month(fen_rates, "320", 3329, "202601").unit == Decimal("4.99")   # 4.9935
    yuan_rates = _rates(tmp_path, text.replace('rounding = "fen"', 'rounding = "yuan"'))
    assert employee_month(yuan_rates, "320", 3300, "202601").unit == Decimal("5.00")  # 4.95
    assert employee_month(yuan_rates, "320", 2900, "202601").unit == Decimal("4.00")  # 4.35


def test_resident_due_is_the_contribution_less_subsidies_never_below_zero() -> None:
    rates = load_rules(DEFAULTS / "rules").rates
    assert resident_due(rates, "21", False, 2026).due == Decimal("400.00")
    assert resident_due(rates, "21", True, 2026).due == Decimal("350.00")       # 计生补助 50
    assert resident_due(rates, "31", True, 2026).due == Decimal("150.00")       # 低保 200 + 50
    assert resident_due(rates, "32", True, 2026).due == Decimal("0.00")         # 特困: all of it
    assert resident_due(rates, "21", False, 2024).due == Decimal("380.00")
    assert resident_due(rates, "21", False, 2023) is None
    assert resident_due(rates, None, False, 2026).category == "21"              # default category


# Property: the columnar computation equals the Decimal reference ------------------------------
RATE = st.decimals(min_value=0, max_value=Decimal("0.3"), places=4)
AMOUNT = st.decimals(min_value=0, max_value=50, places=2)
MONTH = st.builds(lambda y, m: f"{y}{m:02d}", st.integers(2023, 2026), st.integers(1, 12))


@st.composite
def rate_tables(draw: st.DrawFn) -> Rates:
    entries = []
    for ins in draw(st.lists(st.sampled_from(["310", "320", "330", "510"]), min_size=1, max_size=4,
                             unique=True)):
        for start in sorted(set(draw(st.lists(MONTH, min_size=1, max_size=3)))):
            entries.append(EmployeeRate(ins, start, draw(RATE), draw(RATE), draw(AMOUNT), draw(AMOUNT)))
    return Rates(draw(st.sampled_from(["fen", "yuan"])), tuple(entries))


PERSON = st.tuples(st.sampled_from(["U1", "U2", "U3"]),
                   st.lists(st.sampled_from(["310", "320", "330", "510"]), unique=True),
                   st.one_of(st.none(), st.integers(min_value=1, max_value=99999)),
                   st.one_of(st.none(), MONTH), st.one_of(st.none(), MONTH),
                   st.sampled_from(["1", "3"]))


@settings(max_examples=50, deadline=None)
@given(rates=rate_tables(), people=st.lists(PERSON, min_size=1, max_size=12),
       first=MONTH, length=st.integers(min_value=1, max_value=14))
def test_columnar_dues_equal_the_decimal_reference(rates: Rates, people: list, first: str,
                                                   length: int) -> None:
    months = months_between(first, "209912")[:length]
    frame = pl.DataFrame({
        "unit_code": [p[0] for p in people], "insurances": [",".join(p[1]) or None for p in people],
        "wage_base": pl.Series([p[2] for p in people], dtype=pl.Int64),
        "insured_from": [p[3] for p in people], "stopped_after": [p[4] for p in people],
        "status": [p[5] for p in people]})
    result = employee_dues_frame(rates, frame, months)
    expected_units: dict[tuple[str, str, str], list[Decimal]] = {}
    for i, (unit, ins, base, start, stop, status) in enumerate(people):
        last = stop or ("999912" if status == "1" else "000000")
        owed = [m for m in months if (start or "000000") <= m <= last]
        dues = employee_dues(rates, base if base else None, ins, owed)
        assert yuan(result.persons["unit_fen"][i]) == sum((d.unit for d in dues), Decimal(0))
        assert yuan(result.persons["person_fen"][i]) == sum((d.person for d in dues), Decimal(0))
        for d in dues:
            acc = expected_units.setdefault((unit, d.month, d.insurance), [Decimal(0)] * 3)
            acc[0] += 1
            acc[1] += d.person
            acc[2] += d.unit
        for d in dues:     # each part is rounded as the centre says
            assert d.unit == d.unit.quantize(rates.quantum, rounding=ROUND_HALF_UP)
    got = {(r["unit_code"], r["month"], r["insurance"]): [Decimal(r["count"]), yuan(r["person_fen"]),
                                                         yuan(r["unit_fen"])]
           for r in result.units.iter_rows(named=True)}
    assert got == expected_units


@settings(max_examples=25, deadline=None)
@given(cats=st.lists(st.tuples(st.sampled_from(["11", "21", "31", "32", "34", "35", None]),
                               st.sampled_from(["1", "0", None]), st.sampled_from(["390", "310"])),
                     min_size=1, max_size=10),
       year=st.integers(min_value=2023, max_value=2028))
def test_columnar_resident_dues_equal_the_reference(cats: list, year: int) -> None:
    rates = load_rules(DEFAULTS / "rules").rates
    frame = pl.DataFrame({"status": "1", "insured_from": "202001", "stopped_after": None,
                          "insurances": [c[2] for c in cats], "category": [c[0] for c in cats],
                          "family_planning": [c[1] for c in cats]})
    dues = resident_dues_frame(rates, frame, year)
    for i, (cat, fp, ins) in enumerate(cats):
        ref = resident_due(rates, cat, fp == "1", year)
        expected = ref.due if ref and ins == "390" else Decimal("0.00")
        assert yuan(dues[i]) == expected


# Property: a base change splits the months -------------------------------------------------------
def base_in_force(record: int | None, changes: list[tuple[str, int, int | None]], month: str
                  ) -> int | None:
    """The rule as README states it, person by person: the base of the last approved change
    applying from `month` or earlier (the last approved of all stands for the record's base);
    before any, the base the first approved change replaced."""
    applying = [i for i, (start, _, _) in enumerate(changes) if start <= month]
    if applying:
        i = applying[-1]
        return record if i == len(changes) - 1 else changes[i][1]
    return changes[0][2] if changes else record


CHANGES = {"id_number": pl.Utf8, "start": pl.Utf8, "wage": pl.Int64, "old": pl.Int64, "order": pl.Int64}
CHANGE = st.tuples(MONTH, st.integers(min_value=1, max_value=99999),
                   st.one_of(st.none(), st.integers(min_value=1, max_value=99999)))


@settings(max_examples=60, deadline=None)
@given(rates=rate_tables(), people=st.lists(st.tuples(PERSON, st.lists(CHANGE, max_size=4)),
                                            min_size=1, max_size=10),
       first=MONTH, length=st.integers(min_value=1, max_value=14), shuffle=st.randoms())
def test_a_base_change_splits_the_months_as_the_decimal_reference(
        rates: Rates, people: list, first: str, length: int, shuffle) -> None:  # type: ignore[no-untyped-def]
    months = months_between(first, "209912")[:length]
    frame = pl.DataFrame({
        "id_number": [f"P{i}" for i in range(len(people))],
        "unit_code": [p[0] for p, _ in people], "insurances": [",".join(p[1]) or None for p, _ in people],
        "wage_base": pl.Series([p[2] for p, _ in people], dtype=pl.Int64),
        "insured_from": [p[3] for p, _ in people], "stopped_after": [p[4] for p, _ in people],
        "status": [p[5] for p, _ in people]})
    approvals = [(f"P{i}", c) for i, (_, cs) in enumerate(people) for c in cs]
    shuffle.shuffle(approvals)         # persons' approvals interleave; each keeps its own order
    mine: dict[str, list] = {}
    for number, c in approvals:
        mine.setdefault(number, []).append(c)
    mine = {n: sorted(cs, key=lambda c: people[int(n[1:])][1].index(c)) for n, cs in mine.items()}
    order = [(n, c) for n, cs in mine.items() for c in cs]
    changes = pl.DataFrame({"id_number": [n for n, _ in order], "start": [c[0] for _, c in order],
                            "wage": [c[1] for _, c in order], "old": [c[2] for _, c in order],
                            "order": range(len(order))}, schema=CHANGES)
    result = employee_dues_frame(rates, split_at_changes(frame, changes), months)
    assert result.persons.height == frame.height          # one row a person, in the frame's order
    expected_units: dict[tuple[str, str, str], list[Decimal]] = {}
    for i, ((unit, ins, base, start, stop, status), _) in enumerate(people):
        last = stop or ("999912" if status == "1" else "000000")
        dues = [d for m in months if (start or "000000") <= m <= last
                for d in employee_dues(rates, base_in_force(base, mine.get(f"P{i}", []), m), ins, [m])]
        row = result.persons.row(i, named=True)
        assert yuan(row["unit_fen"]) == sum((d.unit for d in dues), Decimal(0))
        assert yuan(row["person_fen"]) == sum((d.person for d in dues), Decimal(0))
        for d in dues:
            acc = expected_units.setdefault((unit, d.month, d.insurance), [Decimal(0)] * 3)
            acc[0] += 1
            acc[1] += d.person
            acc[2] += d.unit
    got = {(r["unit_code"], r["month"], r["insurance"]): [Decimal(r["count"]), yuan(r["person_fen"]),
                                                         yuan(r["unit_fen"])]
           for r in result.units.iter_rows(named=True)}
    assert got == expected_units


def test_a_july_raise_splits_the_year_at_july() -> None:
    rates = load_rules(DEFAULTS / "rules").rates
    frame = pl.DataFrame({"id_number": ["A"], "unit_code": ["U"], "status": ["1"], "insurances": ["310"],
                          "wage_base": [5000], "insured_from": ["202001"], "stopped_after": [None]})
    changes = pl.DataFrame({"id_number": ["A"], "start": ["202607"], "wage": [5000], "old": [4000],
                            "order": [0]}, schema=CHANGES)
    dues = employee_dues_frame(rates, split_at_changes(frame, changes), months_between("202601", "202612"))
    # 6 × 4000 × 10% + 6 × 5000 × 10% = 2400 + 3000
    assert yuan(dues.persons["unit_fen"][0] + dues.persons["person_fen"][0]) == Decimal("5400.00")
    assert dues.units.filter(pl.col("month") == "202606")["unit_fen"].item() == 32000
    assert dues.units.filter(pl.col("month") == "202607")["unit_fen"].item() == 40000

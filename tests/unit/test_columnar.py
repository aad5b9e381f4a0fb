"""The columnar cell engine (exchange.checks.columnar) against the per-row one it replaces
(exchange.checks.cells.parse_rows, the oracle): for generated chunks of clerks' cells in every
kind's columns, and for the rows of every test workbook, the same values, codes, rows, columns
and message parameters."""
from __future__ import annotations

import math
from datetime import date, datetime
from decimal import InvalidOperation, Overflow
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from exchange.checks.cells import PARSERS, parse_rows
from exchange.checks.columnar import RULES as COLUMN_RULES, judge_cells
from exchange.kinds.load import load_rules

from tests.unit.test_values import CELL_POOL

RULES = load_rules(Path(__file__).resolve().parents[2] / "rules")
TODAY = date(2026, 11, 22)
KINDS = {**{f"kind:{k}": s for k, s in RULES.kinds.items()},
         **{f"master:{k}": s for k, s in RULES.master.items()}}

# What clerks type: digits in both widths, IDs, names with every dot, dates and months in many
# spellings, separators, zero-width characters, line breaks, a control character.
ALPHABET = ("0123456789０１２３４５６７８９XxEe+-./:年月日元,，、;；·•・ \u3000\t\r\n\u200b\ufeff"
            "张三李四买提艾力汉族本科男女是否男性博士@_abc\x07")
TEXTS = st.text(ALPHABET, max_size=22)
PIECES = st.sampled_from(["320602198001012473", "32060219800101247x", "11010519491231002X",
                          "2026", "12", "202611", "2026-11", "20260230", "1980-02-29", "13912345678",
                          "21", "01", "310", "390", "5000", "1e3", "1_000", "-5", "0513-85123456",
                          "+86 139 1234 5678", "3.20602E+17", "[21]本科", "21-本科", "新增", "1班",
                          "0.08", "8%", "8‰", "％", "1.005", "0.0000005", ".5", "-0", "1_0", "5元",
                          "99999999999999999999999999.995", "1e-7", "0.1234565", "12.345"])
CELLS = st.one_of(
    st.sampled_from(CELL_POOL), TEXTS,
    st.lists(st.one_of(PIECES, TEXTS), min_size=1, max_size=3).map("".join),
    st.integers(min_value=-10**6, max_value=10**19), st.integers(min_value=190001, max_value=210012),
    st.integers(min_value=19000101, max_value=21001231), st.integers(min_value=1, max_value=80000),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=1, max_value=3e17).map(lambda f: math.floor(f) + 0.0),
    st.dates(min_value=date(1, 1, 1)), st.datetimes(min_value=datetime(1, 1, 1)),
    st.booleans(), st.none())


def _outcome(parsed: list) -> list:
    return [(values, [(f.row, f.code, f.column, f.field, dict(f.params)) for f in findings])
            for values, findings in parsed]


def _in_range(parsed: list) -> bool:
    """Whole numbers from 2**63 on have no integer column: the columnar engine calls such a
    wage or serial not an integer (README, deviations), the row engine took it as one."""
    return all(not (isinstance(v, int) and abs(v) >= 2**63) for values, _ in parsed
               for v in values.values())


def test_every_column_type_has_a_columnar_rule() -> None:
    assert {c.type for s in KINDS.values() for c in s.columns} <= set(COLUMN_RULES)
    assert set(PARSERS) == set(COLUMN_RULES)


def _same(rows: list, spec) -> None:  # type: ignore[no-untyped-def]
    try:
        parsed = parse_rows(rows, spec.columns, RULES.tables, TODAY)
    except (InvalidOperation, Overflow):
        # An amount of 10**26 yuan or more, a rate past 10**999999: the row engine raises
        # (README, deviations).
        assume(False)
        raise
    assume(_in_range(parsed))
    old = _outcome(parsed)
    new = _outcome(judge_cells(rows, spec.columns, RULES.tables, TODAY).as_rows())
    for (number, cells), a, b in zip(rows, old, new):
        assert b == a, (number, cells)
    assert len(new) == len(old)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_cells_judge_as_the_row_engine(kind: str, data: st.DataObject) -> None:
    spec = KINDS[kind]
    width = len(spec.columns)
    rows = data.draw(st.lists(st.lists(CELLS, min_size=width, max_size=width + 1).map(tuple),
                              min_size=1, max_size=25))
    _same([(i + 4, r) for i, r in enumerate(rows)], spec)


# Row rules ----------------------------------------------------------------------------------
from decimal import Decimal  # noqa: E402

from exchange.checks.columnar_rows import (Facts, FileRepeats, ROW_RULES as COLUMN_ROW_RULES,  # noqa: E402
                                           judge_rows, persons_frame)
from exchange.checks.context import CheckContext, PersonRecord, UnitRecord  # noqa: E402
from exchange.checks.ids import check_char  # noqa: E402
from exchange.checks.rows import ABOUT_RECORDS, ROW_CHECKS  # noqa: E402


def _an_id(birth: str, seq: int) -> str:
    first = f"320602{birth}{seq:03d}"
    return first + check_char(first)


IDS = st.builds(_an_id, st.sampled_from(["19800101", "19991231", "20000229", "19491001"]),
                st.integers(min_value=0, max_value=6))
UNIT = UnitRecord("1001", "单位")
# The persons on file: insured here, elsewhere, stopped or without a unit; with arrears or not.
PERSONS = st.lists(st.builds(
    PersonRecord, IDS, st.sampled_from(["张三", "李四"]),
    person_no=st.sampled_from([None, "", "7", "5000"]),
    unit_code=st.sampled_from([None, "1001", "1002"]), status=st.sampled_from([None, "1", "2"]),
    arrears=st.sampled_from([Decimal(0), Decimal("12.5"), Decimal("0.01")]),
    staff_no=st.sampled_from([None, "5000", "0"]), class_code=st.sampled_from([None, "1班"])),
    max_size=8).map(lambda people: {p.id_number: p for p in people})
ROW_CELLS = st.one_of(IDS, IDS, st.sampled_from(["男", "女", "1", "2", "0", "", None, "1980-01-01",
                                            "1999-12-31", 19800101, "202612", "201501", 202001,
                                            "201912", 5000, 1200, 99999, 3000.0, "4000", "张三"]),
                      CELLS)
ROW_KINDS = sorted(RULES.kinds)


@pytest.mark.parametrize("kind", ROW_KINDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_row_rules_find_what_the_row_checks_find(kind: str, data: st.DataObject) -> None:
    """The row rules written as masks, joins against the persons' records and an as-of join
    against the wage bounds, and the in-file repeat of a person, against the per-row checks on
    the same parsed rows (rules about a record skipped for persons not on file, as shipped)."""
    spec = RULES.kinds[kind]
    width = len(spec.columns)
    drawn = data.draw(st.lists(st.lists(ROW_CELLS, min_size=width, max_size=width).map(tuple),
                               min_size=1, max_size=30))
    rows = [(i + 4, r) for i, r in enumerate(drawn)]
    names = [n for n in spec.checks if n in COLUMN_ROW_RULES]
    people = data.draw(PERSONS)
    ctx = CheckContext(RULES, spec, UNIT, TODAY, persons=people)
    old: dict[int, list] = {}
    first: dict = {}
    parsed = parse_rows(rows, spec.columns, RULES.tables, TODAY)
    assume(_in_range(parsed))
    for (number, _), (values, _) in zip(rows, parsed):
        key = values.get(spec.person_field) if spec.person_field else None
        if key is not None:
            if key in first:
                old.setdefault(number, []).append(("duplicate", first[key]))
            else:
                first[key] = number
        for name in names:
            if name in ABOUT_RECORDS and values.get("id_number") not in people:
                continue
            old.setdefault(number, []).extend(
                (f.code, f.column, f.field, dict(f.params)) for f in ROW_CHECKS[name](number, values, ctx))
    judged = judge_cells(rows, spec.columns, RULES.tables, TODAY)
    frame = judged.frame()
    new: dict[int, list] = {}
    repeats = FileRepeats(spec.person_field)
    for half in (frame.head(len(frame) // 2), frame.tail(len(frame) - len(frame) // 2)):
        for number, first_row in repeats.findings(half).iter_rows():
            new.setdefault(number, []).append(("duplicate", first_row))
    for number, findings in judge_rows(Facts(frame, spec, RULES, TODAY, UNIT,
                                                 persons_frame(people)), names).items():
        new.setdefault(number, []).extend((f.code, f.column, f.field, dict(f.params)) for f in findings)
    assert {k: v for k, v in new.items() if v} == {k: v for k, v in old.items() if v}

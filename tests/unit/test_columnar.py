"""The columnar cell engine (exchange.checks.columnar) against the per-row one it replaces
(exchange.checks.cells.parse_rows, the oracle): for generated chunks of clerks' cells in every
kind's columns, and for the rows of every test workbook, the same values, codes, rows, columns
and message parameters."""
from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from exchange.checks.cells import parse_rows
from exchange.checks.columnar import RULES as COLUMN_RULES, judge_cells
from exchange.kinds.load import load_rules

from tests.unit.test_values import CELL_POOL

RULES = load_rules(Path(__file__).resolve().parents[2] / "rules")
TODAY = date(2026, 11, 22)
KINDS = {**{f"kind:{k}": s for k, s in RULES.kinds.items()},
         **{f"master:{k}": s for k, s in RULES.master.items()
            if all(c.type in COLUMN_RULES for c in s.columns)}}

# What clerks type: digits in both widths, IDs, names with every dot, dates and months in many
# spellings, separators, zero-width characters, line breaks, a control character.
ALPHABET = ("0123456789０１２３４５６７８９XxEe+-./:年月日元,，、;；·•・ \u3000\t\r\n\u200b\ufeff"
            "张三李四买提艾力汉族本科男女是否男性博士@_abc\x07")
TEXTS = st.text(ALPHABET, max_size=22)
PIECES = st.sampled_from(["320602198001012473", "32060219800101247x", "11010519491231002X",
                          "2026", "12", "202611", "2026-11", "20260230", "1980-02-29", "13912345678",
                          "21", "01", "310", "390", "5000", "1e3", "1_000", "-5", "0513-85123456",
                          "+86 139 1234 5678", "3.20602E+17", "[21]本科", "21-本科", "新增", "1班"])
CELLS = st.one_of(
    st.sampled_from(CELL_POOL), TEXTS,
    st.lists(st.one_of(PIECES, TEXTS), min_size=1, max_size=3).map("".join),
    st.integers(min_value=-10**6, max_value=2**63 - 1), st.integers(min_value=190001, max_value=210012),
    st.integers(min_value=19000101, max_value=21001231), st.integers(min_value=1, max_value=80000),
    # Whole numbers from 2**63 on have no integer column: a deviation (README), not tested.
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: abs(f) < 2**63),
    st.floats(min_value=1, max_value=3e17).map(lambda f: math.floor(f) + 0.0),
    st.dates(min_value=date(1, 1, 1)), st.datetimes(min_value=datetime(1, 1, 1)),
    st.booleans(), st.none())


def _outcome(parsed: list) -> list:
    return [(values, [(f.row, f.code, f.column, f.field, dict(f.params)) for f in findings])
            for values, findings in parsed]


def _same(rows: list, spec) -> None:  # type: ignore[no-untyped-def]
    old = _outcome(parse_rows(rows, spec.columns, RULES.tables, TODAY))
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

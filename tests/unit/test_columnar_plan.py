"""The compiled plans (exchange.checks.columnar._compiled) judge as the rules' own expressions.

A plan is made by round-tripping the rules' expressions through polars' JSON form (`_shared`
finds the repeated subexpressions there, `_compile` reads them back under prefixed names);
polars does not promise that form across versions (pyproject.toml pins the tested minor). Here
every column of every kind is judged both ways on the same cells: the compiled plan, and the
expressions `_rule_stages` returns evaluated as written, stage by stage, without JSON (both
planned as written, as the engine runs them). A polars
whose JSON reads back another expression fails here before it changes a judgement."""
from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from exchange.checks.columnar import (_FLAGS, _compiled, _rule_stages, _typed, _typed_frame,
                                      column_of)

from tests.unit.test_columnar import CELLS, KINDS, RULES, TODAY
from tests.unit.test_values import CELL_POOL


def _plain(col: Any, typed: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
    stages, _ = _rule_stages(col, RULES.tables, TODAY)
    query = pl.DataFrame(_typed_frame("", typed, len(typed["s"]))).lazy()
    for stage in stages:
        query = query.with_columns(e.alias(name) for name, e in stage.items())
    return list(query.select("v", "c", "p").collect(optimizations=_FLAGS,
                                                    engine="in-memory").iter_rows())


def _planned(plan: Any, typed: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
    query = pl.DataFrame(_typed_frame(plan.prefix or "", typed, len(typed["s"]))).lazy()
    for stage in plan.stages:
        query = query.with_columns(stage)
    return list(query.select(plan.outputs).collect(optimizations=_FLAGS,
                                                   engine="in-memory").iter_rows())


def _same_both_ways(spec: Any, cells: list[Any]) -> None:
    keys, _ = column_of(cells)
    typed = _typed(keys)
    for col, plan in zip(spec.columns, _compiled(spec.columns, RULES.tables, TODAY)):
        assert _planned(plan, typed) == _plain(col, typed), (col.field, col.type)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_plan_judges_the_cell_pool_as_its_rule_written(kind: str) -> None:
    _same_both_ways(KINDS[kind], list(CELL_POOL))


@pytest.mark.parametrize("kind", ["kind:employee_add", "kind:resident_add", "master:payments",
                                  "master:rates"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(CELLS, min_size=1, max_size=30))
def test_every_plan_judges_clerks_cells_as_its_rule_written(kind: str, cells: list[Any]) -> None:
    _same_both_ways(KINDS[kind], cells)

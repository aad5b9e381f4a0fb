"""The resident row rules on their own: facts built in code, no database."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from exchange import codes as C
from exchange.checks.context import PersonRecord, UnitRecord
import polars as pl

from exchange.checks.columnar import judge_cells
from exchange.checks.columnar_resident import resident_facts
from exchange.checks.columnar_rows import judge_rows
from exchange.checks.resident import HouseholdRecord, ResidentContext, ResidentFacts, enrolment
from exchange.kinds.load import load_rules
from tests.conftest import make_id

RULES = load_rules(Path(__file__).resolve().parents[2] / "rules")
SCHOOL = UnitRecord("S1", "school", "40")
IN_01 = PersonRecord(make_id("20120101", "101"), "A", unit_code="S1", status="1", class_code="01")
IN_02 = PersonRecord(make_id("20120101", "102"), "B", unit_code="S1", status="1", class_code="02")
TEACHER = PersonRecord(make_id("19800101", "103"), "T", unit_code="S1", status="1")
AWAY = PersonRecord(make_id("20120101", "104"), "C", unit_code="S9", status="3", class_code="01")


def ctx(kind: str, scope: frozenset[str] | None = frozenset({"01"}), **facts) -> ResidentContext:  # type: ignore[no-untyped-def]
    people = {p.id_number: p for p in (IN_01, IN_02, TEACHER, AWAY)}
    return ResidentContext(RULES, RULES.kinds[kind], SCHOOL, date(2026, 11, 1), persons=people,
                           scope=scope, facts=ResidentFacts(**facts))


def _rule(name: str, row: int, values: dict, c: ResidentContext) -> list:  # type: ignore[type-arg]
    """The findings of one row rule on one row of these parsed values (the others blank)."""
    schema = judge_cells([], c.kind.columns, RULES.tables, c.today).frame().schema
    cells = {k: (row if k == "row" else False if k.endswith("?") else values.get(k)) for k in schema}
    return judge_rows(resident_facts(pl.DataFrame([cells], schema=schema), c), [name]).get(row, [])


def class_scope(row: int, values: dict, c: ResidentContext) -> list:  # type: ignore[type-arg]
    return _rule("class_scope", row, values, c)


def class_target(row: int, values: dict, c: ResidentContext) -> list:  # type: ignore[type-arg]
    return _rule("class_target", row, values, c)


def household_rules(row: int, values: dict, c: ResidentContext) -> list:  # type: ignore[type-arg]
    return _rule("household_rules", row, values, c)


@pytest.mark.parametrize("kind,values,expected", [
    ("resident_suspend", {"id_number": IN_01.id_number, "class_code": None}, []),
    ("resident_suspend", {"id_number": IN_02.id_number, "class_code": None}, [("证件号码", "scope_student")]),
    ("resident_suspend", {"id_number": None, "class_code": "02"}, [("班级编号", "scope_class")]),
    ("resident_suspend", {"id_number": None, "class_code": "01"}, []),
    ("resident_add", {"id_number": AWAY.id_number, "class_code": "01"}, []),     # moves into 01
    ("resident_add", {"id_number": AWAY.id_number, "class_code": "02"}, [("班级编号", "scope_class")]),
    ("class_transfer", {"id_number": IN_01.id_number, "target_class": "02"}, []),
    ("class_transfer", {"id_number": IN_02.id_number, "target_class": "01"}, [("证件号码", "scope_student")]),
    ("employee_stop", {"id_number": TEACHER.id_number}, [("身份证号", "scope_unassigned")]),
    ("household", {"head_id": make_id("19800101", "105")}, [(None, "scope_no_class")]),
    ("withdraw", {"serial": 7, "id_number": None}, [("身份证号", "scope_no_class")]),
    ("withdraw", {"serial": None, "id_number": AWAY.id_number}, [("身份证号", "scope_unassigned")]),
])
def test_class_scope(kind, values, expected):  # type: ignore[no-untyped-def]
    found = class_scope(4, values, ctx(kind))
    assert [(f.column, f.params["what"]) for f in found] == expected
    assert all(f.code == C.CLASS_OUT_OF_SCOPE and f.params["allowed"] == "01" for f in found)


def test_no_scope_no_limit():  # type: ignore[no-untyped-def]
    assert class_scope(4, {"id_number": IN_02.id_number}, ctx("resident_suspend", scope=None)) == []


def test_enrolment_is_decided_by_the_archive():  # type: ignore[no-untyped-def]
    c = ctx("resident_add")
    assert enrolment({"id_number": IN_01.id_number}, c) == "renewal"
    assert enrolment({"id_number": AWAY.id_number}, c) == "transfer_in"
    assert enrolment({"id_number": make_id("20200101", "106")}, c) == "new"


def test_class_target():  # type: ignore[no-untyped-def]
    c = ctx("class_transfer", classes=frozenset({"01", "02"}))
    assert class_target(4, {"id_number": IN_01.id_number, "target_class": "02"}, c) == []
    assert [f.code for f in class_target(4, {"id_number": IN_01.id_number, "target_class": "01"}, c)] == [C.CLASS_SAME]
    assert [f.code for f in class_target(4, {"id_number": IN_01.id_number, "target_class": "09"}, c)] == [C.CLASS_UNKNOWN]


@pytest.mark.parametrize("operation,record,codes", [
    ("add", None, []),
    ("add", HouseholdRecord("H", "N", None, True, 1), [C.HOUSEHOLD_EXISTS]),
    ("add", HouseholdRecord("H", "N", None, False, 1), []),                 # deleted: may come back
    ("change", None, [C.HOUSEHOLD_MISSING]),
    ("change", HouseholdRecord("H", "N", None, True, 1, members=3), []),
    ("delete", HouseholdRecord("H", "N", None, True, 1, members=2), [C.HOUSEHOLD_HAS_MEMBERS]),
    ("delete", HouseholdRecord("H", "N", None, True, 1), []),
    ("delete", HouseholdRecord("H", "N", None, False, 1), [C.HOUSEHOLD_MISSING]),
])
def test_household_operations(operation, record, codes):  # type: ignore[no-untyped-def]
    c = ctx("household", scope=None, households={"H": record} if record else {})
    found = household_rules(4, {"head_id": "H", "name": "N", "operation": operation}, c)
    assert [f.code for f in found] == codes

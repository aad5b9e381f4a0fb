"""The resident kinds' row rules over columns (exchange.checks.columnar_resident): for generated
chunks of every resident kind, sent by a community or a school, with and without a class scope,
against generated households, classes, persons, open declarations and repeats, a chunk judged
whole gives each row what the row judged alone gives (codes, columns, message parameters, in
order); concrete cases pin what the differential tests against the per-row rules they replaced
(issue 19) established."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from exchange import codes as C
from exchange.checks.columnar import judge_cells
from exchange.checks.columnar_resident import resident_facts
from exchange.checks.columnar_rows import ROW_RULES as COLUMN_ROW_RULES, judge_rows
from exchange.checks.context import OpenDeclaration, PersonRecord, UnitRecord
from exchange.checks.ids import check_char
from exchange.checks.resident import HouseholdRecord, ResidentContext, ResidentFacts
from exchange.kinds.load import load_rules
from exchange.kinds.spec import RESIDENT_AUDIENCES, RuleSet

from tests.unit.test_columnar import ROW_CELLS

RULES = load_rules(Path(__file__).resolve().parents[2] / "rules")
TODAY = date(2026, 11, 22)
COMMUNITY = UnitRecord("C3001", "城厢区凤凰山社区", "30")
SCHOOL = UnitRecord("S2201", "长春市第一实验小学", "40")
# Every kind a community or school sends, and withdraw (a sub-account's scope covers it too).
KINDS = sorted(k for k, s in RULES.kinds.items() if s.audience in RESIDENT_AUDIENCES) + ["withdraw"]


def _an_id(birth: str, seq: int) -> str:
    first = f"220102{birth}{seq:03d}"
    return first + check_char(first)


IDS = st.builds(_an_id, st.sampled_from(["20120101", "20110202", "19750101", "19820808"]),
                st.integers(min_value=100, max_value=106))
CLASS_CODES = ["2024-01", "2024-02", "2023-09", "9班"]
NAMES = ["王小一", "林建国", "郑秀英", "李小二"]
UNITS = [COMMUNITY.code, SCHOOL.code, "S2202", None]
OPEN = st.builds(OpenDeclaration, st.integers(1, 900),
                 st.sampled_from(["resident_suspend", "resident_add", "gone_kind"]),
                 st.sampled_from(["pending", "submitted", "approved", "odd"]),
                 st.just(SCHOOL.code))
# Mostly the school's two current classes, so that rows, students and classes meet.
CLASS_CELLS = st.one_of(st.sampled_from(CLASS_CODES[:2]),
                        st.sampled_from([None, "", " 2024-01", *CLASS_CODES, "x" * 40]))
OTHER_CELLS = {
    "operation": st.sampled_from(["新增", "修改", "删除", "注销", "add", None, "", "乱写"]),
    "name": st.sampled_from([*NAMES, None, "", "1"]),
}


def people(ids: st.SearchStrategy) -> st.SearchStrategy:
    """Persons on file: insured here, elsewhere, stopped; in a class or none; owing or not."""
    return st.builds(PersonRecord, ids, st.sampled_from(NAMES),
                     unit_code=st.sampled_from(UNITS), status=st.sampled_from([None, "1", "2", "3"]),
                     arrears=st.sampled_from([Decimal(0), Decimal("120"), Decimal("88.5")]),
                     class_code=st.one_of(st.sampled_from(CLASS_CODES[:2]),
                                          st.sampled_from([None, "", *CLASS_CODES])),
                     household_head=st.one_of(st.none(), ids))


def cells(field: str, ids: st.SearchStrategy) -> st.SearchStrategy:
    """What clerks write in the columns the resident rules read; the rest as test_columnar draws."""
    if field in ("id_number", "head_id", "household_head"):
        return st.one_of(ids, ids, st.sampled_from([None, "", "12345", 220102201201011011]))
    if field in ("class_code", "target_class"):
        return CLASS_CELLS
    return OTHER_CELLS.get(field, ROW_CELLS)


@st.composite
def resident_facts_drawn(draw: st.DrawFn, ids: st.SearchStrategy, rows: list[int]) -> ResidentFacts:
    """Households, classes and the students of stopped classes as the hook loads them, and
    repeats of earlier rows."""
    heads = draw(st.dictionaries(ids, st.builds(
        HouseholdRecord, st.just(""), st.sampled_from(NAMES), st.sampled_from([None, "1390594"]),
        st.booleans(), st.sampled_from([None, 7]), st.integers(0, 2))))
    members = draw(st.dictionaries(st.sampled_from(CLASS_CODES), st.dictionaries(ids, people(ids))))
    member_ids = sorted({n for ps in members.values() for n in ps})
    repeats = {}
    for row in rows[1:]:
        if draw(st.integers(0, 4)) == 0:
            repeats[row] = draw(st.sampled_from([r for r in rows if r < row]))
    return ResidentFacts(
        households={head: replace(h, head_id=head) for head, h in heads.items()},
        classes=frozenset(draw(st.one_of(st.just(set()), st.sets(st.sampled_from(CLASS_CODES))))),
        listed={c: None for c in draw(st.sets(st.sampled_from(CLASS_CODES)))},
        class_members={c: tuple(replace(p, id_number=n) for n, p in sorted(ps.items()))
                       for c, ps in members.items()},
        member_open=draw(st.dictionaries(st.sampled_from(member_ids), OPEN)) if member_ids else {},
        repeats=repeats)


def _region(rules: RuleSet, households: tuple[str, ...], block: tuple[str, ...]) -> RuleSet:
    return replace(rules, region=replace(rules.region, households=households, arrears_block=block))


def _judge(rows: list, ctx: ResidentContext) -> dict:
    spec = ctx.kind
    names = [n for n in spec.checks if n in COLUMN_ROW_RULES]
    if ctx.scope is not None:
        names.append("class_scope")        # as FileRun does for a sub-account
    frame = judge_cells(rows, spec.columns, ctx.rules.tables, ctx.today).frame()
    found = judge_rows(resident_facts(frame, ctx), names)
    return {number: [(f.code, f.column, f.field, dict(f.params)) for f in findings]
            for number, findings in found.items() if findings}


def _judged_both(rows: list, ctx: ResidentContext) -> tuple[dict, dict]:
    """Row -> (code, column, field, params) of the rules on each row alone, and on the chunk."""
    alone: dict[int, list] = {}
    for row in rows:
        alone.update(_judge([row], ctx))
    return alone, _judge(rows, ctx)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("unit", [COMMUNITY, SCHOOL], ids=["community", "school"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_resident_rules_judge_a_row_alone_as_in_its_chunk(kind: str, unit: UnitRecord,
                                                               data: st.DataObject) -> None:
    rules = _region(RULES, data.draw(st.sampled_from([("30",), ("30", "40"), ()])),
                    data.draw(st.sampled_from([RULES.region.arrears_block, ()])))
    spec = rules.for_unit_type(rules.kinds[kind], unit.unit_type)
    ids = st.sampled_from(data.draw(st.lists(IDS, min_size=1, max_size=6, unique=True)))
    drawn = data.draw(st.lists(st.tuples(*(cells(c.field, ids) for c in spec.columns)),
                               min_size=1, max_size=25))
    # A repeated person: some rows copy an earlier one.
    for i in range(1, len(drawn)):
        if data.draw(st.integers(0, 5)) == 0:
            drawn[i] = drawn[data.draw(st.integers(0, i - 1))]
    rows = [(i + 4, r) for i, r in enumerate(drawn)]
    on_file = data.draw(st.dictionaries(ids, people(ids)))
    scope = data.draw(st.one_of(st.none(), st.frozensets(st.sampled_from(CLASS_CODES), max_size=2)))
    ctx = ResidentContext(rules, spec, unit, TODAY, scope=scope,
                          persons={n: replace(p, id_number=n) for n, p in on_file.items()},
                          facts=data.draw(resident_facts_drawn(ids, [n for n, _ in rows])))
    old, new = _judged_both(rows, ctx)
    for code in sorted({f"{code} {params.get('what', '')}" for found in old.values()
                        for code, _, _, params in found}):
        event(code)        # --hypothesis-show-statistics: which findings were compared
    assert new == old


def test_a_class_stop_of_many_blocked_students_says_ten_things_about_them() -> None:
    """班级停保 of a class whose seven students all owe and all have an open declaration: the
    first ten findings, student by student (arrears, then the open declaration)."""
    students = tuple(PersonRecord(_an_id("20120101", 100 + i), f"王小{i}", unit_code=SCHOOL.code,
                                  status="1", arrears=Decimal("120"), class_code="2024-01")
                     for i in range(7))
    facts = ResidentFacts(classes=frozenset({"2024-01", "2024-02"}),
                          class_members={"2024-01": students, "2024-02": ()},
                          member_open={p.id_number: OpenDeclaration(5 + i, "resident_add", "pending",
                                                                    SCHOOL.code)
                                       for i, p in enumerate(students)})
    spec = RULES.kinds["resident_suspend"]
    ctx = ResidentContext(RULES, spec, SCHOOL, TODAY, facts=facts)
    rows = [(4, (None, None, "毕业", None, "2024-01")), (5, (None, None, "毕业", None, "2024-02")),
            (6, (None, None, "毕业", None, "2099-01"))]
    old, new = _judged_both(rows, ctx)  # type: ignore[misc]
    assert new == old
    assert [code for code, *_ in new[4]] == [C.ARREARS, C.PERSON_PENDING] * 5
    assert new[4][1][3]["kind_label"] == f"城乡居民参保申报（学生 王小0 {students[0].id_number}）"
    assert new[5] == [(C.CLASS_EMPTY, "班级编号", "class_code", {"value": "2024-02"})]
    assert new[6] == [(C.CLASS_UNKNOWN, "班级编号", "class_code", {"value": "2099-01"})]

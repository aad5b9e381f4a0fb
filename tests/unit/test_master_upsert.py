"""Master data loads upsert by ID in bulk: new persons inserted, known ones updated column by
column, insurances and paid months merged."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from exchange.master import load_master
from exchange.store.models import Person
from tests.conftest import make_id

HEADERS = "个人编号,身份证号,姓名,性别,单位编号,参保状态,险种,最大缴费月份,欠费金额,缴费基数\n"
A, B, C = make_id("19800101", "101"), make_id("19810202", "202"), make_id("19820303", "303")


def _load(instance, db, tmp_path: Path, name: str, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(HEADERS + body, encoding="utf-8")
    report = load_master(instance, db, path)
    assert report.file_error is None and report.refused == []
    return report


def test_second_load_updates_only_the_columns_it_fills(instance, db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = _load(instance, db, tmp_path, "a.csv",
                  f"P1,{A},甲,1,1001,参保,310,202609,0,5000\n"
                  f"P2,{B},乙,1,1001,参保,310,202609,0,6000\n")
    assert (first.created, first.updated) == (2, 0)
    again = _load(instance, db, tmp_path, "b.csv",
                  f",{A},甲,,,,510,202611,,\n"                    # only insurance and month
                  f"P2,{B},乙二,,1002,暂停,,,12.5,7000\n"           # other columns, no insurance
                  f"P3,{C},丙,2,1001,参保,310,202610,0,4000\n")
    assert (again.created, again.updated) == (1, 2)
    with db.session() as s:
        people = {p.id_number: p for p in s.scalars(select(Person))}
    a, b, c = people[A], people[B], people[C]
    assert (a.person_no, a.unit_code, a.wage_base, a.insurances) == ("P1", "1001", 5000, "310,510")
    assert a.paid_months == {"310": "202609", "510": "202611"} and a.last_paid_month == "202611"
    assert (b.name, b.unit_code, b.status, float(b.arrears), b.wage_base) == ("乙二", "1002", "2", 12.5, 7000)
    assert b.insurances == "310" and b.paid_months == {"310": "202609"}
    assert (c.name, c.sex, c.insurances, float(c.arrears)) == ("丙", "2", "310", 0.0)
    assert a.updated_at is not None and c.updated_at is not None

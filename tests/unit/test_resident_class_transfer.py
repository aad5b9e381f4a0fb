"""学生转班表: both classes belong to the school."""
from __future__ import annotations

from sqlalchemy import select

from exchange import codes as C
from exchange.store.models import Declaration
from tests.flows.helpers import process_one, receipt_of, triples
from tests.flows.residents import (OTHER_SCHOOL, STUDENTS_01, STUDENTS_02, TRANSFER, drop,  # noqa: F401
                                   school)


def test_class_transfer_within_the_school(instance, db, school):  # type: ignore[no-untyped-def]
    rows = [[STUDENTS_01[0], "王小一", "2024-02"],      # fine
            [STUDENTS_01[1], "王小二", "2030-01"],      # no such class in this school
            [STUDENTS_02[0], "李小一", "2024-02"],      # already there
            [OTHER_SCHOOL, "周外校", "2024-02"],        # a student of another school
            [STUDENTS_02[1], "李小三", "2024-01"]]      # name off the record
    drop(instance, "S2201", "转班.xlsx", TRANSFER, rows, title="学生转班表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "class_transfer"
    assert triples(receipt) == [
        (5, "目标班级编号", C.CLASS_UNKNOWN), (6, "目标班级编号", C.CLASS_SAME),
        (7, "证件号码", C.PERSON_NOT_INSURED_HERE), (8, "姓名", C.RECORD_MISMATCH)]
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
    assert d.status == "pending" and d.payload["target_class"] == "2024-02"
    assert d.payload["from_class"] == "2024-01" and d.old_values == {"class_code": "2024-01"}


def test_a_class_opened_by_its_account_is_a_class_of_the_school(instance, db, school):  # type: ignore[no-untyped-def]
    from exchange.accounts import add_sub_account

    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2025-01", role="class", classes=["2025-01"])
    drop(instance, "S2201", "转班.xlsx", TRANSFER, [[STUDENTS_01[0], "王小一", "2025-01"]], title="学生转班表")
    assert receipt_of(instance, process_one(instance, db))["status"] == "accepted"

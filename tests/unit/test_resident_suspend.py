"""城乡居民暂停参保申报表: one person, or a whole class at once (班级停保)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from exchange import codes as C
from exchange.store.models import Declaration
from tests.flows.helpers import process_one, receipt_of, triples
from tests.flows.residents import (GRADUATED, IN_ARREARS, MEMBER, OTHER_SCHOOL, OWED, STUDENTS_01,  # noqa: F401
                                   STUDENTS_02, SUSPEND, community, drop, school)

TITLE = "城乡居民暂停参保申报表"


def test_suspend_one_person(instance, db, community):  # type: ignore[no-untyped-def]
    rows = [[MEMBER, "林五", "转往其他单位或社区参保", "", ""],
            [IN_ARREARS, "黄四", "死亡", "", ""],      # suspended already, arrears too
            ["", "", "毕业", "", ""],                   # names nobody
            [MEMBER, "", "", "", ""]]                   # same person, reason missing
    drop(instance, "C3001", "暂停.xlsx", SUSPEND, rows, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "resident_suspend"
    assert triples(receipt) == [
        (5, "证件号码", C.ARREARS), (5, "证件号码", C.PERSON_NOT_INSURED_HERE),
        (6, "姓名", C.REQUIRED), (6, "证件号码", C.REQUIRED),
        (7, None, C.DUPLICATE_IN_FILE), (7, "姓名", C.REQUIRED), (7, "暂停原因", C.REQUIRED)]
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
    assert d.payload["reason"] == "10" and d.payload["stop_after"] == f"{date.today():%Y%m}"


def test_class_stop_covers_every_insured_student_of_the_class(instance, db, school):  # type: ignore[no-untyped-def]
    rows = [["", "", "毕业", "2024届毕业", "2024-02"],
            [STUDENTS_02[0], "李小一", "毕业", "", ""]]     # already in the class row
    drop(instance, "S2201", "班级停保.xlsx", SUSPEND, rows, title="学生停保")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(5, None, C.DUPLICATE_IN_FILE)]
    covered = [r for r in receipt["rows"] if r["ok"]]
    assert [n["code"] for n in covered[0]["notes"]] == [C.NOTE_CLASS_STOP]
    assert "2 名在保学生" in covered[0]["notes"][0]["message"]
    text = (instance.unit_outbox("S2201", "receipts") / receipt_name(instance)).read_text(encoding="utf-8-sig")
    assert "班级停保" in text and "2 名在保学生" in text
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
    assert d.id_number is None and d.payload["class_stop"] is True
    assert d.payload["members"] == sorted(STUDENTS_02) and d.payload["count"] == 2
    # While the class stop is open, its students count as having an unreviewed declaration.
    drop(instance, "S2201", "个人.xlsx", SUSPEND, [[STUDENTS_02[1], "李小二", "转学", "", ""]], title=TITLE)
    assert triples(receipt_of(instance, process_one(instance, db))) == [(4, "证件号码", C.PERSON_PENDING)]
    # The same class row again is a duplicate.
    drop(instance, "S2201", "班级停保.xlsx", SUSPEND, rows[:1], title="学生停保")
    assert receipt_of(instance, process_one(instance, db))["counts"]["duplicate"] == 1


def test_a_class_stop_after_its_pupils_one_by_one_names_their_rows(instance, db, school):  # type: ignore[no-untyped-def]
    """A clerk stops the class's pupils one by one and adds the 班级停保 row below, both ways
    the manual tells. The class row is not imported, and says why: its pupils were stopped on
    rows 4 and 5 (it said 同一人员在本文件第 4 行已经出现, of a row naming no person)."""
    rows = [[STUDENTS_02[0], "李小一", "毕业", "", "2024-02"],
            [STUDENTS_02[1], "李小二", "毕业", "", "2024-02"],
            ["", "", "毕业", "全班停保", "2024-02"]]
    drop(instance, "S2201", "毕业停保.xlsx", SUSPEND, rows, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"]["accepted"] == 2
    assert triples(receipt) == [(6, None, C.DUPLICATE_IN_FILE)]
    message = receipt["rows"][-1]["errors"][0]["message"]
    assert message.startswith("本班级的学生已在本文件第 4、5 行逐人申报停保，本行（整班停保）不再导入。")
    assert "同一人员" not in message
    # A person's row repeated is still told as before.
    drop(instance, "S2201", "个人.xlsx", SUSPEND, [[STUDENTS_01[0], "张一", "转学", "", ""]] * 2,
         title=TITLE)
    again = receipt_of(instance, process_one(instance, db))
    assert again["rows"][-1]["errors"][0]["message"] == "同一人员在本文件第 4 行已经出现，本行不再导入。"


def receipt_name(instance) -> str:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in instance.unit_outbox("S2201", "receipts").glob("*.txt"))[-1]


def test_class_stop_refusals(instance, db, school):  # type: ignore[no-untyped-def]
    rows = [["", "", "毕业", "", "2024-01"],        # one student owes 120
            ["", "", "毕业", "", "2023-09"],        # nobody insured any more
            ["", "", "毕业", "", "2099-99"],        # no such class here
            ["", "", "毕业", "", "2024-01"]]        # the same class twice
    drop(instance, "S2201", "班级停保.xlsx", SUSPEND, rows, title="学生停保")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "班级编号", C.ARREARS), (5, "班级编号", C.CLASS_EMPTY),
                                (6, "班级编号", C.CLASS_UNKNOWN), (7, None, C.DUPLICATE_IN_FILE)]
    assert OWED in receipt["rows"][0]["errors"][0]["message"]


def test_class_stop_waits_for_open_declarations_of_its_students(instance, db, school):  # type: ignore[no-untyped-def]
    drop(instance, "S2201", "个人.xlsx", SUSPEND, [[STUDENTS_02[1], "李小二", "转学", "", "2024-02"]],
         title=TITLE)
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1
    drop(instance, "S2201", "班级停保.xlsx", SUSPEND, [["", "", "毕业", "", "2024-02"]], title="学生停保")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "班级编号", C.PERSON_PENDING)]
    assert STUDENTS_02[1] in receipt["rows"][0]["errors"][0]["message"]


def test_individual_row_class_must_match_the_record(instance, db, school):  # type: ignore[no-untyped-def]
    rows = [[STUDENTS_02[0], "李小一", "转学", "", "2024-01"], [OTHER_SCHOOL, "周外校", "转学", "", ""]]
    drop(instance, "S2201", "个人.xlsx", SUSPEND, rows, title=TITLE)
    assert triples(receipt_of(instance, process_one(instance, db))) == [
        (4, "班级编号", C.RECORD_MISMATCH), (5, "证件号码", C.PERSON_NOT_INSURED_HERE)]


def test_suspending_an_unknown_person_is_explained_to_a_community_clerk(instance, db, community):  # type: ignore[no-untyped-def]
    from tests.conftest import make_id

    unknown = make_id("19990909", "919")
    drop(instance, "C3001", "暂停.xlsx", SUSPEND, [[unknown, "无名", "死亡", "", ""]], title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "证件号码", C.PERSON_NOT_ON_FILE)]
    message = receipt["rows"][0]["errors"][0]["message"]
    assert message == (f"系统中没有该居民（{unknown}）的参保记录。"
                       "请核对证件号码和姓名；尚未参保的居民请先报送城乡居民参保申报表。")
    assert "窗口" not in message and "{" not in message

"""班级停保 at graduation: one declaration stops a whole class; the batch roster, the centre's
review workbook and the school's result workbook list every pupil it stops, counted right."""
from __future__ import annotations

import openpyxl
from pypdf import PdfReader
from sqlalchemy import select

from exchange.schedule.registry import all_jobs
from exchange.store.models import Batch, Declaration, Person
from tests.flows.helpers import decide_review, process_one
from tests.flows.residents import STUDENTS_01, STUDENTS_02, SUSPEND, drop, school  # noqa: F401


def _batch(db) -> tuple[str, dict[str | None, int]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        batch = s.scalars(select(Batch)).one()
        serials = {d.id_number: d.serial for d in s.scalars(select(Declaration))}
    return batch.batch_no, serials


def test_class_stop_lists_every_pupil_in_roster_review_and_result(instance, db, school):  # type: ignore[no-untyped-def]
    drop(instance, "S2201", "毕业停保.xlsx", SUSPEND, [
        ["", "", "毕业", "2024届毕业", "2024-02"],                 # 李小一, 李小二
        [STUDENTS_01[0], "王小一", "转学", "", ""]], title="学生停保")
    assert process_one(instance, db).counts.accepted == 2
    all_jobs()["submit_batches"](instance, db)
    batch_no, serials = _batch(db)

    # The roster: both pupils of the class by name, and the one stopped alone; 共 3 人.
    roster = instance.unit_outbox("S2201", "rosters") / f"{batch_no}.申报花名册.pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(str(roster)).pages)
    assert "李小一" in text and "李小二" in text and "王小一" in text
    assert "共 3 人" in text and "共 2 人" not in text
    for number in (*STUDENTS_02, STUDENTS_01[0]):
        assert number in text

    # The review workbook: 2 declarations to decide, the class row then a row per pupil
    # (no serial of their own: the class row's conclusion decides them).
    book = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    ws = openpyxl.load_workbook(book).worksheets[0]
    assert "共 2 条" in ws.cell(1, 1).value and "涉及 3 人" in ws.cell(1, 1).value
    headers = [c.value for c in ws[3]]
    rows = [dict(zip(headers, r)) for r in ws.iter_rows(min_row=4, values_only=True) if any(r)]
    class_serial = serials[None]
    assert [(r["序号"], r["业务流水号"], r["身份证号"], r["姓名"]) for r in rows] == [
        (1, class_serial, None, "全班 2 人"),
        (None, None, STUDENTS_02[0], "李小一"), (None, None, STUDENTS_02[1], "李小二"),
        (2, serials[STUDENTS_01[0]], STUDENTS_01[0], "王小一")]
    assert f"随业务流水号 {class_serial} 班级停保" in rows[1]["申报内容"]

    # Deciding only the class row decides the class: nothing is left undecided.
    receipt = decide_review(instance, db, book, "业务流水号", {
        class_serial: ("通过", ""), serials[STUDENTS_01[0]]: ("通过", "")}, "审核.xlsx")
    assert receipt["counts"] == {"approved": 2, "rejected": 0, "repeated": 0, "refused": 0,
                                 "undecided": 0}
    with db.session() as s:
        assert {s.get(Person, n).status for n in (*STUDENTS_02, STUDENTS_01[0])} == {"2"}

    # The result workbook: the pupils under the class row, each 通过; counts per declaration.
    result = openpyxl.load_workbook(instance.unit_outbox("S2201", "results") / f"{batch_no}.审核结果.xlsx")
    ws = result.worksheets[0]
    assert "通过 2 条" in ws.cell(1, 1).value and "涉及 3 人" in ws.cell(1, 1).value
    headers = [c.value for c in ws[3]]
    rows = [dict(zip(headers, r)) for r in ws.iter_rows(min_row=4, values_only=True) if any(r)]
    assert [(r["身份证号"], r["姓名"], r["审核结论"]) for r in rows] == [
        (None, "全班 2 人", "通过"), (STUDENTS_02[0], "李小一", "通过"),
        (STUDENTS_02[1], "李小二", "通过"), (STUDENTS_01[0], "王小一", "通过")]

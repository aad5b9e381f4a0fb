"""A class login receives the results and the rejected-row templates of the declarations it
sent, in its own outbox (outbox/<school>/@<login>/results/), and nothing of other classes."""
from __future__ import annotations

import openpyxl
from sqlalchemy import select

from exchange.accounts import add_sub_account
from exchange.intake.scan import process_inbox
from exchange.intake.subaccounts import process_sub_account_inboxes, sub_account_outbox
from exchange.schedule.registry import all_jobs
from exchange.store.models import Batch, Declaration
from tests.conftest import make_id
from tests.flows.helpers import decide_review
from tests.flows.residents import CC, STUDENTS_01, STUDENTS_02, SUSPEND, drop, school  # noqa: F401

ENROL = ["证件号码*", "姓名*", "人员类别*", "班级编号"]
PUPIL = make_id("20170303", "561", CC)


def _names(book) -> list[str]:  # type: ignore[no-untyped-def]
    ws = openpyxl.load_workbook(book).worksheets[0]
    headers = [c.value for c in ws[3]]
    return [r[headers.index("姓名")] for r in ws.iter_rows(min_row=4, values_only=True) if any(r)]


def test_class_login_gets_its_own_results_and_fix_templates(instance, db, school):  # type: ignore[no-untyped-def]
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-02", role="class", classes=["2024-02"])
    folder = "@c2024-02"
    drop(instance, "S2201", "停保.xlsx", SUSPEND, [[STUDENTS_02[0], "李小一", "转学", "", ""]],
         title="学生停保", folder=folder)
    drop(instance, "S2201", "新生.xlsx", ENROL, [[PUPIL, "孙小新", "学生", "2024-02"]],
         title="城乡居民参保申报表", folder=folder)
    assert [r.status for r in process_sub_account_inboxes(instance, db)] == ["accepted", "accepted"]
    drop(instance, "S2201", "校停保.xlsx", SUSPEND, [[STUDENTS_01[0], "王小一", "转学", "", ""]],
         title="学生停保")
    assert process_inbox(instance, db)[0].status == "accepted"
    all_jobs()["submit_batches"](instance, db)
    with db.session() as s:
        batch_no = s.scalars(select(Batch)).one().batch_no
        serials = {d.name: d.serial for d in s.scalars(select(Declaration))}
    book = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    decide_review(instance, db, book, "业务流水号", {
        serials["李小一"]: ("通过", ""), serials["孙小新"]: ("不通过", "缺少户口本"),
        serials["王小一"]: ("通过", "")}, "审核.xlsx")

    school_results = instance.unit_outbox("S2201", "results")
    assert sorted(_names(school_results / f"{batch_no}.审核结果.xlsx")) == sorted(["李小一", "孙小新", "王小一"])
    own = sub_account_outbox(instance, "S2201", "c2024-02", "results")
    assert sorted(_names(own / f"{batch_no}.审核结果.xlsx")) == ["孙小新", "李小一"]
    fix = own / f"{batch_no}.城乡居民参保申报表.退回修改.xlsx"
    ws = openpyxl.load_workbook(fix).worksheets[0]
    headers = [c.value for c in ws[3]]
    [row] = [r for r in ws.iter_rows(min_row=4, values_only=True) if any(r)]
    assert row[headers.index("*证件号码")] == PUPIL and "缺少户口本" in row
    # Nothing in the login's outbox names a pupil of another class.
    for path in own.parent.rglob("*.xlsx"):
        wb = openpyxl.load_workbook(path)
        text = " ".join(str(c.value) for ws in wb.worksheets for r in ws.iter_rows() for c in r if c.value)
        assert "王小一" not in text and STUDENTS_01[0] not in text, path
    # The fixed template, dropped back by the class login, imports cleanly.
    target = instance.unit_inbox("S2201") / folder / "退回修改.xlsx"
    openpyxl.load_workbook(fix).save(target)
    [again] = process_sub_account_inboxes(instance, db)
    assert again.status == "accepted" and again.counts.accepted == 1

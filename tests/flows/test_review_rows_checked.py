"""A review workbook's rows are taken at their word only where the word is the batch's own: each
row's person, batch and visibility are checked, and what the reviewer wrote reaches the unit as
written."""
from __future__ import annotations

from pathlib import Path

import openpyxl
from sqlalchemy import select

from exchange import codes as C
from exchange.intake.centre import process_centre_inbox
from exchange.intake.scan import process_inbox
from exchange.review.photos import send_photo_reviews
from exchange.store.models import Batch, Declaration, Person
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import fill_review
from tests.flows.residents import STUDENTS_01, school  # noqa: F401 (fixture)
from tests.flows.test_photo_review import photo_ids, state, upload
from tests.flows.test_review_cycle import NEW, STOPPER, _serials, _submit, declared  # noqa: F401 (fixture)

LATER = make_id("19930404", "464")
NEW_IDS = {name: number for number, name, _ in NEW}


def _book(instance) -> Path:  # type: ignore[no-untyped-def]
    return next(instance.unit_outbox("_centre", "batches").glob("*.审核.xlsx"))


def _book_of(instance, batch_no: str) -> Path:  # type: ignore[no-untyped-def]
    return instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"


def _drop(instance, db, wb: openpyxl.Workbook, name: str) -> dict:  # type: ignore[no-untyped-def]
    wb.save(instance.unit_inbox("_centre") / name)
    [receipt] = process_centre_inbox(instance, db)
    return receipt


def _codes(receipt: dict) -> list[tuple[int, str]]:
    return [(r["row"], e["code"]) for r in receipt["rows"] for e in r["errors"]]


def _status(db, serial: int) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        d = s.get(Declaration, serial)
        return d.status, d.decision_reason


def test_the_reviewers_reason_reaches_the_unit_with_its_chinese_punctuation(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    serial = _serials(db)
    reason = "身份证号码有误，请核对后重报（附件缺失）：见说明"
    filled = fill_review(_book(instance), "业务流水号", {serial["赵小红"]: ("不通过", f" {reason}\u200b")},
                         Path(instance.home) / "filled.xlsx")
    receipt = _drop(instance, db, openpyxl.load_workbook(filled), "审核.xlsx")
    assert receipt["counts"]["rejected"] == 1
    assert _status(db, serial["赵小红"]) == ("rejected", reason)
    with db.session() as s:
        batch_no = s.scalar(select(Batch.batch_no))
    result = openpyxl.load_workbook(instance.unit_outbox("1001", "results") / f"{batch_no}.审核结果.xlsx")
    ws = result.worksheets[0]
    headers = [c.value for c in ws[3]]
    rows = {r[headers.index("姓名")]: r for r in ws.iter_rows(min_row=4, values_only=True)}
    assert rows["赵小红"][headers.index("不通过原因")] == reason


def _second_batch(instance, db) -> tuple[str, str, int]:  # type: ignore[no-untyped-def]
    """The first batch's number, and a second batch of 1001 holding 周八's addition (its serial)."""
    _submit(instance, db)
    make_workbook(instance.unit_inbox("1001") / "增员2.xlsx", ADD_HEADERS, [add_row(LATER, "周八")],
                  title="职工批量新增申报填写表")
    process_inbox(instance, db)
    _submit(instance, db)
    with db.session() as s:
        first, second = s.scalars(select(Batch.batch_no).order_by(Batch.batch_no)).all()
    return first, second, _serials(db)["周八"]


def test_a_rows_batch_number_never_overrides_the_workbooks_own(instance, db, declared):  # type: ignore[no-untyped-def]
    first, second, later = _second_batch(instance, db)
    wb = openpyxl.load_workbook(_book_of(instance, first))
    ws = wb.worksheets[0]
    # A row typed in below the first batch's rows, for a declaration of the second batch, with
    # that batch's number in its 批次号 cell.
    row = ws.max_row + 1
    for col, value in ((2, second), (3, later), (5, LATER), (6, "周八"), (10, "通过")):
        ws.cell(row, col).value = value
    receipt = _drop(instance, db, wb, "错批.xlsx")
    assert _codes(receipt) == [(row, C.REVIEW_NOT_IN_BATCH)]
    message = receipt["rows"][0]["errors"][0]["message"]
    assert second in message and first in message and "不作审核" in message
    assert receipt["batch"] == first and receipt["counts"]["approved"] == 0
    assert _status(db, later) == ("submitted", None)


def test_a_photo_rows_review_number_never_overrides_the_workbooks_own(instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, STUDENTS_01[0])
    [first] = send_photo_reviews(instance, db)
    upload(instance, db, STUDENTS_01[1])
    [second] = send_photo_reviews(instance, db)
    wb = openpyxl.load_workbook(first.documents[0])
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[3]]
    row = ws.max_row + 1
    for header, value in (("审核单号", second.review_no), ("照片编号", photo_ids(db)[STUDENTS_01[1]]),
                          ("证件号码", STUDENTS_01[1]), ("审核结论", "通过")):
        ws.cell(row, headers.index(header) + 1).value = value
    receipt = _drop(instance, db, wb, "照片错单.xlsx")
    assert _codes(receipt) == [(row, C.REVIEW_PHOTO_NOT_IN_REVIEW)]
    assert second.review_no in receipt["rows"][0]["errors"][0]["message"]
    assert state(db)[STUDENTS_01[1]] == ("pending", None)


def _rows_by_name(ws) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {ws.cell(r, 6).value: r for r in range(4, ws.max_row + 1)}


def _submitted_book(instance, db):  # type: ignore[no-untyped-def]
    """The batch submitted: serials by name, its review workbook, sheet, and rows by name."""
    _submit(instance, db)
    wb = openpyxl.load_workbook(_book(instance))
    ws = wb.worksheets[0]
    return _serials(db), wb, ws, _rows_by_name(ws)


def test_hidden_rows_of_a_review_workbook_are_not_read_and_are_named(instance, db, declared):  # type: ignore[no-untyped-def]
    serial, wb, ws, at = _submitted_book(instance, db)
    ws.cell(at["赵小红"], 10).value = "不通过"            # a draft, then filtered away
    ws.cell(at["赵小红"], 11).value = "草稿：待复核"
    ws.row_dimensions[at["赵小红"]].hidden = True
    ws.cell(at["王小明"], 10).value = "通过"
    receipt = _drop(instance, db, wb, "筛选.xlsx")
    assert receipt["hidden_rows"] == [at["赵小红"]]
    assert f"第 {at['赵小红']} 行在工作表中被隐藏" in receipt["summary"]
    assert receipt["counts"] == {"approved": 1, "rejected": 0, "repeated": 0, "refused": 0,
                                 "undecided": 3}
    assert _status(db, serial["赵小红"]) == ("submitted", None)
    assert _status(db, serial["王小明"]) == ("approved", None)


def test_a_check_box_or_a_number_is_no_conclusion(instance, db, declared):  # type: ignore[no-untyped-def]
    serial, wb, ws, at = _submitted_book(instance, db)
    ws.cell(at["王小明"], 10).value = True
    ws.cell(at["赵小红"], 10).value = 1
    ws.cell(at["孙小刚"], 10).value = 0
    ws.cell(at["孙小刚"], 11).value = "材料不全"
    ws.cell(at["钱七"], 10).value = "同意"                 # a synonym the product reads
    receipt = _drop(instance, db, wb, "勾选.xlsx")
    assert sorted(_codes(receipt)) == sorted([(at["王小明"], C.REVIEW_CONCLUSION_UNKNOWN),
                                              (at["赵小红"], C.REVIEW_CONCLUSION_UNKNOWN),
                                              (at["孙小刚"], C.REVIEW_CONCLUSION_UNKNOWN)])
    assert receipt["counts"]["approved"] == 1
    assert {_status(db, serial[n])[0] for n in ("王小明", "赵小红", "孙小刚")} == {"submitted"}
    assert "hidden_rows" not in receipt


def _copy_before(wb: openpyxl.Workbook, title: str, conclusion: str | None) -> None:
    """A scratch sheet before the first: a copy of its table, every row with `conclusion`."""
    ws = wb.worksheets[0]
    draft = wb.create_sheet(title, 0)
    for row in ws.iter_rows(min_row=3, max_row=ws.max_row, values_only=True):
        draft.append(list(row))
    headers = [c.value for c in draft[1]]
    for r in range(2, draft.max_row + 1):
        draft.cell(r, headers.index("审核结论") + 1).value = conclusion


def test_decisions_on_two_sheets_refuse_the_workbook_naming_them(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    wb = openpyxl.load_workbook(_book(instance))
    ws = wb["审核"]
    for r in range(4, ws.max_row + 1):
        ws.cell(r, 10).value, ws.cell(r, 11).value = "不通过", "材料不全"
    _copy_before(wb, "草稿", "通过")
    receipt = _drop(instance, db, wb, "两表.xlsx")
    assert receipt["status"] == "rejected"
    [error] = receipt["file_errors"]
    assert error["code"] == C.FILE_SEVERAL_SHEETS
    assert "草稿、审核" in error["message"] and "“审核”工作表" in error["message"]
    with db.session() as s:
        assert set(s.scalars(select(Declaration.status))) == {"submitted"}


def test_the_review_sheet_is_read_behind_an_unfilled_copy(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    serial = _serials(db)
    wb = openpyxl.load_workbook(_book(instance))
    at = _rows_by_name(wb["审核"])
    wb["审核"].cell(at["王小明"], 10).value = "通过"
    _copy_before(wb, "副本", None)
    receipt = _drop(instance, db, wb, "副本.xlsx")
    assert receipt["counts"]["approved"] == 1 and receipt["counts"]["undecided"] == 4
    assert _status(db, serial["王小明"]) == ("approved", None)


def test_photo_decisions_on_two_sheets_refuse_the_workbook(instance, db, school):  # type: ignore[no-untyped-def]
    upload(instance, db, STUDENTS_01[0])
    [review] = send_photo_reviews(instance, db)
    wb = openpyxl.load_workbook(review.documents[0])
    ws = wb["照片审核"]
    headers = [c.value for c in ws[3]]
    ws.cell(4, headers.index("审核结论") + 1).value = "不通过"
    ws.cell(4, headers.index("不通过原因") + 1).value = "背景不是白色"
    _copy_before(wb, "草稿", "通过")
    receipt = _drop(instance, db, wb, "照片两表.xlsx")
    assert [e["code"] for e in receipt["file_errors"]] == [C.FILE_SEVERAL_SHEETS]
    assert "草稿、照片审核" in receipt["file_errors"][0]["message"]
    assert state(db)[STUDENTS_01[0]] == ("pending", None)


def test_a_row_showing_another_person_than_its_serials_is_refused(instance, db, declared):  # type: ignore[no-untyped-def]
    serial, wb, ws, at = _submitted_book(instance, db)
    # Only the columns 身份证号 … 审核人 of two rows sorted: the serials stay where they were.
    one, two = at["王小明"], at["赵小红"]
    for col in range(5, 13):
        ws.cell(one, col).value, ws.cell(two, col).value = ws.cell(two, col).value, ws.cell(one, col).value
    ws.cell(two, 10).value = "通过"                             # now shows 王小明
    ws.cell(one, 10).value, ws.cell(one, 11).value = "不通过", "赵小红的学历证明缺失"
    ws.cell(at["钱七"], 10).value = "通过"
    receipt = _drop(instance, db, wb, "错位.xlsx")
    assert receipt["status"] == "partial" and receipt["counts"]["approved"] == 1
    assert sorted(_codes(receipt)) == [(min(one, two), C.REVIEW_MISMATCH), (max(one, two), C.REVIEW_MISMATCH)]
    message = next(e["message"] for r in receipt["rows"] if r["row"] == one for e in r["errors"])
    assert f"业务流水号 {serial['王小明']} 是 王小明（身份证号 {NEW_IDS['王小明']}） 的申报" in message
    assert f"赵小红（身份证号 {NEW_IDS['赵小红']}）" in message
    assert _status(db, serial["王小明"]) == ("submitted", None)
    assert _status(db, serial["赵小红"]) == ("submitted", None)
    assert _status(db, serial["钱七"])[0] == "approved"


def test_a_workbook_of_another_instance_decides_nobody_here(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    with db.session() as s:
        batch_no = s.scalar(select(Batch.batch_no))
        first = s.scalar(select(Declaration.serial).order_by(Declaration.serial))
    # The training system's workbook: the same batch number and serials, its own trainees.
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "审核"
    ws.append(["培训系统审核工作簿"])
    ws.append([])
    ws.append(["序号", "批次号", "业务流水号", "业务类型", "身份证号", "姓名", "审核结论", "不通过原因", "审核人"])
    ws.append([1, batch_no, first, "职工增加", make_id("19950606", "135"), "培训甲", "通过", None, "学员"])
    meta = wb.create_sheet("_meta")
    for pair in (("kind", "review"), ("batch", batch_no)):
        meta.append(pair)
    meta.sheet_state = "hidden"
    receipt = _drop(instance, db, wb, "培训.xlsx")
    assert _codes(receipt) == [(4, C.REVIEW_MISMATCH)] and receipt["status"] == "rejected"
    assert "培训甲" in receipt["rows"][0]["errors"][0]["message"]
    assert _status(db, first) == ("submitted", None)


def test_an_approval_for_a_person_moved_since_the_import_is_refused(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    serial = _serials(db)
    with db.session() as s:                       # master data moves both to another unit
        for number in (declared["insured"], STOPPER):
            s.get(Person, number).unit_code = "1002"
    filled = fill_review(_book(instance), "业务流水号", {
        serial["李四"]: ("通过", ""), serial["钱七"]: ("通过", ""), serial["王小明"]: ("通过", "")},
        Path(instance.home) / "filled.xlsx")
    receipt = _drop(instance, db, openpyxl.load_workbook(filled), "过时.xlsx")
    assert receipt["status"] == "partial" and receipt["counts"]["approved"] == 1
    assert sorted(r["serial"] for r in receipt["rows"]) == sorted([serial["李四"], serial["钱七"]])
    assert {e["code"] for r in receipt["rows"] for e in r["errors"]} == {C.PERSON_NOT_INSURED_HERE}
    message = next(e["message"] for r in receipt["rows"] if r["serial"] == serial["钱七"] for e in r["errors"])
    assert "钱七" in message and "现在在单位 1002 参保" in message and "本申报未生效" in message
    with db.session() as s:
        assert (s.get(Person, STOPPER).status, s.get(Person, STOPPER).stopped_after) == ("1", None)
        assert s.get(Person, declared["insured"]).wage_base == 6000
    assert _status(db, serial["钱七"]) == ("submitted", None)
    # The centre may still turn the stale declaration down.
    filled = fill_review(_book(instance), "业务流水号", {serial["钱七"]: ("不通过", "已调出本单位")},
                         Path(instance.home) / "again.xlsx")
    assert _drop(instance, db, openpyxl.load_workbook(filled), "退回.xlsx")["counts"]["rejected"] == 1

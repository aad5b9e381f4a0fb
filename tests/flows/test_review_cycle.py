"""The life after import: file in -> nightly submit -> review workbook filled -> decisions in ->
records changed, result workbook and ready-to-fix template out; decisions applied once."""
from __future__ import annotations

import csv
import json
import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from exchange import codes as C
from exchange.intake.centre import process_centre_inbox
from exchange.intake.scan import process_inbox
from exchange.schedule.registry import all_jobs
from exchange.store.models import AuditEntry, Batch, Declaration, Person, RowError, Unit
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import decide_review

STOP = ["个人编号", "身份证号*", "姓名*", "停保原因", "备注"]
WAGE = ["个人编号", "身份证号码*", "姓名*", "单位内部职工号", "申报开始时间*", "现工资*"]
NEW = [(make_id("19900101", "131"), "王小明", 5200), (make_id("19910202", "242"), "赵小红", 6100),
       (make_id("19920303", "353"), "孙小刚", 7300)]
STOPPER = make_id("19750505", "515")
MONTH = f"{date.today():%Y%m}"


@pytest.fixture
def declared(instance, db, persons):  # type: ignore[no-untyped-def]
    """Three employee_add rows, a wage change and a stop, imported and pending."""
    with db.session() as s:
        s.add(Person(id_number=STOPPER, person_no="P0009", name="钱七", unit_code="1001", status="1",
                     insurances="310", last_paid_month="202610", arrears=0, wage_base=4000))
    inbox = instance.unit_inbox("1001")
    make_workbook(inbox / "增员.xlsx", ADD_HEADERS,
                  [add_row(n, name, wage=w) for n, name, w in NEW], title="职工批量新增申报填写表")
    make_workbook(inbox / "工资.xlsx", WAGE, [["P0001", persons["insured"], "李四", "A01", "202612", 8800]],
                  title="职工批量工资申报填写表")
    make_workbook(inbox / "减少.xlsx", STOP, [["P0009", STOPPER, "钱七", "", "离职"]],
                  title="职工批量减少申报填写表")
    results = process_inbox(instance, db)
    assert sorted(r.status for r in results) == ["accepted"] * 3
    return persons


def _submit(instance, db) -> str:  # type: ignore[no-untyped-def]
    return all_jobs()["submit_batches"](instance, db)


def _serials(db, **where) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        q = select(Declaration.name, Declaration.serial)
        for k, v in where.items():
            q = q.where(getattr(Declaration, k) == v)
        return dict(s.execute(q).all())


def _decide(instance, db, book: Path, decisions: dict[int, tuple[str, str]], name: str) -> dict:  # type: ignore[no-untyped-def]
    return decide_review(instance, db, book, "业务流水号", decisions, name)


def _refusals(receipt: dict) -> list[tuple[int, str]]:
    return [(r["serial"], e["code"]) for r in receipt["rows"] for e in r["errors"]]


def test_full_cycle_from_file_to_person_records(instance, db, declared):  # type: ignore[no-untyped-def]
    outcome = _submit(instance, db)
    assert re.fullmatch(r"submitted 5 declaration\(s\) in 1 batch\(es\): 1001-\d{8}-001\(5\)", outcome)
    assert _submit(instance, db).startswith("submitted 0 declaration(s) in 0 batch(es)")
    with db.session() as s:
        batch = s.scalars(select(Batch)).one()
        assert batch.unit_code == "1001" and batch.count == 5 and batch.status == "submitted"
        assert re.fullmatch(rf"1001-{date.today():%Y%m%d}-001", batch.batch_no)
        decls = s.scalars(select(Declaration)).all()
        assert {(d.status, d.batch_id) for d in decls} == {("submitted", batch.id)}
        assert all(d.submitted_at is not None for d in decls)
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "submit", AuditEntry.detail == batch.batch_no)) == 5
    batch_no = batch.batch_no

    # The unit's roster for stamping and the centre's review workbook.
    roster = instance.unit_outbox("1001", "rosters") / f"{batch_no}.申报花名册.pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(str(roster)).pages)
    assert f"批次号：{batch_no}" in text and "职工增加申报花名册" in text and "合计" in text
    assert str(5200 + 6100 + 7300) in text                     # 缴费工资 total of the adds
    book = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    wb = openpyxl.load_workbook(book)
    meta = dict(wb["_meta"].iter_rows(values_only=True))
    assert meta["kind"] == "review" and meta["batch"] == batch_no
    lines = [r for r in wb.worksheets[0].iter_rows(min_row=4, values_only=True) if r[0]]
    assert len(lines) == 5

    serial = _serials(db)
    receipt = _decide(instance, db, book, {
        serial["王小明"]: ("通过", ""), serial["赵小红"]: ("不通过", "学历证明不全"),
        serial["孙小刚"]: ("通过", ""), serial["李四"]: ("通过", ""), serial["钱七"]: ("通过", "")},
        "审核.xlsx")
    assert receipt["kind"] == "review" and receipt["status"] == "accepted"
    assert receipt["batch"] == batch_no
    assert receipt["counts"] == {"approved": 4, "rejected": 1, "repeated": 0, "refused": 0,
                                 "undecided": 0}
    assert "通过 4 条，不通过 1 条" in receipt["summary"]
    saved = json.loads(next(instance.unit_outbox("_centre", "receipts").glob("*审核*.json"))
                       .read_text(encoding="utf-8"))
    assert saved["counts"] == receipt["counts"]

    with db.session() as s:
        added = s.get(Person, NEW[0][0])
        assert (added.unit_code, added.status, added.insured_from, added.wage_base,
                added.insurances) == ("1001", "1", "202612", 5200, "310,510")
        assert added.sex == "1" and added.birth_date == "1990-01-01"
        assert s.get(Person, NEW[1][0]) is None                      # rejected: no record
        assert s.get(Person, declared["insured"]).wage_base == 8800
        stopped = s.get(Person, STOPPER)
        assert (stopped.status, stopped.stopped_after) == ("3", MONTH)
        wage_decl = s.get(Declaration, serial["李四"])
        assert wage_decl.old_values["wage_base"] == 6000 and wage_decl.payload["wage"] == 8800
        rejected = s.get(Declaration, serial["赵小红"])
        assert (rejected.status, rejected.decision_reason, rejected.reviewer) == \
            ("rejected", "学历证明不全", "张审核")
        assert s.scalars(select(Batch)).one().status == "reviewed"
        log = s.scalars(select(RowError).where(RowError.code == C.REVIEW_REJECTED)).one()
        assert log.id_number == NEW[1][0] and "学历证明不全" in log.message

    # The unit's result workbook: every row of the batch with its conclusion.
    results = instance.unit_outbox("1001", "results")
    result = openpyxl.load_workbook(results / f"{batch_no}.审核结果.xlsx").worksheets[0]
    headers = [c.value for c in result[3]]
    rows = {r[headers.index("姓名")]: r for r in result.iter_rows(min_row=4, values_only=True)}
    assert len(rows) == 5
    assert rows["赵小红"][headers.index("审核结论")] == "不通过"
    assert rows["赵小红"][headers.index("不通过原因")] == "学历证明不全"
    assert rows["王小明"][headers.index("审核结论")] == "通过"

    # The ready-to-fix template: the rejected row, the reason, and it imports cleanly.
    fix = results / f"{batch_no}.职工批量新增申报填写表.退回修改.xlsx"
    fws = openpyxl.load_workbook(fix).worksheets[0]
    fix_rows = [r for r in fws.iter_rows(min_row=4, values_only=True) if r[0]]
    assert len(fix_rows) == 1 and fix_rows[0][0] == NEW[1][0] and fix_rows[0][-1] == "学历证明不全"
    (instance.unit_inbox("1001") / fix.name).write_bytes(fix.read_bytes())
    again = process_inbox(instance, db)
    assert [(r.status, r.counts.accepted, r.counts.duplicate) for r in again] == [("accepted", 1, 0)]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration).where(
            Declaration.id_number == NEW[1][0], Declaration.status == "pending")) == 1


def test_same_decision_twice_is_harmless(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    serial = _serials(db)
    decisions = {serial["王小明"]: ("通过", ""), serial["赵小红"]: ("不通过", "照片不清")}
    first = _decide(instance, db, book, decisions, "一.xlsx")
    assert first["counts"]["approved"] == 1 and first["counts"]["undecided"] == 3
    with db.session() as s:
        before = s.get(Person, NEW[0][0]).updated_at
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
        assert s.scalars(select(Batch)).one().status == "submitted"     # 3 still undecided
    second = _decide(instance, db, book, decisions, "二.xlsx")
    assert second["status"] == "accepted" and second["rows"] == []
    assert second["counts"] == {"approved": 0, "rejected": 0, "repeated": 2, "refused": 0,
                                "undecided": 3}
    with db.session() as s:
        assert s.get(Person, NEW[0][0]).updated_at == before
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits
        assert s.scalar(select(func.count()).select_from(RowError).where(
            RowError.code == C.REVIEW_REJECTED)) == 1


def test_conflicting_and_misdirected_decisions_are_refused_with_reasons(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    serial = _serials(db)
    _decide(instance, db, book, {serial["赵小红"]: ("不通过", "学历证明不全"),
                                 serial["王小明"]: ("通过", "")}, "一.xlsx")
    receipt = _decide(instance, db, book, {
        serial["赵小红"]: ("通过", ""),                   # approve after reject
        serial["王小明"]: ("不通过", "改主意了"),          # reject after approve
        serial["孙小刚"]: ("不通过", ""),                  # no reason
        serial["李四"]: ("待定", ""),                      # not a conclusion
        serial["钱七"]: ("通过", "")}, "二.xlsx")          # fine
    assert receipt["status"] == "partial"
    assert sorted(_refusals(receipt)) == sorted([
        (serial["赵小红"], C.REVIEW_CONFLICT), (serial["王小明"], C.REVIEW_CONFLICT),
        (serial["孙小刚"], C.REVIEW_REASON_REQUIRED), (serial["李四"], C.REVIEW_CONCLUSION_UNKNOWN)])
    message = next(e["message"] for r in receipt["rows"] for e in r["errors"]
                   if r["serial"] == serial["赵小红"])
    assert "已于" in message and "审核不通过" in message and "不能再改为“审核通过”" in message
    with db.session() as s:
        assert s.get(Person, NEW[1][0]) is None
        assert s.get(Declaration, serial["赵小红"]).status == "rejected"
        assert s.get(Declaration, serial["王小明"]).status == "approved"
        assert s.get(Declaration, serial["孙小刚"]).status == "submitted"
        assert s.get(Person, STOPPER).status == "3"


def test_serials_outside_the_batch_or_not_submitted_are_refused(instance, db, declared, tmp_path):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    first = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    # A second batch the next day, and one declaration still pending.
    make_workbook(instance.unit_inbox("1001") / "增员2.xlsx", ADD_HEADERS,
                  [add_row(make_id("19930404", "464"), "周八")], title="职工批量新增申报填写表")
    process_inbox(instance, db)
    later = _serials(db, status="pending")["周八"]
    rows = [["业务流水号", "审核结论", "不通过原因", "审核人"],
            [later, "通过", "", "张审核"],                        # pending, not submitted
            [99999, "通过", "", "张审核"],                        # no such declaration
            ["abc", "通过", "", "张审核"]]
    path = instance.unit_inbox("_centre") / "决定.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    receipt = process_centre_inbox(instance, db)[0]
    assert receipt["kind"] == "review" and receipt["status"] == "rejected"
    assert _refusals(receipt) == [(later, C.REVIEW_NOT_SUBMITTED), (99999, C.REVIEW_SERIAL_UNKNOWN),
                                  ("abc", C.REVIEW_SERIAL_INVALID)]
    _submit(instance, db)
    with db.session() as s:
        second = s.scalar(select(Batch.batch_no).where(Batch.batch_no.like("%-002")))
    assert second is not None
    # The later serial named in the first batch's workbook: not that batch's.
    wb = openpyxl.load_workbook(first)
    ws = wb.worksheets[0]
    ws.cell(4, 3).value = later
    ws.cell(4, 10).value = "通过"
    wb.save(instance.unit_inbox("_centre") / "错批.xlsx")
    receipt = process_centre_inbox(instance, db)[0]
    assert _refusals(receipt) == [(later, C.REVIEW_NOT_IN_BATCH)]


def test_csv_decisions_with_the_same_columns(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    serial = _serials(db)
    with db.session() as s:
        batch_no = s.scalar(select(Batch.batch_no))
    path = instance.unit_inbox("_centre") / "decisions.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["批次号", "业务流水号", "审核结论", "不通过原因", "审核人"])
        for name, s_no in serial.items():
            w.writerow([batch_no, s_no, "同意" if name != "钱七" else "不同意",
                        "" if name != "钱七" else "欠费未清", "李审核"])
    receipt = process_centre_inbox(instance, db)[0]
    assert receipt["counts"]["approved"] == 4 and receipt["counts"]["rejected"] == 1
    with db.session() as s:
        assert s.get(Person, STOPPER).status == "1"
        assert s.get(Declaration, serial["钱七"]).reviewer == "李审核"


def test_changes_keep_old_and_new_values(instance, db, persons):  # type: ignore[no-untyped-def]
    inbox = instance.unit_inbox("1001")
    make_workbook(inbox / "变更.xlsx", ["身份证号*", "姓名*", "内部职工编号", "移动电话"],
                  [[persons["insured"], "李四", "B02", "13800001111"]], title="人员信息变更表")
    make_workbook(inbox / "单位.xlsx", ["单位所在地地址", "经办人姓名", "经办人手机"],
                  [["南通市工农南路150号", "周经办", "13900002222"]], title="单位信息变更表")
    assert [r.status for r in process_inbox(instance, db)] == ["accepted", "accepted"]
    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    with db.session() as s:
        serials = s.scalars(select(Declaration.serial)).all()
    content = [r[6] for r in openpyxl.load_workbook(book).worksheets[0].iter_rows(min_row=4, values_only=True) if r[0]]
    assert any("内部职工编号：A01→B02" in c for c in content)
    _decide(instance, db, book, {n: ("通过", "") for n in serials}, "变更.xlsx")
    with db.session() as s:
        p = s.get(Person, persons["insured"])
        assert p.staff_no == "B02" and p.extra["mobile"] == "13800001111"
        change = s.scalars(select(Declaration).where(Declaration.kind == "person_change")).one()
        assert change.old_values["staff_no"] == "A01" and change.payload["staff_no"] == "B02"
        u = s.get(Unit, "1001")
        assert (u.address, u.contact_name, u.contact_mobile) == ("南通市工农南路150号", "周经办",
                                                                 "13900002222")
        unit_change = s.scalars(select(Declaration).where(Declaration.kind == "unit_change")).one()
        assert unit_change.old_values == {"address": None, "contact_name": None, "contact_mobile": None}


def test_a_review_workbook_without_its_columns_is_rejected(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    ws.cell(3, 10).value = "结果"                        # 审核结论 header overwritten
    wb.save(instance.unit_inbox("_centre") / "坏.xlsx")
    receipt = process_centre_inbox(instance, db)[0]
    assert receipt["kind"] == "review" and receipt["status"] == "rejected"
    assert receipt["file_errors"][0]["code"] == C.FILE_MISSING_COLUMNS
    assert "审核结论" in receipt["file_errors"][0]["message"]


def test_lost_documents_are_written_again_by_the_next_run(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    roster = next(instance.unit_outbox("1001", "rosters").glob("*.pdf"))
    book.unlink()
    roster.unlink()
    assert "rewrote 2 missing document(s)" in _submit(instance, db)
    assert book.exists() and roster.exists()


def test_reasons_that_look_like_formulas_stay_text(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    serial = _serials(db)
    _decide(instance, db, book, {serial["赵小红"]: ("不通过", "=HYPERLINK(\"http://x\")")}, "f.xlsx")
    results = instance.unit_outbox("1001", "results")
    assert list(results.glob("*.xlsx"))      # else the loop below would assert nothing
    for path in results.glob("*.xlsx"):
        ws = openpyxl.load_workbook(path).worksheets[0]
        cells = [c for row in ws.iter_rows(min_row=4) for c in row if c.value == "=HYPERLINK(\"http://x\")"]
        assert cells and all(c.data_type == "s" for c in cells), path.name
    with db.session() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "submit",
                                                   AuditEntry.serial == serial["赵小红"])).one()
        assert audit.file_id is not None and audit.row == 5


def test_a_conclusion_formula_filled_down_past_the_rows_leaves_them_blank(instance, db, declared):  # type: ignore[no-untyped-def]
    """The back office fills 审核结论 by a lookup formula copied down the column: below the
    batch's rows it shows #N/A (as Excel saves it, the formula and its cached error value).
    Those rows hold nothing else and are blank rows, not decisions; a batch row whose 审核结论
    shows #N/A is refused, quoting what the reviewer sees."""
    import zipfile

    from tests.flows.hostile_files import column_letters
    from tests.flows.helpers import fill_review

    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    serial = _serials(db)
    target = fill_review(book, "业务流水号", {serial["王小明"]: ("通过", "")}, instance.home / "f.xlsx")
    ws = openpyxl.load_workbook(target).worksheets[0]
    headers = [c.value for c in ws[3]]
    column = column_letters(headers.index("审核结论") + 1)
    undecided = next(r for r in range(4, ws.max_row + 1)
                     if ws.cell(r, headers.index("业务流水号") + 1).value == serial["赵小红"])
    last = ws.max_row
    with zipfile.ZipFile(target) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    error = '<c r="{ref}" t="e"><f>VLOOKUP(A{row},结论!A:B,2,0)</f><v>#N/A</v></c>'
    sheet = parts["xl/worksheets/sheet1.xml"]
    below = "".join(f'<row r="{r}">' + error.format(ref=f"{column}{r}", row=r) + "</row>"
                    for r in range(last + 1, last + 30))
    sheet = sheet.replace(b"</sheetData>", below.encode() + b"</sheetData>")
    # 赵小红's row: its 审核结论 cell (left empty, written as an empty styled cell) shows #N/A
    sheet, n = re.subn(rb'<c r="' + f"{column}{undecided}".encode() + rb'"[^>]*?(?:/>|>.*?</c>)',
                       error.format(ref=f"{column}{undecided}", row=undecided).encode(), sheet,
                       count=1)
    assert n == 1
    parts["xl/worksheets/sheet1.xml"] = sheet
    dropped = instance.unit_inbox("_centre") / "结论.xlsx"
    with zipfile.ZipFile(dropped, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    receipt = process_centre_inbox(instance, db)[0]
    assert receipt["counts"]["approved"] == 1
    refused = [(r["serial"], e["message"]) for r in receipt["rows"] for e in r["errors"]]
    assert len(refused) == 1 and refused[0][0] == serial["赵小红"] and "#N/A" in refused[0][1]


def test_a_lost_result_workbook_comes_back_when_decisions_are_dropped_again(instance, db, declared):  # type: ignore[no-untyped-def]
    _submit(instance, db)
    book = next(instance.unit_outbox("_centre", "batches").glob("*.xlsx"))
    serial = _serials(db)
    decisions = {serial["王小明"]: ("通过", "")}
    _decide(instance, db, book, decisions, "一.xlsx")
    result = next(instance.unit_outbox("1001", "results").glob("*.审核结果.xlsx"))
    result.unlink()
    again = _decide(instance, db, book, decisions, "二.xlsx")
    assert again["counts"]["repeated"] == 1 and result.exists()


def test_two_submitters_at_once_put_each_declaration_in_exactly_one_batch(instance, db, declared):  # type: ignore[no-untyped-def]
    import threading

    from exchange.review.submit import submit_pending
    from exchange.store.db import Database

    barrier = threading.Barrier(2)
    found: list[list[str]] = []
    errors: list[BaseException] = []

    def node() -> None:
        mine = Database(instance.database_url)
        try:
            barrier.wait()
            found.append([b.batch_no for b in submit_pending(instance, mine, actor="node")])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            mine.dispose()

    threads = [threading.Thread(target=node) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(len(f) for f in found) in ([0, 1], [1, 1])
    with db.session() as s:
        batches = s.scalars(select(Batch)).all()
        assert all(b.count > 0 for b in batches)
        assert sum(b.count for b in batches) == 5
        decls = s.scalars(select(Declaration)).all()
        assert all(d.status == "submitted" and d.batch_id for d in decls)
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "submit")) == 5


def test_roster_shows_the_sex_the_id_says_when_the_row_left_it_blank(instance, db, persons):  # type: ignore[no-untyped-def]
    man, woman = make_id("19900101", "131"), make_id("19910202", "242")     # 17th digit odd / even
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS,
                  [add_row(man, "王小明", sex=""), add_row(woman, "赵小红", sex="")],
                  title="职工批量新增申报填写表")
    assert [r.status for r in process_inbox(instance, db)] == ["accepted"]
    batch_no = _submit(instance, db).split(": ")[1].split("(")[0]
    roster = instance.unit_outbox("1001", "rosters") / f"{batch_no}.申报花名册.pdf"
    cells = [line.strip() for p in PdfReader(str(roster)).pages for line in p.extract_text().splitlines()]
    assert cells[cells.index(man) + 1] == "男" and cells[cells.index(woman) + 1] == "女", cells
    with db.session() as s:                     # what the clerk wrote stays as written
        assert {d.payload.get("sex") for d in s.scalars(select(Declaration))} == {None}

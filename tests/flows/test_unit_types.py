"""Kinds belong to unit types (rules/kinds/*.toml unit_types, rules/region.toml households):
a community cannot send 职工增加, an employer no resident kinds, a school no 户主信息表 unless its
region says so; a school enrols a pupil with 姓名, 证件号码 and class, no household head."""
from __future__ import annotations

from sqlalchemy import select

from exchange import codes as C
from exchange.accounts import add_sub_account, add_unit
from exchange.intake.scan import process_inbox
from exchange.intake.subaccounts import process_sub_account_inboxes
from exchange.schedule.registry import all_jobs
from exchange.store.models import Batch, Declaration, Person, Unit
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import decide_review, process_one, receipt_of, triples
from tests.flows.residents import (CC, HEAD, HOUSEHOLD, MEMBER, PT, RESIDENT_ADD,  # noqa: F401
                                   community, drop, school)

SCHOOL_ADD = ["证件号码*", "姓名*", "人员类别*", "班级编号"]
CHANGE = ["证件号码*", "姓名*", "联系电话", "联系地址", "人员类别", "备注"]
UNIT_CHANGE = ["单位所在地地址", "邮政编码", "经办人姓名", "经办人电话", "经办人手机", "电子邮箱"]


def _refused(instance, result) -> dict:  # type: ignore[no-untyped-def]
    receipt = receipt_of(instance, result)
    assert result.status == "rejected" and not result.quarantined
    [error] = receipt["file_errors"]
    assert error["code"] == C.FILE_KIND_NOT_ALLOWED
    return error


def test_a_community_cannot_send_employee_kinds(instance, db, community):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("C3001") / "增员.xlsx", ADD_HEADERS,
                  [add_row(make_id("19900101", "131"), "王小明")], title="职工批量新增申报填写表")
    error = _refused(instance, process_one(instance, db))
    assert "社区" in error["message"] and "职工批量新增申报填写表" in error["message"]
    assert "企业" in error["message"]          # who may send it
    with db.session() as s:
        assert s.query(Declaration).count() == 0


def test_an_employer_cannot_send_resident_kinds(instance, db):  # type: ignore[no-untyped-def]
    drop(instance, "1001", "参保.xlsx", RESIDENT_ADD,
         [["", make_id("20200707", "777", PT), "林小宝", "", "", "", "", "", "学生", "", "", "", ""]],
         title="城乡居民参保申报表")
    error = _refused(instance, process_one(instance, db))
    assert "企业" in error["message"] and "社区、学校" in error["message"]


def test_a_school_has_no_household_register_unless_its_region_says_so(instance, db, school):  # type: ignore[no-untyped-def]
    rows = [[make_id("19800101", "513", CC), "孙父", "13800000000", "新增"]]
    drop(instance, "S2201", "户主.xlsx", HOUSEHOLD, rows, title="户主信息表")
    error = _refused(instance, process_one(instance, db))
    assert "登记" not in error["message"] and "社区" in error["message"]
    region = instance.rules_dir / "region.toml"
    region.write_text(region.read_text(encoding="utf-8").replace(
        'households = ["30"]', 'households = ["30", "40"]'), encoding="utf-8")
    instance.__dict__.pop("rules", None)
    drop(instance, "S2201", "户主2.xlsx", HOUSEHOLD, rows, title="户主信息表")
    assert process_one(instance, db).status == "accepted"


def test_a_school_enrols_with_name_id_and_class_only(instance, db, school):  # type: ignore[no-untyped-def]
    pupils = [make_id("20170101", f"{i}", CC) for i in (521, 532, 543)]
    drop(instance, "S2201", "新生.xlsx", SCHOOL_ADD, [
        [pupils[0], "孙一", "学生", "2024-01"],
        [pupils[1], "孙二", "学生", ""]], title="城乡居民参保申报表")     # a class is required
    result = process_one(instance, db)
    assert triples(receipt_of(instance, result)) == [(5, "班级编号", C.REQUIRED)]
    # The error workbook is the school's own template: the head is not asked for.
    from openpyxl import load_workbook

    book = load_workbook(instance.unit_outbox("S2201", "errors") / result.error_book_name)
    headers = [str(c.value) for row in book.worksheets[0].iter_rows(max_row=5) for c in row if c.value]
    assert "户主身份证号" in headers and "*户主身份证号" not in headers
    # A class login enrols on its own, into its class.
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-02", role="class", classes=["2024-02"])
    drop(instance, "S2201", "本班新生.xlsx", SCHOOL_ADD, [[pupils[2], "孙三", "学生", "2024-02"]],
         title="城乡居民参保申报表", folder="@c2024-02")
    [mine] = process_sub_account_inboxes(instance, db)
    assert mine.status == "accepted", receipt_of(instance, mine)
    with db.session() as s:
        payloads = {d.id_number: d.payload for d in s.scalars(select(Declaration))}
    assert payloads[pupils[2]]["class_code"] == "2024-02" and payloads[pupils[2]]["enrolment"] == "new"
    assert payloads[pupils[0]].get("household_head") is None


def test_a_community_still_names_a_registered_head(instance, db, community):  # type: ignore[no-untyped-def]
    drop(instance, "C3001", "参保.xlsx", SCHOOL_ADD, [[make_id("20200707", "778", PT), "林小宝", "学生", ""]],
         title="城乡居民参保申报表")
    result = process_one(instance, db)
    assert result.file_error.code == C.FILE_MISSING_COLUMNS and "户主身份证号" in result.file_error.message
    drop(instance, "C3001", "参保2.xlsx", RESIDENT_ADD, [
        ["", make_id("20200707", "778", PT), "林小宝", "", "", "", make_id("19700101", "999", PT), "子",
         "学生", "", "", "", ""]], title="城乡居民参保申报表")
    result = process_one(instance, db)
    assert triples(receipt_of(instance, result)) == [(4, "户主身份证号", C.HOUSEHOLD_MISSING)]
    # Its error workbook is the community's template: the head is required there.
    from openpyxl import load_workbook

    book = load_workbook(instance.unit_outbox("C3001", "errors") / result.error_book_name)
    assert "*户主身份证号" in [c.value for c in book.worksheets[0][3]]


def test_resident_change_keeps_old_and_new_values(instance, db, community):  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.get(Person, MEMBER).extra = {"phone": "13900000000", "category": "21"}
    drop(instance, "C3001", "变更.xlsx", CHANGE, [
        [MEMBER, "林五", "13905949999", "凤凰山路1号", "老年居民", ""],
        [MEMBER[:-1] + "0", "某某", "", "", "", ""],                 # unreadable ID
        [HEAD, "林建国", "", "", "", ""]], title="城乡居民变更申报表")   # nothing to change
    result = process_one(instance, db)
    assert result.kind == "resident_change"
    found = triples(receipt_of(instance, result))
    assert (5, "证件号码", C.ID_CHECKSUM) in found and (6, None, C.NOTHING_TO_CHANGE) in found
    assert result.counts.accepted == 1
    all_jobs()["submit_batches"](instance, db)
    with db.session() as s:
        decl = s.scalars(select(Declaration).where(Declaration.kind == "resident_change")).one()
        batch_no = s.get(Batch, decl.batch_id).batch_no
        assert decl.old_values == {"phone": "13900000000", "address": None, "category": "21"}
    book = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    decide_review(instance, db, book, "业务流水号", {decl.serial: ("通过", "")}, "审核.xlsx")
    with db.session() as s:
        extra = s.get(Person, MEMBER).extra
        elderly = instance.rules.tables["resident_category"].lookup("老年居民")
        assert (extra["phone"], extra["address"], extra["category"]) == ("13905949999", "凤凰山路1号", elderly)


def test_unit_change_carries_an_email(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "单位变更.xlsx", UNIT_CHANGE, [
        ["", "", "", "", "", "hr@nantong-demo.cn"]], title="单位信息变更表")
    result = process_one(instance, db)
    assert result.status == "accepted"
    make_workbook(instance.unit_inbox("1001") / "单位变更2.xlsx", UNIT_CHANGE, [
        ["", "", "", "", "", "hr at example"]], title="单位信息变更表")
    assert triples(receipt_of(instance, process_one(instance, db))) == [(4, "电子邮箱", C.FORMAT_INVALID)]
    all_jobs()["submit_batches"](instance, db)
    with db.session() as s:
        decl = s.scalars(select(Declaration).where(Declaration.kind == "unit_change")).one()
        batch_no = s.get(Batch, decl.batch_id).batch_no
    book = instance.unit_outbox("_centre", "batches") / f"{batch_no}.审核.xlsx"
    decide_review(instance, db, book, "业务流水号", {decl.serial: ("通过", "")}, "审核.xlsx")
    with db.session() as s:
        assert s.get(Unit, "1001").email == "hr@nantong-demo.cn"
        assert s.get(Declaration, decl.serial).old_values == {"email": None}


def test_resident_templates_speak_of_residents(instance, db, community):  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    from exchange.outputs.templates import refresh_templates

    refresh_templates(instance, db, unit="C3001")
    folder = instance.unit_outbox("C3001", "templates")
    for name in ("C3001_城乡居民暂停参保申报表.xlsx", "C3001_城乡居民变更申报表.xlsx"):
        wb = load_workbook(folder / name)
        note = wb.worksheets[0].cell(2, 1).value
        help_text = " ".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
        assert "参保居民" in note and "在职" not in note and "在职" not in help_text


def test_resident_reports_speak_of_residents(instance, db, community, school):  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    from exchange.review.reports import unit_reports

    def reports(unit: str) -> dict[str, str]:
        return {w.path.name.split(".", 1)[1]: "\n".join(p.extract_text() for p in PdfReader(str(w.path)).pages)
                for w in unit_reports(instance, db, unit=unit) if w.path.suffix == ".pdf"}

    community_reports, school_reports = reports("C3001"), reports("S2201")
    assert "当前缴费基数花名册.pdf" not in community_reports and "当前缴费基数花名册.pdf" not in school_reports
    assert "单位内部职工" not in community_reports["参保花名册.pdf"]
    assert "班级编号" in school_reports["参保花名册.pdf"] and "2024-01" in school_reports["参保花名册.pdf"]
    assert "单位内部职工" in reports("1001")["参保花名册.pdf"]

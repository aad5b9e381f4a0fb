"""Classes as data: a school lists its classes (班级信息表) or the centre loads them (master
data); only the school's own login adds or renames; templates offer them as drop-downs; the
school's report lists pupils per class with per-class subtotals."""
from __future__ import annotations

import openpyxl
from pypdf import PdfReader
from sqlalchemy import select

from exchange import codes as C
from exchange.accounts import add_sub_account
from exchange.intake.subaccounts import process_sub_account_inboxes, sub_account_outbox
from exchange.master import load_master
from exchange.outputs.templates import refresh_templates
from exchange.review.reports import unit_reports
from exchange.store.models import SchoolClass
from tests.conftest import make_id, make_workbook
from tests.flows.helpers import process_one, receipt_of, triples
from tests.flows.residents import CC, drop, school  # noqa: F401

CLASS_INFO = ["班级编号*", "班级名称*", "年级", "院系"]
ENROL = ["证件号码*", "姓名*", "人员类别*", "班级编号"]


def _classes(db) -> dict[str, tuple[str, str | None, str | None]]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return {c.class_code: (c.name, c.grade, c.department)
                for c in s.scalars(select(SchoolClass).where(SchoolClass.unit_code == "S2201"))}


def test_school_lists_and_renames_its_classes(instance, db, school):  # type: ignore[no-untyped-def]
    drop(instance, "S2201", "班级.xlsx", CLASS_INFO, [
        ["2024-01", "一年级1班", "2024级", "小学部"],
        ["2024-02", "一年级2班", "2024级", "小学部"],
        ["2024 03", "一年级3班", "", ""],                  # a space: not a class code
        ["2024-01", "一年级一班", "", ""]], title="班级信息表")   # twice in one file
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert result.kind == "class_info" and result.counts.accepted == 2
    assert triples(receipt) == [(6, "班级编号", C.FORMAT_INVALID), (7, None, C.DUPLICATE_IN_FILE)]
    notes = [n["code"] for r in receipt["rows"] for n in r.get("notes", [])]
    assert notes == [C.NOTE_CLASS_SAVED, C.NOTE_CLASS_SAVED]
    assert _classes(db) == {"2024-01": ("一年级1班", "2024级", "小学部"),
                            "2024-02": ("一年级2班", "2024级", "小学部")}
    # Renamed; the same rename again is a repeat; back to the first name is new work.
    for name, accepted in (("一年级一班", 1), ("一年级一班", 0), ("一年级1班", 1)):
        drop(instance, "S2201", "改名.xlsx", CLASS_INFO, [["2024-01", name, "", ""]], title="班级信息表")
        assert process_one(instance, db).counts.accepted == accepted
        assert _classes(db)["2024-01"] == (name, "2024级", "小学部")
    # A class login renames its own class, only its name (Changchun 班级维护: "只能对班级名称进行
    # 更改。只有学校管理员才能进行添加班级操作"): it adds none, touches no other class, sets no 年级.
    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-01", role="class", classes=["2024-01"])
    drop(instance, "S2201", "班级.xlsx", CLASS_INFO, [
        ["2024-01", "我的班", "", ""], ["2024-02", "别人的班", "", ""], ["2024-09", "新班", "", ""]],
        title="班级信息表", folder="@c2024-01")
    drop(instance, "S2201", "年级.xlsx", CLASS_INFO, [["2024-01", "我的班", "2025级", ""]],
         title="班级信息表", folder="@c2024-01")
    results = {r.name: r for r in process_sub_account_inboxes(instance, db)}
    mine, grade = results["班级.xlsx"], results["年级.xlsx"]
    assert triples(receipt_of(instance, mine)) == [(5, "班级编号", C.CLASS_ADMIN_ONLY),
                                                   (6, "班级编号", C.CLASS_ADMIN_ONLY)]
    assert triples(receipt_of(instance, grade)) == [(4, "班级编号", C.CLASS_ADMIN_ONLY)]
    assert _classes(db) == {"2024-01": ("我的班", "2024级", "小学部"),
                            "2024-02": ("一年级2班", "2024级", "小学部")}
    # Its templates folder holds the 班级信息表 it may send.
    templates = instance.unit_outbox("S2201") / "@c2024-01" / "templates"
    from exchange.outputs.templates import refresh_templates
    refresh_templates(instance, db, unit="S2201")
    assert any(p.name.endswith("班级信息表.xlsx") for p in templates.glob("*.xlsx"))


def test_listed_classes_bound_enrolment_and_fill_drop_downs(instance, db, school):  # type: ignore[no-untyped-def]
    master = make_workbook(instance.home / "classes.xlsx", ["单位编号*", "班级编号*", "班级名称*", "年级", "院系"], [
        ["S2201", "2024-01", "一年级1班", "2024级", "小学部"],
        ["S2201", "2024-02", "一年级2班", "2024级", "小学部"],
        ["S2201", "2025-01", "学前班", "2025级", "幼儿部"]], title="班级信息")
    report = load_master(instance, db, master)
    assert (report.kind, report.created, report.refused_count) == ("classes", 3, 0)
    drop(instance, "S2201", "新生.xlsx", ENROL, [
        [make_id("20190101", "571", CC), "钱一", "学生", "2025-01"],
        [make_id("20190101", "582", CC), "钱二", "学生", "2026-09"]], title="城乡居民参保申报表")
    assert triples(receipt_of(instance, process_one(instance, db))) == [(5, "班级编号", C.CLASS_UNKNOWN)]

    with db.session() as s:
        add_sub_account(instance, s, "S2201", "c2024-02", role="class", classes=["2024-02"])
    refresh_templates(instance, db, unit="S2201")

    def class_choices(path, header: str = "班级编号") -> list[str]:  # type: ignore[no-untyped-def]
        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[0]
        headers = [str(c.value).lstrip("*") for c in ws[3]]
        letter = openpyxl.utils.get_column_letter(headers.index(header) + 1)
        [dv] = [dv for dv in ws.data_validations.dataValidation if str(dv.sqref).startswith(f"{letter}4")]
        sheet, cells = dv.formula1.split("!")
        first, last = cells.replace("$", "").split(":")
        lists = wb[sheet.strip("'")]
        return [c.value for row in lists[f"{first}:{last}"] for c in row]

    templates = instance.unit_outbox("S2201", "templates")
    assert class_choices(templates / "S2201_城乡居民参保申报表.xlsx") == ["2023-09", "2024-01", "2024-02", "2025-01"]
    assert class_choices(templates / "S2201_城乡居民暂停参保申报表.xlsx")[:2] == ["2023-09", "2024-01"]
    mine = sub_account_outbox(instance, "S2201", "c2024-02", "templates")
    assert class_choices(mine / "S2201_城乡居民参保申报表.xlsx") == ["2024-02"]
    # Its 学生转班表 moves its students into any class of the school: the target's list was its
    # own class alone (strict), which Excel let it pick and class.same then refused.
    everything = ["2023-09", "2024-01", "2024-02", "2025-01"]
    assert class_choices(mine / "S2201_学生转班表.xlsx", "目标班级编号") == everything
    assert class_choices(templates / "S2201_学生转班表.xlsx", "目标班级编号") == everything
    # A class login renames only its own classes: its 班级信息表 offers those alone.
    book = openpyxl.load_workbook(mine / "S2201_班级信息表.xlsx")
    [choices] = book.worksheets[0].data_validations.dataValidation
    assert str(choices.sqref).startswith("A4") and "$A$1:$A$1" in choices.formula1
    assert book["代码表"]["A1"].value == "2024-02" and book["代码表"]["A2"].value is None
    # The school's own 班级信息表 offers its classes as a hint only: a strict list made Excel
    # refuse the code of a class the school adds. Where a student goes, the list is strict.
    def strict(path) -> list[bool]:  # type: ignore[no-untyped-def]
        ws = openpyxl.load_workbook(path).worksheets[0]
        headers = [str(c.value).lstrip("*") for c in ws[3]]
        letter = openpyxl.utils.get_column_letter(headers.index("班级编号") + 1)
        return [dv.showErrorMessage for dv in ws.data_validations.dataValidation
                if str(dv.sqref).startswith(f"{letter}4")]
    assert strict(templates / "S2201_班级信息表.xlsx") == [False]
    assert strict(mine / "S2201_班级信息表.xlsx") == [False]
    assert strict(templates / "S2201_城乡居民参保申报表.xlsx") == [True]


def test_school_students_report_has_a_section_per_class(instance, db, school):  # type: ignore[no-untyped-def]
    drop(instance, "S2201", "班级.xlsx", CLASS_INFO, [["2024-01", "一年级1班", "2024级", "小学部"],
                                                       ["2024-03", "一年级3班", "2024级", "小学部"]],
         title="班级信息表")
    process_one(instance, db)
    written = unit_reports(instance, db, unit="S2201")
    [report] = [w.path for w in written if w.path.name.endswith("学校学生查询.pdf")]
    text = "\n".join(p.extract_text() for p in PdfReader(str(report)).pages)
    assert "班级：2024-01 一年级1班" in text and "班级：2024-02" in text and "姓名" in text
    assert "共 3 人" in text and "共 2 人" in text          # 2024-01 and 2024-02 subtotals
    assert "一年级3班" in text and "共 0 人" in text          # a listed class with nobody yet
    assert "共 4 个班级" in text                              # 2023-09 (none insured) too
    # An employer has no such report.
    assert not any(w.path.name.endswith("学校学生查询.pdf") for w in unit_reports(instance, db, unit="1001"))


def test_a_prefilled_transfer_moves_the_pupils_given_a_class_and_reads_past_the_rest(
        instance, db, school):  # type: ignore[no-untyped-def]
    """The school's 学生转班表 lists every pupil (the web page's 勾选 of 004 学生转班): the clerk
    gives the one who moves a target class and leaves the others as they were. Those rows are
    no declarations: read past and named, not a failed row each (目标班级编号 为必填项) with
    an error workbook of the whole school. A row typed by hand with nothing to do still fails."""
    import json

    from tests.flows.residents import STUDENTS_01

    refresh_templates(instance, db, unit="S2201")
    wb = openpyxl.load_workbook(instance.unit_outbox("S2201", "templates") / "S2201_学生转班表.xlsx")
    ws = wb.worksheets[0]
    headers = [str(c.value).lstrip("*") for c in ws[3]]
    pupils = {r[0].value: r[0].row for r in ws.iter_rows(min_row=4) if r[0].value}
    assert len(pupils) == 5
    moving = pupils[STUDENTS_01[0]]
    ws.cell(moving, headers.index("目标班级编号") + 1).value = "2024-02"
    wb.save(instance.unit_inbox("S2201") / "转班.xlsx")
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert result.status == "accepted" and result.counts.accepted == 1 and result.counts.failed == 0
    assert result.untouched_rows == sorted(set(pupils.values()) - {moving})
    assert result.error_book_name is None
    text = (instance.unit_outbox("S2201", "receipts") / result.receipt_name).read_text("utf-8-sig")
    shown = "、".join(map(str, result.untouched_rows))
    assert f"第 {shown} 行是模板预填的人员，没有填写要办理的内容，未作为申报数据读取" in text
    assert receipt["untouched_rows"] == result.untouched_rows
    # Sent back as it came: nothing to do in it.
    wb = openpyxl.load_workbook(instance.unit_outbox("S2201", "templates") / "S2201_学生转班表.xlsx")
    wb.save(instance.unit_inbox("S2201") / "原样.xlsx")
    result = process_one(instance, db)
    assert result.status == "rejected" and result.file_error and result.file_error.code == C.FILE_EMPTY
    text = (instance.unit_outbox("S2201", "receipts") / result.receipt_name).read_text("utf-8-sig")
    assert "表中的 5 行都是模板预填的人员，没有一行填写了要办理的内容（目标班级编号）" in text
    # Typed by hand (no template's marks): a row without a target fails as before.
    make_workbook(instance.unit_inbox("S2201") / "手填.xlsx", ["证件号码*", "姓名*", "目标班级编号*"],
                  [[STUDENTS_01[1], "王小二", ""]], title="学生转班表")
    assert triples(receipt_of(instance, process_one(instance, db))) == [
        (4, "目标班级编号", C.REQUIRED)]

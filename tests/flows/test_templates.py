"""Templates: what the workbook holds, and that a template filled and sent back imports cleanly."""
from __future__ import annotations

import re
from pathlib import Path

import openpyxl
from sqlalchemy import select

from exchange.kinds.detect import unit_named
from exchange.outputs.templates import refresh_templates, template_name
from exchange.intake.scan import process_file
from exchange.store.models import Declaration, Person
from tests.conftest import make_id


def _template(instance, db, kind: str) -> Path:  # type: ignore[no-untyped-def]
    paths = refresh_templates(instance, db, unit="1001", kinds=[kind])
    assert [p.name for p in paths] == [template_name(instance.rules.kinds[kind], "1001")]
    assert paths[0].parent == instance.unit_outbox("1001", "templates")
    return paths[0]


def _send(instance, db, wb: openpyxl.Workbook, name: str):  # type: ignore[no-untyped-def]
    target = instance.unit_inbox("1001") / name
    wb.save(target)
    return process_file(instance, db, target, "1001")


def test_blank_template_has_title_headers_lists_help_and_meta(instance, db):  # type: ignore[no-untyped-def]
    wb = openpyxl.load_workbook(_template(instance, db, "employee_add"))
    ws = wb.worksheets[0]
    assert wb.sheetnames[0] == "职工批量新增申报填写表"
    assert unit_named([ws["A1"].value], {}) == "1001" and "南通示例科技有限公司" in ws["A1"].value
    headers = [c.value for c in ws[3]]
    assert headers[:3] == ["*身份证号", "*姓名", "性别"] and "*变更日期" in headers
    assert ws["A4"].number_format == "@" and ws.column_dimensions["A"].number_format == "@"
    # Drop-downs for coded columns, fed from the hidden code-list sheet.
    lists = wb["代码表"]
    assert lists.sheet_state == "hidden"
    by_column = {str(dv.sqref).split(":")[0][:-1]: dv for dv in ws.data_validations.dataValidation}
    education = headers.index("*文化程度")
    dv = by_column[openpyxl.utils.get_column_letter(education + 1)]
    assert dv.type == "list" and dv.formula1.startswith("'代码表'!")
    choices = [c.value for c in lists[dv.formula1.split("!")[1].replace("$", "").split(":")[0][0]] if c.value]
    assert "21-大学本科毕业" in choices
    help_sheet = wb["说明"]
    rules = {r[0]: r[2] for r in help_sheet.iter_rows(min_row=4, values_only=True) if r[0] and r[2]}
    assert "18位" in rules["*身份证号"] and "下限 2800" in rules["*缴费工资"]
    meta = dict(wb["_meta"].iter_rows(values_only=True))
    assert wb["_meta"].sheet_state == "hidden"
    assert meta["kind"] == "employee_add" and meta["unit"] == "1001" and meta["version"] == "1"
    assert not ws.protection.sheet


def test_filled_blank_template_imports_cleanly(instance, db):  # type: ignore[no-untyped-def]
    wb = openpyxl.load_workbook(_template(instance, db, "employee_add"))
    ws = wb.worksheets[0]
    people = [(make_id("19900101", "131"), "王小明"), (make_id("19910202", "242"), "赵小红")]
    for r, (number, name) in enumerate(people, start=4):
        values = [number, name, "", "01-汉族", "", None, None, "21-大学本科毕业", "01-管理岗位",
                  "13912345678", "南通市崇川区", "202612", 5200, "310-职工基本医疗保险,510-生育保险"]
        for j, v in enumerate(values, start=1):
            ws.cell(r, j).value = v
    result = _send(instance, db, wb, "新增.xlsx")
    assert result.kind == "employee_add" and result.status == "accepted"
    assert result.counts.accepted == 2


def test_stop_template_is_prefilled_with_insured_staff_and_locked(instance, db, persons):  # type: ignore[no-untyped-def]
    wb = openpyxl.load_workbook(_template(instance, db, "employee_stop"))
    ws = wb.worksheets[0]
    rows = [r for r in ws.iter_rows(min_row=4, values_only=True) if any(r)]
    with db.session() as s:
        insured = s.scalars(select(Person.id_number).where(Person.unit_code == "1001",
                                                           Person.status == "1")).all()
    assert sorted(r[1] for r in rows) == sorted(insured)
    assert rows[0][:4] == ("P0001", persons["insured"], "李四", "10-合同期满终止")
    assert ws.protection.sheet
    assert ws["A4"].protection.locked and ws["B4"].protection.locked and ws["C4"].protection.locked
    assert not ws["D4"].protection.locked and not ws["E4"].protection.locked
    assert "2 人" in ws["A2"].value
    # Every pre-filled row is a whole stop (the reason has a default): the clerk is told that
    # rows filtered out or hidden are not read (see the test below).
    assert "隐藏或筛选掉的行不读取，回执会列出" in ws["A2"].value
    assert any("隐藏或筛选掉的行不读取，回执中会列出它们的行号" in str(c.value or "")
               for row in wb["说明"].iter_rows() for c in row)
    # Keep the rows to stop (here: the one without arrears), send it back as it is.
    ws.delete_rows(5, 1)
    result = _send(instance, db, wb, "减少.xlsx")
    assert result.kind == "employee_stop" and result.status == "accepted"
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
        assert d.id_number == persons["insured"] and d.payload["reason"] == "10"


def test_stop_template_with_the_staff_filtered_stops_only_the_rows_shown(instance, db, persons):  # type: ignore[no-untyped-def]
    """The clerk lifts the protection and filters the pre-filled staff down to the leavers
    instead of deleting the others' rows. Every pre-filled row is a whole stop (the reason has a
    default), so the rows filtered out would all have been declared stopped; they are read past
    and named in the receipt. Saved by LibreOffice too (hidden="true")."""
    import json
    import shutil
    import subprocess

    wb = openpyxl.load_workbook(_template(instance, db, "employee_stop"))
    ws = wb.worksheets[0]
    ws.protection.sheet = False
    ws.auto_filter.ref = f"A3:E{ws.max_row}"
    ws.row_dimensions[5].hidden = True                  # the second insured person, filtered out
    result = _send(instance, db, wb, "减少.xlsx")
    assert result.kind == "employee_stop" and result.status == "accepted" and result.hidden_rows == [5]
    assert result.counts.accepted == 1
    with db.session() as s:
        assert [d.id_number for d in s.scalars(select(Declaration))] == [persons["insured"]]
    receipts = instance.unit_outbox("1001", "receipts")
    text = (receipts / result.receipt_name).read_text("utf-8-sig")
    assert "第 5 行在工作表中被隐藏（如被筛选掉），未作为申报数据读取" in text
    twin = json.loads((receipts / result.receipt_name.replace(".txt", ".json")).read_text("utf-8"))
    assert twin["hidden_rows"] == [5]
    if shutil.which("soffice"):
        saved = instance.home / "lo"
        wb.save(instance.home / "filtered.xlsx")

        def resaved(filter_: str, suffix: str):  # type: ignore[no-untyped-def]
            """The book as LibreOffice saves it (`filter_`), judged again."""
            subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{saved}/profile",
                            "--convert-to", filter_, "--outdir", str(saved),
                            str(instance.home / "filtered.xlsx")], check=True, capture_output=True,
                           timeout=120)
            target = instance.unit_inbox("1001") / f"减少-LO{suffix}"
            shutil.copy(saved / f"filtered{suffix}", target)
            return process_file(instance, db, target, "1001")

        again = resaved("xlsx", ".xlsx")
        assert again.hidden_rows == [5] and again.counts.duplicate == 1 and again.counts.accepted == 0
        # Saved as .xls (old Excel, WPS): the hidden row was read, and its person stopped.
        legacy = resaved("xls:MS Excel 97", ".xls")
        assert legacy.hidden_rows == [5] and legacy.counts.duplicate == 1
        assert legacy.counts.accepted == 0 and legacy.counts.failed == 0


def test_a_stop_template_sent_as_it_is_says_it_stops_everyone(instance, db, persons):  # type: ignore[no-untyped-def]
    """Every pre-filled row is a whole stop: the template sent untouched stops every insured
    person of the unit. It is imported (that may be meant), and the receipt says so plainly,
    with a code for programs; a file that keeps some staff says nothing."""
    import json

    with db.session() as s:
        s.get(Person, persons["arrears"]).arrears = 0          # nothing blocks either stop
    wb = openpyxl.load_workbook(_template(instance, db, "employee_stop"))
    result = _send(instance, db, wb, "减少.xlsx")
    assert result.counts.accepted == 2 and [w["code"] for w in result.warnings] == ["note.whole_staff"]
    receipts = instance.unit_outbox("1001", "receipts")
    text = (receipts / result.receipt_name).read_text("utf-8-sig")
    assert "本文件为本单位全部 2 名在职参保人员办理了职工减少申报" in text and "业务回退表" in text
    twin = json.loads((receipts / result.receipt_name.replace(".txt", ".json")).read_text("utf-8"))
    assert [w["code"] for w in twin["warnings"]] == ["note.whole_staff"]
    wb = openpyxl.load_workbook(_template(instance, db, "employee_add"))
    other = _send(instance, db, wb, "增员.xlsx")              # not a stop: no such warning
    assert not other.warnings


def test_a_stop_template_sent_as_it_is_warns_though_a_row_fails(instance, db, persons):  # type: ignore[no-untyped-def]
    """One listed person has arrears, so his row fails: the others are still all stopped, and
    the warning says so (it was judged on the rows imported, and went silent)."""
    wb = openpyxl.load_workbook(_template(instance, db, "employee_stop"))
    result = _send(instance, db, wb, "减少.xlsx")
    assert result.counts.accepted == 1 and result.counts.failed == 1
    assert [w["code"] for w in result.warnings] == ["note.whole_staff"]
    assert result.warnings[0]["message"].startswith(
        "注意：本文件列出了本单位全部 2 名在职参保人员，其中 1 人的职工减少申报已导入")
    text = (instance.unit_outbox("1001", "receipts") / result.receipt_name).read_text("utf-8-sig")
    assert "本单位全部 2 名在职参保人员" in text


def test_a_stop_file_that_keeps_some_staff_has_no_warning(instance, db, persons):  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.get(Person, persons["arrears"]).arrears = 0
    wb = openpyxl.load_workbook(_template(instance, db, "employee_stop"))
    wb.worksheets[0].delete_rows(5, 1)
    result = _send(instance, db, wb, "减少.xlsx")
    assert result.counts.accepted == 1 and result.warnings == []


def test_wage_template_filled_with_new_wages_imports_cleanly(instance, db, persons):  # type: ignore[no-untyped-def]
    wb = openpyxl.load_workbook(_template(instance, db, "wage"))
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[3]]
    assert headers == ["个人编号", "*身份证号码", "*姓名", "单位内部职工号", "*申报开始时间", "*现工资"]
    assert ws.cell(4, 4).value == "A01" and ws.cell(4, 4).protection.locked
    ws.cell(4, 5).value = "202612"
    ws.cell(4, 6).value = 8800
    ws.delete_rows(5, 1)
    result = _send(instance, db, wb, "工资.xlsx")
    assert result.status == "accepted" and result.counts.accepted == 1


def test_wage_template_with_one_wage_filled_declares_only_that_one(instance, db, persons):  # type: ignore[no-untyped-def]
    """The clerk fills 现工资 for the one person whose wage changed and leaves the other
    pre-filled rows as they came: those are read past and named (each was a failed row asking
    for a wage, inviting a wage declaration for everyone)."""
    wb = openpyxl.load_workbook(_template(instance, db, "wage"))
    ws = wb.worksheets[0]
    ws.cell(4, 5).value = "202612"
    ws.cell(4, 6).value = 8800
    result = _send(instance, db, wb, "工资.xlsx")
    assert result.status == "accepted" and result.counts.accepted == 1
    assert result.counts.failed == 0 and result.untouched_rows == [5]
    text = (instance.unit_outbox("1001", "receipts") / result.receipt_name).read_text("utf-8-sig")
    assert "第 5 行是模板预填的人员，没有填写要办理的内容" in text


def test_prefilled_templates_follow_the_staff_with_the_view(instance, db):  # type: ignore[no-untyped-def]
    """The centre loads a unit's staff after its templates were written: the stop template
    said 共 0 人 until the 02:30 job. The pre-filled templates are now rewritten with the unit's
    status books when the staff they list changed, and left alone when it did not."""
    from exchange.store.models import Person
    from exchange.view.refresh import refresh_unit

    [stop] = refresh_templates(instance, db, unit="1001", kinds=["employee_stop"])
    assert "共 0 人" in str(openpyxl.load_workbook(stop).worksheets[0]["A2"].value)
    with db.session() as s:
        s.add(Person(id_number=make_id("19800101", "013"), person_no="P0009", name="新员工",
                     unit_code="1001", status="1", insurances="310", last_paid_month="202610",
                     arrears=0))
    written = refresh_unit(instance, db, "1001")
    assert stop in written
    ws = openpyxl.load_workbook(stop).worksheets[0]
    assert "共 1 人" in str(ws["A2"].value) and ws.cell(4, 3).value == "新员工"
    before = stop.stat().st_mtime_ns
    assert stop not in refresh_unit(instance, db, "1001")         # nothing changed: left alone
    assert stop.stat().st_mtime_ns == before


def test_templates_for_every_unit_and_kind(instance, db, persons):  # type: ignore[no-untyped-def]
    paths = refresh_templates(instance, db)
    # Units without a type count as rules/region.toml default_unit_type (10 企业).
    employer = {k.kind for k in instance.rules.kinds.values() if "10" in k.unit_types}
    by_unit: dict[str, int] = {}
    for p in paths:
        by_unit[p.parent.parent.name] = by_unit.get(p.parent.parent.name, 0) + 1
    assert by_unit == {"1001": len(employer), "1002": len(employer)}
    # Written again: same names, replaced whole.
    assert sorted(refresh_templates(instance, db)) == sorted(paths)


def test_each_unit_type_is_sent_only_its_kinds(instance, db):  # type: ignore[no-untyped-def]
    from exchange.accounts import add_unit

    with db.session() as s:
        add_unit(instance, s, "3001", "示例社区", unit_type="30")
        add_unit(instance, s, "4001", "示例小学", unit_type="40")
        add_unit(instance, s, "1003", "示例企业", unit_type="10")
    kinds = instance.rules.kinds
    kinds_by_title = {k.title: k.kind for k in kinds.values()}

    def sent(unit: str) -> set[str]:
        return {kinds_by_title[p.name.split("_", 1)[1].removesuffix(".xlsx")]
                for p in refresh_templates(instance, db, unit=unit)}

    common = {"withdraw", "unit_change"}
    assert sent("3001") == common | {"household", "resident_add", "resident_suspend", "resident_change"}
    # A school keeps no household register unless its region says so.
    assert sent("4001") == common | {"resident_add", "resident_suspend", "resident_change",
                                     "class_transfer", "class_info", "user_maintenance"}
    assert sent("1003") == common | {"employee_add", "employee_stop", "wage", "person_change"}
    # The community's enrolment template asks for the head (*), the school's does not.
    from openpyxl import load_workbook

    def headers(unit: str) -> list[str]:
        ws = load_workbook(instance.unit_outbox(unit, "templates") / f"{unit}_城乡居民参保申报表.xlsx").active
        return [c.value for c in ws[3] if c.value]

    assert "*户主身份证号" in headers("3001") and "户主身份证号" in headers("4001")
    # The school's asks for the class (a row without one was refused under a header that said
    # 班级编号, and a 说明 that said 选填); the community's does not.
    assert "*班级编号" in headers("4001") and "班级编号" in headers("3001")
    wb = openpyxl.load_workbook(instance.unit_outbox("4001", "templates") / "4001_城乡居民参保申报表.xlsx")
    explained = [r for r in wb["说明"].iter_rows(values_only=True) if r[0] == "*班级编号"]
    assert explained and "必填" in str(explained[0]) and "选填" not in str(explained[0])

    # Lists speak Chinese: the program's own codes (add, employee_add, department) are offered
    # by their labels, the registers' numbers as 21-本科; a kind list only the unit's kinds.
    def choices(unit: str, title: str, header: str) -> list[str]:
        wb = load_workbook(instance.unit_outbox(unit, "templates") / f"{unit}_{title}.xlsx")
        ws = wb.worksheets[0]
        names = [str(c.value).lstrip("*") for c in ws[3]]
        letter = openpyxl.utils.get_column_letter(names.index(header) + 1)
        [dv] = [dv for dv in ws.data_validations.dataValidation if str(dv.sqref).startswith(f"{letter}4")]
        first, last = dv.formula1.split("!")[1].replace("$", "").split(":")
        return [c.value for row in wb["代码表"][f"{first}:{last}"] for c in row]

    assert choices("3001", "户主信息表", "操作") == ["新增", "修改", "删除"]
    assert choices("4001", "用户维护表", "角色") == ["系", "班级"]
    community = choices("3001", "业务回退表", "业务类型")
    assert "城乡居民参保申报" in community and "职工增加申报" not in community
    assert not any(re.search(r"[a-z]", c) for c in community)
    assert "职工增加申报" in choices("1003", "业务回退表", "业务类型")
    assert "01-汉族" in choices("3001", "城乡居民参保申报表", "民族")
    # A column optional in general but required for some rows says so (角色 for 新增: the 说明
    # said 选填, the receipt 为必填项).
    wb = load_workbook(instance.unit_outbox("4001", "templates") / "4001_用户维护表.xlsx")
    guide = {r[0]: r[2] for r in wb["说明"].iter_rows(min_row=4, values_only=True) if r[0]}
    assert "新增用户时必填" in guide["角色"] and "新增用户时必填" in guide["班级编号"]
    # The menu's own word for it (002 泉州: 城乡居民参保) names the kind too.
    assert instance.rules.tables["declaration_kind"].lookup("城乡居民参保") == "resident_add"


def _instructions(path: Path) -> tuple[str, str]:
    """(row 2 of the template, the 说明 sheet's text)."""
    wb = openpyxl.load_workbook(path)
    help_text = "\n".join(str(c) for row in wb["说明"].iter_rows(values_only=True) for c in row if c)
    return str(wb.worksheets[0]["A2"].value), help_text


def test_instructions_speak_only_of_what_the_template_has(instance, db, persons):  # type: ignore[no-untyped-def]
    note, help_text = _instructions(_template(instance, db, "employee_add"))   # blank, nothing locked
    assert "灰色" not in note + help_text and "锁定" not in note + help_text
    assert "撤销工作表保护" not in help_text and "下拉" in note
    wb = openpyxl.load_workbook(_template(instance, db, "employee_add"))
    ws = wb.worksheets[0]
    assert not ws.protection.sheet and not any(c.fill.fgColor.rgb.endswith("F2F2F2") for c in ws[3])
    note, help_text = _instructions(_template(instance, db, "wage"))           # pre-filled, locked
    assert "灰色列为系统记录，已锁定" in note and "撤销工作表保护" in help_text and "共 2 人" in note
    assert "系统记录，已锁定" in help_text
    note, help_text = _instructions(_template(instance, db, "unit_change"))    # no coded column
    assert "下拉" not in note and "代码-名称" not in help_text and "灰色" not in note
    assert "必填" not in note                                                # nothing required
    assert [line[:3] for line in help_text.splitlines() if line[1:3] == ". "] == ["1. ", "2. ", "3. "]

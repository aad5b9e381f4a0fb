"""employee_add end to end: every row code, partial success, receipts and the error workbook."""
from __future__ import annotations

import openpyxl
from sqlalchemy import func, select

from exchange import codes as C
from exchange.store.models import AuditEntry, Declaration, RowError
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import process_one as process, receipt_of, triples

TITLE = "职工批量新增申报填写表"


def test_every_row_rule_fails_with_its_code(instance, db, persons):  # type: ignore[no-untyped-def]
    good = make_id("19880808", "101")
    rows = [
        add_row(good, "张三"),                                                     # row 4: ok
        add_row(make_id("19880808", "102")[:17], "缺位"),                           # 5 id.format
        add_row("320602198002302471", "二月"),                                     # 6 id.birthdate
        add_row(make_id("19880808", "103")[:17] + "0" if make_id("19880808", "103")[17] != "0"
                else make_id("19880808", "103")[:17] + "1", "校验"),                # 7 id.checksum
        add_row(320602198808081031.0, "数字"),                                     # 8 id.numeric
        add_row(make_id("19880808", "105"), "王 五"),                               # 9 name.invalid
        add_row(make_id("19880808", "106"), "性别", sex="女"),                       # 10 sex.mismatch (106 odd? no)
        add_row(make_id("19880808", "107"), "生日", birth="1988-08-09"),            # 11 birthdate.mismatch
        add_row(make_id("19880808", "109"), "代码", education="博士后"),            # 12 code.unknown
        add_row(make_id("19880808", "111"), "年月", month="2026-13"),               # 13 month.invalid
        add_row(make_id("19880808", "113"), "小数", wage="5000.5"),                 # 14 wage.not_integer
        add_row(make_id("19880808", "115"), "超限", wage=20000),                    # 15 wage.out_of_bounds
        add_row(good, "张三"),                                                     # 16 duplicate.in_file
        add_row(persons["other"], "王五"),                                         # 17 insured_elsewhere
        add_row(persons["insured"], "李四", month="202612"),                        # 18 already insured
        add_row(make_id("19880808", "117"), "", education=""),                     # 19 required x2
    ]
    # 106 is even-sexed? make the sex disagree whatever the digit says
    from exchange.checks.ids import sex_code
    rows[6][2] = "男" if sex_code(rows[6][0]) == "2" else "女"
    make_workbook(instance.unit_inbox("1001") / "psnAdd.xlsx", ADD_HEADERS, rows, title=TITLE, title_rows=2)
    result = process(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["status"] == "partial"
    assert receipt["counts"] == {"total": 16, "accepted": 1, "failed": 15, "duplicate": 0}
    assert triples(receipt) == sorted([
        (5, "身份证号", C.ID_FORMAT), (6, "身份证号", C.ID_BIRTHDATE), (7, "身份证号", C.ID_CHECKSUM),
        (8, "身份证号", C.ID_NUMERIC), (9, "姓名", C.NAME_INVALID), (10, "性别", C.SEX_MISMATCH),
        (11, "出生日期", C.BIRTHDATE_MISMATCH), (12, "文化程度", C.CODE_UNKNOWN),
        (13, "变更日期", C.MONTH_INVALID), (14, "缴费工资", C.WAGE_NOT_INTEGER),
        (15, "缴费工资", C.WAGE_OUT_OF_BOUNDS), (16, None, C.DUPLICATE_IN_FILE),
        (17, "身份证号", C.PERSON_INSURED_ELSEWHERE), (18, "身份证号", C.PERSON_ALREADY_INSURED),
        (19, "姓名", C.REQUIRED), (19, "文化程度", C.REQUIRED),
    ])
    with db.session() as s:
        decl = s.scalars(select(Declaration)).all()
        assert [(d.id_number, d.status, d.kind) for d in decl] == [(good, "pending", "employee_add")]
        assert decl[0].payload["insurances"] == ["310", "510"]          # region default
        assert s.scalar(select(func.count()).select_from(RowError)) == 16
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
        # who, when, which file and row (DESIGN: every action on a declaration is audited)
        assert (entry.serial, entry.actor, entry.file_id, entry.row, entry.detail) == (
            decl[0].serial, "1001", decl[0].file_id, decl[0].row, "employee_add")
        assert decl[0].file_id == result.file_id and entry.at == decl[0].created_at


def test_numeric_id_fails_with_text_format_hint(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "a.xlsx", ADD_HEADERS,
                  [add_row(320602198001012473, "张三")], title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    error = receipt["rows"][0]["errors"][0]
    assert error["code"] == C.ID_NUMERIC
    assert "文本" in error["message"] and "3.20602E+17" in error["message"]


def test_error_workbook_has_only_failed_rows_marked_and_guarded(instance, db):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19800101", "011"), "好人"),
            add_row(make_id("19800101", "013"), "=HYPERLINK(\"x\")", wage=100),
            add_row("+8613900000000", "加号")]
    path = make_workbook(instance.unit_inbox("1001") / "b.xlsx", ADD_HEADERS, rows, title=TITLE)
    # openpyxl would store "=HYPERLINK" as a formula; write it as the text a clerk typed.
    wb = openpyxl.load_workbook(path)
    wb.active["B5"].data_type = "s"
    wb.save(path)
    result = process(instance, db)
    book = openpyxl.load_workbook(instance.unit_outbox("1001", "errors") / result.error_book_name)
    ws = book["失败行"]
    header = [c.value for c in ws[3]]
    assert header[:2] == ["*身份证号", "*姓名"] and header[-2:] == ["失败原因", "错误代码"]
    data = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    assert len(data) == 2
    assert data[0][1] == '=HYPERLINK("x")' and ws["B4"].data_type == "s"      # text, never a formula
    assert data[1][0] == "+8613900000000" and ws["A5"].data_type == "s"
    assert ws.column_dimensions[ws.cell(3, len(header)).column_letter].hidden
    assert data[0][-1].split(",") == [C.NAME_INVALID, C.WAGE_OUT_OF_BOUNDS]
    assert ws["M4"].fill.fgColor.rgb.endswith("FFC7CE") and ws["M4"].comment is not None
    assert book["_meta"].sheet_state == "hidden"


def test_resent_file_counts_rows_as_duplicates(instance, db):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19800101", "021"), "甲"), add_row(make_id("19800101", "023"), "乙", wage=1)]
    src = make_workbook(instance.var / "orig.xlsx", ADD_HEADERS, rows, title=TITLE)
    inbox = instance.unit_inbox("1001")
    (inbox / "first.xlsx").write_bytes(src.read_bytes())
    first = receipt_of(instance, process(instance, db))
    assert first["counts"] == {"total": 2, "accepted": 1, "failed": 1, "duplicate": 0}
    (inbox / "again.xlsx").write_bytes(src.read_bytes())
    again = receipt_of(instance, process(instance, db))
    assert again["counts"] == {"total": 2, "accepted": 0, "failed": 1, "duplicate": 1}
    dup = next(r for r in again["rows"] if r.get("duplicate"))
    assert dup["ok"] is True and dup["notes"][0]["code"] == C.DUPLICATE_IMPORTED
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1


def test_fixed_error_workbook_imports_only_the_fixed_rows(instance, db):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19800101", "031"), "甲"), add_row(make_id("19800101", "033"), "乙", wage=1)]
    make_workbook(instance.unit_inbox("1001") / "c.xlsx", ADD_HEADERS, rows, title=TITLE)
    result = process(instance, db)
    err = instance.unit_outbox("1001", "errors") / result.error_book_name
    wb = openpyxl.load_workbook(err)
    ws = wb["失败行"]
    ws["M4"] = 6000                                     # the clerk fixes the wage
    wb.save(instance.unit_inbox("1001") / "fixed.xlsx")
    fixed = receipt_of(instance, process(instance, db))
    assert fixed["kind"] == "employee_add"
    assert fixed["counts"] == {"total": 1, "accepted": 1, "failed": 0, "duplicate": 0}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 2


def test_person_with_unreviewed_declaration_is_pending(instance, db):  # type: ignore[no-untyped-def]
    number = make_id("19800101", "041")
    make_workbook(instance.unit_inbox("1001") / "d1.xlsx", ADD_HEADERS, [add_row(number, "甲")], title=TITLE)
    process(instance, db)
    make_workbook(instance.unit_inbox("1001") / "d2.xlsx", ADD_HEADERS,
                  [add_row(number, "甲", wage=7000)], title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    assert triples(receipt) == [(4, "身份证号", C.PERSON_PENDING)]
    assert "待提交" in receipt["rows"][0]["errors"][0]["message"]


def test_change_month_must_follow_last_paid_month(instance, db):  # type: ignore[no-untyped-def]
    from exchange.store.models import Person

    number = make_id("19750505", "051")
    with db.session() as s:
        s.add(Person(id_number=number, name="老职工", status="3", unit_code="1002",
                     paid_months={"310": "202611"}, last_paid_month="202611", arrears=0))
    make_workbook(instance.unit_inbox("1001") / "e.xlsx", ADD_HEADERS,
                  [add_row(number, "老职工", month="202611", insurances="310")], title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    assert triples(receipt) == [(4, "变更日期", C.MONTH_NOT_AFTER_PAID)]
    assert "202611" in receipt["rows"][0]["errors"][0]["message"]


def test_a_transfer_starts_after_the_old_units_last_month(instance, db):  # type: ignore[no-untyped-def]
    """A person stopped in 1002 is insured there to the end of December (stopped_after 202612,
    paid to 202611). 1001 adding him from 202612 was accepted, only 'after the paid month'
    being checked, and both units covered December. From 202701 he is added."""
    from exchange.store.models import Person

    number = make_id("19750505", "051")
    with db.session() as s:
        s.add(Person(id_number=number, name="刘洋", status="3", unit_code="1002", stopped_after="202612",
                     paid_months={"310": "202611"}, last_paid_month="202611", arrears=0))
    make_workbook(instance.unit_inbox("1001") / "e.xlsx", ADD_HEADERS,
                  [add_row(number, "刘洋", month="202612", insurances="310")], title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    assert triples(receipt) == [(4, "变更日期", C.MONTH_NOT_AFTER_PAID)]
    assert receipt["rows"][0]["errors"][0]["message"] == (
        "「变更日期」202612 必须晚于 202612：该人员在原单位（1002）参保至 202612 月底，本单位最早从下一个月起参保。")
    make_workbook(instance.unit_inbox("1001") / "e.xlsx", ADD_HEADERS,
                  [add_row(number, "刘洋", month="202701", insurances="310")], title=TITLE)
    assert receipt_of(instance, process(instance, db))["counts"]["accepted"] == 1


def test_region_switch_requires_person_on_file(instance, db):  # type: ignore[no-untyped-def]
    region = instance.rules_dir / "region.toml"
    region.write_text(region.read_text(encoding="utf-8").replace(
        "person_must_be_on_file = false", "person_must_be_on_file = true"), encoding="utf-8")
    instance.__dict__.pop("rules", None)
    make_workbook(instance.unit_inbox("1001") / "f.xlsx", ADD_HEADERS,
                  [add_row(make_id("19800101", "061"), "新人")], title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    assert triples(receipt) == [(4, "身份证号", C.PERSON_NOT_ON_FILE)]


def test_wage_bounds_follow_the_month(instance, db):  # type: ignore[no-untyped-def]
    (instance.rules_dir / "wages.toml").write_text(
        '[[bounds]]\nfrom = "190001"\nlow = 2800\nhigh = 15600\n\n'
        '[[bounds]]\nfrom = "202701"\nlow = 3000\nhigh = 16000\n', encoding="utf-8")
    instance.__dict__.pop("rules", None)
    rows = [add_row(make_id("19800101", "071"), "甲", month="202612", wage=2900),
            add_row(make_id("19800101", "073"), "乙", month="202701", wage=2900)]
    make_workbook(instance.unit_inbox("1001") / "g.xlsx", ADD_HEADERS, rows, title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    assert triples(receipt) == [(5, "缴费工资", C.WAGE_OUT_OF_BOUNDS)]
    assert "3000" in receipt["rows"][0]["errors"][0]["message"]


def test_text_receipt_is_chinese_and_names_the_error_book(instance, db):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19800101", "081"), "甲"), add_row(make_id("19800101", "083"), "乙", wage=1)]
    make_workbook(instance.unit_inbox("1001") / "h.xlsx", ADD_HEADERS, rows, title=TITLE)
    result = process(instance, db)
    text = (instance.unit_outbox("1001", "receipts") / result.receipt_name).read_text(encoding="utf-8-sig")
    assert "处理结果：部分成功" in text
    assert "成功 1 行，失败 1 行，重复 0 行，共 2 行。" in text
    assert result.error_book_name in text
    assert "第 5 行（乙" in text and "缴费基数范围" in text
    assert "待提交" in text                      # accepted rows wait for the nightly submission
    archived = list((instance.archive).rglob("*h.xlsx"))
    assert len(archived) == 1 and not list(instance.unit_inbox("1001").iterdir())


def test_dates_phones_and_long_text(instance, db):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19880808", "901"), "甲", birth="1988-02-30"),
            add_row(make_id("19880808", "903"), "乙", phone="12345"),
            add_row(make_id("19880808", "905"), "丙", address="很长的地址" * 30),
            add_row(make_id("19880808", "907"), "丁", birth="1988年8月8日", phone="0513-85123456")]
    make_workbook(instance.unit_inbox("1001") / "i.xlsx", ADD_HEADERS, rows, title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    assert triples(receipt) == [(4, "出生日期", C.DATE_INVALID), (5, "联系电话", C.PHONE_INVALID),
                                (6, "联系地址", C.TEXT_TOO_LONG)]
    assert receipt["counts"]["accepted"] == 1


def test_an_employee_is_insured_with_employee_schemes_and_the_basic_one(instance, db):  # type: ignore[no-untyped-def]
    """The template's list offered 390 城乡居民基本医疗保险 to an employer, and an employee was
    added into residents' insurance (then owed 400 a year as a resident); 生育保险 or 公务员医疗补助
    alone was imported too, without basic insurance. Now a resident scheme is code.unknown and
    参保险种 without 职工基本医疗保险 is insurance.without_basic; left empty it is the default."""
    rows = [add_row(make_id("19800101", "013"), insurances="390-城乡居民基本医疗保险"),
            add_row(make_id("19800101", "021"), insurances="510"),
            add_row(make_id("19800101", "039"), insurances="320"),
            add_row(make_id("19800101", "047"), insurances="310,320"),
            add_row(make_id("19800101", "055"))]
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS, rows, title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    assert triples(receipt) == [(4, "参保险种", C.CODE_UNKNOWN), (5, "参保险种", C.INSURANCE_WITHOUT_BASIC),
                                (6, "参保险种", C.INSURANCE_WITHOUT_BASIC)]
    assert receipt["rows"][1]["errors"][0]["message"] == (
        "「参保险种」须包含职工基本医疗保险：生育保险只能与职工基本医疗保险一同参保。"
        "请加上职工基本医疗保险，或留空（默认参加职工基本医疗保险、生育保险）。")
    with db.session() as s:
        insured = {d.id_number[-4:]: d.payload["insurances"] for d in s.scalars(select(Declaration))}
    assert {k: sorted(v) for k, v in insured.items()} == {
        make_id("19800101", "047")[-4:]: ["310", "320"], make_id("19800101", "055")[-4:]: ["310", "510"]}
    # The template's drop-down offers only the employee schemes.
    from exchange.outputs.templates import refresh_templates

    [path] = refresh_templates(instance, db, unit="1001", kinds=["employee_add"])
    wb = openpyxl.load_workbook(path)
    lists = " ".join(str(v.formula1) for v in wb.worksheets[0].data_validations.dataValidation)
    hidden = " ".join(str(c.value) for ws in wb.worksheets[1:] for row in ws.iter_rows() for c in row)
    assert "城乡居民" not in lists + hidden and "职工基本医疗保险" in lists + hidden


def test_a_name_typed_unlike_the_record_is_to_be_checked_not_left_alone(instance, db, persons):  # type: ignore[no-untyped-def]
    """An add's 姓名 is the clerk's own entry: one unlike the record was told 此列请勿改动 (the
    words for a template's locked column); it is told to check it. A stop template's locked
    姓名 keeps those words; a 回退 row naming nothing is told it may give the ID instead."""
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS,
                  [add_row(persons["other"], "王武")], title=TITLE)
    receipt = receipt_of(instance, process(instance, db))
    message = next(e["message"] for r in receipt["rows"] for e in r["errors"]
                   if e["code"] == C.RECORD_MISMATCH)
    assert message.startswith("「姓名」“王武”与系统登记的“王五”不一致，请核对后重填") and "请勿改动" not in message
    make_workbook(instance.unit_inbox("1001") / "减少.xlsx", ["个人编号", "身份证号*", "姓名*", "停保原因", "备注"],
                  [["", persons["insured"], "李四四", "", ""]], title="职工批量减少申报填写表")
    receipt = receipt_of(instance, process(instance, db))
    assert receipt["rows"][0]["errors"][0]["message"].endswith("不一致，此列请勿改动。")
    make_workbook(instance.unit_inbox("1001") / "回退.xlsx", ["业务流水号", "身份证号", "业务类型"],
                  [["", "", "职工增加申报"]], title="业务回退表")
    receipt = receipt_of(instance, process(instance, db))
    assert receipt["rows"][0]["errors"][0]["message"].startswith("请填写「业务流水号」，或填写「身份证号」")

"""employee_stop, wage, person_change, unit_change and withdraw."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from exchange import codes as C
from exchange.store.models import AuditEntry, Declaration
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import process_one, receipt_of, triples

STOP = ["个人编号", "身份证号*", "姓名*", "停保原因", "备注"]
WAGE = ["个人编号", "身份证号码*", "姓名*", "单位内部职工号", "申报开始时间*", "现工资*"]


def test_stop_defaults_reason_and_stops_after_this_month(instance, db, persons):  # type: ignore[no-untyped-def]
    rows = [["P0001", persons["insured"], "李四", "", "离职"],
            ["", persons["other"], "王五", "", ""],                  # insured in 1002
            ["", make_id("19800101", "201"), "无档", "", ""],         # not on file
            ["", persons["arrears"], "赵六", "本人意愿解除劳动合同", ""],  # arrears block
            ["P9999", persons["insured"], "李四", "", ""]]            # same person again
    make_workbook(instance.unit_inbox("1001") / "减少.xlsx", STOP, rows, title="职工批量减少申报填写表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "employee_stop"
    assert triples(receipt) == [
        (5, "身份证号", C.PERSON_NOT_INSURED_HERE), (6, "身份证号", C.PERSON_NOT_ON_FILE),
        (7, "身份证号", C.ARREARS), (8, None, C.DUPLICATE_IN_FILE), (8, "个人编号", C.RECORD_MISMATCH)]
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
    month = f"{date.today():%Y%m}"
    assert d.payload["reason"] == "10" and d.payload["stop_after"] == month


@pytest.mark.parametrize(("written", "code"), [("本人自愿解除劳动合同(失业类)", "11"),
                                              ("非本人自愿解除劳动合同（失业类）", "12"),
                                              ("本人自愿解除劳动合同", "11")])
def test_stop_reasons_as_nantongs_roster_prints_them(instance, db, persons, written, code):  # type: ignore[no-untyped-def]
    """The 减少申报名册 prints the reasons 本人自愿解除劳动合同(失业类) and 非本人自愿…(失业类), and a
    clerk copying them got `code.unknown`: they are the table's 11 and 12."""
    make_workbook(instance.unit_inbox("1001") / "减少.xlsx", STOP, [["P0001", persons["insured"], "李四", written, ""]],
                  title="职工批量减少申报填写表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"]["accepted"] == 1, triples(receipt)
    with db.session() as s:
        assert s.scalars(select(Declaration)).one().payload["reason"] == code


def test_arrears_switch_off_lets_stop_through(instance, db, persons):  # type: ignore[no-untyped-def]
    region = instance.rules_dir / "region.toml"
    region.write_text(region.read_text(encoding="utf-8").replace(
        'arrears_block = ["employee_stop", ', 'arrears_block = ['), encoding="utf-8")
    instance.__dict__.pop("rules", None)
    make_workbook(instance.unit_inbox("1001") / "减少.xlsx", STOP, [["", persons["arrears"], "赵六", "", ""]],
                  title="职工批量减少申报填写表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1


def test_a_stop_before_the_insurance_starts_is_refused(instance, db):  # type: ignore[no-untyped-def]
    """An add dated six months ahead was approved (参保开始 202706), then a stop now was
    accepted too: the record said 终止 from 202612, insured from 202706."""
    from exchange.store.models import Person

    number = make_id("19800101", "611")
    with db.session() as s:
        s.add(Person(id_number=number, person_no="P0611", name="未来", unit_code="1001", status="1",
                     insurances="310", insured_from="209906", arrears=0))
    make_workbook(instance.unit_inbox("1001") / "减少.xlsx", STOP, [["", number, "未来", "", ""]],
                  title="职工批量减少申报填写表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "身份证号", C.PERSON_NOT_INSURED_HERE)]
    assert receipt["rows"][0]["errors"][0]["message"].startswith(
        "该人员在本单位从 209906 起才参保，尚未开始，不能办理职工减少申报。")


def test_wage_rows_must_match_the_record(instance, db, persons):  # type: ignore[no-untyped-def]
    rows = [["P0001", persons["insured"], "李四", "A01", "202701", 8000],
            ["P0001", persons["insured"].lower(), "李四", "A01", "202701", 8000],  # same person again
            ["P0003", persons["arrears"], "赵六六", "", "2027年1月", 8000],
            ["", persons["other"], "王五", "", "202701", 8000],
            ["", make_id("19800101", "301"), "新人", "", "202701", 8000.5]]
    make_workbook(instance.unit_inbox("1001") / "工资.xlsx", WAGE, rows, title="职工批量工资申报填写表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "wage"
    assert triples(receipt) == [
        (5, None, C.DUPLICATE_IN_FILE), (6, "姓名", C.RECORD_MISMATCH),
        (7, "身份证号码", C.PERSON_NOT_INSURED_HERE), (8, "现工资", C.WAGE_NOT_INTEGER),
        (8, "身份证号码", C.PERSON_NOT_ON_FILE)]


def test_a_row_sent_again_after_a_later_declaration_replaced_it_is_new_work(instance, db, persons):  # type: ignore[no-untyped-def]
    """A wage of 6000 approved, corrected to 5000 and approved, then 6000 after all: the third
    was counted 重复 of the first and nothing imported, the base staying 5000. Only a row whose
    declaration is still the person's latest of its kind (and no later one changed whether he
    is insured) repeats it."""
    def send(wage: int):  # type: ignore[no-untyped-def]
        make_workbook(instance.unit_inbox("1001") / "工资.xlsx", WAGE,
                      [["P0001", persons["insured"], "李四", "A01", "202701", wage]],
                      title="职工批量工资申报填写表")
        receipt = receipt_of(instance, process_one(instance, db))
        with db.session() as s:
            for d in s.scalars(select(Declaration).where(Declaration.status == "pending")):
                d.status = "approved"                   # the centre approves it
        return receipt["counts"]

    assert send(6000)["accepted"] == 1
    assert send(5000)["accepted"] == 1
    assert send(5000)["duplicate"] == 1                 # still the latest: a repeat
    assert send(6000) == {"total": 1, "accepted": 1, "failed": 0, "duplicate": 0}
    with db.session() as s:
        wages = [d.payload["wage"] for d in s.scalars(select(Declaration).order_by(Declaration.serial))]
    assert wages == [6000, 5000, 6000]


def test_person_change_keeps_old_and_new_values(instance, db, persons):  # type: ignore[no-untyped-def]
    headers = ["身份证号*", "姓名*", "内部职工编号", "常住地邮政编码", "常住地详细地址", "办公电话", "移动电话", "住宅电话"]
    rows = [[persons["insured"], "李四", "B02", "226001", "", "", "13800001111", ""],
            [persons["arrears"], "赵六", "", "", "", "", "", ""],
            [persons["other"], "王五", "", "2260", "", "", "", ""]]
    make_workbook(instance.unit_inbox("1001") / "变更.xlsx", headers, rows, title="人员信息变更表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(5, None, C.NOTHING_TO_CHANGE), (6, "常住地邮政编码", C.FORMAT_INVALID),
                                (6, "身份证号", C.PERSON_NOT_INSURED_HERE)]
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
    assert d.payload["staff_no"] == "B02" and d.payload["mobile"] == "13800001111"
    assert d.old_values == {"staff_no": "A01", "postcode": None, "mobile": None}


def test_unit_change_records_old_values(instance, db):  # type: ignore[no-untyped-def]
    headers = ["单位所在地地址", "邮政编码", "经办人姓名", "经办人电话", "经办人手机"]
    make_workbook(instance.unit_inbox("1001") / "单位.xlsx", headers,
                  [["工农南路150号", "226006", "周经办", "0513-85000000", "13900001234"]],
                  title="单位信息变更表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "unit_change" and receipt["counts"]["accepted"] == 1
    with db.session() as s:
        d = s.scalars(select(Declaration)).one()
    assert d.payload["address"] == "工农南路150号" and d.old_values["address"] is None


def test_withdraw_removes_pending_declarations_only(instance, db):  # type: ignore[no-untyped-def]
    a, b = make_id("19800101", "401"), make_id("19800101", "403")
    make_workbook(instance.unit_inbox("1001") / "add.xlsx", ADD_HEADERS, [add_row(a, "甲"), add_row(b, "乙")],
                  title="职工批量新增申报填写表")
    process_one(instance, db)
    with db.session() as s:
        serial_a, serial_b = s.scalars(select(Declaration.serial).order_by(Declaration.serial)).all()
        s.get(Declaration, serial_b).status = "submitted"
    rows = [[serial_a, "", ""], ["", b, "职工增加申报"], [99999, "", ""], ["", "", ""]]
    make_workbook(instance.unit_inbox("1001") / "回退.xlsx", ["业务流水号", "身份证号", "业务类型"],
                  rows[:3], title="业务回退表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "withdraw"
    assert triples(receipt) == [(5, "身份证号", C.DECLARATION_NOT_PENDING),
                                (6, "业务流水号", C.DECLARATION_NOT_FOUND)]
    with db.session() as s:
        assert s.get(Declaration, serial_a).status == "withdrawn"
        assert s.get(Declaration, serial_b).status == "submitted"
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.serial == serial_a)).all() == [
            "import", "withdraw"]
    # After withdrawal the same row may be declared again.
    make_workbook(instance.unit_inbox("1001") / "add2.xlsx", ADD_HEADERS, [add_row(a, "甲")],
                  title="职工批量新增申报填写表")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1


def test_withdraw_cannot_touch_another_units_declaration(instance, db):  # type: ignore[no-untyped-def]
    a = make_id("19800101", "411")
    make_workbook(instance.unit_inbox("1002") / "add.xlsx", ADD_HEADERS, [add_row(a, "甲")],
                  title="职工批量新增申报填写表")
    process_one(instance, db)
    with db.session() as s:
        serial = s.scalars(select(Declaration.serial)).one()
    make_workbook(instance.unit_inbox("1001") / "回退.xlsx", ["业务流水号", "身份证号", "业务类型"],
                  [[serial, "", ""]], title="业务回退表")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "业务流水号", C.DECLARATION_NOT_FOUND)]
    with db.session() as s:
        assert s.get(Declaration, serial).status == "pending"


def _two_pending(instance, db, seq: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Two employee_add declarations imported and pending: their serials."""
    a, b = make_id("19800101", f"{seq}"), make_id("19800101", f"{seq + 2}")
    make_workbook(instance.unit_inbox("1001") / "add.xlsx", ADD_HEADERS, [add_row(a, "甲"), add_row(b, "乙")],
                  title="职工批量新增申报填写表")
    process_one(instance, db)
    with db.session() as s:
        serial_a, serial_b = s.scalars(select(Declaration.serial).order_by(Declaration.serial)).all()
    return serial_a, serial_b


def _withdraw(instance, db, rows: list[list[object]]):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "回退.xlsx", ["业务流水号", "身份证号", "业务类型"],
                  rows, title="业务回退表")
    return process_one(instance, db)


def test_withdraw_by_serial_refuses_a_stated_type_that_is_not_the_serials(instance, db):  # type: ignore[no-untyped-def]
    serial_a, serial_b = _two_pending(instance, db, 421)
    receipt = receipt_of(instance, _withdraw(instance, db, [[serial_a, "", "工资申报"],
                                                            [serial_b, "", "职工增加申报"]]))
    assert triples(receipt) == [(4, "业务类型", C.DECLARATION_KIND_MISMATCH)]
    message = receipt["rows"][0]["errors"][0]["message"]
    assert f"业务流水号 {serial_a}" in message and "职工增加" in message and "缴费基数" in message
    with db.session() as s:
        assert s.get(Declaration, serial_a).status == "pending"
        assert s.get(Declaration, serial_b).status == "withdrawn"


def test_withdrawal_receipt_says_what_happened_not_that_rows_await_submission(instance, db):  # type: ignore[no-untyped-def]
    serial_a, serial_b = _two_pending(instance, db, 431)
    with db.session() as s:
        s.get(Declaration, serial_b).status = "submitted"
    result = _withdraw(instance, db, [[serial_a, "", ""], [serial_b, "", ""]])
    text = (instance.unit_outbox("1001", "receipts") / result.receipt_name).read_text(encoding="utf-8-sig")
    assert "待提交" not in text and "夜间" not in text and "已回退" in text
    assert "已已" not in text and f"业务流水号 {serial_b} 的申报当前为“已提交”" in text

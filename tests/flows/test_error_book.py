"""An error workbook dropped back as it came is recognised by its `_meta` and judged the same."""
from __future__ import annotations

from datetime import datetime

import openpyxl
from sqlalchemy import select

from exchange import codes as C
from exchange.store.models import Declaration
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import process_one as process, receipt_of, triples

TITLE = "职工批量新增申报填写表"


def test_error_workbook_sent_back_unchanged_fails_the_same_rows(instance, db):  # type: ignore[no-untyped-def]
    rows = [add_row(make_id("19800101", "051"), "好人"),
            add_row(make_id("19800101", "053"), "王 五", birth=datetime(1980, 1, 1)),
            add_row(make_id("19800101", "055"), "乙", wage=1, address="=1+1 & <r>x</r>"),
            add_row(make_id("19800101", "057"), "丙", education="博士后", phone="+8613900000000")]
    make_workbook(instance.unit_inbox("1001") / "e.xlsx", ADD_HEADERS, rows, title=TITLE)
    first = process(instance, db)
    before = receipt_of(instance, first)
    assert before["counts"]["failed"] == 3
    book = instance.unit_outbox("1001", "errors") / first.error_book_name
    (instance.unit_inbox("1001") / "back.xlsx").write_bytes(book.read_bytes())
    again = receipt_of(instance, process(instance, db))
    assert again["kind"] == "employee_add"
    assert again["counts"] == {"total": 3, "accepted": 0, "failed": 3, "duplicate": 0}
    assert triples(before) == [(5, "姓名", C.NAME_INVALID), (6, "缴费工资", C.WAGE_OUT_OF_BOUNDS),
                               (7, "文化程度", C.CODE_UNKNOWN)]
    assert triples(again) == [(row - 1, column, code) for row, column, code in triples(before)]


def test_corrected_error_workbook_keeps_markup_and_formula_lookalikes(instance, db):  # type: ignore[no-untyped-def]
    address = "<r><t>崇川区</t></r>"                     # what XlsxWriter would take for rich text
    rows = [add_row(make_id("19800101", "061"), "丁", wage=1, address=address, phone="+8613900000000")]
    make_workbook(instance.unit_inbox("1001") / "m.xlsx", ADD_HEADERS, rows, title=TITLE)
    first = process(instance, db)
    book = instance.unit_outbox("1001", "errors") / first.error_book_name
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    assert (ws["K4"].value, ws["J4"].value, ws["J4"].data_type) == (address, "+8613900000000", "s")
    ws["M4"] = 6000                                     # the clerk fixes the wage, nothing else
    wb.save(instance.unit_inbox("1001") / "fixed.xlsx")
    fixed = receipt_of(instance, process(instance, db))
    assert fixed["kind"] == "employee_add"
    assert fixed["counts"] == {"total": 1, "accepted": 1, "failed": 0, "duplicate": 0}
    with db.session() as s:
        payload = s.scalars(select(Declaration)).one().payload
    assert payload["address"] == address and payload["phone"].endswith("13900000000")

"""An error workbook dropped back as it came is recognised by its `_meta` and judged the same."""
from __future__ import annotations

from datetime import datetime

import openpyxl
from sqlalchemy import func, select

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
    path = make_workbook(instance.unit_inbox("1001") / "e.xlsx", ADD_HEADERS, rows, title=TITLE)
    # openpyxl would store "=1+1 …" as a formula (without its value); write it as the text a
    # clerk typed.
    wb = openpyxl.load_workbook(path)
    wb.active["K6"].data_type = "s"
    wb.save(path)
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
    # As the template (DESIGN §6): the coded columns' drop-downs over the failed rows, their
    # entries in a hidden sheet, and the 说明 sheet; the book is read back as one sheet.
    assert wb.sheetnames[0] == ws.title and {"说明", "代码表"} <= set(wb.sheetnames)
    assert wb["代码表"].sheet_state == "hidden"
    lists = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
    education = openpyxl.utils.get_column_letter([c.value for c in ws[3]].index("*文化程度") + 1)
    dv = lists[f"{education}4"]
    first, last = dv.formula1.split("!")[1].replace("$", "").split(":")
    assert "21-大学本科毕业" in [c.value for row in wb["代码表"][f"{first}:{last}"] for c in row]
    assert dv.showErrorMessage
    rules = {r[0]: r[2] for r in wb["说明"].iter_rows(min_row=4, values_only=True) if r[0]}
    assert "下限 2800" in rules["*缴费工资"]
    ws["M4"] = 6000                                     # the clerk fixes the wage, nothing else
    wb.save(instance.unit_inbox("1001") / "fixed.xlsx")
    fixed = receipt_of(instance, process(instance, db))
    assert fixed["kind"] == "employee_add"
    assert fixed["counts"] == {"total": 1, "accepted": 1, "failed": 0, "duplicate": 0}
    with db.session() as s:
        payload = s.scalars(select(Declaration)).one().payload
    assert payload["address"] == address and payload["phone"].endswith("13900000000")


def test_a_large_error_book_written_by_a_helper_survives_a_file_judged_again(instance, db,
                                                                          monkeypatch):  # type: ignore[no-untyped-def]
    """Past SPILL_ROWS failed rows a helper process writes the book. A file judged again (here:
    an import race lost in the second chunk) stops the first attempt's helper, and the book
    published holds each failed row once."""
    import exchange.outputs.error_book as eb
    from sqlalchemy.exc import IntegrityError

    from exchange.config import Instance
    from exchange.store import queries as Q

    (instance.home / "config.toml").write_text("[intake]\nchunk_rows = 4\n", encoding="utf-8")
    small = Instance(instance.home)
    monkeypatch.setattr(eb, "SPILL_ROWS", 2)             # the first chunk's third bad row
    monkeypatch.setattr(eb, "BATCH_ROWS", 2)
    books: list[eb.ErrorBook] = []
    helpers: list[int] = []
    original_init, original_send = eb.ErrorBook.__init__, eb.ErrorBook._send

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        books.append(self)

    def send(self, item):  # type: ignore[no-untyped-def]
        if self.helper is not None and self.helper.pid not in helpers:
            helpers.append(self.helper.pid)
        original_send(self, item)

    calls = []
    original_add = Q.add_declarations

    def add(s, rows):  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        if len(calls) == 2:                  # the first attempt's second chunk loses a race
            raise IntegrityError("INSERT", {}, Exception("uq_declarations_open_person"))
        return original_add(s, rows)

    monkeypatch.setattr(eb.ErrorBook, "__init__", init)
    monkeypatch.setattr(eb.ErrorBook, "_send", send)
    monkeypatch.setattr(Q, "add_declarations", add)
    rows = []
    for i in range(12):                      # 4 per chunk: 3 bad names and a good row each
        name = "好人" if i % 4 == 3 else f"王 {i}"
        rows.append(add_row(make_id("19800101", f"{2 * i + 1:03d}"), name))
    make_workbook(small.unit_inbox("1001") / "big.xlsx", ADD_HEADERS, rows, title=TITLE)
    result = process(small, db)
    assert result.counts.as_dict() == {"total": 12, "accepted": 3, "failed": 9, "duplicate": 0}
    assert len(books) == 2 and len(helpers) == 2             # one helper per attempt
    assert all(b.helper is None for b in books)              # both stopped: closed or given up
    book = openpyxl.load_workbook(small.unit_outbox("1001", "errors") / result.error_book_name)
    names = [r[1] for r in book.worksheets[0].iter_rows(min_row=4, values_only=True)]
    assert names == [f"王 {i}" for i in range(12) if i % 4 != 3]


def test_a_helper_that_dies_mid_book_costs_a_second_judging_not_the_file(instance, db,
                                                                         monkeypatch):  # type: ignore[no-untyped-def]
    """The book's helper killed (the OOM killer, say): nothing was committed, the file is
    judged again with the book written in-process, and the clerk gets the same receipt."""
    import signal

    import exchange.outputs.error_book as eb

    monkeypatch.setattr(eb, "SPILL_ROWS", 2)
    monkeypatch.setattr(eb, "BATCH_ROWS", 2)
    original_send = eb.ErrorBook._send
    killed: list[int] = []

    def send(self, item):  # type: ignore[no-untyped-def]
        if not killed and isinstance(item, list):       # the first batch of rows
            killed.append(self.helper.pid)
            self.helper.send_signal(signal.SIGKILL)
            self.helper.wait()
        original_send(self, item)

    monkeypatch.setattr(eb.ErrorBook, "_send", send)
    rows = [add_row(make_id("19800101", f"{2 * i + 1:03d}"), "好人" if i == 5 else f"王 {i}")
            for i in range(8)]
    make_workbook(instance.unit_inbox("1001") / "big.xlsx", ADD_HEADERS, rows, title=TITLE)
    result = process(instance, db)
    assert killed and result.status == "partial"
    assert result.counts.as_dict() == {"total": 8, "accepted": 1, "failed": 7, "duplicate": 0}
    book = openpyxl.load_workbook(instance.unit_outbox("1001", "errors") / result.error_book_name)
    names = [r[1] for r in book.worksheets[0].iter_rows(min_row=4, values_only=True)]
    assert names == [f"王 {i}" for i in range(8) if i != 5]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1    # imported once


def test_a_failed_book_helper_judges_the_file_again_with_the_book_written_here(instance, db, monkeypatch):  # type: ignore[no-untyped-def]
    """The error workbook's helper stopping is not the file's fault: nothing is committed, the
    file is judged again with the book written in-process, and one receipt and one book result."""
    from exchange.errors import ErrorBookFailed
    from exchange.outputs.error_book import ErrorBook

    real_close, helpers = ErrorBook.close, []

    def close(self):  # type: ignore[no-untyped-def]
        helpers.append(self.use_helper)
        if self.use_helper:
            self.discard()
            raise ErrorBookFailed("the error-book helper stopped: killed")
        real_close(self)

    monkeypatch.setattr(ErrorBook, "close", close)
    rows = [add_row(make_id("19800101", "071"), "好人"), add_row(make_id("19800101", "073"), "乙", wage=1)]
    make_workbook(instance.unit_inbox("1001") / "h.xlsx", ADD_HEADERS, rows, title=TITLE)
    result = process(instance, db)
    assert helpers == [True, False]
    assert (result.status, result.counts.accepted, result.counts.failed) == ("partial", 1, 1)
    assert triples(receipt_of(instance, result)) == [(5, "缴费工资", C.WAGE_OUT_OF_BOUNDS)]
    assert [p.name for p in instance.unit_outbox("1001", "errors").iterdir()] == [result.error_book_name]
    assert len(list(instance.unit_outbox("1001", "receipts").glob("*.json"))) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Declaration)) == 1

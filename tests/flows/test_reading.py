"""What clerks really send: xls, CSV encodings, headers below titles, odd headers, blank rows."""
from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import PatternFill
from sqlalchemy import select

from exchange.read.guard import sniff
from exchange.read.tables import open_book
from exchange.store.models import Declaration
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook
from tests.flows.helpers import process_one, receipt_of, triples

# Reading and refusing files, before anything is stored: the database is incidental here (a file's
# row and its receipt), and the flows that store on PostgreSQL run on both backends elsewhere.
# SQLite only keeps the suite's time for what differs between the backends.
pytestmark = pytest.mark.backends("sqlite")

TITLE = "职工批量新增申报填写表"


def rows3() -> list[list]:
    return [add_row(make_id("19800101", "501"), "甲"), add_row(make_id("19800101", "503"), "乙", wage=1),
            add_row(make_id("19800101", "505"), "丙")]


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "ods", "csv", "csv-bom", "csv-gb18030"])
def test_every_format_reads_the_same(instance, db, fmt: str):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "psnAdd.dat", ADD_HEADERS, rows3(), title=TITLE, fmt=fmt)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "employee_add"
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(5, "缴费工资", "wage.out_of_bounds")]


def test_content_decides_format_not_extension(instance, db):  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "psnAdd.csv", ADD_HEADERS, rows3(), title=TITLE, fmt="xls")
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 2


def test_odd_headers_extra_columns_and_blank_rows(instance, db):  # type: ignore[no-untyped-def]
    headers = ["序号", " 身份证号 * ", "姓　名＊", "备注(不导入)"] + ADD_HEADERS[2:]
    data = []
    for i, r in enumerate(rows3()):
        data.append([i + 1, r[0], r[1], "随便写"] + r[2:])
        data.append([None] * len(headers))                  # blank row between
    make_workbook(instance.unit_inbox("1001") / "x.xlsx", headers, data, title=TITLE, title_rows=4)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(8, "缴费工资", "wage.out_of_bounds")]


@pytest.mark.parametrize("fmt", ["xlsx", "csv-gb18030"])
def test_pasted_invisible_marks_in_headers_and_cells(instance, db, fmt: str):  # type: ignore[no-untyped-def]
    """Headers and cells pasted from a web page, a chat app or a contact card: zero-width
    spaces, bidirectional isolates, a phone wrapped in U+202A ... U+202C, an override in a name.
    The file is read as if they were not there, and nothing of them reaches the receipt."""
    marks = ["\u200b", "\u2066", "\u200e", "\ufeff"]
    headers = [f"{marks[i % 4]}{h}{marks[(i + 1) % 4]}" for i, h in enumerate(ADD_HEADERS)]
    data = rows3()
    data[0][1] = "甲\u202e"
    data[1][1] = "\u202d乙"
    for row in data:
        row[9] = f"\u202a{row[9]}\u202c"
    make_workbook(instance.unit_inbox("1001") / "psnAdd.dat", headers, data, title=TITLE, fmt=fmt)
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["kind"] == "employee_add"
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(5, "缴费工资", "wage.out_of_bounds")]
    text = (instance.unit_outbox("1001") / "receipts" / result.receipt_name).read_text("utf-8")
    assert "（乙 " in text and not any(m in text for m in "\u202a\u202c\u202d\u202e\u200b\u2066")


def test_a_csv_with_apostrophes_before_long_numbers(instance, db):  # type: ignore[no-untyped-def]
    """A GB18030 CSV whose clerk kept Excel from turning IDs into 3.20602E+17 by typing an
    apostrophe first (and ‘ with a Chinese input method): it stays in a CSV, and is read past."""
    rows = rows3()
    rows[0][0], rows[2][0] = "'" + rows[0][0], "‘" + rows[2][0]
    rows[1][9] = "'" + rows[1][9]
    make_workbook(instance.unit_inbox("1001") / "增员.csv", ADD_HEADERS, rows, title=TITLE,
                  fmt="csv-gb18030")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(5, "缴费工资", "wage.out_of_bounds")]


def test_a_csv_with_ids_exported_for_excel_as_formulas_of_text(instance, db):  # type: ignore[no-untyped-def]
    """Other systems export an ID or a phone as ="320602…" so that Excel shows it as text
    (quoted or not): the text inside is read, where it was refused as no 18-digit ID."""
    rows = rows3()
    first, third = rows[0][0], rows[2][0]
    rows[0][0], rows[0][9] = f'="{first}"', '="13912345678"'
    path = make_workbook(instance.unit_inbox("1001") / "增员.csv", ADD_HEADERS, rows, title=TITLE,
                         fmt="csv-gb18030")
    text = path.read_bytes().decode("gb18030").replace(third, f'="{third}"')   # unquoted
    assert f'"=""{first}"""' in text and f'\n="{third}",' in text
    path.write_bytes(text.encode("gb18030"))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(5, "缴费工资", "wage.out_of_bounds")]
    with db.session() as s:
        payloads = {d.id_number: d.payload for d in s.scalars(select(Declaration))}
    assert sorted(payloads) == sorted([first, third]) and payloads[first]["phone"] == "13912345678"


@pytest.mark.parametrize("fmt", ["csv-gb18030", "xlsx"])
def test_a_month_with_a_digit_left_out_is_no_month(instance, db, fmt):  # type: ignore[no-untyped-def]
    """变更日期 20261 (for 202601) was read as the Excel serial of 1955-06 and imported; typed
    as text in a CSV, or as a number in a workbook, it is month.invalid. A date cell stays a
    date, and 20260115 a whole date."""
    from datetime import date

    rows = rows3()
    rows[1][12] = 5000
    rows[0][11], rows[1][11], rows[2][11] = 20261, 20260115, date(2026, 12, 1)
    make_workbook(instance.unit_inbox("1001") / "增员.dat", ADD_HEADERS, rows, title=TITLE, fmt=fmt)
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "变更日期", "month.invalid")]
    with db.session() as s:
        months = sorted(d.payload["change_month"] for d in s.scalars(select(Declaration)))
    assert months == ["202601", "202612"]


def test_a_code_typed_with_its_digit_twice_is_unknown(instance, db):  # type: ignore[no-untyped-def]
    """民族 99 was read as 09 布依族 and 工作岗位 11 as 01 管理岗位 (the code 9 "labelled" 9);
    both are code.unknown now, while 1 (a code that lost its zero) and 01-汉族 still read."""
    rows = rows3()
    rows[0][3], rows[0][8] = "99", "11"
    rows[2][3], rows[2][8] = "1", "01-管理岗位"
    rows[1][12] = 5000
    make_workbook(instance.unit_inbox("1001") / "增员.csv", ADD_HEADERS, rows, title=TITLE,
                  fmt="csv-gb18030")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "工作岗位", "code.unknown"), (4, "民族", "code.unknown")]
    assert receipt["counts"]["accepted"] == 2


def test_ids_excel_cut_to_15_digits_in_a_csv_are_all_refused(instance, db):  # type: ignore[no-untyped-def]
    """A CSV saved by Excel from a column formatted as Number: every ID kept 15 digits and ends
    in 000. Those whose check fails were id.numeric; one in eleven passes its check by chance
    (320602198808086019 became 320602198808086000) and was imported as another person's ID.
    Where the column shows the truncation, an ID ending in 000 is id.numeric too; alone, a real
    ID ending in 000 is read."""
    cut = ["320602198808086000", "320602199001014000",       # checks hold
           "320602198001010000"]                             # check fails: Excel cut it
    rows = [add_row(n, "甲") for n in cut]
    make_workbook(instance.unit_inbox("1001") / "增员.csv", ADD_HEADERS, rows, title=TITLE,
                  fmt="csv-gb18030")
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, "身份证号", "id.numeric"), (5, "身份证号", "id.numeric"),
                                (6, "身份证号", "id.numeric")]
    # A workbook with one ID Excel turned into a number beside real IDs, one of which ends in
    # 000 (about one in 1,100 do): only the number fails.
    rows = [add_row(cut[1], "甲"), add_row(320602198001010000, "乙"),
            add_row(make_id("19800101", "013"), "丙"), add_row(make_id("19800101", "021"), "丁")]
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS, rows, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(5, "身份证号", "id.numeric")] and receipt["counts"]["accepted"] == 3


def _stored_from_gb18030_csv(instance, db, rows: list[list]) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """rows3() changed as a test needs, sent as a GB18030 CSV: its rows 4 and 6 are imported
    (row 5's wage is out of bounds, as in rows3); their payloads by ID."""
    make_workbook(instance.unit_inbox("1001") / "增员.csv", ADD_HEADERS, rows, title=TITLE,
                  fmt="csv-gb18030")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(5, "缴费工资", "wage.out_of_bounds")]
    with db.session() as s:
        return {d.id_number: d.payload for d in s.scalars(select(Declaration))}


def test_a_csv_with_date_cells_saved_with_their_time_of_day(instance, db):  # type: ignore[no-untyped-def]
    """Excel saves a date cell to CSV as 1980/1/1 0:00 (LibreOffice 1980-01-01 00:00:00): the
    出生日期 and the 变更日期 are read as the date and its month, and stored so."""
    rows = rows3()
    rows[0][4], rows[0][11] = "1980/1/1 0:00", "2026/12/1 0:00"
    rows[2][4], rows[2][11] = "1980-01-01 00:00:00", "2026-12-01 00:00:00"
    stored = _stored_from_gb18030_csv(instance, db, rows)
    assert [(stored[r[0]]["birth_date"], stored[r[0]]["change_month"]) for r in (rows[0], rows[2])] \
        == [("1980-01-01", "202612")] * 2


def test_a_csv_as_excel_saves_general_and_currency_cells(instance, db):  # type: ignore[no-untyped-def]
    """01-汉族 and 01 typed into General cells are saved as 1, a currency-formatted wage as
    ￥5,000.00, and the clerk wrote the mobile 139-1234-5678: all read as meant."""
    rows = rows3()
    for row in (rows[0], rows[2]):
        row[3], row[8], row[9], row[12] = "1", "1", "139-1234-5678", "￥5,000.00"
    stored = _stored_from_gb18030_csv(instance, db, rows)
    assert [(p["ethnicity"], p["post"], p["phone"], p["wage"]) for p in stored.values()] == [
        ("01", "01", "13912345678", 5000)] * 2


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_a_month_and_wage_merged_down_the_rows(instance, db, fmt: str):  # type: ignore[no-untyped-def]
    """变更日期 and 缴费工资 merged over the three rows they are the same for: each row is read
    with them, as the clerk sees it, instead of two `required` findings on each row below."""
    rows = [add_row(make_id("19830101", s), n) for s, n in (("751", "甲"), ("753", "乙"), ("755", "丙"))]
    path = instance.unit_inbox("1001") / f"增员.{fmt}"
    if fmt == "xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        for r in [[TITLE], ADD_HEADERS, *rows]:
            ws.append(r)
        for col in ("L", "M"):
            ws[f"{col}4"] = ws[f"{col}5"] = None
            ws.merge_cells(f"{col}3:{col}5")
        wb.save(path)
    else:
        import xlwt

        book = xlwt.Workbook(encoding="utf-8")
        sheet = book.add_sheet("Sheet1")
        for i, r in enumerate([[TITLE], ADD_HEADERS, *rows]):
            for j, v in enumerate(r):
                if v not in (None, "") and not (i >= 2 and j in (11, 12)):   # merged below
                    sheet.write(i, j, v)
        for col in (11, 12):
            sheet.write_merge(2, 4, col, col, rows[0][col])
        book.save(str(path))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and receipt["counts"]["accepted"] == 3


def test_cells_formatted_far_below_data_are_not_rows(instance, db):  # type: ignore[no-untyped-def]
    path = make_workbook(instance.unit_inbox("1001") / "y.xlsx", ADD_HEADERS, rows3(), title=TITLE)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    fill = PatternFill("solid", fgColor="FFFF00")
    for r in range(10, 5000):
        ws.cell(r, 1).fill = fill
        ws.cell(r, 1).number_format = "@"
    ws.cell(60000, 14).fill = fill
    wb.save(path)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"]["total"] == 3


def lookup_book(path: Path) -> Path:
    """rows3() with 民族 looked up by a formula filled down past the staff, as Excel and
    LibreOffice save it (each cell's formula and its cached value; #N/A where the lookup found
    nothing): 乙's 民族 #N/A, 甲's wage #DIV/0!, 丙's address #REF!, #N/A on rows 7-39."""
    import re
    import zipfile

    make_workbook(path, ADD_HEADERS, rows3(), title=TITLE)
    errors = {"D5": "#N/A", "M4": "#DIV/0!", "K6": "#REF!", **{f"D{r}": "#N/A" for r in range(7, 40)}}

    def cell(ref: str, value: str) -> bytes:
        return f'<c r="{ref}" t="e"><f>VLOOKUP(B{ref[1:]},代码!A:B,2,0)</f><v>{value}</v></c>'.encode()

    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    xml = parts["xl/worksheets/sheet1.xml"]
    for ref, value in errors.items():
        row = int(ref[1:])
        if b'<row r="%d"' % row not in xml:
            xml = xml.replace(b"</sheetData>", b'<row r="%d">' % row + cell(ref, value) + b"</row></sheetData>")
        else:
            xml, n = re.subn(rb'<c r="' + ref.encode() + rb'"[^>]*>.*?</c>', cell(ref, value), xml)
            assert n == 1, ref
    parts["xl/worksheets/sheet1.xml"] = xml
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


LOOKUP_FINDINGS = [("缴费工资", "cell.formula_error"), ("民族", "cell.formula_error"),
                   ("缴费工资", "wage.out_of_bounds"), ("联系地址", "cell.formula_error")]


def test_a_lookup_formulas_error_values_as_excel_saves_them(instance, db):  # type: ignore[no-untyped-def]
    """The rows below the staff, holding nothing but #N/A, are blank rows; a person's #N/A, a
    wage of #DIV/0! and an address of #REF! are `cell.formula_error`, quoting what the clerk
    sees. calamine reads them as blank: 民族 and 联系地址 were imported empty, and 缴费工资 was
    "不能为空" about a cell that shows #DIV/0!."""
    lookup_book(instance.unit_inbox("1001") / "lookup.xlsx")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 0, "failed": 3, "duplicate": 0}
    assert triples(receipt) == [(r, *f) for r, f in zip((4, 5, 5, 6), LOOKUP_FINDINGS)]
    messages = [e["message"] for r in receipt["rows"] for e in r.get("errors", ())]
    assert all(any(f"“{v}”" in m for m in messages) for v in ("#DIV/0!", "#N/A", "#REF!"))


def test_an_error_workbook_sent_back_unmended_keeps_its_error_values(instance, db):  # type: ignore[no-untyped-def]
    """The error workbook shows each error value as the clerk's sheet did: an error cell (its
    constant as the formula), not text. Sent back unmended, its rows fail as before; written as
    text, #REF! would have been imported as 丙's address."""
    lookup_book(instance.unit_inbox("1001") / "lookup.xlsx")
    result = process_one(instance, db)
    book = instance.unit_outbox("1001", "errors") / result.error_book_name
    ws = openpyxl.load_workbook(book).worksheets[0]
    cells = {(c.value, c.data_type) for row in ws.iter_rows(min_row=4) for c in row
             if isinstance(c.value, str) and c.value.startswith(("#", "="))}
    assert cells == {("=#DIV/0!", "f"), ("=#N/A", "f"), ("=#REF!", "f")}
    values = openpyxl.load_workbook(book, data_only=True).worksheets[0]
    assert {c.value for row in values.iter_rows(min_row=4) for c in row if c.data_type == "e"} == \
        {"#DIV/0!", "#N/A", "#REF!"}
    book.rename(instance.unit_inbox("1001") / "改好了.xlsx")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 0, "failed": 3, "duplicate": 0}
    assert [t[1:] for t in triples(receipt)] == LOOKUP_FINDINGS


def test_a_csv_of_a_sheet_with_lookup_errors_reads_as_the_sheet(instance, db):  # type: ignore[no-untyped-def]
    """The same sheet saved as CSV (Excel writes the error values shown, LibreOffice its own as
    Err:502): the rows below the staff holding nothing but #N/A are blank rows, and a person's
    error values are `cell.formula_error`, as in the xlsx. Before, each row below the staff was
    a failed row (`required` 身份证号, 姓名 …), and the errors were read as text."""
    rows = [add_row(make_id("19800101", "501"), "甲"), add_row(make_id("19800101", "503"), "乙", ethnicity="#N/A",
            wage="#DIV/0!"), add_row(make_id("19800101", "505"), "丙", address="Err:502")]
    lines = [TITLE, ",".join(ADD_HEADERS)] + [",".join("" if v is None else str(v) for v in r) for r in rows]
    lines += [",,,#N/A" + "," * 10] * 40 + [",,,#N/A,,,,,,,#VALUE!" + "," * 3]
    (instance.unit_inbox("1001") / "增员.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 1, "failed": 2, "duplicate": 0}
    assert triples(receipt) == [(4, "民族", "cell.formula_error"), (4, "缴费工资", "cell.formula_error"),
                                (5, "联系地址", "cell.formula_error")]


def program_book(path: Path, writer: str, *, below: int = 30) -> Path:
    """A unit's file as a program writes it (its HR system, a script): 乙's 民族 looked up and
    丙's address joined by formulas, and the lookup filled down `below` rows past the staff,
    never calculated. openpyxl writes each formula without its value (an empty one), XlsxWriter
    with the stand-in 0; both ask for every formula to be calculated when Excel opens the book
    (<calcPr fullCalcOnLoad="1">). Excel shows 汉族 and 南通市崇川区."""
    rows = [add_row(make_id("19800101", "501"), "甲"), add_row(make_id("19800101", "503"), "乙"),
            add_row(make_id("19800101", "505"), "丙")]
    rows[1][3] = "=VLOOKUP(B4,代码!A:B,2,0)"
    rows[2][10] = '="南通市"&"崇川区"'
    table = [[TITLE], list(ADD_HEADERS), *rows, *[[None] * 3 + [f"=VLOOKUP(B{r},代码!A:B,2,0)"]
                                                   for r in range(6, 6 + below)]]
    if writer == "openpyxl":
        wb = openpyxl.Workbook()
        for r in table:
            wb.active.append(r)
        wb.create_sheet("代码").append(["甲", "汉族"])
        wb.save(path)
    else:
        import xlsxwriter

        book = xlsxwriter.Workbook(str(path))
        ws = book.add_worksheet("Sheet1")
        for i, r in enumerate(table):
            for j, v in enumerate(r):
                if v is not None:
                    ws.write(i, j, v)
        book.add_worksheet("代码").write_row(0, 0, ["甲", "汉族"])
        book.close()
    return path


@pytest.mark.parametrize("writer", ["openpyxl", "xlsxwriter"])
def test_formulas_a_program_never_calculated(instance, db, writer: str):  # type: ignore[no-untyped-def]
    """A formula whose file holds no value it made is `cell.formula_unsaved`, in any column; the
    rows below the staff holding nothing but such formulas are blank rows. calamine reads them
    as blank (openpyxl) or as 0 (XlsxWriter): 乙 was imported without a 民族 (or refused for a
    民族 of "0") and 丙's address imported empty (or as "0"), for cells Excel shows filled."""
    program_book(instance.unit_inbox("1001") / "增员.xlsx", writer)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 1, "failed": 2, "duplicate": 0}
    assert triples(receipt) == [(4, "民族", "cell.formula_unsaved"),
                                (5, "联系地址", "cell.formula_unsaved")]
    messages = [e["message"] for r in receipt["rows"] for e in r["errors"]]
    assert [m[:6] for m in messages] == ["「民族」是公", "「联系地址」"]
    assert all("没有保存公式算出的结果" in m for m in messages)
    with db.session() as s:
        assert s.scalars(select(Declaration.name)).all() == ["甲"]


def test_an_unsaved_formulas_cell_is_left_blank_in_the_error_book(instance, db):  # type: ignore[no-untyped-def]
    """The error workbook leaves a formula the file held no value of blank, for the clerk to
    fill: its text (or the formula itself, over this book's other cells) would be read as what
    it never was. Sent back with the cells filled, the rows are imported."""
    program_book(instance.unit_inbox("1001") / "增员.xlsx", "openpyxl", below=0)
    result = process_one(instance, db)
    book = instance.unit_outbox("1001", "errors") / result.error_book_name
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[3]]
    at = {h: headers.index(h) + 1 for h in ("*姓名", "民族", "联系地址")}
    people = {ws.cell(r, at["*姓名"]).value: r for r in range(4, ws.max_row + 1)}
    assert set(people) == {"乙", "丙"}
    assert ws.cell(people["乙"], at["民族"]).value is None
    assert ws.cell(people["丙"], at["联系地址"]).value is None
    ws.cell(people["乙"], at["民族"]).value = "汉族"
    ws.cell(people["丙"], at["联系地址"]).value = "南通市崇川区"
    wb.save(instance.unit_inbox("1001") / "改好了.xlsx")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 2, "accepted": 2, "failed": 0, "duplicate": 0}


def test_formula_values_a_spreadsheet_saved_are_read(instance, db):  # type: ignore[no-untyped-def]
    """What Excel saves is read as it shows: a formula's value (text, a number, and Excel's
    empty text: an empty value of type `str`); so is a 0 a formula made in a book not asking to
    be calculated on opening. The formula cells are looked at, none of them is refused."""
    import re
    import zipfile

    path = make_workbook(instance.unit_inbox("1001") / "y.xlsx", ADD_HEADERS, rows3(), title=TITLE)
    cells = {"D4": ' t="str"><f>VLOOKUP(B4,代码!A:B,2,0)</f><v>汉族</v>',
             "M4": '><f>2500*2</f><v>5000</v>', "K5": ' t="str"><f>IF(1,"","x")</f><v></v>',
             "H6": ' t="str"><f>"2"&amp;"1"</f><v>21</v>'}
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    xml = parts["xl/worksheets/sheet1.xml"]
    for ref, cell in cells.items():
        xml, n = re.subn(rb'<c r="' + ref.encode() + rb'"[^>]*>.*?</c>',
                         f'<c r="{ref}"{cell}</c>'.encode(), xml)
        assert n == 1, ref
    parts["xl/worksheets/sheet1.xml"] = xml
    parts["xl/workbook.xml"] = re.sub(rb'\s*fullCalcOnLoad="1"', b"", parts["xl/workbook.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(5, "缴费工资", "wage.out_of_bounds")]
    with db.session() as s:
        payloads = {d.name: d.payload for d in s.scalars(select(Declaration))}
    assert payloads["丙"].get("education") == "21" and payloads["甲"].get("wage") in (5000, "5000", 5000.0)


def test_headers_with_a_hint_after_the_name(instance, db):  # type: ignore[no-untyped-def]
    """缴费工资（元）, 变更日期（YYYYMM）, 性别(男/女): the file was refused, 缺少必填列 变更日期、缴费工资,
    for columns the clerk could see; a hint that says "do not read" keeps its column out."""
    hinted = {"性别": "性别(男/女)", "变更日期*": "*变更日期（YYYYMM）", "缴费工资*": "缴费工资（元）*",
              "联系电话": "联系电话（手机）"}
    # 缴费工资(旧) first: were it read, it would be the wage (the first of twins is).
    headers = ["缴费工资(旧)", *(hinted.get(h, h) for h in ADD_HEADERS), "联系地址(不导入)"]
    data = [[99999, *r, "x"] for r in rows3()]
    data[0][3] = "女"                                   # read, and checked against the ID
    make_workbook(instance.unit_inbox("1001") / "z.xlsx", headers, data, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["counts"] == {"total": 3, "accepted": 1, "failed": 2, "duplicate": 0}
    assert triples(receipt) == [(4, "性别", "sex.mismatch"), (5, "缴费工资", "wage.out_of_bounds")]


@pytest.mark.parametrize("hide", [True, False], ids=["hidden", "visible"])
def test_two_columns_for_one_field_are_refused_naming_them(instance, db, hide):  # type: ignore[no-untyped-def]
    """A clerk hides the old 缴费工资 column and types the new wages into 缴费工资（元） beside it:
    the hidden column was read (the first of twins), the visible wages dropped, and the receipt
    said 全部成功. The file is refused now, naming both columns."""
    headers = list(ADD_HEADERS) + ["缴费工资（元）"]
    data = [[*r, 6000] for r in rows3()]
    path = make_workbook(instance.unit_inbox("1001") / "增员.xlsx", headers, data, title=TITLE)
    wb = openpyxl.load_workbook(path)
    wb.active.column_dimensions["M"].hidden = hide
    wb.save(path)
    receipt = receipt_of(instance, process_one(instance, db))
    assert [e["code"] for e in receipt["file_errors"]] == ["file.duplicate_columns"]
    assert receipt["file_errors"][0]["message"].startswith(
        "表头中有 2 列都是“缴费工资”（第 M、O 列），无法确定以哪一列为准")
    assert receipt["status"] == "rejected" and receipt["counts"]["accepted"] == 0


def test_a_header_is_read_by_its_name_before_a_hint() -> None:
    from exchange.read.header import header_label

    known = {"缴费工资", "性别", "备注", "姓名"}
    for cell, label in [("缴费工资（元）", "缴费工资"), ("性别 (男/女)", "性别"), ("*缴费工资(元/月)", "缴费工资"),
                        ("备注(不导入)", "备注(不导入)"), ("缴费工资(旧)", "缴费工资(旧)"),
                        ("姓名(仅供参考)", "姓名(仅供参考)"), ("工号(内部)", "工号(内部)"),
                        ("缴费工资", "缴费工资")]:
        assert header_label(cell, known) == label, cell


def test_header_pasted_twice_is_skipped(instance, db):  # type: ignore[no-untyped-def]
    data = rows3()
    data.insert(1, list(ADD_HEADERS))
    make_workbook(instance.unit_inbox("1001") / "z.xlsx", ADD_HEADERS, data, title=TITLE)
    assert receipt_of(instance, process_one(instance, db))["counts"]["total"] == 3


@pytest.mark.parametrize("fmt", ["xlsx", "csv-gb18030"])
def test_totals_signatures_and_notes_of_a_printed_form_are_not_persons(instance, db, fmt):  # type: ignore[no-untyped-def]
    """A form kept for printing and stamping: a 小计 between departments, a 合计 in the 序号
    column with the wages' sum beside it, the lines it is signed and stamped on, a note. None
    of them is a person: the rows are read past, and the receipt names those with a cell under
    the kind's columns (a row filled only in 序号 is blank to the kind, as before)."""
    headers = ["序号", *ADD_HEADERS]
    people = [[i + 1, *r] for i, r in enumerate(rows3())]
    people[0][2] = "单丽"                          # 单, a surname, as 单位（盖章） begins
    blank = [None] * len(headers)
    sub = ["小计", None, None, *[None] * 10, 10000, None]
    total = ["合计：3人", None, None, *[None] * 10, 15001, None]
    sign = ["制表人：王芳", None, None, None, None, "审核人：李强", *[None] * 9]
    data = [people[0], people[1], sub, people[2], total, blank, sign,
            ["单位（盖章）", *[None] * 14], [None, "注：身份证号请填写18位。", *[None] * 13]]
    make_workbook(instance.unit_inbox("1001") / "增员.dat", headers, data, title=TITLE, fmt=fmt)
    result = process_one(instance, db)
    receipt = receipt_of(instance, result)
    assert receipt["status"] == "partial" and receipt["footer_rows"] == [6, 8, 10, 12]
    assert receipt["counts"] == {"total": 3, "accepted": 2, "failed": 1, "duplicate": 0}
    assert triples(receipt) == [(5, "缴费工资", "wage.out_of_bounds")]
    text = (instance.unit_outbox("1001") / "receipts" / result.receipt_name).read_text("utf-8-sig")
    assert "第 6、8、10、12 行是表格的合计、落款或说明" in text


def test_the_total_row_of_an_excel_table_is_not_a_person(instance, db):  # type: ignore[no-untyped-def]
    """A clerk who made the staff an Excel table (Ctrl+T) and ticked its total row (汇总行):
    Chinese Excel and WPS label it 汇总, with the wages' SUBTOTAL beside it. It was a failed row
    (id.format 汇总, required 姓名 …), and the file 部分成功 with every person passing."""
    rows = [add_row(make_id("19830303", "701"), "甲甲"), add_row(make_id("19830303", "713"), "乙乙"),
            ["汇总", *[None] * 11, 10000, None]]
    make_workbook(instance.unit_inbox("1001") / "表格.xlsx", ADD_HEADERS, rows, title=TITLE)
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["status"] == "accepted" and receipt["footer_rows"] == [6]
    assert receipt["counts"] == {"total": 2, "accepted": 2, "failed": 0, "duplicate": 0}


def test_a_row_is_a_footer_only_by_its_first_filled_cell() -> None:
    from exchange.read.header import footer_row

    for row in [("合计",), (None, " 小计 ", 5000), ("合计：3人", None, 15000), ("制表人：王芳",),
                ("", "审核人:李强"), ("单位（盖章）：",), ("（单位盖章）",), ("注：身份证号请填写18位",),
                ("填表说明：",), ("经办人 ：张三", "联系电话：0513-85123456"),
                ("汇总", None, 10000), ("合　计",), ("合  计：3人",), (" 总 计",)]:
        assert footer_row(row), row
    for row in [(1, "合计"), ("单丽",), ("总经理",), ("320602198001012473", "合计"), ("说明",),
                ("单位名称：某某",), (None, None), ("注册会计师",), ("日本",), ("汇丰",), ("总体",)]:
        assert not footer_row(row), row


def test_row_numbers_match_the_sheet_when_columns_start_late(tmp_path: Path, instance) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"] = "身份证号"
    ws["D3"] = "姓名"
    ws["C7"] = "x"
    wb.save(tmp_path / "late.xlsx")
    limits = instance.settings.limits
    sniffed = sniff(tmp_path / "late.xlsx", limits)
    with open_book(tmp_path / "late.xlsx", sniffed, limits) as book:
        rows = list(next(book.sheets).rows)
    assert rows[0][0] == 3 and rows[0][1][2:4] == ("身份证号", "姓名")
    assert rows[1][0] == 7 and rows[1][1][2] == "x"


def test_file_name_hint_decides_between_similar_kinds(instance, db, persons):  # type: ignore[no-untyped-def]
    # Only 身份证号 and 姓名: stop or person change? The file name says 减少.
    make_workbook(instance.unit_inbox("1001") / "职工批量减少.xlsx", ["身份证号", "姓名"],
                  [[persons["insured"], "李四"]], title="")
    receipt = receipt_of(instance, process_one(instance, db))
    assert receipt["kind"] == "employee_stop" and receipt["counts"]["accepted"] == 1


def test_known_names_are_folded_once_per_list_of_kinds(instance) -> None:  # type: ignore[no-untyped-def]
    """Every file asks again for the names of its unit type's kinds: folded once, and a list of
    other kinds (rules loaded again, another unit type) has its own."""
    from dataclasses import replace

    from exchange.read.header import known_names

    rules = instance.rules
    kinds = [rules.for_unit_type(k, "10") for k in rules.kinds.values()]
    first = known_names(kinds)
    assert known_names(list(kinds)) is first and "身份证号" in first
    renamed = [replace(kinds[0], columns=(replace(kinds[0].columns[0], header="新列名甲"),
                                          *kinds[0].columns[1:])), *kinds[1:]]
    assert "新列名甲" in known_names(renamed) and "新列名甲" not in first


def test_a_receipt_of_many_failed_rows_begins_with_what_failed_most(instance, db):  # type: ignore[no-untyped-def]
    """Hundreds of failed rows behind one mistake (here 民族 looked up by a formula a program
    never calculated, on 30 rows; 6 wages of 1 yuan; one name with a space): the text receipt
    names the commonest column and code first, with how many rows and an example, before the
    row lines (at most 500 of them are listed). A pair on fewer than 5 rows is not named."""
    rows = [add_row(make_id("19880808", f"{i:03d}"), "员工" + "甲乙丙丁戊己庚辛壬癸"[i % 10]
                    + "甲乙丙丁戊己庚辛壬癸"[i // 10], wage=1 if i % 6 == 5 else 5000) for i in range(36)]
    for row in rows[:30]:
        row[3] = "=VLOOKUP(B4,代码!A:B,2,0)"
    rows[35][1] = "王 五"
    make_workbook(instance.unit_inbox("1001") / "多人.xlsx", ADD_HEADERS, rows, title=TITLE)
    result = process_one(instance, db)
    text = (instance.unit_outbox("1001") / "receipts" / result.receipt_name).read_text("utf-8-sig")
    head = text[:text.index("逐行说明")]
    lines = head.splitlines()
    at = lines.index("失败最多的原因：")
    assert lines[at + 1].startswith("  「民族」：30 行，例如第 4 行：「民族」是公式")
    assert lines[at + 2].startswith("  「缴费工资」：6 行，例如第 9 行：")
    assert "姓名" not in head[head.index("失败最多的原因"):]
    assert lines.index("成功 5 行，失败 31 行，重复 0 行，共 36 行。") < at


def test_a_csv_row_wider_than_its_header_fails(instance, db):  # type: ignore[no-untyped-def]
    """A CSV typed by hand or exported by another system, 参保险种 310,510 unquoted: the row has
    a cell past the header's last and 生育保险 was dropped, the receipt saying 全部成功. The row
    fails now (an unquoted comma moves every cell after it); a workbook's notes right of the
    table are let be."""
    path = make_workbook(instance.unit_inbox("1001") / "增员.csv", ADD_HEADERS,
                         [add_row(make_id("19800101", "013"), insurances="310"),
                          add_row(make_id("19800101", "021"), insurances="310")], title=TITLE,
                         fmt="csv-gb18030")
    text = path.read_bytes().decode("gb18030").replace(",5000,310\r\n", ",5000,310,510\r\n", 1)
    path.write_bytes(text.encode("gb18030"))
    receipt = receipt_of(instance, process_one(instance, db))
    assert triples(receipt) == [(4, None, "row.extra_cells")] and receipt["counts"]["accepted"] == 1
    assert receipt["rows"][0]["errors"][0]["message"].startswith(
        "本行在表头之外还有 1 格内容（第 O 列，“510”），本行未导入")
    rows = [[*add_row(make_id("19800101", "039"), insurances="310"), "备注：下月入职"]]
    make_workbook(instance.unit_inbox("1001") / "增员.xlsx", ADD_HEADERS, rows, title=TITLE)
    assert receipt_of(instance, process_one(instance, db))["counts"]["accepted"] == 1

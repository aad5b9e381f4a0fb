"""The error workbook: looks of the cells, values read back exactly, notes, a well-formed package."""
from __future__ import annotations

import os
import re
import signal
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest
import python_calamine as pc
from defusedxml import ElementTree

from exchange.checks.finding import Finding
from exchange.kinds.load import load_rules
from exchange.messages import ERROR_BOOK_WORDS as W, PRODUCT_NAME
from exchange.checks.values import as_text
from exchange.outputs.error_book import CELL_LIMIT, CUT_MARK, ErrorBookWriter
from exchange.outputs.looks import column_width
from exchange.outputs.workbook import META_SHEET
from exchange.results import RowOutcome

RULES = load_rules(Path(__file__).parents[2] / "rules")
KIND = RULES.kinds["employee_add"]


def _look(cell):  # type: ignore[no-untyped-def]
    return (cell.data_type, cell.number_format, cell.font.color.rgb if cell.font.color else None,
            cell.font.b, cell.fill.fgColor.rgb, cell.border.left.style, cell.comment is not None)


def test_reused_styles_match_the_first_cells_of_each_look(tmp_path: Path) -> None:
    raw = ("320602198001012473", "张 三", "", "汉族", None, "", "", "博士后", "01", "=1+1", "@地址",
           202612, 99999, "")
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for row in range(3):
        bad = [Finding(4 + row, "name.invalid", "姓名", "name"),
               Finding(4 + row, "wage.out_of_bounds", "缴费工资", "wage" if row != 1 else "education")]
        writer.add(RowOutcome(4 + row, tuple(bad), raw))
    born = datetime(1980, 1, 1)                          # a date after a blank in the same column
    writer.add(RowOutcome(7, (Finding(7, "name.invalid", "姓名", "name"),), raw[:4] + (born,) + raw[5:]))
    writer.close()
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx").worksheets[0]
    first, second, third = ([_look(c) for c in ws[r]] for r in (4, 5, 6))
    assert first == third                                   # same findings: same looks
    assert second[7][1:] == first[12][1:] and second[12][1:] == first[7][1:]   # the mark moved
    assert first[0][:2] == ("s", "@") and first[9][:2] == ("s", "@")    # ID, phone as text
    assert ws["J4"].value == "=1+1" and ws["K4"].value == "@地址"          # never formulas
    assert first[1][4].endswith("FFC7CE") and first[1][6]                  # marked, with a note
    assert not first[2][6] and first[2][5] == "thin"
    assert ws["E7"].value == born and ws["E7"].is_date and ws["E7"].border.left.style == "thin"


def test_notes_stop_after_the_first_rows_but_marks_and_reasons_do_not(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.outputs.error_book as book

    monkeypatch.setattr(book, "NOTE_ROWS", 2)
    raw = ("320602198001012473", "张三", "", "汉族", None, "", "", "21", "01", "", "", 202612, 99999, "")
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for row in range(3):
        writer.add(RowOutcome(4 + row, (Finding(4 + row, "wage.out_of_bounds", "缴费工资", "wage"),), raw))
    writer.close()
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx").worksheets[0]
    assert [ws[f"M{r}"].comment is not None for r in (4, 5, 6)] == [True, True, False]
    assert all(ws[f"M{r}"].fill.fgColor.rgb.endswith("FFC7CE") and ws[f"O{r}"].value for r in (4, 5, 6))


HOSTILE = ["  two spaces", "trailing ", "=1+1", "+86 139", "-5", "@x", "a&b<c>\"d'", "<r>x</r>",
           "<r><t>y</t></r>", "_x0041_", "bell\x07", "cr\rlf", "tab\tin", "line\nbreak", "\ufffe",
           "007", "1.50", "1e3", "TRUE", "#N/A", "http://x.cn/a", "2020-01-02", "=SUM(A1:A3)"]


def test_every_value_reads_back_as_written_and_every_part_is_well_formed(tmp_path: Path) -> None:
    values = [*HOSTILE, True, 12, 3.5, 1e20, datetime(2020, 1, 2, 3, 4, 5), date(2020, 1, 2),
              time(6, 30), timedelta(hours=30), None, ""]
    base = ("320602198001012473", "张三", "", "汉族", None, "", "", "21", "01", "", "", 202612, 99999, "")
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "A&B<公司>", "src.xlsx")
    for n, value in enumerate(values):                   # in 性别 (a code), 联系地址 (text), 缴费工资
        raw = base[:2] + (value,) + base[3:10] + (value,) + base[11:12] + (value,) + base[13:]
        writer.add(RowOutcome(4 + n, (Finding(4 + n, "code.unknown", "性别", "sex", {"value": value}),), raw))
    writer.close()
    with zipfile.ZipFile(tmp_path / "e.xlsx") as zf:
        for name in zf.namelist():
            ElementTree.fromstring(zf.read(name))
    book = pc.CalamineWorkbook.from_path(str(tmp_path / "e.xlsx"))
    rows = book.get_sheet_by_name("失败行").to_python()
    assert "A&B<公司>" in str(rows[0][0])
    for n, value in enumerate(values):
        row = rows[3 + n]
        expected = "" if value is None else value
        if value == "\ufffe":                # no XML may hold it: Excel's escape, which calamine keeps
            expected = "_xFFFE_"
        assert (row[2], row[12]) == (expected, expected), (n, row)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            expected = as_text(value)        # a number in a text column: as receipts show it
        assert row[10] == ("" if value is None else str(expected)), (n, row)    # text column
    assert {str(k): v for k, v, *_ in book.get_sheet_by_name("_meta").to_python()} == {
        "kind": "employee_add", "version": str(KIND.version), "unit": "1001", "source": "error_book"}
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx").worksheets[0]
    for n, value in enumerate(values, start=4):
        if isinstance(value, str) and value:                  # never a number, date or formula
            assert (ws[f"C{n}"].data_type, ws[f"M{n}"].data_type) == ("s", "s"), (n, value)
        if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
            assert (ws[f"C{n}"].data_type, ws[f"C{n}"].number_format) == ("s", "@")   # never formulas
        if isinstance(value, (date, time, timedelta)):
            assert ws[f"M{n}"].is_date and ws[f"K{n}"].data_type == "s"
    assert ws.freeze_panes == "A4" and ws.column_dimensions["P"].hidden
    # 60 characters wide as Excel shows it (the file stores it with Excel's cell padding)
    assert 60 <= ws.column_dimensions["O"].width < 61 and ws["C4"].comment.author == PRODUCT_NAME


def test_notes_past_a_thousand_keep_distinct_shape_ids(tmp_path: Path) -> None:
    raw = ("320602198001012473", "张三", "", "汉族", None, "", "", "21", "01", "", "", 202612, 99999, "")
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for row in range(1100):
        writer.add(RowOutcome(4 + row, (Finding(4 + row, "wage.out_of_bounds", "缴费工资", "wage"),), raw))
    writer.close()
    with zipfile.ZipFile(tmp_path / "e.xlsx") as zf:
        vml = zf.read("xl/drawings/vmlDrawing1.vml").decode()
    ids = [int(i) for i in re.findall(r'id="_x0000_s(\d+)"', vml)]
    blocks = re.search(r'idmap v:ext="edit" data="([\d,]+)"', vml).group(1)  # type: ignore[union-attr]
    assert len(ids) == len(set(ids)) == 1100
    assert {i // 1024 for i in ids} <= {int(b) for b in blocks.split(",")}
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx").worksheets[0]
    assert ws["M1103"].comment is not None and ws["M1103"].fill.fgColor.rgb.endswith("FFC7CE")


def test_discarded_book_leaves_no_file(tmp_path: Path) -> None:
    raw = ("320602198001012473", "张三") + ("",) * 12
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    writer.add(RowOutcome(4, (Finding(4, "name.invalid", "姓名", "name"),), raw))
    writer.discard()
    assert not (tmp_path / "e.xlsx").exists()
    assert list(tmp_path.iterdir()) == []                  # nor the rows' temporary files


def test_closed_book_leaves_only_itself_beside_it(tmp_path: Path) -> None:
    raw = ("320602198001012473", "张三") + ("",) * 12
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    writer.add(RowOutcome(4, (Finding(4, "name.invalid", "姓名", "name"),), raw))
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["e.xlsx"]


def test_head_rows_sheets_and_columns(tmp_path: Path) -> None:
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    writer.add(RowOutcome(4, (Finding(4, "name.invalid", "姓名", "name"),),
                          ("320602198001012473", "张 三") + ("",) * 12))
    writer.close()
    book = openpyxl.load_workbook(tmp_path / "e.xlsx")
    assert book.sheetnames == [W["sheet"], META_SHEET] and book.active.title == W["sheet"]
    assert book[META_SHEET].sheet_state == "hidden"
    ws = book[W["sheet"]]
    assert ws["A1"].value == W["title"].format(title=KIND.title, unit="1001", unit_name="示例",
                                               source="src.xlsx")
    assert (ws["A1"].font.sz, ws["A1"].font.b) == (14, True) and ws["A2"].value == W["note"]
    assert ws["A2"].font.color.rgb.endswith("C00000")
    header = [c.value for c in ws[3]]
    columns = KIND.columns
    assert header == [("*" if c.required else "") + c.header for c in columns] + [
        W["reason_header"], W["codes_header"]]
    for cell, col in zip(ws[3], [*columns, None]):       # required (and 失败原因) in red, all filled
        red = cell.font.color is not None and str(cell.font.color.rgb).endswith("C00000")
        assert cell.font.b and red == (col is None or col.required), cell.coordinate
        assert cell.fill.fgColor.rgb.endswith("DDEBF7") and cell.border.left.style == "thin"
    assert ws["P3"].fill.fill_type is None and ws.column_dimensions["P"].hidden
    widths = {i: d.width for d in ws.column_dimensions.values() for i in range(d.min, d.max + 1)}
    for i, col in enumerate(columns, start=1):           # as Excel shows them (+ cell padding)
        assert 0 <= widths[i] - column_width(col.type, col.header) < 1, col.header
    assert widths[1] >= 20                               # an 18-digit ID shown whole
    assert ws.freeze_panes == "A4"
    # Printed: A4 landscape, the title and header rows and the ID and name on every page.
    assert (ws.page_setup.paperSize, ws.page_setup.orientation) == (9, "landscape")
    assert ws.print_title_rows == "$1:$3" and ws.print_title_cols == "$A:$B"


# Strings XlsxWriter (constant-memory mode) would pass through as rich-text XML, and attempts
# to close the cell early: each must come back as the text itself, the package well-formed.
MARKUP = ["<r>x</r>", "<r></r>", "<r><t>y</t></r>", "<r><rPr><b/></rPr><t>z</t></r>",
          '<r><t>a</t></r></is></c><c r="Z9"><f>1+1</f></c><c><is><r><t>b</t></r>',
          " <r>lead</r>", "<r>trail</r> ", "<r>_x0041_</r>", "<r>_x005F_x0041__x0042_</r>",
          "<r>bell\x07</r>"]


def _as_written(value: str) -> str:
    """What a markup lookalike reads back as: itself, a control character as its escape's text
    (XlsxWriter escapes rich-string runs twice)."""
    return value.replace("\x07", "_x0007_") if value.startswith("<r>") else value


def test_markup_lookalikes_read_back_as_text(tmp_path: Path) -> None:
    base = ("320602198001012473", "张三", "", "汉族", None, "", "", "21", "01", "", "", 202612, 99999, "")
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "<r>u</r>", "<r>n</r>", "src.xlsx")
    for n, value in enumerate(MARKUP):                  # in 姓名 (marked), 联系地址 (text), 缴费工资
        raw = base[:1] + (value,) + base[2:10] + (value,) + base[11:12] + (value,) + base[13:]
        writer.add(RowOutcome(4 + n, (Finding(4 + n, "name.invalid", "姓名", "name"),), raw))
    writer.close()
    with zipfile.ZipFile(tmp_path / "e.xlsx") as zf:
        for name in zf.namelist():
            ElementTree.fromstring(zf.read(name))
    book = pc.CalamineWorkbook.from_path(str(tmp_path / "e.xlsx"))
    rows = book.get_sheet_by_name(W["sheet"]).to_python()
    assert [(r[1], r[10], r[12]) for r in rows[3:]] == [(_as_written(v),) * 3 for v in MARKUP]
    assert len(rows) == 3 + len(MARKUP) and all(len(r) == 16 for r in rows)   # no cell Z9
    assert dict(book.get_sheet_by_name(META_SHEET).to_python())["unit"] == "<r>u</r>"
    plain = openpyxl.load_workbook(tmp_path / "e.xlsx")
    ws = plain[W["sheet"]]
    for n, value in enumerate(MARKUP, start=4):
        assert [ws.cell(n, c).value for c in (2, 11, 13)] == [_as_written(value)] * 3, n
        assert ws[f"B{n}"].fill.fgColor.rgb.endswith("FFC7CE") and ws[f"B{n}"].comment is not None
    assert ws.max_column == 16 and plain[META_SHEET]["B3"].value == "<r>u</r>"
    rich = openpyxl.load_workbook(tmp_path / "e.xlsx", rich_text=True)[W["sheet"]]
    for ref in ("B4", "B12"):                             # every run in the marked cell's font
        runs = [run for run in rich[ref].value if not isinstance(run, str)]
        assert runs and all(run.font.color.rgb.endswith("9C0006") for run in runs), ref


def test_text_longer_than_a_cell_holds_is_cut_with_a_mark(tmp_path: Path) -> None:
    astral = "\U00020000"                                 # 𠀀: two UTF-16 units
    values = ["x" * 40000, astral * 20000, "y" * CELL_LIMIT, "a" * (CELL_LIMIT - 1) + astral,
              "<r>" + "z" * 40000 + "</r>", "=" + "1" * 40000]
    base = ("320602198001012473", "张三", "", "汉族", None, "", "", "21", "01", "", "", 202612, 99999, "")
    writer = ErrorBookWriter(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for n, value in enumerate(values):                  # 联系地址, and in the note of 性别
        raw = base[:2] + ("F",) + base[3:10] + (value,) + base[11:]
        writer.add(RowOutcome(4 + n, (Finding(4 + n, "code.unknown", "性别", "sex", {"value": value}),), raw))
    writer.close()
    rows = pc.CalamineWorkbook.from_path(str(tmp_path / "e.xlsx")).get_sheet_by_name(W["sheet"]).to_python()
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx")[W["sheet"]]

    def units(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    for n, value in enumerate(values):
        got, note = rows[3 + n][10], ws[f"C{4 + n}"].comment
        if units(value) <= CELL_LIMIT:
            assert got == value, n                            # exactly at the limit: kept whole
        else:
            assert got.endswith(CUT_MARK) and units(got) in (CELL_LIMIT - 1, CELL_LIMIT), n
            assert value.startswith(got[:-1]), n
        assert note is not None and units(note.text) <= CELL_LIMIT, n   # the note is there too
    assert rows[4][10] == astral * (CELL_LIMIT // 2) + CUT_MARK           # a pair is never split
    assert ws["K9"].data_type == "s" and ws["K9"].number_format == "@"  # cut, still never a formula


# ErrorBook: small books written in this process, large ones by a helper process -----------------
def _failed_rows(count: int) -> list[RowOutcome]:
    """Failed rows with the cells clerks write: text, numbers, dates, blanks; some cells bad."""
    rows = []
    for n in range(count):
        raw = (f"32060219800101{n % 10000:04d}", f"张{n}", "", "汉族", datetime(1980, 1, 1 + n % 28),
               "", "", "21", "01", "", f"地址{n}", 202612, 1000.0 + n, "")
        bad = (Finding(4 + n, "name.invalid", "姓名", "name"),) if n % 2 else \
            (Finding(4 + n, "wage.out_of_bounds", "缴费工资", "wage"),
             Finding(4 + n, "id.checksum", "公民身份号码", "id_number"))
        rows.append(RowOutcome(4 + n, bad, raw))
    return rows


def _cells(path: Path) -> list[list[object]]:
    wb = pc.CalamineWorkbook.from_path(str(path))
    try:
        return [wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names]
    finally:
        wb.close()


def _helpers(book: object) -> int | None:
    helper = getattr(book, "helper")
    return None if helper is None else helper.pid


def test_a_large_book_is_written_by_a_helper_exactly_as_by_the_writer_itself(tmp_path: Path,
                                                                             monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.outputs.error_book as eb

    monkeypatch.setattr(eb, "SPILL_ROWS", 30)
    monkeypatch.setattr(eb, "BATCH_ROWS", 7)
    rows = _failed_rows(100)
    direct = ErrorBookWriter(tmp_path / "direct.xlsx", KIND, "1001", "示例", "src.xlsx")
    for outcome in rows:
        direct.add(outcome)
    direct.close()
    book = eb.ErrorBook(tmp_path / "helped" / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    helpers = set()
    for outcome in rows:
        book.add(outcome)
        helpers.add(_helpers(book))
    assert helpers - {None} and os.getpid() not in helpers     # the helper took over at row 31
    book.close()
    assert _helpers(book) is None
    assert _cells(tmp_path / "helped" / "e.xlsx") == _cells(tmp_path / "direct.xlsx")
    assert len(_cells(tmp_path / "direct.xlsx")[0]) == 3 + 100
    assert [p.name for p in (tmp_path / "helped").iterdir()] == ["e.xlsx"]
    ws = openpyxl.load_workbook(tmp_path / "helped" / "e.xlsx").worksheets[0]
    assert ws["B5"].fill.fgColor.rgb.endswith("FFC7CE") and ws["B5"].comment is not None


def test_a_small_book_is_written_here_and_the_same(tmp_path: Path) -> None:
    import exchange.outputs.error_book as eb

    book = eb.ErrorBook(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for outcome in _failed_rows(5):
        book.add(outcome)
    assert _helpers(book) is None
    book.close()
    assert [row[:2] for row in _cells(tmp_path / "e.xlsx")[0][3:]] == \
        [[f"32060219800101{n:04d}", f"张{n}"] for n in range(5)]


def test_a_book_given_up_stops_its_helper_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.outputs.error_book as eb

    monkeypatch.setattr(eb, "SPILL_ROWS", 3)
    monkeypatch.setattr(eb, "BATCH_ROWS", 2)
    book = eb.ErrorBook(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for outcome in _failed_rows(20):
        book.add(outcome)
    helper = book.helper
    assert helper is not None
    book.discard()
    assert helper.returncode == 0                            # it stopped of itself, not killed
    assert list(tmp_path.iterdir()) == []                    # no book, no rows' temporary files


def test_a_helper_that_cannot_write_the_book_says_why_and_never_hangs(tmp_path: Path,
                                                                       monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.outputs.error_book as eb

    monkeypatch.setattr(eb, "SPILL_ROWS", 3)
    monkeypatch.setattr(eb, "BATCH_ROWS", 2)
    (tmp_path / "taken").write_text("a file where the book's folder should be")
    book = eb.ErrorBook(tmp_path / "taken" / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for outcome in _failed_rows(400):                       # sent on after the helper failed
        book.add(outcome)
    with pytest.raises(eb.ErrorBookFailed, match="(?i)not a directory|exists"):
        book.close()
    assert book.helper is None


def test_a_helper_killed_mid_book_is_an_error_not_a_short_book(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.outputs.error_book as eb

    monkeypatch.setattr(eb, "SPILL_ROWS", 3)
    monkeypatch.setattr(eb, "BATCH_ROWS", 2)
    book = eb.ErrorBook(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    rows = _failed_rows(50)
    for outcome in rows[:10]:
        book.add(outcome)
    assert book.helper is not None
    book.helper.send_signal(signal.SIGKILL)
    book.helper.wait()
    with pytest.raises(eb.ErrorBookFailed, match="stopped|no answer"):
        for outcome in rows[10:]:
            book.add(outcome)
        book.close()
    book.discard()
    assert not (tmp_path / "e.xlsx").exists()


def test_without_a_helper_a_large_book_is_written_here_as_rows_come(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.outputs.error_book as eb

    monkeypatch.setattr(eb, "SPILL_ROWS", 3)
    book = eb.ErrorBook(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx", helper=False)
    rows = _failed_rows(10)
    for outcome in rows:
        book.add(outcome)
    assert book.helper is None and book.writer is not None and book.pending == []   # not kept
    book.close()
    assert [row[1] for row in _cells(tmp_path / "e.xlsx")[0][3:]] == [f"张{n}" for n in range(10)]


def test_a_small_book_made_in_memory_reads_as_a_streamed_one(tmp_path: Path) -> None:
    """ErrorBook writes a book of at most SPILL_ROWS rows in memory (no temporary files beside
    it); what a clerk opens is what the constant-memory writer makes: values, looks, notes."""
    raw = ("320602198001012473", "张 三", "", "汉族", datetime(1980, 1, 1), "", "", "博士后", "01",
           "=1+1", "濠河路\x07号", 202612, 99999, "")
    books = {}
    for small in (False, True):
        folder = tmp_path / ("small" if small else "streamed")
        writer = ErrorBookWriter(folder / "e.xlsx", KIND, "1001", "示例", "src.xlsx", small=small)
        for row in range(4):
            writer.add(RowOutcome(4 + row, (Finding(4 + row, "name.invalid", "姓名", "name"),
                                            Finding(4 + row, "text.control", "联系地址", "address")),
                                  raw))
        writer.close()
        assert [p.name for p in folder.iterdir()] == ["e.xlsx"]      # no temporary file left
        wb = openpyxl.load_workbook(folder / "e.xlsx")
        books[small] = [[(c.value, _look(c)) for c in row] for ws in wb.worksheets for row in ws]
    assert books[True] == books[False] and len(books[True]) > 7


def test_a_helper_stopped_and_continued_loses_no_rows(tmp_path: Path) -> None:
    """Ctrl-Z and fg, or a profiler attaching: each stop cuts the pipeline's writes to the
    helper short; every row still arrives once, in order."""
    import threading
    from time import sleep

    import exchange.outputs.error_book as eb

    book = eb.ErrorBook(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    done, stops = threading.Event(), []

    def stop_and_continue() -> None:
        while not done.is_set():
            helper = book.helper
            if helper is not None:
                try:
                    os.kill(helper.pid, signal.SIGSTOP)
                    sleep(0.002)
                    os.kill(helper.pid, signal.SIGCONT)
                    stops.append(1)
                except ProcessLookupError:
                    pass
            sleep(0.003)

    bother = threading.Thread(target=stop_and_continue)
    bother.start()
    try:
        for outcome in _failed_rows(4000):
            book.add(outcome)
        book.close()
    finally:
        done.set()
        bother.join()
    assert len(stops) > 10
    assert [row[1] for row in _cells(tmp_path / "e.xlsx")[0][3:]] == [f"张{n}" for n in range(4000)]


def test_the_helper_runs_this_package_whatever_folder_the_service_runs_in(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.outputs.error_book as eb

    stale = tmp_path / "instance" / "exchange"
    stale.mkdir(parents=True)
    (stale / "__init__.py").write_text("raise ImportError('an older copy of the package')\n")
    monkeypatch.chdir(stale.parent)
    monkeypatch.setattr(eb, "SPILL_ROWS", 3)
    book = eb.ErrorBook(tmp_path / "e.xlsx", KIND, "1001", "示例", "src.xlsx")
    for outcome in _failed_rows(10):
        book.add(outcome)
    assert book.helper is not None
    book.close()
    assert [row[1] for row in _cells(tmp_path / "e.xlsx")[0][3:]] == [f"张{n}" for n in range(10)]

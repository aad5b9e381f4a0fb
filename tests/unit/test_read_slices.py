"""Large sheets read a slice at a time give exactly the rows of calamine reading them whole.

(The tests of the helper process that read the slices until issue 15 moved to
tests/unit/test_sandbox.py: the reading worker does that now.)"""
from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from exchange.config import Limits
from exchange.errors import FileRejected
from exchange.read.guard import sniff
from exchange.read.slices import SheetSlices, workbook_parts
from exchange.read.tables import open_book
from tests.conftest import ADD_HEADERS, add_row, make_id

LIMITS = Limits()
ODD_TEXT = ["a&b<c>\"d'", "  两端空格  ", "第一行\n第二行", "\ue000私用区开头", "=SUM(A1)", "_x000D_",
            "_x005F_x000D_", "__x0041__", "_x4E2D_", "_x00_"]


def read(path: Path, stream_above: int) -> list[tuple[str, list[tuple[int, tuple[Any, ...]]]]]:
    sniffed = sniff(path, LIMITS)
    with open_book(path, sniffed, LIMITS, stream_above=stream_above) as book:
        return [(sheet.name, list(sheet.rows)) for sheet in book.sheets]


def assert_same_either_way(path: Path) -> list[tuple[int, tuple[Any, ...]]]:
    whole = read(path, stream_above=1 << 40)
    assert read(path, stream_above=0) == whole
    parts = workbook_parts(path)
    for name, rows in whole:
        with SheetSlices(path, parts.sheets[name], parts, slice_bytes=700) as slices:
            assert slices.numbered
            assert list(slices) == [(n, v) for n, v in rows]
    return whole[0][1]


_INLINE = re.compile(rb'<c ([^>]*?)t="inlineStr"([^>]*)><is>(.*?)</is></c>', re.S)
_SST_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def shared(src: Path) -> Path:
    """The workbook as Excel and WPS save it: strings in a shared-string table (openpyxl 3.1
    writes them inline)."""
    dst = src.with_name("sst-" + src.name)
    table: list[bytes] = []
    index: dict[bytes, int] = {}

    def swap(m: re.Match[bytes]) -> bytes:
        i = index.setdefault(m.group(3), len(table))
        if i == len(table):
            table.append(m.group(3))
        return b"<c " + m.group(1) + b't="s"' + m.group(2) + b"><v>%d</v></c>" % i

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.startswith("xl/worksheets/"):
                data = _INLINE.sub(swap, data)
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" '
                                    b'ContentType="' + _SST_TYPE + b'"/></Types>')
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdSst" Type="' + _SST_REL
                                    + b'" Target="sharedStrings.xml"/></Relationships>')
            zout.writestr(info, data)
        zout.writestr("xl/sharedStrings.xml", b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns='
                      b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                      + b"".join(b"<si>" + t + b"</si>" for t in table) + b"</sst>")
    assert table, "no inline strings to share"
    return dst


def template_rows(n: int) -> list[list[Any]]:
    rows = []
    for i in range(n):
        row = add_row(make_id("19800101", f"{i % 1000:03d}"), "张三" if i % 2 else "买买提·艾力",
                      month=[202612, "2026-12", datetime(2026, 12, 1)][i % 3], wage=[5000, 5000.5, "5,000"][i % 3],
                      birth=date(1980, 1, 1) if i % 4 == 0 else "", insurances=ODD_TEXT[i % len(ODD_TEXT)])
        row[5] = True if i % 5 == 0 else None
        rows.append(row)
    return rows


@pytest.mark.parametrize("strings", ["inline", "shared"])
def test_dates_numbers_and_odd_text(tmp_path: Path, strings: str) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["职工批量新增申报填写表"])
    ws.append([])
    ws.append(ADD_HEADERS)
    for row in template_rows(120):
        ws.append(row)
    ws.cell(200, 3, "远处的一格")                 # a gap, then a row that starts late
    wb.save(tmp_path / "book.xlsx")
    rows = assert_same_either_way(tmp_path / "book.xlsx" if strings == "inline" else shared(tmp_path / "book.xlsx"))
    assert rows[0] == (1, ("职工批量新增申报填写表",))
    assert rows[-1] == (200, ("", "", "远处的一格"))
    assert any("\ue000私用区开头" in values for _, values in rows)


@pytest.mark.parametrize("strings", ["inline", "shared"])
def test_the_write_only_writer(tmp_path: Path, strings: str) -> None:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("数据")
    ws.append(ADD_HEADERS)
    for row in template_rows(300):
        ws.append(row)
    wb.save(tmp_path / "wo.xlsx")
    rows = assert_same_either_way(tmp_path / "wo.xlsx" if strings == "inline" else shared(tmp_path / "wo.xlsx"))
    assert len(rows) == 301 and rows[-1][0] == 301


def test_rich_text_runs_read_as_plain_text(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = CellRichText(["张", TextBlock(InlineFont(b=True), "三"), "丰"])
    ws["B1"] = "x"
    wb.save(tmp_path / "rich.xlsx")
    assert assert_same_either_way(tmp_path / "rich.xlsx") == [(1, ("张三丰", "x"))]
    assert assert_same_either_way(shared(tmp_path / "rich.xlsx")) == [(1, ("张三丰", "x"))]


def test_1904_dates_stay_dates(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    for i in range(20):
        ws.append([datetime(2016, 7, 1 + i), i])
    wb.save(tmp_path / "mac.xlsx")
    rows = assert_same_either_way(tmp_path / "mac.xlsx")
    assert str(rows[0][1][0]).startswith("2016-07-01")


def test_several_sheets_hidden_and_meta(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["a", 1])
    hidden = wb.create_sheet("hidden")
    hidden.append(["secret"])
    hidden.sheet_state = "hidden"
    meta = wb.create_sheet("_meta")
    meta.append(["kind", "employee_add"])
    wb.create_sheet("二").append(["b", 2])
    wb.save(tmp_path / "many.xlsx")
    assert read(tmp_path / "many.xlsx", 0) == [("Sheet", [(1, ("a", 1.0))]), ("二", [(1, ("b", 2.0))])]
    assert read(tmp_path / "many.xlsx", 0) == read(tmp_path / "many.xlsx", 1 << 40)


def _rewrite_sheet(src: Path, dst: Path, change: Any) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = change(data)
            zout.writestr(info, data)


def test_rows_without_numbers_are_numbered_as_they_are_sliced(tmp_path: Path) -> None:
    """A writer that leaves out the rows' numbers (each row one past the row before): each
    slice's rows are numbered as they are cut, so slices of any size are placed as the
    numbered sheet's rows are (before, such a sheet was read whole by calamine, which read an
    uncalculated formula, "=SUM(A1)" here, as blank). A row that keeps its number sets it."""
    wb = openpyxl.Workbook()
    for row in template_rows(30):
        wb.active.append(row)
    wb.active.cell(40, 2, "隔开的一行")
    wb.save(tmp_path / "numbered.xlsx")
    _rewrite_sheet(tmp_path / "numbered.xlsx", tmp_path / "plain.xlsx",
                   lambda x: re.sub(rb'<row r="(?!40")\d+"', b"<row", x))
    parts = workbook_parts(tmp_path / "plain.xlsx")
    numbered = read(tmp_path / "numbered.xlsx", 1 << 40)
    assert numbered[0][1][-1] == (40, ("", "隔开的一行"))
    for size in (300, 700, 1 << 20):
        with SheetSlices(tmp_path / "plain.xlsx", parts.sheets["Sheet"], parts, slice_bytes=size) as slices:
            assert slices.numbered and slices.unnumbered
            assert list(slices) == numbered[0][1]
    assert read(tmp_path / "plain.xlsx", 0) == numbered
    assert read(tmp_path / "plain.xlsx", 1 << 40) == numbered


def test_a_sheet_cut_short_is_refused(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    for row in template_rows(60):
        wb.active.append(row)
    wb.save(tmp_path / "whole.xlsx")
    _rewrite_sheet(tmp_path / "whole.xlsx", tmp_path / "cut.xlsx", lambda x: x[:len(x) // 2])
    with pytest.raises(FileRejected) as err:
        read(tmp_path / "cut.xlsx", 0)
    assert err.value.code == "file.unreadable"


def big_sheet(tmp_path: Path, rows: int) -> Any:
    """big.xlsx, one sheet "s" of template rows written streamed; its parts."""
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("s")
    for row in template_rows(rows):
        ws.append(row)
    wb.save(tmp_path / "big.xlsx")
    return workbook_parts(tmp_path / "big.xlsx")


def test_text_that_looks_like_the_shared_string_marker(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    for i in range(40):
        wb.active.append([f"共享{i}", i])
    wb.save(tmp_path / "sst.xlsx")
    inline = '<c r="A1" t="inlineStr"><is><t>\ue0000</t></is></c>'.encode()
    _rewrite_sheet(shared(tmp_path / "sst.xlsx"), tmp_path / "marked.xlsx",
                   lambda x: re.sub(rb'<c r="A1" t="s"><v>\d+</v></c>', inline, x))
    rows = assert_same_either_way(tmp_path / "marked.xlsx")
    assert rows[0] == (1, ("\ue0000", 0.0)) and rows[1] == (2, ("共享1", 1.0))


SPELLINGS = [b' t="s"><v>', b" t='s'><v>", b' t = "s" ><v>', b' t="s">\n  <v>', b' t="s"\t><v>']


@pytest.mark.parametrize("spellings", [SPELLINGS, SPELLINGS[1:2], SPELLINGS[2:3]])
def test_shared_string_cells_however_the_writer_spells_them(tmp_path: Path,
                                                            spellings: list[bytes]) -> None:
    """Excel, LibreOffice, WPS and XlsxWriter write a shared-string cell as `t="s"><v>` (taken
    by a plain replace); other writers quote or space it otherwise (taken by the pattern):
    mixed in one slice, or one spelling alone, read as calamine reads the sheet whole."""
    wb = openpyxl.Workbook()
    for i in range(60):
        wb.active.append([f"共享{i}", f"文本{i}", i])
    wb.save(tmp_path / "sst.xlsx")
    turn = iter(range(10 ** 6))

    def respell(xml: bytes) -> bytes:
        return re.sub(rb' t="s"><v>', lambda m: spellings[next(turn) % len(spellings)], xml)

    _rewrite_sheet(shared(tmp_path / "sst.xlsx"), tmp_path / "spelt.xlsx", respell)
    with zipfile.ZipFile(tmp_path / "spelt.xlsx") as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    assert all(spelling in sheet for spelling in spellings)
    rows = assert_same_either_way(tmp_path / "spelt.xlsx")
    assert rows[59] == (60, ("共享59", "文本59", 59.0))


@pytest.mark.parametrize("index", [b"-1", b"-0", b"1_0", b"+1", b" 6", b"\xef\xbc\x91", b"", b"999999"])
def test_a_shared_string_index_that_is_not_in_the_table_is_refused(tmp_path: Path, index: bytes) -> None:
    """A damaged (or forged) index never reads some other string: -1 is not the table's last
    string, 1_0 is not 10, a full-width digit is not a digit (calamine, reading a sheet whole,
    would read each as the first string, spaces too); each is refused as past the end is."""
    wb = openpyxl.Workbook()
    for i in range(40):
        wb.active.append([f"共享{i}", i])
    wb.save(tmp_path / "sst.xlsx")
    _rewrite_sheet(shared(tmp_path / "sst.xlsx"), tmp_path / "bad.xlsx",
                   lambda x: x.replace(b'<c r="A7" t="s"><v>6</v>', b'<c r="A7" t="s"><v>' + index + b"</v>"))
    with zipfile.ZipFile(tmp_path / "bad.xlsx") as z:
        assert b"<v>" + index + b"</v>" in z.read("xl/worksheets/sheet1.xml")
    for stream_above in (0, 1 << 40):
        with pytest.raises(FileRejected) as err:
            read(tmp_path / "bad.xlsx", stream_above)
        assert err.value.code == "file.unreadable"



def test_cells_merged_down_a_column_are_read_on_every_row_they_cover(tmp_path: Path) -> None:
    """A clerk merges 变更日期 and 缴费工资 over the staff they are the same for: the file holds
    each value in the first cell only, and both ways of reading give it to every row it covers
    that holds anything else (not to the blank rows the merge runs on into). A title merged
    across the columns is left alone."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["职工批量新增申报填写表"])
    ws.merge_cells("A1:N1")
    ws.append(ADD_HEADERS)
    for seq in ("741", "743", "745"):
        ws.append(add_row(make_id("19830101", seq)))
    for col in ("L", "M"):
        for r in (4, 5):
            ws[f"{col}{r}"] = None
        ws.merge_cells(f"{col}3:{col}9")                   # down past the last row
    wb.save(tmp_path / "merged.xlsx")
    whole = read(tmp_path / "merged.xlsx", stream_above=1 << 40)
    assert read(tmp_path / "merged.xlsx", stream_above=0) == whole
    [(_, rows)] = whole
    assert [n for n, _ in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == ("职工批量新增申报填写表",)
    assert [(v[11], v[12]) for _, v in rows[2:]] == [("202612", 5000)] * 3


def test_hidden_rows_are_told_whether_the_sheet_is_read_whole_or_in_slices(tmp_path: Path) -> None:
    """Rows a filter hid (hidden="1"; LibreOffice writes hidden="true") are known with the
    sheet, before its rows are read, on both paths; a row hidden="false" is not hidden."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(1, 41):
        ws.append([f"r{i}", i])
    for number in (5, 6, 39):
        ws.row_dimensions[number].hidden = True
    path = tmp_path / "f.xlsx"
    wb.save(path)
    for stream_above in (0, 1 << 40):
        sniffed = sniff(path, LIMITS)
        with open_book(path, sniffed, LIMITS, stream_above=stream_above) as book:
            sheet = next(book.sheets)
            first = next(sheet.rows)
            assert first == (1, ("r1", 1)) and sheet.hidden == {5, 6, 39}, stream_above
    from exchange.read.guard import _hidden_rows

    found: set[int] = set()
    _hidden_rows(b'<row r="7" hidden="true"><c/></row><row r="8" hidden="false">'
                 b'<x:row spans="1:2" hidden="1" r="9">', found)
    assert found == {7, 9}


def test_a_sheet_of_some_megabytes_as_excel_saves_it_is_read_whole(tmp_path: Path) -> None:
    """A sheet of 1-4 MiB of XML (~2,500-9,000 staff) is read whole after its references and
    shared-string indexes are checked a MiB at a time (guard.check_member_extent). A block that
    ended inside a shared-string cell's index (`<v>96` | `86</v>`) was taken for a damaged
    index: every such workbook of Excel, WPS or LibreOffice was refused as 文件已损坏."""
    import xlsxwriter

    path = tmp_path / "staff.xlsx"
    book = xlsxwriter.Workbook(str(path))            # strings shared, as Excel saves them
    ws = book.add_worksheet("Sheet1")
    ws.write_row(0, 0, ADD_HEADERS)
    for r in range(1, 6000):
        ws.write_row(r, 0, add_row(make_id("19830101", f"{r % 1000:03d}"), name=f"职工{r}"))
    book.close()

    def cut_in_an_index(xml: bytes) -> bytes:
        """White space between two rows, so that the first MiB ends inside a cell's index."""
        cell = xml.index(b' t="s"><v>', (1 << 20) - 400) + len(b' t="s"><v>') + 1
        row = xml.rindex(b"<row ", 0, cell)
        return xml[:row] + b" " * ((1 << 20) - cell) + xml[row:]

    _rewrite_sheet(path, tmp_path / "saved.xlsx", cut_in_an_index)
    path = tmp_path / "saved.xlsx"
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
        assert 1 << 20 < len(xml) < 4 << 20 and xml[(1 << 20) - 11:(1 << 20) - 1] == b' t="s"><v>'
    whole = read(path, stream_above=4 << 20)            # the product's threshold: read whole
    assert whole == read(path, stream_above=0)           # and a slice at a time: the same rows
    rows = whole[0][1]
    assert len(rows) == 6000 and rows[-1] == (6000, tuple(rows[-1][1])) and \
        rows[-1][1][:2] == (make_id("19830101", "999"), "职工5999")


def test_a_formulas_error_value_is_read_as_the_text_excel_shows(tmp_path: Path) -> None:
    """calamine reads a cell holding a formula's error value (`t="e"`) as blank. A sheet holding
    one is read a slice at a time, where the cell is read as a CellError of its text, however
    the writer spelt it: Excel's (a formula, then the value), a shared formula's child (`<f/>`),
    quoted or spaced otherwise; whole or in slices alike."""
    from exchange.read.slices import CellError

    wb = openpyxl.Workbook()
    for i in range(40):
        wb.active.append([f"文本{i}", i, f"尾{i}"])
    wb.save(tmp_path / "plain.xlsx")
    spellings = {"B7": '<c r="B7" t="e"><f>VLOOKUP(A7,X:Y,2,0)</f><v>#N/A</v></c>',
                 "C9": "<c r=\"C9\" s=\"0\" t='e'><v>#DIV/0!</v></c>",
                 "B11": '<c r="B11" t = "e" ><f t="shared" si="0"/><v>#REF!</v></c>',
                 "A13": '<c r="A13" t="e">\n  <f>1/0</f>\n  <v>#VALUE!</v></c>',
                 # forged: no spreadsheet writes these as error values; read as the text held
                 "A15": '<c r="A15" t="e"><v>#N/A_x0007_</v></c>',
                 "C17": '<c r="C17" t="e"><v>不是错误值</v></c>'}

    def with_errors(xml: bytes) -> bytes:
        for ref, cell in spellings.items():
            xml, n = re.subn(rb'<c r="' + ref.encode() + rb'"[^>]*>.*?</c>', cell.encode(), xml)
            assert n == 1
        return xml

    _rewrite_sheet(tmp_path / "plain.xlsx", tmp_path / "errors.xlsx", with_errors)
    for path in (tmp_path / "errors.xlsx", shared(tmp_path / "errors.xlsx")):
        rows = dict(assert_same_either_way(path))
        got = {"B7": rows[7][1], "C9": rows[9][2], "B11": rows[11][1], "A13": rows[13][0]}
        assert got == {"B7": "#N/A", "C9": "#DIV/0!", "B11": "#REF!", "A13": "#VALUE!"}
        assert all(type(v) is CellError for v in got.values())
        assert rows[15][0] == "#N/A\x07" and rows[17][2] == "不是错误值"
        assert type(rows[15][0]) is str and type(rows[17][2]) is str
        assert rows[8] == ("文本7", 7.0, "尾7") and type(rows[8][0]) is str   # the rest as before


@pytest.mark.parametrize("ref", ["&#57344;", "&#xE000;", "&#x0e000;", "\ue000"])
def test_text_beginning_with_a_private_use_character_is_not_taken_for_a_mark(tmp_path: Path, ref: str) -> None:
    """A slice marks its shared-string cells and its formulas with a private-use character the
    XML does not hold. openpyxl writes every character past ASCII as a character reference
    (&#57344;): a text cell beginning with U+E000 so written was taken for a marked one, and
    read as the shared string of the index after it (or as a formula without its value). Such
    a character is in Chinese names where a rare character was made with a character maker."""
    wb = openpyxl.Workbook()
    wb.active.append(["甲", "乙", "=A1"])                       # a formula, never calculated
    wb.save(tmp_path / "book.xlsx")
    book = shared(tmp_path / "book.xlsx")
    _rewrite_sheet(book, tmp_path / "odd.xlsx", lambda x: x.replace(
        b"</row>", b'<c r="D1" t="str"><v>' + ref.encode() + b'1</v></c></row>'))
    parts = workbook_parts(tmp_path / "odd.xlsx")
    with SheetSlices(tmp_path / "odd.xlsx", parts.sheets["Sheet"], parts) as slices:
        [(number, values)] = list(slices)
    assert number == 1 and values[:2] == ("甲", "乙") and values[3] == "\ue0001"
    assert type(values[2]).__name__ == "UnsavedFormula" and values[2] == "=A1"


def test_a_shared_string_beginning_with_a_mark_is_read_as_written(tmp_path: Path) -> None:
    """The marks are chosen free in the slice's XML, not in the shared-string table: a string
    of the table beginning with the formulas' mark (U+E001, the shared strings' being U+E000)
    was read as a formula without its value once the table's text was put in the cells."""
    wb = openpyxl.Workbook()
    wb.active.append(["\ue001造字", "乙", "=A1"])
    wb.save(tmp_path / "book.xlsx")
    book = shared(tmp_path / "book.xlsx")
    parts = workbook_parts(book)
    with SheetSlices(book, parts.sheets["Sheet"], parts) as slices:
        [(number, values)] = list(slices)
    assert values[:2] == ("\ue001造字", "乙") and type(values[0]) is str
    assert type(values[2]).__name__ == "UnsavedFormula"

"""What read.biff finds in a legacy .xls: each sheet's hidden rows (ROW records), its farthest
cells and the rectangle its DIMENSIONS record declares."""
from __future__ import annotations

from pathlib import Path

import xlwt

from exchange.config import Limits
from exchange.read.biff import sheets
from exchange.read.guard import sniff
from exchange.read.tables import open_book


def test_each_sheets_hidden_rows_are_found_and_read_past(tmp_path: Path) -> None:
    wb = xlwt.Workbook(encoding="utf-8")
    staff, other = wb.add_sheet("职工名单"), wb.add_sheet("Sheet2")
    for r in range(8):
        staff.write(r, 0, f"第{r + 1}行")
    staff.row(4).hidden = True                          # rows 5 and 7, 1-based
    staff.row(6).hidden = True
    other.write(0, 0, "x")
    other.write(2, 0, "y")
    other.row(2).hidden = True
    path = tmp_path / "减少.xls"
    wb.save(str(path))
    assert [(sheet.name, sheet.hidden) for sheet in sheets(path)] == [("职工名单", {5, 7}),
                                                                      ("Sheet2", {3})]
    limits = Limits()
    with open_book(path, sniff(path, limits), limits) as book:
        sheet = next(book.sheets)
        rows = [number for number, _ in sheet.rows]
    assert rows == list(range(1, 9)) and sheet.hidden == {5, 7}   # judge.py reads them past


def test_what_is_no_biff_workbook_has_no_hidden_rows(tmp_path: Path) -> None:
    for name, data in (("empty.xls", b""), ("text.xls", "身份证号,姓名\n".encode("gb18030")),
                       ("cfb.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)):
        (tmp_path / name).write_bytes(data)
        assert sheets(tmp_path / name) == []


def test_the_farthest_cells_and_the_rectangle_are_found(tmp_path: Path) -> None:
    """Values (NUMBER, LABELSST, a MULRK run) and formatted blanks (BLANK, MULBLANK) count for
    the rectangle; only values for the farthest cells that hold something."""
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("S")
    ws.write(0, 0, "姓名")
    for column in range(3, 8):                          # a row of numbers: one MULRK record
        ws.write(40, column, column)
    yellow = xlwt.easyxf("pattern: pattern solid, fore_colour yellow")
    ws.write(9000, 1, None, yellow)
    ws.write(2, 20, None, yellow)
    ws.write(2, 21, None, yellow)                       # two blanks in a row: MULBLANK
    path = tmp_path / "far.xls"
    wb.save(str(path))
    [sheet] = sheets(path, cells=True)
    assert (sheet.lowest, sheet.rightmost) == ((41, 8), (41, 8))
    assert (sheet.lowest_any, sheet.rightmost_any) == ((9001, 2), (3, 22))
    assert sheet.corner == (9001, 22) and sheet.far_cell() == (9001, 2)

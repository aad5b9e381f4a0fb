"""The error workbook's cells look the same whether their style was worked out or reused."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl

from exchange.checks.finding import Finding
from exchange.kinds.load import load_rules
from exchange.outputs.error_book import ErrorBookWriter
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

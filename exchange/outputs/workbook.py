"""Shared workbook conventions: styles, text cells, the formula guard, hidden metadata."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from exchange.outputs import looks
from exchange.outputs.looks import FORMULA_STARTS, META_SHEET, TEXT_FORMAT, guard_value
from exchange.text import travel_safe

__all__ = ["FORMULA_STARTS", "META_SHEET", "TEXT_FORMAT", "guard_value"]


def _font(look: looks.FontLook) -> Font:
    return Font(name=look.name, size=look.size, bold=look.bold or None, color=look.color)


def _fill(color: str) -> PatternFill:
    return PatternFill("solid", fgColor=color)


TITLE_FONT = _font(looks.TITLE_FONT)
HEADER_FONT = _font(looks.HEADER_FONT)
REQUIRED_FONT = _font(looks.REQUIRED_FONT)
HEADER_FILL = _fill(looks.HEADER_FILL)
BAD_FILL = _fill(looks.BAD_FILL)
BAD_FONT = _font(looks.BAD_FONT)
REASON_FONT = _font(looks.REASON_FONT)
LOCKED_FILL = _fill(looks.LOCKED_FILL)
THIN = Side(style="thin", color=looks.BOX)
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")


def text_cell(ws: Worksheet, value: Any, *, force_text: bool = False, **style: Any) -> WriteOnlyCell:
    """A write-only cell; formula-looking strings and forced text never become formulas."""
    value, formula_like = guard_value(value)
    if force_text and value is not None and not isinstance(value, str):
        value = str(value)
    cell = WriteOnlyCell(ws, value=value)
    if formula_like or (force_text and value is not None):
        cell.data_type = "s"
        cell.number_format = TEXT_FORMAT
    for key, val in style.items():
        setattr(cell, key, val)
    return cell


def set_text(cell: Any, value: Any) -> None:
    """Assign to a normal (not write-only) cell with the same guard."""
    value, formula_like = guard_value(value)
    cell.value = value
    if formula_like:
        cell.data_type = "s"


def column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def add_meta_sheet(wb: Any, meta: dict[str, str], write_only: bool = False) -> None:
    """Hidden sheet `_meta` (kind, version, unit, source): how a workbook sent back is recognised."""
    ws = wb.create_sheet(META_SHEET)
    ws.sheet_state = "hidden"
    for key, value in meta.items():
        ws.append([key, travel_safe(value)])


@dataclass(frozen=True)
class Table:
    """A sheet's table: its columns (fields), their header words and widths, which of them the
    reader fills in (red headers), which hold numbers as text and which wrap."""
    columns: Sequence[str]
    headers: Mapping[str, str]
    widths: Mapping[str, float]
    filled: Collection[str] = ()
    text: Collection[str] = ()
    wrap: Collection[str] = ()

    def letter(self, name: str) -> str:
        return column_letter(self.columns.index(name) + 1)


def write_header(ws: Worksheet, row: int, table: Table) -> None:
    """The header row of `table` at `row`, with the column widths."""
    for j, name in enumerate(table.columns, start=1):
        cell = ws.cell(row, j)
        cell.value = table.headers[name]
        cell.font = REQUIRED_FONT if name in table.filled else HEADER_FONT
        cell.fill = HEADER_FILL
        cell.border = BOX
        ws.column_dimensions[column_letter(j)].width = table.widths[name]
        if name in table.text:
            ws.column_dimensions[column_letter(j)].number_format = TEXT_FORMAT


def write_row(ws: Worksheet, row: int, table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """One row of `table` (formula guard, borders, text formats, wrapping); its cells by field."""
    cells = {}
    for j, name in enumerate(table.columns, start=1):
        cell = ws.cell(row, j)
        value = values.get(name)
        set_text(cell, value if value != "" else None)
        cell.border = BOX
        if name in table.text:
            cell.number_format = TEXT_FORMAT
        if name in table.wrap:
            cell.alignment = WRAP
        cells[name] = cell
    return cells


def add_choice_list(ws: Worksheet, table: Table, name: str, first: int, last: int,
                    choices: Sequence[str], error: str) -> None:
    """A drop-down of `choices` on column `name`, rows first..last."""
    dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True,
                        showErrorMessage=True)
    dv.error = error
    ws.add_data_validation(dv)
    col = table.letter(name)
    dv.add(f"{col}{first}:{col}{max(first, last)}")

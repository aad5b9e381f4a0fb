"""Shared workbook conventions: styles, text cells, the formula guard, hidden metadata."""
from __future__ import annotations

from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.worksheet import Worksheet

from exchange.outputs import looks
from exchange.outputs.looks import FORMULA_STARTS, META_SHEET, TEXT_FORMAT, guard_value

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
        ws.append([key, value])

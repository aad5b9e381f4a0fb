"""Shared workbook conventions: styles, text cells, the formula guard, hidden metadata."""
from __future__ import annotations

from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.worksheet import Worksheet

from exchange.messages import WORKBOOK_FONT

TEXT_FORMAT = "@"
META_SHEET = "_meta"              # hidden: kind, version, unit, source (exchange/read/tables.py)
FORMULA_STARTS = ("=", "+", "-", "@")

TITLE_FONT = Font(name=WORKBOOK_FONT, size=14, bold=True)
HEADER_FONT = Font(name=WORKBOOK_FONT, size=11, bold=True)
REQUIRED_FONT = Font(name=WORKBOOK_FONT, size=11, bold=True, color="C00000")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
BAD_FILL = PatternFill("solid", fgColor="FFC7CE")
BAD_FONT = Font(color="9C0006")
REASON_FONT = Font(color="C00000")
LOCKED_FILL = PatternFill("solid", fgColor="F2F2F2")
THIN = Side(style="thin", color="999999")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")


def guard_value(value: Any) -> tuple[Any, bool]:
    """(value, as_text): strings that Excel would run as formulas are forced to text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return value, True
    return value, False


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

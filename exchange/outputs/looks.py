"""The looks the product's workbooks share, as plain data, with the formula guard.

Kept free of any workbook library: workbook.py makes openpyxl styles of them (templates, result
and review books), error_book.py XlsxWriter formats; a process that only writes an error
workbook never imports openpyxl (0.17 s of start-up).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.messages import WORKBOOK_FONT
from exchange.text import travel_safe

TEXT_FORMAT = "@"
META_SHEET = "_meta"              # hidden: kind, version, unit, source (exchange/read/tables.py)
FORMULA_STARTS = ("=", "+", "-", "@")
# A CSV cell is read by a spreadsheet as typed: OWASP's CSV-injection list adds tab and CR.
CSV_FORMULA_STARTS = FORMULA_STARTS + ("\t", "\r")


@dataclass(frozen=True)
class FontLook:
    name: str | None = None
    size: float | None = None
    bold: bool = False
    color: str | None = None      # RRGGBB


TITLE_FONT = FontLook(WORKBOOK_FONT, 14, bold=True)
HEADER_FONT = FontLook(WORKBOOK_FONT, 11, bold=True)
REQUIRED_FONT = FontLook(WORKBOOK_FONT, 11, bold=True, color="C00000")
BAD_FONT = FontLook(color="9C0006")
REASON_FONT = FontLook(color="C00000")
HEADER_FILL = "DDEBF7"            # solid fills, RRGGBB
BAD_FILL = "FFC7CE"
LOCKED_FILL = "F2F2F2"
BOX = "999999"                    # a thin border all round, in this colour

# Column widths (in Excel's character units) by a column's type: an 18-digit ID shown whole.
TYPE_WIDTHS = {"id": 22, "name": 12, "month": 12, "date": 13, "wage": 11, "codes": 30,
               "code": 20, "text": 24, "phone": 15, "postcode": 10, "serial": 12}


def column_width(type_: str, header: str) -> float:
    """The width a template's or error workbook's column gets: its type's, or its header's."""
    return max(TYPE_WIDTHS.get(type_, 16), len(header) * 2.2 + 3)


def guard_value(value: Any, clean: bool = True) -> tuple[Any, bool]:
    """(value, as_text): strings that Excel would run as formulas are forced to text; with
    `clean`, characters no workbook can hold are replaced (exchange.text.travel_safe). The error
    workbook passes clean=False: it keeps a clerk's control characters as Excel's own escape."""
    if clean:
        value = travel_safe(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return value, True
    return value, False


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: one a spreadsheet would run as a formula gets a leading
    apostrophe (OWASP's CSV-injection advice); text that cannot travel is replaced."""
    value = travel_safe(value)
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value

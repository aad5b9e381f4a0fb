"""The looks the product's workbooks share, as plain data, with the formula guard.

Kept free of any workbook library: workbook.py makes openpyxl styles of them (templates, result
and review books), error_book.py XlsxWriter formats; a process that only writes an error
workbook never imports openpyxl (0.17 s of start-up).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.messages import WORKBOOK_FONT

TEXT_FORMAT = "@"
META_SHEET = "_meta"              # hidden: kind, version, unit, source (exchange/read/tables.py)
FORMULA_STARTS = ("=", "+", "-", "@")


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


def guard_value(value: Any) -> tuple[Any, bool]:
    """(value, as_text): strings that Excel would run as formulas are forced to text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return value, True
    return value, False

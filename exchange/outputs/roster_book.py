"""A roster as a workbook (导出Excel): one sheet per section with its title and information
rows, the header, the rows, and a 合计 row of the summed columns. Amounts are written as exact
decimals with two places shown; IDs and codes as text."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from exchange.messages import ROSTER_WORDS as W
from exchange.outputs.atomic import atomic_path
from exchange.outputs.rosters import Column, Roster, Section
from exchange.outputs.workbook import HEADER_FILL, HEADER_FONT, TITLE_FONT, column_letter, text_cell

MONEY_FORMAT = "#,##0.00"
SHEET_NAME_LIMIT = 31          # Excel's limit on a sheet name


def _cell(ws: Any, value: Any, col: Column) -> Any:
    if value is None or value == "":
        return None
    if col.money:
        cell = text_cell(ws, Decimal(str(value)).quantize(Decimal("0.01")))
        cell.number_format = MONEY_FORMAT
        return cell
    if isinstance(value, (int, Decimal)) and col.total:
        return text_cell(ws, value)
    return text_cell(ws, value, force_text=True)


def _total(section: Section, j: int) -> Decimal:
    total = Decimal(0)
    for row in section.rows:
        value = row[j]
        if value not in (None, ""):
            total += Decimal(str(value)).quantize(Decimal("0.01")) if section.columns[j].money \
                else Decimal(str(value))
    return total


def write_roster_book(roster: Roster, target: Path) -> Path:
    """Write `roster` as an .xlsx to `target` atomically."""
    wb = Workbook(write_only=True)
    names: set[str] = set()
    for number, section in enumerate(roster.sections, start=1):
        name = section.title[-SHEET_NAME_LIMIT:]
        if name in names:
            name = f"{number}-{name}"[:SHEET_NAME_LIMIT]
        names.add(name)
        ws = wb.create_sheet(name)
        for i, col in enumerate(section.columns, start=2):
            ws.column_dimensions[column_letter(i)].width = max(10, col.width * 0.6)
        ws.append([text_cell(ws, section.title, font=TITLE_FONT)])
        ws.append([text_cell(ws, "    ".join(section.info))])
        ws.append([text_cell(ws, h, font=HEADER_FONT, fill=HEADER_FILL)
                   for h in (W["seq"], *[c.header for c in section.columns])])
        for i, row in enumerate(section.rows, start=1):
            ws.append([i, *[_cell(ws, v, c) for v, c in zip(row, section.columns)]])
        total: list[Any] = [text_cell(ws, W["total"], font=HEADER_FONT)]
        for j, col in enumerate(section.columns):
            if j == 0:
                total.append(text_cell(ws, section.count_word.format(count=len(section.rows))))
            elif col.total:
                total.append(_cell(ws, _total(section, j), col))
            else:
                total.append(None)
        ws.append(total)
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


__all__ = ["write_roster_book"]

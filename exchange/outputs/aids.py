"""What helps a clerk fill a kind's sheet, as plain data: the columns' drop-downs and the 说明
sheet's rows. exchange.outputs.templates makes it (from the rules) and lays it out in a
template; exchange.outputs.error_book lays it out in an error workbook, in a helper process
that imports nothing heavy to unpickle it."""
from __future__ import annotations

from dataclasses import dataclass

from xlsxwriter.utility import xl_col_to_name

from exchange.messages import TEMPLATE_WORDS as T


@dataclass(frozen=True)
class ColumnList:
    """A column's drop-down: its position among the kind's columns, the list's name (one list
    per name in the hidden sheet), its entries, and whether Excel refuses other values."""
    index: int
    source: str
    choices: tuple[str, ...]
    strict: bool


@dataclass(frozen=True)
class FormAids:
    """What helps a clerk fill a kind's sheet, as plain data (a template's and an error
    workbook's writers, openpyxl and XlsxWriter, each lay it out): the columns' drop-downs and
    the 说明 sheet's rows (header with *, 必填/选填, the column's rule)."""
    lists: tuple[ColumnList, ...]
    help_rows: tuple[tuple[str, str, str], ...]


def list_ranges(aids: FormAids) -> tuple[dict[str, str], list[tuple[str, ...]]]:
    """Where each list sits in the hidden sheet (a column of it per list name): the range by
    name, and the columns' entries in order."""
    placed: dict[str, str] = {}
    columns: list[tuple[str, ...]] = []
    for item in aids.lists:
        if item.source not in placed:
            letter = xl_col_to_name(len(placed))
            placed[item.source] = (f"'{T['lists_sheet']}'!${letter}$1:${letter}$"
                                   f"{len(item.choices)}")
            columns.append(item.choices)
    return placed, columns


__all__ = ["ColumnList", "FormAids", "list_ranges"]
